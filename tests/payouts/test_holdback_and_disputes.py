"""Holdback and disputes on the provider ledger: earnings wait PAYOUT_HOLD_DAYS after the
payment cleared, a dispute freezes the invoice's earnings, won releases them, lost reverses
them with the platform fee; what a provider owes after a payout is recovered from later
earnings and, where Stripe allows, by reversing the transfer."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.core import mail
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Notification
from apps.billing import disputes
from apps.billing import services as billing_services
from apps.billing.models import DisputeStatus
from apps.core.errors import Conflict
from apps.payouts import selectors, services, webhooks
from apps.payouts.models import LedgerEntry, LedgerKind, Payout, PayoutStatus, ProviderAccount

from .stripe_objects import API, echo_transfer, error, form, new_id, transfer

pytestmark = pytest.mark.django_db
D = Decimal
_ids = iter(range(1, 10_000))


@pytest.fixture
def dispute(django_capture_on_commit_callbacks):
    """dispute(invoice, status="open"|"won"|"lost", amount=None, fee="15.00"): Stripe's news
    of a dispute, recorded as billing's webhook handler records it."""

    def dispute(invoice, status="open", *, amount=None, fee="15.00", stripe_id=None):
        with django_capture_on_commit_callbacks(execute=True):
            return disputes.dispute_record(
                invoice=invoice,
                stripe_dispute_id=stripe_id or f"dp_test{next(_ids):06d}",
                status=status,
                amount=D(amount) if amount else invoice.total,
                fee=D(fee),
                reason="fraudulent",
            )

    return dispute


def _balances(org, **kwargs):
    return selectors.balances_of(org.pk, **kwargs)


def _kinds(org) -> list[str]:
    return list(
        LedgerEntry.objects.filter(organization=org).order_by("id").values_list("kind", flat=True)
    )


# --- Holdback -------------------------------------------------------------------------------
def test_an_earning_is_pending_until_the_holdback_ends_then_payable(org, pay, ocr, settings):
    settings.PAYOUT_HOLD_DAYS = 14
    invoice = pay(ocr, "50.00")
    now = timezone.now()
    assert _balances(org, now=now) == selectors.Balances(
        payable=D(0), pending=D("40.00"), held=D(0), paid=D(0), reversed=D(0), earned=D("40.00")
    )
    assert services.run_payouts(now=now).created == []  # nothing payable yet

    cleared = invoice.paid_at + timedelta(days=14)
    assert _balances(org, now=cleared - timedelta(seconds=1)).payable == 0
    assert _balances(org, now=cleared).payable == D("40.00")
    (payout,) = services.run_payouts(now=cleared).created
    assert payout.amount == D("40.00")
    after = _balances(org, now=cleared)
    assert (after.payable, after.pending, after.paid) == (0, 0, D("40.00"))


def test_only_the_earnings_past_their_holdback_are_paid_out(org, pay, ocr, settings):
    settings.PAYOUT_HOLD_DAYS = 14
    old = pay(ocr, "50.00")
    later = old.paid_at + timedelta(days=10)
    from apps.billing.models import Invoice

    recent = pay(ocr, "25.00")
    Invoice.objects.filter(pk=recent.pk).update(paid_at=later)  # paid ten days after
    LedgerEntry.objects.filter(invoice_line__invoice=recent).update(
        available_at=later + timedelta(days=14)
    )
    run_at = old.paid_at + timedelta(days=15)
    (payout,) = services.run_payouts(now=run_at).created
    assert payout.amount == D("40.00")
    assert _balances(org, now=run_at).pending == D("20.00")


def test_a_refund_of_a_pending_earning_lowers_pending_not_payable(org, pay, refund, ocr, settings):
    settings.PAYOUT_HOLD_DAYS = 14
    invoice = pay(ocr, "50.00")
    refund(invoice, "10.00")
    now = timezone.now()
    balances = _balances(org, now=now)
    assert (balances.payable, balances.pending, balances.reversed) == (0, D("32.00"), D("-8.00"))


