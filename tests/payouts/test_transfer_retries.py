"""Payouts that retry: a transfer Stripe refuses for a passing reason (too little platform
balance, its own trouble) is sent again with backoff within days, with the same idempotency
key; an account that cannot receive transfers tells the provider what to fix; staff see
both. Each transfer carries a `transfer_group` and the invoices it pays out."""

from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.core import mail
from django.utils import timezone

from apps.accounts.models import Notification
from apps.payouts import selectors, services, tasks
from apps.payouts.models import Payout, PayoutStatus, ProviderAccount

from .stripe_objects import API, CANNOT_RECEIVE_TRANSFERS, echo_transfer, error, form

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
D = Decimal
ACME_ACCOUNT = "acct_1ProviderAcme0001"
TRANSFERS = f"{API}/v1/transfers"
TOO_LITTLE = error(
    400,
    "invalid_request_error",
    "You have insufficient available funds in your Stripe account.",
    "balance_insufficient",
)


@pytest.fixture
def connected(org):
    return ProviderAccount.objects.create(
        organization=org,
        stripe_account_id=ACME_ACCOUNT,
        details_submitted=True,
        payouts_enabled=True,
    )


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def run(period="2026-11"):
        with django_capture_on_commit_callbacks(execute=True):
            return services.run_payouts(period)

    return run


@pytest.fixture
def retry(django_capture_on_commit_callbacks):
    """The beat job at a given moment, with the sends it queues run."""

    def retry(at):
        with django_capture_on_commit_callbacks(execute=True):
            return services.retry_due_transfers(now=at)

    return retry


def _calls(mock):
    return [call for call in mock.calls if call.request.url == TRANSFERS]


def _staff_mail():
    return [m.subject for m in mail.outbox if m.subject.startswith("[Tollgate staff]")]


def test_too_little_platform_balance_is_retried_within_hours_not_next_month(
    stripe_mock, connected, run, retry, pay, ocr, org, staff, owner_client
):
    pay(ocr, "49.00")
    stripe_mock.add(responses.POST, TRANSFERS, **TOO_LITTLE)
    started = timezone.now()
    run()
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.PENDING and payout.retry_round == 1
    assert payout.next_attempt_at - started >= timedelta(hours=1)
    assert payout.next_attempt_at - started < timedelta(hours=1, minutes=1)
    assert "insufficient available funds" in payout.last_error
    assert selectors.balance_of(org.pk) == 0  # still on its way: not returned, not paid twice
    assert _staff_mail() == [f"[Tollgate staff] Transfer of payout {payout.public_id} delayed"]
    page = owner_client.get("/console/payouts/").content.decode()
    assert "Delayed at Stripe; we retry on" in page

    assert retry(started + timedelta(minutes=30)) == []  # not due yet
    stripe_mock.remove(responses.POST, TRANSFERS)  # Stripe's balance has settled
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    assert retry(payout.next_attempt_at) == [payout.pk]
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID and payout.attempts == 2
    first, second = _calls(stripe_mock)
    assert first.request.headers["Idempotency-Key"] == second.request.headers["Idempotency-Key"]
    assert retry(payout.next_attempt_at or timezone.now() + timedelta(days=9)) == []


def test_a_transfer_refused_for_days_fails_returns_the_amount_and_tells_staff(
    stripe_mock, connected, run, retry, pay, ocr, org, staff
):
    pay(ocr, "49.00")
    stripe_mock.add(responses.POST, TRANSFERS, **TOO_LITTLE)
    run()
    payout = Payout.objects.get()
    moments = []
    while payout.status == PayoutStatus.PENDING:
        moments.append(payout.next_attempt_at)
        retry(payout.next_attempt_at)
        payout.refresh_from_db()
    assert len(_calls(stripe_mock)) == len(services.RETRY_DELAYS) + 1
    assert moments[-1] - moments[0] < timedelta(days=4)  # within days
    assert payout.status == PayoutStatus.FAILED
    assert payout.failure_reason.startswith("Stripe kept refusing the transfer for days")
    assert selectors.balance_of(org.pk) == D("39.20")  # back for the next run
    assert f"[Tollgate staff] Payout {payout.public_id} failed" in _staff_mail()
    assert Notification.objects.filter(organization=org, title="Payout of $39.20 failed").exists()


def test_stripe_trouble_outlasting_the_tasks_quick_retries_is_scheduled(
    stripe_mock, connected, pay, ocr, org, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks.send_transfer, "max_retries", 0)
    pay(ocr, "49.00")
    stripe_mock.add(responses.POST, TRANSFERS, **error(429, "rate_limit_error", "Slow down"))
    with django_capture_on_commit_callbacks(execute=True):
        services.run_payouts("2026-11")
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.PENDING and payout.next_attempt_at is not None
    assert payout.last_error.startswith("Slow down")


def test_an_account_that_cannot_receive_transfers_tells_the_provider_what_to_fix(
    stripe_mock, connected, run, pay, ocr, org, staff
):
    pay(ocr, "49.00")
    stripe_mock.add(responses.POST, TRANSFERS, **CANNOT_RECEIVE_TRANSFERS)
    run()
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.FAILED and payout.next_attempt_at is None
    notice = Notification.objects.get(organization=org, title="Payout of $39.20 failed")
    assert "Continue onboarding" in notice.body and "back in your balance" in notice.body
    connected.refresh_from_db()
    assert connected.payouts_enabled is False
    assert selectors.next_payout(org, balance=D("39.20"), account=connected).headline == (
        "Waiting for Stripe"
    )
    assert _staff_mail() == []  # the provider's to fix; staff see it in the admin


def test_of_two_retry_jobs_that_saw_a_transfer_due_one_sends_it(
    stripe_mock, connected, run, pay, ocr
):
    pay(ocr, "49.00")
    stripe_mock.add(responses.POST, TRANSFERS, **TOO_LITTLE)
    run()
    payout = Payout.objects.get()
    due = payout.next_attempt_at
    # both jobs listed it as due; each claims it before queueing the send
    assert services._claim_transfer(payout.pk, due) is True
    assert services._claim_transfer(payout.pk, due) is False
    assert services.retry_due_transfers(now=due) == []


def test_a_transfer_carries_its_group_and_the_invoices_it_pays_out(
    stripe_mock, connected, run, pay, ocr, settings
):
    first, second = pay(ocr, "20.00"), pay(ocr, "29.00")
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    (payout,) = run("2026-11").created
    sent = form(_calls(stripe_mock)[0])
    assert sent["transfer_group"] == payout.public_id
    assert sent["metadata[invoices]"] == ",".join(sorted([first.number, second.number]))
    assert set(payout.invoices.all()) == {first, second}

    third = pay(ocr, "15.00")
    (later,) = run("2026-12").created
    assert list(later.invoices.all()) == [third]  # each invoice is paid out once
    assert form(_calls(stripe_mock)[1])["metadata[invoices]"] == third.number
