"""Against real Stripe test mode, when a test key is in the environment and the network
reaches Stripe: `STRIPE_SECRET_KEY=sk_test_... pytest -m stripe_live`. Skipped otherwise."""

import os
import socket

import pytest
import stripe

from apps.billing.models import BillingAccount
from apps.billing.stripe_client import request_options
from apps.billing.stripe_collection import StripeCollector

LIVE_KEY = os.environ.get("STRIPE_SECRET_KEY", "")


def _stripe_reachable() -> bool:
    try:
        with socket.create_connection(("api.stripe.com", 443), timeout=3):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.stripe_live,
    pytest.mark.django_db,
    pytest.mark.skipif(
        not LIVE_KEY.startswith("sk_test_"),
        reason="needs STRIPE_SECRET_KEY=sk_test_… (test mode only)",
    ),
]


@pytest.fixture
def live_stripe(settings):
    if not _stripe_reachable():
        pytest.skip("api.stripe.com is not reachable from here")
    settings.STRIPE_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY = LIVE_KEY
    settings.STRIPE_LIVE_MODE = False
    return settings


def test_an_organization_becomes_one_stripe_customer(live_stripe, consumer_org):
    customer_id = StripeCollector().ensure_customer(consumer_org)
    try:
        assert StripeCollector().ensure_customer(consumer_org) == customer_id
        customer = stripe.Customer.retrieve(customer_id, **request_options())
        assert customer.metadata["tollgate_org"] == consumer_org.public_id
        assert customer.email == "billing@acme.test" and customer.livemode is False
        assert BillingAccount.objects.get(organization=consumer_org).stripe_customer_id == (
            customer_id
        )
    finally:
        stripe.Customer.delete(customer_id, **request_options())


@pytest.fixture
def consumer_org(org):
    org.billing_email = "billing@acme.test"
    org.save(update_fields=["billing_email"])
    return org