# --- Disputes -------------------------------------------------------------------------------
def test_a_dispute_freezes_the_invoices_earnings_and_a_won_one_releases_them(
    org, pay, ocr, dispute, staff, billing_member
):
    invoice = pay(ocr, "50.00")
    pay(ocr, "20.00")  # another invoice: not frozen
    opened = dispute(invoice, "open")
    balances = _balances(org)
    assert (balances.payable, balances.held, balances.pending) == (D("16.00"), D("40.00"), 0)
    (payout,) = services.run_payouts("2026-11").created
    assert payout.amount == D("16.00")  # the frozen 40.00 stays

    note = LedgerEntry.objects.get(kind=LedgerKind.DISPUTE_OPENED)
    assert note.amount == 0 and note.dispute == opened
    assert note.description == (
        f"Dispute opened on {invoice.number}: $40.00 of your earnings frozen until the bank decides"
    )
    assert Notification.objects.filter(organization=org, kind="payouts.dispute_opened").exists()
    staff_mail = [m for m in mail.outbox if m.to == [staff.email]]
    assert staff_mail[0].subject == (
        f"[Tollgate staff] Dispute opened on invoice {invoice.number} ($50.00)"
    )

    dispute(invoice, "won", stripe_id=opened.stripe_dispute_id)
    assert _balances(org).payable == D("40.00")
    assert LedgerEntry.objects.get(kind=LedgerKind.DISPUTE_WON).description.startswith(
        f"Dispute won on {invoice.number}: $40.00 of your earnings released"
    )


def test_a_lost_dispute_reverses_the_share_and_the_platform_fee(org, pay, ocr, dispute):
    invoice = pay(ocr, "30.00", "20.00")
    dispute(invoice, "lost")
    lost = LedgerEntry.objects.filter(kind=LedgerKind.DISPUTE_LOST).order_by("id")
    assert [(e.gross, e.platform_fee, e.amount) for e in lost] == [
        (D("-30.00"), D("-6.00"), D("-24.00")),
        (D("-20.00"), D("-4.00"), D("-16.00")),
    ]
    balances = _balances(org)
    assert (balances.payable, balances.held, balances.reversed) == (0, 0, D("-40.00"))
    assert selectors.marketplace_summary(
        timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    )["platform_fee"] == D("0.00")
    assert LedgerEntry.objects.filter(kind=LedgerKind.DISPUTE_FEE).count() == 0  # platform's


def test_after_a_partial_refund_a_lost_dispute_reverses_only_what_is_left(
    org, pay, refund, ocr, dispute
):
    invoice = pay(ocr, "50.00")
    refund(invoice, "20.00")
    invoice.refresh_from_db()
    dispute(invoice, "lost", amount="50.00")  # capped at the 30.00 still collected
    assert _balances(org).earned + _balances(org).reversed == 0
    assert LedgerEntry.objects.get(kind=LedgerKind.DISPUTE_LOST).gross == D("-30.00")


def test_the_dispute_fee_is_the_providers_when_the_setting_says_so(
    org, other_org, pay, ocr, rival_api, dispute, settings
):
    settings.DISPUTE_FEE_PAYER = "provider"
    invoice = pay(ocr, "50.00")
    dispute(invoice, "lost", fee="15.00")
    (fee,) = LedgerEntry.objects.filter(kind=LedgerKind.DISPUTE_FEE)
    assert (fee.organization, fee.amount) == (org, D("-15.00"))
    assert fee.description == f"Dispute fee for {invoice.number} (Stripe's, lost dispute)"
    assert _balances(org).payable == D("-15.00")  # owed: later earnings cover it

    won = pay(ocr, "10.00")
    dispute(won, "won", fee="15.00")
    assert LedgerEntry.objects.filter(kind=LedgerKind.DISPUTE_FEE).count() == 1


def test_dispute_news_twice_and_out_of_order_enters_each_step_once(org, pay, ocr, dispute):
    invoice = pay(ocr, "50.00")
    dispute(invoice, "lost", stripe_id="dp_late")  # "closed" arrives before "created"
    dispute(invoice, "open", stripe_id="dp_late")
    dispute(invoice, "lost", stripe_id="dp_late")
    dispute(invoice, "won", stripe_id="dp_late")  # a closed dispute never reopens or flips
    assert _kinds(org) == ["earning", "dispute_opened", "dispute_lost"]
    assert invoice.disputes.get().status == DisputeStatus.LOST


