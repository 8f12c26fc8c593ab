"""Dunning with Stripe collecting (intercepted at the HTTP layer): Tollgate, not Stripe,
drives the retries. Its first retry turns Stripe's automatic collection of the invoice off;
each retry asks Stripe to charge the invoice with a key per attempt; failure events Stripe
sends (duplicates, its own attempts, out of order) never move the schedule."""

from datetime import timedelta

import pytest
import time_machine

from apps.accounts.models import Notification
from apps.billing import dunning
from apps.billing.models import Invoice, InvoiceStatus
from apps.billing.stripe_collection import StripeCollector
from apps.core.models import AuditLog
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SubscriptionStatus
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import event, issue, line, stripe_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.billing.stripe_urls")]
S = SubscriptionStatus
DAY = timedelta(days=1)
DECLINED = stripe_error(402, "card_error", "Your card was declined.", "card_declined")


@pytest.fixture
def subscription(pending_subscription, settings):
    settings.DUNNING_RETRY_DAYS = (1, 3, 7, 14)
    settings.UNPAID_CANCEL_DAYS = 30
    return subscription_services.subscription_payment_confirmed(subscription=pending_subscription)


@pytest.fixture
def pushed(subscription, stripe_api) -> Invoice:
    invoice = issue(subscription, line("fee", "OCR Pro", "29.00"))
    StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    return invoice


def remote(stripe_api, invoice, **changes) -> dict:
    obj = stripe_api.objects[invoice.stripe_invoice_id]
    obj.update(changes)
    return obj


def paid(stripe_api, invoice) -> dict:
    return remote(stripe_api, invoice, status="paid", amount_paid=2900, amount_remaining=0)


def failure_notices(organization) -> list[str]:
    return list(
        Notification.objects.filter(
            organization=organization, kind__in=["invoice.payment_failed", "subscription.unpaid"]
        )
        .order_by("pk")
        .values_list("title", flat=True)
    )


def test_tollgate_retries_on_its_schedule_and_stripe_events_do_not_move_it(
    subscription, pushed, stripe_api, webhook
):
    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed, attempt_count=1)))
    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed)))  # same news again
    # Stripe's own second attempt (or the consumer's on the hosted page) before ours
    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed, attempt_count=2)))
    pushed.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.status == S.PAST_DUE
    assert (pushed.payment_retries, pushed.next_payment_attempt_at) == (
        0,
        pushed.payment_failed_at + DAY,
    )
    assert len(failure_notices(subscription.organization)) == 1
    stripe_api.on("POST", r"/v1/invoices/in_\w+/pay", DECLINED)

    for day in (1, 3, 7, 14):
        with time_machine.travel(pushed.payment_failed_at + day * DAY + timedelta(minutes=5)):
            assert dunning.run().retried == {"failed": 1}
            assert dunning.run().retried == {}  # once per day of the schedule
    invoice_path = f"/v1/invoices/{pushed.stripe_invoice_id}"
    retries = stripe_api.posts(invoice_path + "/pay")
    assert [r.idempotency_key for r in retries] == [
        f"tg-retry-{pushed.public_id}-{n}" for n in (1, 2, 3, 4)
    ]
    # Stripe's automatic collection is off from the first retry (one key: sent once)
    modified = stripe_api.posts(invoice_path)
    assert {(m.form["auto_advance"], m.idempotency_key) for m in modified} == {
        ("false", f"tg-dunning-{pushed.public_id}")
    }
    assert stripe_api.objects[pushed.stripe_invoice_id]["auto_advance"] is False
    subscription.refresh_from_db()
    assert subscription.status == S.UNPAID
    titles = failure_notices(subscription.organization)
    assert [t.split("(")[-1] for t in titles[:4]] == [f"try {n} of 5)" for n in (1, 2, 3, 4)]
    assert titles[4] == f"Invoice {pushed.number} is unpaid: calls to OCR are refused"

    # a late failure event of an unpaid invoice changes nothing
    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed, attempt_count=6)))
    assert len(failure_notices(subscription.organization)) == 5

    # the consumer pays on the hosted page: Stripe says so, twice
    webhook.post(event("invoice.paid", paid(stripe_api, pushed)))
    webhook.post(event("invoice.paid", paid(stripe_api, pushed)))
    subscription.refresh_from_db()
    pushed.refresh_from_db()
    assert (subscription.status, subscription.unpaid_since) == (S.ACTIVE, None)
    assert pushed.status == InvoiceStatus.PAID
    recovered = AuditLog.objects.filter(action="subscription.payment_recovered")
    assert recovered.count() == 1
    # and an old failure event arriving after that is ignored
    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed, status="open")))
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE and len(failure_notices(subscription.organization)) == 5


