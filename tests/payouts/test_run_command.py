"""`manage.py run_payouts`: a dry run that changes and sends nothing, one payout per
provider and period however often it runs, counts of payouts made (not of providers tried)."""

import io
from decimal import Decimal

import pytest
import responses
from django.core import mail
from django.core.management import CommandError, call_command

from apps.accounts.models import Notification
from apps.payouts import selectors
from apps.payouts.models import LedgerEntry, Payout

from .stripe_objects import API, echo_transfer
from .test_payout_run import connect

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
TRANSFERS = f"{API}/v1/transfers"


def run(*args) -> str:
    out = io.StringIO()
    call_command("run_payouts", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_names_the_payouts_and_makes_none(pay, ocr, rival_api, org, other_org):
    pay(ocr, "49.00")  # Acme keeps 39.20
    pay(rival_api, "5.00")  # Initech's 4.00 is under the 10.00 minimum
    entries, notices = LedgerEntry.objects.count(), Notification.objects.count()
    mail.outbox.clear()

    out = run("--period", "2026-11", "--dry-run")

    assert "Would make 1 payout(s) for 2026-11, $39.20 in all (1 to pay by hand" in out
    assert "Acme  $39.20  bank transfer (manual)" in out and "Initech" not in out
    assert "nothing was changed" in out
    assert not Payout.objects.exists()
    assert LedgerEntry.objects.count() == entries and Notification.objects.count() == notices
    assert selectors.balance_of(org.pk) == Decimal("39.20")
    assert mail.outbox == []


def test_a_run_pays_each_provider_once_per_period(pay, ocr, org):
    pay(ocr, "49.00")
    first = run("--period", "2026-11")
    second = run("--period", "2026-11")
    assert "Made 1 payout(s) for 2026-11, $39.20 in all (1 to pay by hand, 0 by Stripe" in first
    assert "Made 0 payout(s) for 2026-11, $0.00 in all" in second
    payout = Payout.objects.get()
    assert payout.amount == Decimal("39.20") and payout.method == "manual"
    assert selectors.balance_of(org.pk) == 0


def test_a_dry_run_with_stripe_sends_no_transfer(stripe_mock, pay, ocr, org):
    connect(org)
    pay(ocr, "49.00")
    stripe_mock.add_callback(responses.POST, TRANSFERS, callback=echo_transfer)
    out = run("--period", "2026-11", "--dry-run")
    assert "Would make 1 payout(s) for 2026-11, $39.20 in all (0 to pay by hand, 1 by Stripe" in out
    assert [c.request.url for c in stripe_mock.calls] == []
    assert not Payout.objects.exists()


def test_a_bad_period_is_refused_with_the_expected_form():
    with pytest.raises(CommandError, match="Give a month as YYYY-MM"):
        run("--period", "November")