def test_a_disputed_invoice_cannot_be_refunded(pay, ocr, dispute, staff):
    invoice = pay(ocr, "50.00")
    dispute(invoice, "open")
    with pytest.raises(Conflict) as refused:
        billing_services.invoice_refund(invoice=invoice, actor=staff, amount=D("5.00"))
    assert refused.value.code == "invoice_disputed"
    assert "under dispute" in refused.value.message
    invoice.refresh_from_db()
    assert invoice.amount_refunded == 0 and not invoice.refunds.exists()


def test_reconcile_enters_a_dispute_whose_signal_was_lost(org, pay, ocr):
    invoice = pay(ocr, "50.00")
    disputes.dispute_record(  # no on-commit: the signal never reaches payouts
        invoice=invoice, stripe_dispute_id="dp_lost_signal", status="lost", amount=D("50.00")
    )
    assert services.ledger_reconcile() == 2
    assert _kinds(org) == ["earning", "dispute_opened", "dispute_lost"]
    assert services.ledger_reconcile() == 0


# --- What a provider owes after a payout ---------------------------------------------------
def test_a_refund_after_a_payout_is_recovered_from_later_earnings(org, pay, refund, ocr):
    invoice = pay(ocr, "50.00")
    services.run_payouts("2026-10")
    refund(invoice)
    assert _balances(org).payable == D("-40.00")
    pay(ocr, "60.00")
    assert services.run_payouts("2026-11").created == []  # 8.00 < the 10.00 minimum
    pay(ocr, "10.00")
    (payout,) = services.run_payouts("2026-12").created
    assert payout.amount == D("16.00")


@pytest.fixture
def paid_by_stripe(org, pay, ocr, stripe_mock, django_capture_on_commit_callbacks):
    """Acme, connected to Stripe, was paid 40.00 by a transfer."""
    ProviderAccount.objects.create(
        organization=org, stripe_account_id="acct_1ProviderAcme0001", payouts_enabled=True
    )
    invoice = pay(ocr, "50.00")
    stripe_mock.add_callback(responses.POST, f"{API}/v1/transfers", callback=echo_transfer)
    with django_capture_on_commit_callbacks(execute=True):
        (payout,) = services.run_payouts("2026-11").created
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    return invoice, payout


def _reversal_answer(request):
    sent = form_of(request)
    body = {
        "id": new_id("trr", 24),
        "object": "transfer_reversal",
        "amount": int(sent["amount"]),
        "currency": "usd",
        "transfer": request.url.split("/")[-2],
        "metadata": {},
    }
    return 200, {}, json.dumps(body)


def form_of(request) -> dict:
    from urllib.parse import parse_qsl

    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return dict(parse_qsl(body))


def test_a_lost_dispute_after_a_stripe_payout_reverses_the_transfer(
    org, paid_by_stripe, dispute, stripe_mock
):
    invoice, payout = paid_by_stripe
    reversals = stripe_mock.add_callback(
        responses.POST,
        f"{API}/v1/transfers/{payout.stripe_transfer_id}/reversals",
        callback=_reversal_answer,
    )
    lost = dispute(invoice, "lost")
    (call,) = reversals.calls
    assert form(call)["amount"] == "4000"
    assert call.request.headers["Idempotency-Key"] == (
        f"tg-recover-{lost.public_id}-{payout.public_id}"
    )
    entry = LedgerEntry.objects.get(kind=LedgerKind.TRANSFER_REVERSAL)
    assert (entry.amount, entry.payout) == (D("40.00"), payout)
    balances = _balances(org)
    assert (balances.payable, balances.paid, balances.reversed) == (0, 0, D("-40.00"))

    # the reversal comes back as `transfer.reversed`: it is ours, the payout stays paid
    webhooks.handle_transfer_reversed(
        transfer(
            id=payout.stripe_transfer_id,
            amount=4000,
            destination="acct_1ProviderAcme0001",
            reversed=True,
            amount_reversed=4000,
        )
    )
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert _balances(org).payable == 0
    services.ledger_recover(organization_id=org.pk, cause=lost.public_id)  # a retried task
    assert len(reversals.calls) == 1