def test_a_retry_that_goes_through_marks_the_invoice_paid_at_once(
    subscription, pushed, stripe_api, webhook
):
    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed, attempt_count=1)))
    pushed.refresh_from_db()
    stripe_api.on(
        "POST",
        r"/v1/invoices/in_\w+/pay",
        lambda sent, match: paid(stripe_api, pushed),
    )
    with time_machine.travel(pushed.payment_failed_at + DAY + timedelta(minutes=5)):
        assert dunning.run().retried == {"paid": 1}
    pushed.refresh_from_db()
    subscription.refresh_from_db()
    assert (pushed.status, pushed.next_payment_attempt_at) == (InvoiceStatus.PAID, None)
    assert subscription.status == S.ACTIVE
    webhook.post(event("invoice.paid", paid(stripe_api, pushed)))  # Stripe's news: no change
    assert AuditLog.objects.filter(action="invoice.paid").count() == 1


def test_an_invoice_stripe_no_longer_charges_is_asked_for_its_status(
    subscription, pushed, stripe_api, webhook
):
    """Paid at Stripe meanwhile (the webhook not here yet): `pay` is refused, and the
    invoice Stripe holds says paid: so is ours."""
    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed, attempt_count=1)))
    pushed.refresh_from_db()
    paid(stripe_api, pushed)
    stripe_api.on(
        "POST",
        r"/v1/invoices/in_\w+/pay",
        stripe_error(400, "invalid_request_error", "Invoice is already paid", "invoice_not_open"),
    )
    with time_machine.travel(pushed.payment_failed_at + DAY + timedelta(minutes=5)):
        assert dunning.run().retried == {"paid": 1}
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.PAID


def test_a_new_card_pays_an_unpaid_invoice_and_serves_at_once(
    subscription, pushed, stripe_api, webhook
):
    """The consumer follows the email's link and changes the card: Tollgate charges the
    invoice at once and the subscription is active before Stripe's invoice.paid arrives."""
    from apps.billing.models import BillingAccount
    from tests.billing.stripe_fixtures import payment_method

    webhook.post(event("invoice.payment_failed", remote(stripe_api, pushed, attempt_count=1)))
    pushed.refresh_from_db()
    stripe_api.on("POST", r"/v1/invoices/in_\w+/pay", DECLINED, times=4)
    for day in (1, 3, 7, 14):
        with time_machine.travel(pushed.payment_failed_at + day * DAY + timedelta(minutes=5)):
            dunning.run()
    subscription.refresh_from_db()
    assert subscription.status == S.UNPAID

    account = BillingAccount.objects.get(organization=subscription.organization)
    customer = stripe_api.objects[account.stripe_customer_id]
    card = stripe_api.put(payment_method(customer=customer["id"], last4="1881"))
    customer["invoice_settings"]["default_payment_method"] = card["id"]
    stripe_api.on("POST", r"/v1/invoices/in_\w+/pay", lambda sent, match: paid(stripe_api, pushed))
    webhook.post(event("customer.updated", customer))
    subscription.refresh_from_db()
    pushed.refresh_from_db()
    assert (pushed.status, subscription.status) == (InvoiceStatus.PAID, S.ACTIVE)
    (charged,) = stripe_api.posts(r"/v1/invoices/in_\w+/pay")[-1:]
    assert charged.idempotency_key == f"tg-pay-{pushed.public_id}-{card['id']}"
    webhook.post(event("invoice.paid", paid(stripe_api, pushed)))  # later: nothing twice
    assert AuditLog.objects.filter(action="subscription.payment_recovered").count() == 1
