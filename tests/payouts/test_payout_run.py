"""The monthly payout run: one payout per provider and period whatever runs, a Stripe
transfer with an idempotency key when the provider's account can receive it, a statement
for staff to pay by hand without Stripe, and failed transfers returned to the balance."""

import re
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from apps.accounts.models import Notification
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.payouts import selectors, services, tasks, webhooks
from apps.payouts.models import LedgerEntry, LedgerKind, Payout, ProviderAccount

from .stripe_objects import API, CANNOT_RECEIVE_TRANSFERS, echo_transfer, error, form, transfer

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
D = Decimal
ACME_ACCOUNT = "acct_1ProviderAcme0001"
INITECH_ACCOUNT = "acct_1ProviderInitech1"
TRANSFERS = f"{API}/v1/transfers"


def connect(organization, account_id=ACME_ACCOUNT, *, enabled=True) -> ProviderAccount:
    account, _ = ProviderAccount.objects.get_or_create(organization=organization)
    account.stripe_account_id = account_id
    account.details_submitted = account.payouts_enabled = enabled
    account.save()
    return account


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run the payout service as the beat task would, with after-commit work (transfers,
    emails) executed."""

    def run(period="2026-11"):
        with django_capture_on_commit_callbacks(execute=True):
            return services.run_payouts(period)

    return run


def transfer_calls(mock):
    return [call for call in mock.calls if call.request.url == TRANSFERS]


# --- With Stripe -------------------------------------------------------------------------
def test_running_twice_sends_one_transfer_with_an_idempotency_key(stripe_mock, run, pay, ocr, org):
    connect(org)
    pay(ocr, "49.00")  # 39.20 for Acme
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    first = run()
    second = run()
    payout = Payout.objects.get()
    assert first.created == [payout] and second.created == [] and second.resent == []
    [call] = transfer_calls(stripe_mock)
    sent = form(call)
    assert sent["amount"] == "3920" and sent["currency"] == "usd"
    assert sent["destination"] == ACME_ACCOUNT
    assert sent["metadata[tollgate_payout]"] == payout.public_id
    assert call.request.headers["Idempotency-Key"] == f"tg-payout-{payout.public_id}"
    assert payout.status == "paid" and payout.method == "stripe"
    assert payout.stripe_transfer_id.startswith("tr_") and payout.period == "2026-11"
    assert payout.amount == D("39.20") and selectors.balance_of(org.pk) == 0
    assert LedgerEntry.objects.get(kind=LedgerKind.PAYOUT).amount == D("-39.20")
    assert Notification.objects.filter(organization=org, title="Payout of $39.20 sent").exists()


def test_the_beat_task_runs_the_current_month(
    stripe_mock, pay, ocr, org, django_capture_on_commit_callbacks
):
    connect(org)
    pay(ocr, "49.00")
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.run_payouts.delay().get() == 1
    assert Payout.objects.get().period == timezone.now().strftime("%Y-%m")


def test_a_transfer_stuck_by_stripe_trouble_is_resent_with_the_same_key(
    stripe_mock, run, pay, ocr, org, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks.send_transfer, "max_retries", 0)  # give up at once
    connect(org)
    pay(ocr, "49.00")
    stripe_mock.add(responses.POST, TRANSFERS, **error(500, "api_error", "Stripe is down"))
    run()
    payout = Payout.objects.get()
    assert payout.status == "pending" and selectors.balance_of(org.pk) == 0
    stripe_mock.replace(
        responses.POST,
        TRANSFERS,
        status=200,
        json=transfer(amount=3920, destination=ACME_ACCOUNT, id="tr_Resent1"),
    )
    assert run().resent == []  # its task may still be retrying: leave it be
    with django_capture_on_commit_callbacks(execute=True):
        report = services.run_payouts("2026-11", now=timezone.now() + services.RESEND_AFTER)
    assert report.resent == [payout] and report.created == []
    first, second = transfer_calls(stripe_mock)
    assert first.request.headers["Idempotency-Key"] == second.request.headers["Idempotency-Key"]
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.stripe_transfer_id == "tr_Resent1"


def test_the_transfer_task_retries_transient_errors(stripe_mock, pay, ocr, org, monkeypatch):
    monkeypatch.setattr(tasks.send_transfer, "max_retries", 2)
    monkeypatch.setattr(tasks.send_transfer, "delay", lambda payout_id: None)  # queued
    connect(org)
    pay(ocr, "49.00")
    services.run_payouts("2026-11")
    payout = Payout.objects.get()
    stripe_mock.add(responses.POST, TRANSFERS, **error(429, "rate_limit_error", "Slow down"))
    stripe_mock.add(responses.POST, TRANSFERS, json=transfer(amount=3920, destination=ACME_ACCOUNT))
    tasks.send_transfer.apply(args=[payout.pk], throw=False)  # as a worker runs it, retries too
    calls = transfer_calls(stripe_mock)
    assert len(calls) == 2
    assert (
        calls[0].request.headers["Idempotency-Key"] == calls[1].request.headers["Idempotency-Key"]
    )
    payout.refresh_from_db()
    assert payout.status == "paid"


def test_a_refused_transfer_fails_and_returns_the_amount_for_next_run(
    stripe_mock, run, pay, ocr, org
):
    connect(org)
    pay(ocr, "49.00")
    stripe_mock.add(responses.POST, TRANSFERS, **CANNOT_RECEIVE_TRANSFERS)
    run("2026-11")
    failed = Payout.objects.get()
    assert failed.status == "failed" and "transfers capability" in failed.failure_reason
    assert "Continue onboarding" in failed.failure_reason  # what the provider must do
    assert selectors.balance_of(org.pk) == D("39.20")
    assert [e.kind for e in failed.entries.order_by("id")] == ["payout", "payout_reversal"]
    assert run("2026-11").created == []  # not twice in a period
    assert run("2026-12").created == []  # paused until Stripe enables the account again
    webhooks.handle_account_updated(
        {"id": ACME_ACCOUNT, "details_submitted": True, "payouts_enabled": True}
    )
    stripe_mock.replace(
        responses.POST, TRANSFERS, json=transfer(amount=3920, destination=ACME_ACCOUNT)
    )
    paid = run("2027-01").created[0]
    paid.refresh_from_db()
    assert paid.status == "paid" and paid.amount == D("39.20")
    keys = {c.request.headers["Idempotency-Key"] for c in transfer_calls(stripe_mock)}
    assert keys == {failed.idempotency_key, paid.idempotency_key}


def test_a_reversed_transfer_fails_the_payout_once(stripe_mock, run, pay, ocr, org):
    connect(org)
    pay(ocr, "49.00")
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    run()
    payout = Payout.objects.get()
    reversed_ = transfer(
        amount=3920,
        destination=ACME_ACCOUNT,
        id=payout.stripe_transfer_id,
        reversed=True,
        amount_reversed=3920,
    )
    webhooks.handle_transfer_reversed(reversed_)
    webhooks.handle_transfer_reversed(reversed_)  # delivered twice
    payout.refresh_from_db()
    assert payout.status == "failed" and selectors.balance_of(org.pk) == D("39.20")


def test_transfer_created_links_a_transfer_the_task_did_not_save(
    stripe_mock, pay, ocr, org, monkeypatch
):
    connect(org)
    pay(ocr, "49.00")
    monkeypatch.setattr(tasks.send_transfer, "delay", lambda payout_id: None)  # the task dies
    services.run_payouts("2026-11")
    payout = Payout.objects.get()
    made = transfer(
        amount=3920, destination=ACME_ACCOUNT, metadata={"tollgate_payout": payout.public_id}
    )
    webhooks.handle_transfer_created(made)
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.stripe_transfer_id == made["id"]


def test_each_provider_is_paid_to_its_own_account(
    stripe_mock, run, pay, ocr, rival_api, org, other_org
):
    connect(org)
    connect(other_org, INITECH_ACCOUNT)
    pay(ocr, "49.00")
    pay(rival_api, "20.00")
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    run()
    sent = sorted((form(c)["destination"], form(c)["amount"]) for c in transfer_calls(stripe_mock))
    assert sent == [(ACME_ACCOUNT, "3920"), (INITECH_ACCOUNT, "1600")]


def test_an_unconnected_or_unfinished_account_keeps_its_balance(
    stripe_mock, run, pay, ocr, rival_api, org, other_org
):
    connect(other_org, INITECH_ACCOUNT, enabled=False)
    pay(ocr, "49.00")
    pay(rival_api, "20.00")
    assert run().created == []
    assert not transfer_calls(stripe_mock)
    assert selectors.balance_of(org.pk) == D("39.20")
    account = selectors.provider_account(org)
    upcoming = selectors.next_payout(org, balance=D("39.20"), account=account)
    assert not upcoming.will_be_paid and "Connect a Stripe account" in upcoming.reason


# --- The minimum ------------------------------------------------------------------------
def test_a_balance_below_the_minimum_waits(run, pay, ocr, org):
    pay(ocr, "12.49")  # 9.99 for Acme, under the 10.00 minimum
    assert run().created == []
    assert Payout.objects.count() == 0
    pay(ocr, "0.02")  # 10.01 (0.02 splits 0.02 / 0.00)
    assert run().created[0].amount == D("10.01")


def test_a_balance_of_exactly_the_minimum_is_paid(run, pay, ocr):
    pay(ocr, "12.50")  # 10.00
    assert run().created[0].amount == D("10.00")


def test_a_negative_balance_carries_over(run, pay, refund, ocr, org, staff):
    invoice = pay(ocr, "49.00")
    run("2026-11")  # pays 39.20 (by hand)
    payout = Payout.objects.get()
    services.payout_mark_paid(payout=payout, actor=staff)
    refund(invoice)  # after the payout: Acme owes it back
    assert selectors.balance_of(org.pk) == D("-39.20")
    assert run("2026-12").created == []


# --- Without Stripe: statements staff pay by hand ---------------------------------------
def test_without_stripe_the_run_makes_statements_staff_mark_paid(run, pay, ocr, org, staff, owner):
    pay(ocr, "49.00")
    payout = run().created[0]
    assert payout.method == "manual" and payout.status == "pending"
    assert selectors.balance_of(org.pk) == 0
    assert selectors.balance_summary(org).in_transit == D("39.20")
    assert run().created == []
    with pytest.raises(Forbidden):
        services.payout_mark_paid(payout=payout, actor=owner)
    services.payout_mark_paid(payout=payout, actor=staff, reference="BANK-REF-1")
    services.payout_mark_paid(payout=payout, actor=staff)  # twice: nothing more
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.marked_paid_by == staff
    assert payout.reference == "BANK-REF-1" and payout.paid_at is not None
    assert selectors.balance_summary(org).paid_out == D("39.20")
    titles = set(Notification.objects.filter(organization=org).values_list("title", flat=True))
    assert {"Payout of $39.20 scheduled", "Payout of $39.20 paid"} <= titles


def test_staff_can_cancel_a_manual_payout_and_the_amount_returns(run, pay, ocr, org, staff):
    pay(ocr, "49.00")
    payout = run().created[0]
    services.payout_cancel(payout=payout, actor=staff, reason="Wrong bank details")
    assert selectors.balance_of(org.pk) == D("39.20")
    with pytest.raises(Conflict):
        services.payout_mark_paid(payout=payout, actor=staff)


def test_a_period_must_look_like_a_month(db):
    with pytest.raises(ServiceError):
        services.run_payouts("November")


# --- Two runs at once, for real (PostgreSQL row locks) ----------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_one_transfer(stripe_mock, pay, ocr, org, settings):
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL (CI does)")
    connect(org)
    pay(ocr, "49.00")
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    barrier = threading.Barrier(4)
    errors = []

    def one_run():
        try:
            barrier.wait()
            services.run_payouts("2026-11")
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    payout = Payout.objects.get()
    assert payout.status == "paid"
    assert len(transfer_calls(stripe_mock)) == 1
    assert LedgerEntry.objects.filter(kind=LedgerKind.PAYOUT).count() == 1
    assert selectors.balance_of(org.pk) == 0


def test_transfers_are_asked_for_in_minor_units_of_the_currency(
    stripe_mock, run, pay, ocr, org, settings
):
    settings.CURRENCY = "JPY"
    settings.PAYOUT_MINIMUM = D("1000")
    connect(org)
    pay(ocr, "4900")  # ¥3,920
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    run()
    [call] = transfer_calls(stripe_mock)
    assert form(call)["amount"] == "3920" and form(call)["currency"] == "jpy"
    assert re.match(r"tg-payout-payout_\w+", call.request.headers["Idempotency-Key"])


def test_a_suspended_provider_is_not_paid_until_restored(run, pay, ocr, org):
    pay(ocr, "49.00")
    org.suspended_at = timezone.now()
    org.save()
    assert run("2026-11").created == []
    upcoming = selectors.next_payout(org, balance=D("39.20"), account=None)
    assert not upcoming.will_be_paid and upcoming.headline == "On hold"
    org.suspended_at = None
    org.save()
    assert run("2026-11").created[0].amount == D("39.20")


def test_listeners_hear_each_status_change_after_commit(run, pay, ocr, staff, monkeypatch):
    heard = []
    monkeypatch.setattr(services, "payout_listeners", [lambda kind, p: heard.append(kind)])
    pay(ocr, "49.00")
    payout = run().created[0]
    assert heard == ["payout.pending"]
    services.payout_mark_paid(payout=payout, actor=staff)  # not committed yet: nothing heard
    assert heard == ["payout.pending"]


def test_a_failing_listener_does_not_undo_the_payout(run, pay, ocr, org, monkeypatch, caplog):
    def broken(kind, payout):
        raise RuntimeError("webhook queue down")

    monkeypatch.setattr(services, "payout_listeners", [broken])
    pay(ocr, "49.00")
    assert run().created and "webhook queue down" in caplog.text
    assert selectors.balance_of(org.pk) == 0


def test_an_unrouted_payouts_page_never_fails_a_payout(run, pay, ocr, org, staff, settings):
    settings.ROOT_URLCONF = "tests.payouts.urls_without_payouts"
    pay(ocr, "49.00")
    payout = run().created[0]
    services.payout_mark_paid(payout=payout, actor=staff)
    payout.refresh_from_db()
    assert payout.status == "paid"
