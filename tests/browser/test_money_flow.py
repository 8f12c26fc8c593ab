"""Money end to end in a browser: a consumer subscribes to a paid plan (Stripe Checkout,
confirmed by the webhook), calls the API through the gateway, the period closes and the
invoice appears and is paid; the provider sees the earnings and the payout.

Stripe is never reached: its API is answered by the offline stub (tests/billing), its
Checkout page by a route in the browser, and its webhooks are posted signed."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import responses
import time_machine
from django.db import transaction

from apps.billing import services as billing
from apps.billing.models import Invoice, InvoiceStatus
from apps.catalog.models import ApiStatus
from apps.keys.services import api_key_create
from apps.metering.events import CallEvent
from apps.metering.flush import apply_events
from apps.payouts.models import ProviderAccount
from apps.payouts.services import run_payouts
from apps.subscriptions.models import Subscription, SubscriptionStatus
from tests.billing.stripe_fixtures import (
    StripeStub,
    event,
    payment_method,
    setup_intent,
    sign,
)
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import PASSWORD, MembershipFactory
from tests.gateway.conftest import settle
from tests.gateway.upstream import Upstream
from tests.payouts.stripe_objects import transfer
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def stripe_api(stripe_settings, live_site):
    stub = StripeStub()
    stub.on(
        "POST",
        r"/v1/transfers",
        lambda sent, match: transfer(
            amount=int(sent.form["amount"]), destination=sent.form["destination"]
        ),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(live_site.url)
        mock.add_passthru("http://127.0.0.1")
        stub.install(mock)
        yield stub


@pytest.fixture
def market(live_site, settings):
    settings.COUNTER_STORE, settings.REDIS_URL = "database", ""
    with Upstream() as upstream:
        provider = MembershipFactory(
            organization__name="Scan Corp", user__email="provider@scan.test"
        )
        api = ApiFactory(
            organization=provider.organization,
            name="Invoice OCR",
            slug="ocr",
            upstream_url=upstream.url,
            status=ApiStatus.PUBLISHED,
        )
        EndpointFactory(api=api, method="POST", path="/scan", summary="Scan a document")
        PlanFactory(
            api=api,
            name="Pro",
            monthly_fee=Decimal("29.00"),
            included_units=1_000,
            unit_price=Decimal("0.01"),
            hard_limit=False,
            recommended=True,
        )
        consumer = MembershipFactory(
            organization__name="Paperless Ltd", user__email="buyer@paperless.test"
        )
        yield {"api": api, "provider": provider, "consumer": consumer, "upstream": upstream}


class LiveWebhook:
    """Posts signed events to dj-stripe's endpoint over HTTP (Playwright holds an event loop
    in this thread, so Django's in-process test client cannot be used here)."""

    def __init__(self, site_url: str, webhook):
        self.url = site_url + webhook.url

    def post(self, payload: dict):
        import json

        body = json.dumps(payload)
        return requests.post(
            self.url,
            data=body,
            timeout=10,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(body)},
        )


def test_paid_plan_to_invoice_to_payout(
    page,
    live_site,
    market,
    stripe_api,
    webhook,
    staff,
):
    consumer, provider = market["consumer"], market["provider"]
    webhook = LiveWebhook(live_site.url, webhook)
    page.route(
        "https://checkout.stripe.com/**",
        lambda route: route.fulfill(
            status=200, content_type="text/html", body="<h1>Stripe Checkout (test)</h1>"
        ),
    )

    # 1. Subscribe to the paid plan from the pricing table: off to Stripe Checkout.
    login(page, consumer.user.email, PASSWORD)
    page.goto("/apis/ocr/#tab-pricing")
    page.click("#tab-pricing >> text=Subscribe")
    page.wait_for_url("https://checkout.stripe.com/**")
    subscription = Subscription.objects.get(organization=consumer.organization)
    assert subscription.status == SubscriptionStatus.PENDING_PAYMENT

    # 2. The card is saved; Stripe's webhook starts the subscription and the first fee.
    (session,) = stripe_api.of_type("checkout.session")
    customer = session["customer"]
    card = stripe_api.put(payment_method(customer=customer))
    intent = stripe_api.put(
        setup_intent(customer=customer, payment_method=card["id"], metadata=session["metadata"])
    )
    session.update(status="complete", setup_intent=intent["id"], url=None)
    assert webhook.post(event("checkout.session.completed", session)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    first = Invoice.objects.get(subscription=subscription)
    webhook.post(
        event("invoice.paid", {**stripe_api.objects[first.stripe_invoice_id], "status": "paid"})
    )

    # 3. Call the API through the gateway with a new key: 1,500 pages, 500 beyond included.
    _, key = api_key_create(actor=consumer.user, organization=consumer.organization, name="ci")
    for _ in range(3):
        response = requests.post(
            f"{live_site.url}/gw/ocr/scan", data=b"%PDF", headers={"X-Api-Key": key}, timeout=10
        )
        assert response.status_code == 200
    settle(3)
    with transaction.atomic():  # as the flush does
        apply_events(
            [
                CallEvent(
                    ts_ms=int(time.time() * 1000),
                    subscription_id=subscription.pk,
                    api_key_id=None,
                    endpoint_id=None,
                    period_start=int(subscription.current_period_start.timestamp()),
                    status=200,
                    latency_ms=40,
                    units_micro=1_000_000,
                    gateway_error=False,
                    bytes_in=0,
                    bytes_out=0,
                )
            ]
            * 1497
        )

    # 4. The period closes: usage in arrears + next fee, charged by Stripe, paid.
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        closing = billing.close_period(subscription.pk)
    assert closing.total == Decimal("34.00")  # 500 × $0.01 + $29
    closing.refresh_from_db()
    webhook.post(
        event("invoice.paid", {**stripe_api.objects[closing.stripe_invoice_id], "status": "paid"})
    )
    closing.refresh_from_db()
    assert closing.status == InvoiceStatus.PAID
    page.goto("/console/invoices/")
    assert closing.number in page.inner_text("table")
    page.click(f"text={closing.number}")
    assert "$34.00" in page.inner_text(".invoice-doc")
    shoot(page, "money-invoice-desktop")

    # 5. The provider sees the earnings (80 % of $63.00) and, once connected, the payout.
    ProviderAccount.objects.update_or_create(
        organization=provider.organization,
        defaults={
            "stripe_account_id": "acct_1ScanCorp000001",
            "details_submitted": True,
            "payouts_enabled": True,
        },
    )
    report = run_payouts()
    assert report is not None
    (sent,) = stripe_api.posts(r"/v1/transfers")
    assert (sent.form["amount"], sent.form["destination"]) == ("5040", "acct_1ScanCorp000001")
    assert sent.idempotency_key.startswith("tg-payout-")
    page.context.clear_cookies()
    login(page, provider.user.email, PASSWORD)
    page.goto("/console/payouts/")
    text = page.inner_text("#content")
    assert "50.40" in text
    shoot(page, "money-payouts-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "money-payouts-phone")
