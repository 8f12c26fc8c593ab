"""Disputes as Stripe reports them: `charge.dispute.created` and `charge.dispute.closed`,
signed and posted to dj-stripe's endpoint, twice and out of order. The provider's earnings
from the invoice are frozen, then released (won) or reversed with the platform fee (lost)."""

from decimal import Decimal

import pytest
from django.core import mail

from apps.billing import services
from apps.billing.models import Dispute, DisputeStatus, Invoice
from apps.billing.stripe_collection import StripeCollector
from apps.payouts import selectors as payout_selectors
from apps.payouts.models import LedgerEntry, LedgerKind
from apps.subscriptions import services as subscription_services
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import charge, dispute, event, invoice_payment, issue, line

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.billing.stripe_urls")]


@pytest.fixture(autouse=True)
def _payable_at_once(settings):
    settings.PAYOUT_HOLD_DAYS = 0
    settings.PLATFORM_FEE_PERCENT = Decimal("20")


@pytest.fixture
def paid(pending_subscription, stripe_api, webhook, staff, django_capture_on_commit_callbacks):
    """A $29.00 invoice, pushed, paid by card through Stripe, on the provider's ledger."""
    subscription = subscription_services.subscription_payment_confirmed(
        subscription=pending_subscription
    )
    invoice = issue(subscription, line("fee", "OCR Pro", "29.00"))
    StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    remote = stripe_api.objects[invoice.stripe_invoice_id]
    remote.update(status="paid", amount_paid=2900)
    stripe_api.put(
        invoice_payment(invoice=remote["id"], payment_intent="pi_3Disputed01", amount=2900)
    )
    ch = stripe_api.put(
        charge(customer=remote["customer"], payment_intent="pi_3Disputed01", amount=2900)
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_mark_paid(invoice=invoice)
    return invoice, ch


def _provider_balances(invoice: Invoice):
    return payout_selectors.balances_of(invoice.lines.get().provider_id)


def test_a_dispute_freezes_the_earnings_and_a_lost_one_reverses_them_with_the_fee(
    paid, stripe_api, webhook, django_capture_on_commit_callbacks
):
    invoice, ch = paid
    opened = stripe_api.put(dispute(charge=ch["id"], payment_intent="pi_3Disputed01", amount=2900))
    created = event("charge.dispute.created", opened)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook.post(created).status_code == 200
        assert webhook.post(created).status_code == 200  # the same delivery again
        webhook.post(event("charge.dispute.created", opened))  # and under another id
    recorded = Dispute.objects.get()
    assert (recorded.status, recorded.amount, recorded.fee) == (
        DisputeStatus.OPEN,
        Decimal("29.00"),
        Decimal("15.00"),
    )
    balances = _provider_balances(invoice)
    assert (balances.held, balances.payable) == (Decimal("23.20"), 0)
    assert [m.subject for m in mail.outbox if m.subject.startswith("[Tollgate staff]")] == [
        f"[Tollgate staff] Dispute opened on invoice {invoice.number} ($29.00)"
    ]

    closed = dict(opened, status="lost")
    stripe_api.put(closed)
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(event("charge.dispute.closed", closed))
        webhook.post(event("charge.dispute.created", opened))  # a late, older event
    recorded.refresh_from_db()
    assert recorded.status == DisputeStatus.LOST
    lost = LedgerEntry.objects.get(kind=LedgerKind.DISPUTE_LOST)
    assert (lost.gross, lost.platform_fee, lost.amount) == (
        Decimal("-29.00"),
        Decimal("-5.80"),
        Decimal("-23.20"),
    )
    balances = _provider_balances(invoice)
    assert (balances.held, balances.payable, balances.reversed) == (0, 0, Decimal("-23.20"))


def test_a_won_dispute_releases_the_earnings(
    paid, stripe_api, webhook, django_capture_on_commit_callbacks
):
    invoice, ch = paid
    opened = stripe_api.put(dispute(charge=ch["id"], payment_intent="pi_3Disputed01", amount=2900))
    won = dict(opened, status="won")
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(event("charge.dispute.closed", won))  # "closed" first: out of order
        webhook.post(event("charge.dispute.created", opened))
    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert kinds == {LedgerKind.EARNING, LedgerKind.DISPUTE_OPENED, LedgerKind.DISPUTE_WON}
    assert _provider_balances(invoice).payable == Decimal("23.20")


def test_a_dispute_of_a_payment_that_paid_no_invoice_of_ours_is_acknowledged(stripe_api, webhook):
    stranger = stripe_api.put(dispute(charge="ch_x", payment_intent="pi_unknown", amount=500))
    assert webhook.post(event("charge.dispute.created", stranger)).status_code == 200
    assert not Dispute.objects.exists()
