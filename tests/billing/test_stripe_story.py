"""The whole Stripe story, as a consumer lives it: subscribe to a paid plan, save a card in
Checkout, get charged the first fee, use the API, get the period invoice charged, have a
payment fail (past due, then 402 after the grace period) and recover it."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from djstripe.settings import djstripe_settings

from apps.billing import services
from apps.billing.models import BillingAccount, Invoice, InvoiceStatus
from apps.gateway import loaders
from apps.gateway.resolve import _check_status
from apps.gateway.responses import Refused
from apps.metering.models import UsageAggregate
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SubscriptionStatus
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import event, payment_method, setup_intent

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.billing.stripe_urls")]
S = SubscriptionStatus


def _gateway_refusal(subscription, at) -> str | None:
    """What the gateway's admission says of this subscription at `at` (None: it serves)."""
    snapshot = loaders.load_subscription(f"{subscription.organization_id}:{subscription.api_id}")
    try:
        _check_status(snapshot, at.timestamp())
    except Refused as refused:
        return refused.code
    return None


def test_a_consumer_pays_by_card_falls_behind_and_recovers(
    owner, consumer, paid_plan, stripe_api, webhook, settings, django_capture_on_commit_callbacks
):
    run_on_commit = django_capture_on_commit_callbacks  # Celery is eager in tests

    # 1. Subscribing to a paid plan asks for a card first.
    result = subscription_services.subscription_create(
        actor=owner, organization=consumer, plan=paid_plan
    )
    subscription = result.subscription
    assert subscription.status == S.PENDING_PAYMENT
    assert result.checkout_url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    customer = BillingAccount.objects.get(organization=consumer).stripe_customer_id

    # 2. The consumer saves a Visa in Checkout; Stripe says so.
    (session,) = stripe_api.of_type("checkout.session")
    card = stripe_api.put(payment_method(customer=customer))
    intent = stripe_api.put(
        setup_intent(customer=customer, payment_method=card["id"], metadata=session["metadata"])
    )
    session.update(status="complete", setup_intent=intent["id"], url=None)
    with run_on_commit(execute=True):
        assert webhook.post(event("checkout.session.completed", session)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE

    # ...and the first month's fee went to Stripe as an invoice with one item, finalized.
    first = Invoice.objects.get(subscription=subscription)
    (created,) = stripe_api.posts("/v1/invoices")
    assert (created.form["customer"], created.form["metadata[tollgate_invoice]"]) == (
        customer,
        first.public_id,
    )
    (item,) = stripe_api.posts("/v1/invoiceitems")
    assert (item.form["amount"], item.form["currency"], item.idempotency_key) == (
        "2900",
        "usd",
        f"tg-line-{first.lines.get().pk}",
    )
    assert len(stripe_api.posts(r"/v1/invoices/in_\w+/finalize")) == 1
    first.refresh_from_db()

    # 3. Stripe charges the card.
    webhook.post(
        event("invoice.paid", {**stripe_api.objects[first.stripe_invoice_id], "status": "paid"})
    )
    first.refresh_from_db()
    assert first.status == InvoiceStatus.PAID

    # 4. A month of use: 12,500 calls, 2,500 beyond the included 10,000 at $0.0004.
    UsageAggregate.objects.create(
        subscription=subscription,
        api_key_id=1,
        hour=subscription.current_period_start,
        period_start=subscription.current_period_start,
        calls=12_500,
        billable_units=Decimal(12_500),
        latency_histogram=[0] * 13,
    )
    period_closed = subscription.current_period_end + timedelta(minutes=5)
    with time_machine.travel(period_closed), run_on_commit(execute=True):
        second = services.close_period(subscription.pk)
    assert second.total == Decimal("30.00")
    items = stripe_api.posts("/v1/invoiceitems")[1:]
    assert [(i.form["amount"], i.form["invoice"]) for i in items] == [
        ("100", items[0].form["invoice"]),
        ("2900", items[0].form["invoice"]),
    ]
    second.refresh_from_db()
    assert second.stripe_invoice_id == items[0].form["invoice"]
    assert {s.stripe_version for s in stripe_api.posts(".*")} == {
        djstripe_settings.STRIPE_API_VERSION
    }

    # 5. The charge fails: past due, still served during the grace period, then 402.
    remote = stripe_api.objects[second.stripe_invoice_id]
    with time_machine.travel(period_closed + timedelta(hours=1)):
        webhook.post(event("invoice.payment_failed", {**remote, "attempt_count": 1}))
    subscription.refresh_from_db()
    assert subscription.status == S.PAST_DUE
    grace = timedelta(days=settings.PAYMENT_GRACE_DAYS)
    assert _gateway_refusal(subscription, subscription.past_due_since + grace / 2) is None
    assert _gateway_refusal(subscription, subscription.past_due_since + grace * 2) == (
        "payment_required"
    )

    # 6. Stripe's retry (or the consumer on the hosted invoice page) pays it: active again.
    with time_machine.travel(period_closed + timedelta(days=4)):
        webhook.post(event("invoice.paid", {**remote, "status": "paid"}))
    subscription.refresh_from_db()
    second.refresh_from_db()
    assert second.status == InvoiceStatus.PAID and subscription.status == S.ACTIVE
    assert _gateway_refusal(subscription, subscription.current_period_end) is None
