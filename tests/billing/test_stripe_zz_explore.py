from decimal import Decimal
import pytest
from apps.billing import stripe_webhooks
from apps.subscriptions import services as subscription_services
from tests.billing.stripe_fixtures import *  # noqa
from tests.billing.test_stripe_collection import plan, consumer, subscription, _issue, _line  # noqa
from apps.billing.stripe_collection import StripeCollector

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.billing.stripe_urls")]

def test_explore(subscription, stripe_api, stripe_webhooks):
    stripe_webhooks_module = stripe_webhooks
    from apps.billing import stripe_webhooks as m
    m.connect()
    invoice = _issue(subscription, [_line("fee", "Pro", "29.00")])
    StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    remote = stripe_api.objects[invoice.stripe_invoice_id]
    remote["status"] = "paid"
    n = len(stripe_api.requests)
    resp = stripe_webhooks.post(event("invoice.paid", remote))
    print(resp.status_code, resp.content[:300])
    for s in stripe_api.requests[n:]:
        print(s.method, s.path, s.form)
    invoice.refresh_from_db()
    print(invoice.status)
