"""Stripe and Tollgate agree on every invoice: what staff void or write off here is voided or
marked uncollectible at Stripe (once), what Stripe voids or writes off arrives here, 3-D
Secure sends the consumer the hosted invoice link, and an invoice Stripe settled from the
customer's balance is refunded to that balance. Webhooks are posted signed, twice and out
of order."""

import logging
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from apps.accounts.models import Notification
from apps.billing import services
from apps.billing.models import Invoice, InvoiceStatus
from apps.billing.stripe_collection import StripeCollector
from apps.core.models import AuditLog
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SubscriptionStatus
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import event, invoice_payment, issue, line

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.billing.stripe_urls")]


@pytest.fixture
def subscription(pending_subscription):
    return subscription_services.subscription_payment_confirmed(subscription=pending_subscription)


@pytest.fixture
def pushed(subscription, stripe_api) -> Invoice:
    invoice = issue(subscription, line("fee", "OCR Pro", "29.00"))
    StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    return invoice


def _remote(stripe_api, invoice):
    return stripe_api.objects[invoice.stripe_invoice_id]


# --- Tollgate → Stripe ----------------------------------------------------------------------
def test_voiding_an_invoice_voids_it_at_stripe_once(
    pushed, staff, stripe_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_void(invoice=pushed, actor=staff)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_void(invoice=pushed, actor=staff)  # a double click
    StripeCollector().sync_status(pushed)  # a retried task
    (sent,) = stripe_api.posts(f"/v1/invoices/{pushed.stripe_invoice_id}/void")
    assert sent.idempotency_key == f"tg-void-{pushed.public_id}"
    assert _remote(stripe_api, pushed)["status"] == "void"
    assert AuditLog.objects.filter(action="invoice.voided").count() == 1


def test_writing_an_invoice_off_marks_it_uncollectible_at_stripe(
    pushed, staff, stripe_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_mark_uncollectible(invoice=pushed, actor=staff)
    (sent,) = stripe_api.posts(f"/v1/invoices/{pushed.stripe_invoice_id}/mark_uncollectible")
    assert sent.idempotency_key == f"tg-uncollectible-{pushed.public_id}"
    assert _remote(stripe_api, pushed)["status"] == "uncollectible"
    assert stripe_api.posts(r"/v1/invoices/in_\w+/void") == []


def test_a_written_off_invoice_voided_later_is_voided_at_stripe_too(
    pushed, staff, stripe_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_mark_uncollectible(invoice=pushed, actor=staff)
        services.invoice_void(invoice=pushed, actor=staff)
    assert _remote(stripe_api, pushed)["status"] == "void"


def test_an_invoice_stripe_collected_meanwhile_is_not_voided_there(
    pushed, staff, stripe_api, django_capture_on_commit_callbacks, caplog
):
    _remote(stripe_api, pushed)["status"] = "paid"
    with (
        caplog.at_level(logging.ERROR, logger="apps.billing.stripe_collection"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.invoice_void(invoice=pushed, actor=staff)
    assert stripe_api.posts(r"/v1/invoices/in_\w+/void") == []
    assert f"invoice {pushed.number} is void here but Stripe collected it" in caplog.text


def test_an_invoice_voided_while_it_was_being_pushed_is_voided_at_stripe(
    subscription, staff, stripe_api
):
    invoice = issue(subscription, line("fee", "OCR Pro", "29.00"))

    def finalize_while_staff_void(sent, match):
        # staff void it between our finalize call and the storing of the Stripe id: the
        # sync task ran then and found no Stripe invoice to void
        Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID)
        remote = stripe_api.objects[match["id"]]
        remote.update(status="open", hosted_invoice_url="https://invoice.stripe.com/i/x")
        return remote

    stripe_api.on("POST", r"/v1/invoices/(?P<id>in_\w+)/finalize", finalize_while_staff_void)
    StripeCollector().collect(invoice)
    (remote,) = stripe_api.of_type("invoice")
    assert remote["status"] == "void"


def test_only_staff_void_or_write_off_and_a_paid_invoice_stays_paid(pushed, owner, staff):
    from apps.core.errors import Conflict, Forbidden

    with pytest.raises(Forbidden):
        services.invoice_void(invoice=pushed, actor=owner)
    services.invoice_mark_paid(invoice=pushed)
    with pytest.raises(Conflict, match="A paid invoice cannot be voided"):
        services.invoice_void(invoice=pushed, actor=staff)
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.PAID


def test_voiding_the_failed_invoice_lifts_the_past_due_state(pushed, staff, subscription):
    services.invoice_payment_failed(invoice=pushed)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAST_DUE
    services.invoice_void(invoice=pushed, actor=staff)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


# --- Stripe → Tollgate ----------------------------------------------------------------------
def test_an_invoice_voided_in_stripe_is_voided_here_once_and_nothing_is_sent_back(
    pushed, stripe_api, webhook, django_capture_on_commit_callbacks
):
    remote = _remote(stripe_api, pushed)
    remote["status"] = "void"
    voided = event("invoice.voided", remote)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook.post(voided).status_code == 200
        assert webhook.post(voided).status_code == 200
        webhook.post(event("invoice.voided", remote))  # the same news under another id
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.VOID
    assert AuditLog.objects.filter(action="invoice.voided").get().data == {"source": "stripe"}
    assert stripe_api.posts(r"/v1/invoices/in_\w+/(void|mark_uncollectible)") == []


def test_older_events_arriving_after_a_void_change_nothing(pushed, stripe_api, webhook):
    remote = _remote(stripe_api, pushed)
    snapshot = dict(remote, status="open", attempt_count=1)
    webhook.post(event("invoice.voided", dict(remote, status="void"), created=1_774_000_100))
    webhook.post(event("invoice.payment_failed", snapshot, created=1_774_000_000))
    webhook.post(event("invoice.payment_action_required", snapshot, created=1_774_000_000))
    webhook.post(
        event("invoice.marked_uncollectible", dict(remote, status="uncollectible"), created=1)
    )
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.VOID
    assert pushed.payment_failed_at is None and pushed.action_required_attempt == 0
    assert not Notification.objects.filter(kind__startswith="invoice.payment").exists()


def test_an_invoice_written_off_in_stripe_and_paid_later_ends_paid(pushed, stripe_api, webhook):
    remote = _remote(stripe_api, pushed)
    webhook.post(event("invoice.marked_uncollectible", dict(remote, status="uncollectible")))
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.UNCOLLECTIBLE
    paid = dict(remote, status="paid", amount_paid=2900)
    paid["status_transitions"] = {**remote["status_transitions"], "paid_at": 1_774_000_000}
    webhook.post(event("invoice.paid", paid))
    webhook.post(event("invoice.marked_uncollectible", dict(remote, status="uncollectible")))
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.PAID


def test_3d_secure_emails_the_hosted_invoice_link_once_per_attempt(
    pushed, stripe_api, webhook, django_capture_on_commit_callbacks
):
    remote = _remote(stripe_api, pushed)
    link = remote["hosted_invoice_url"]
    first = event("invoice.payment_action_required", dict(remote, attempt_count=1))
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(first)
        webhook.post(first)
        webhook.post(event("invoice.payment_action_required", dict(remote, attempt_count=1)))
    (notice,) = Notification.objects.filter(kind="invoice.payment_action_required")
    assert notice.url == link and link in notice.body
    assert [m.to for m in mail.outbox] == [["billing@acme.test", "owner@acme.test"]]
    assert link in mail.outbox[0].body

    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(event("invoice.payment_action_required", dict(remote, attempt_count=2)))
    assert Notification.objects.filter(kind="invoice.payment_action_required").count() == 2
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.OPEN and pushed.action_required_attempt == 2


def test_the_invoice_page_asks_the_consumer_to_confirm_the_payment(
    pushed, stripe_api, webhook, client, owner
):
    remote = _remote(stripe_api, pushed)
    webhook.post(event("invoice.payment_action_required", dict(remote, attempt_count=1)))
    client.force_login(owner)
    page = client.get(reverse("billing:invoice", args=[pushed.public_id])).content.decode()
    assert "Your bank asks you to confirm this payment" in page
    assert remote["hosted_invoice_url"] in page


# --- Refunds of invoices paid from the customer balance --------------------------------------
def _paid_in_stripe(stripe_api, invoice, *, card_paid: int | None):
    """Stripe paid the invoice: `card_paid` minor units by card (the rest from the customer's
    balance), or wholly from the balance when None."""
    remote = _remote(stripe_api, invoice)
    remote.update(status="paid", amount_paid=card_paid or 0)
    if card_paid:
        stripe_api.put(
            invoice_payment(invoice=remote["id"], payment_intent="pi_3AcmeCard01", amount=card_paid)
        )
    services.invoice_mark_paid(invoice=invoice)
    return remote


def test_an_invoice_settled_from_the_balance_is_refunded_as_a_balance_credit(
    pushed, staff, stripe_api, django_capture_on_commit_callbacks
):
    remote = _paid_in_stripe(stripe_api, pushed, card_paid=None)
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.invoice_refund(invoice=pushed, actor=staff, amount=Decimal("10.00"))
    assert stripe_api.posts("/v1/refunds") == []
    (credit,) = stripe_api.posts(rf"/v1/customers/{remote['customer']}/balance_transactions")
    assert credit.form["amount"] == "-1000" and credit.form["currency"] == "usd"
    assert credit.idempotency_key == f"tg-refund-credit-{refund.public_id}"
    refund.refresh_from_db()
    assert refund.amount_to_balance == Decimal("10.00")
    assert refund.stripe_balance_transaction_id.startswith("cbtxn_")
    notice = Notification.objects.get(kind="invoice.refunded")
    assert "$10.00 is credited to your account balance" in notice.body
    assert "card" not in notice.body

    StripeCollector().refund(pushed, refund)  # a retried task sends nothing more
    assert len(stripe_api.posts(r"/v1/customers/cus_\w+/balance_transactions")) == 1


def test_a_refund_beyond_what_the_card_paid_credits_the_rest_to_the_balance(
    pushed, staff, stripe_api, django_capture_on_commit_callbacks, client, owner
):
    _paid_in_stripe(stripe_api, pushed, card_paid=1900)  # $10 came from the balance
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_refund(invoice=pushed, actor=staff, amount=Decimal("15.00"))
        services.invoice_refund(invoice=pushed, actor=staff, amount=Decimal("14.00"))
    refunds = stripe_api.posts("/v1/refunds")
    assert [r.form["amount"] for r in refunds] == ["1500", "400"]
    credits = stripe_api.posts(r"/v1/customers/cus_\w+/balance_transactions")
    assert [c.form["amount"] for c in credits] == ["-1000"]
    client.force_login(owner)
    page = client.get(reverse("billing:invoice", args=[pushed.public_id])).content.decode()
    assert "was credited to your account balance" in page


def test_a_card_paid_invoice_is_still_refunded_to_the_card(
    pushed, staff, stripe_api, django_capture_on_commit_callbacks
):
    _paid_in_stripe(stripe_api, pushed, card_paid=2900)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_refund(invoice=pushed, actor=staff)
    (sent,) = stripe_api.posts("/v1/refunds")
    assert sent.form["amount"] == "2900" and sent.form["payment_intent"] == "pi_3AcmeCard01"
    assert stripe_api.posts(r"/v1/customers/cus_\w+/balance_transactions") == []
    assert "goes back to your card" in Notification.objects.get(kind="invoice.refunded").body
