from django.conf import settings

from .money import currency_symbol
from .public_urls import gateway_url


def site(request):
    return {
        "SITE_NAME": settings.SITE_NAME,
        "GATEWAY_PUBLIC_URL": gateway_url(request),
        "CURRENCY": settings.CURRENCY,
        "CURRENCY_SYMBOL": currency_symbol(settings.CURRENCY),
        "PAYMENT_GRACE_DAYS": settings.PAYMENT_GRACE_DAYS,
    }
