"""The marketplace currency (`CURRENCY`) can change only while no money is in flight in the
old one: open invoices would be charged, and balances paid out, in a currency nobody
agreed to. Billing says what it holds; payouts adds provider balances (`apps.payouts.checks`),
and `migrate` (the release step) refuses to run while anything is in the way."""

from decimal import Decimal

from django.conf import settings
from django.db.models import Count

from .models import Invoice, InvoiceStatus

UNSETTLED = [InvoiceStatus.DRAFT, InvoiceStatus.OPEN]


def invoices_in_other_currencies(currency: str) -> list[str]:
    """Sentences naming the open invoices that are not in `currency`, one per currency."""
    rows = (
        Invoice.objects.filter(status__in=UNSETTLED)
        .exclude(currency=currency.upper())
        .values("currency")
        .annotate(count=Count("id"))
        .order_by("currency")
    )
    return [f"{row['count']} open invoice(s) in {row['currency']}" for row in rows]


# Stripe's minimum charge amounts per currency ("Minimum and maximum charge amounts",
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), as public copies of
# that table give them (MemberPress 1.11.7's minimum_charge_amounts.php, Jetpack's
# currencies.js). Stripe cannot charge a card less; an invoice below it is carried to the
# next one. Currencies Stripe lists no minimum for use USD 0.50's: one of their minor units
# times 50. MINIMUM_CHARGE overrides the table (0 turns carrying off).
STRIPE_MINIMUM_CHARGE = {
    "USD": Decimal("0.50"),
    "AED": Decimal("2.00"),
    "AUD": Decimal("0.50"),
    "BGN": Decimal("1.00"),
    "BRL": Decimal("0.50"),
    "CAD": Decimal("0.50"),
    "CHF": Decimal("0.50"),
    "CZK": Decimal("15.00"),
    "DKK": Decimal("2.50"),
    "EUR": Decimal("0.50"),
    "GBP": Decimal("0.30"),
    "HKD": Decimal("4.00"),
    "HUF": Decimal("175.00"),
    "INR": Decimal("0.50"),
    "JPY": Decimal("50"),
    "MXN": Decimal("10"),
    "MYR": Decimal("2"),
    "NOK": Decimal("3.00"),
    "NZD": Decimal("0.50"),
    "PLN": Decimal("2.00"),
    "RON": Decimal("2.00"),
    "SEK": Decimal("3.00"),
    "SGD": Decimal("0.50"),
    "THB": Decimal("10"),
}


def minimum_charge(currency: str | None = None) -> Decimal:
    """The smallest invoice total charged; less is carried to the next invoice."""
    if settings.MINIMUM_CHARGE is not None:
        return settings.MINIMUM_CHARGE
    from apps.core.money import money_step

    currency = (currency or settings.CURRENCY).upper()
    return STRIPE_MINIMUM_CHARGE.get(currency, money_step(currency) * 50)