def test_a_transfer_stripe_will_not_reverse_leaves_the_debt_to_later_earnings(
    org, paid_by_stripe, refund, stripe_mock, pay, ocr
):
    invoice, payout = paid_by_stripe
    stripe_mock.post(
        f"{API}/v1/transfers/{payout.stripe_transfer_id}/reversals",
        **error(400, "invalid_request_error", "Insufficient funds in the connected account."),
    )
    refund(invoice, "25.00")
    assert not LedgerEntry.objects.filter(kind=LedgerKind.TRANSFER_REVERSAL).exists()
    assert _balances(org).payable == D("-20.00")
    pay(ocr, "50.00")
    (payout,) = services.run_payouts("2026-12").created
    assert payout.amount == D("20.00")


def test_the_ledger_always_adds_up(org, pay, refund, ocr, dispute):
    first, second, third = pay(ocr, "50.00"), pay(ocr, "12.34", "-2.00"), pay(ocr, "7.77")
    refund(first, "10.00")
    services.run_payouts("2026-10")
    dispute(second, "lost")
    dispute(third, "open")
    b = _balances(org)
    assert b.payable + b.pending + b.held + b.paid - b.reversed == b.earned
    assert b.balance == selectors.balance_of(org.pk)
    assert not Payout.objects.filter(amount__lte=0).exists()


def test_the_payouts_page_shows_payable_pending_frozen_and_reversed(
    owner_client, org, pay, refund, ocr, dispute, settings
):
    settings.PAYOUT_HOLD_DAYS = 14
    disputed = pay(ocr, "25.00")
    refund(pay(ocr, "50.00"), "10.00")
    dispute(disputed, "open")
    html = owner_client.get("/console/payouts/").content.decode()
    assert '<p class="label">Payable</p><div class="value">$0.00</div>' in html
    # pending: 40.00 - 8.00 refunded; frozen: 20.00 of the disputed invoice
    assert '<p class="label">Pending</p><div class="value">$52.00</div>' in html
    assert "Payable 14 days after the consumer paid · $20.00 frozen by disputes" in html
    assert '<p class="label">Reversed</p><div class="value">-$8.00</div>' in html
    assert "frozen: disputed" in html and "payable " in html


def test_the_balance_api_gives_each_state_and_the_ledger_when_earnings_clear(
    owner, org, pay, ocr, dispute, settings
):
    from tests.conftest import bearer_client

    settings.PAYOUT_HOLD_DAYS = 14
    invoice = pay(ocr, "50.00")
    dispute(pay(ocr, "25.00"), "open")
    client, _ = bearer_client(owner, org)
    body = client.get("/api/v1/provider/balance/").json()
    assert {k: body[k] for k in ("payable", "pending", "held", "reversed", "hold_days")} == {
        "payable": "0.00",
        "pending": "40.00",
        "held": "20.00",
        "reversed": "0.00",
        "hold_days": 14,
    }
    entries = client.get("/api/v1/provider/ledger/").json()["results"]
    (earning,) = [e for e in entries if e["kind"] == "earning" and e["invoice"] == invoice.number]
    assert earning["available_at"].startswith(
        (invoice.paid_at + timedelta(days=14)).date().isoformat()
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_dispute_news_twice_at_once_enters_it_once(org, pay, ocr):
    """Stripe delivers `created` and `closed` in parallel: the invoice row lock serialises
    them, the unique dispute id and entries make the second change nothing twice."""
    import threading

    from django.db import connections

    invoice = pay(ocr, "50.00")
    barrier = threading.Barrier(3)
    errors = []

    def deliver(status):
        try:
            barrier.wait()
            with transaction.atomic():  # as dj-stripe runs handlers
                disputes.dispute_record(
                    invoice=invoice, stripe_dispute_id="dp_race", status=status, amount=D("50")
                )
            services.ledger_reconcile()  # the receivers' work (no on-commit across threads)
        except Exception as exc:  # pragma: no cover - shown below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(s,)) for s in ("open", "lost", "lost")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert invoice.disputes.get().status == DisputeStatus.LOST
    assert _kinds(org) == ["earning", "dispute_opened", "dispute_lost"]
    assert _balances(org).earned + _balances(org).reversed == 0
