"""The operator's commands: flush_usage, close_periods, retry_collection. Each has a dry run
that changes nothing, is idempotent (a second run does nothing more), and prints counts of
real work. (run_payouts: tests/payouts/test_run_command.py.)"""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command

from apps.billing import services
from apps.billing.models import Invoice
from apps.metering.models import UsageAggregate
from apps.subscriptions import services as subscription_services
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import issue, line
from tests.billing.test_invoicing import _usage
from tests.catalog.factories import ApiFactory
from tests.gateway.conftest import counter_store  # noqa: F401  (both stores)
from tests.gateway.test_metering import _events, _record
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- flush_usage ----------------------------------------------------------------------------
def _flushed_calls() -> int:
    return sum(UsageAggregate.objects.values_list("calls", flat=True))


@pytest.mark.django_db(transaction=True)
def test_flush_usage_says_what_is_waiting_flushes_it_once_and_then_finds_nothing(
    counter_store,  # noqa: F811
):
    from tests.factories import OrganizationFactory
    from tests.gateway.conftest import make_plan, subscribe

    subscription = subscribe(OrganizationFactory(), make_plan(ApiFactory()))
    _record(_events(subscription.pk, 30, 1_700_000_000))

    dry = run("flush_usage", "--dry-run")
    assert "Would flush 30 usage event(s)" in dry and "nothing was changed" in dry
    assert _flushed_calls() == 0

    assert "Flushed 30 usage event(s)." in run("flush_usage")
    assert _flushed_calls() == 30
    assert "Flushed 0 usage event(s)." in run("flush_usage")
    assert "Would flush 0 usage event(s)" in run("flush_usage", "--dry-run")
    assert _flushed_calls() == 30


# --- close_periods --------------------------------------------------------------------------
@pytest.fixture
def plan(paid_plan):
    return paid_plan  # Initech's Pro: $29 a month, 10,000 calls, $0.0004 beyond


def _subscribe(actor, organization, plan):
    return subscription_services.subscription_create(
        actor=actor, organization=organization, plan=plan, now=START
    ).subscription


@pytest.fixture
def subscription(owner, org, plan):
    return _subscribe(owner, org, plan)


@pytest.fixture
def other_subscription(plan):
    from tests.factories import MembershipFactory

    membership = MembershipFactory(organization__name="Globex")
    return _subscribe(membership.user, membership.organization, plan)


def _period_invoices():
    return Invoice.objects.filter(key__startswith="period:")


def test_close_periods_dry_run_shows_the_invoices_and_changes_nothing(subscription):
    _usage(subscription, 12_500)  # $1.00 beyond the included units, then the $29 fee
    mail.outbox.clear()
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        out = run("close_periods", "--dry-run")
    assert "Would close 1 billing period(s); 1 invoice(s) would be issued, $30.00" in out
    assert "Acme" in out and "nothing was changed" in out
    assert not _period_invoices().exists()
    subscription.refresh_from_db()
    assert subscription.current_period_start == START
    assert mail.outbox == []


def test_close_periods_issues_each_invoice_once_and_a_second_run_does_nothing(
    subscription, django_capture_on_commit_callbacks
):
    _usage(subscription, 12_500)
    with (
        time_machine.travel(subscription.current_period_end + timedelta(minutes=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        first = run("close_periods")
        second = run("close_periods")
    invoice = _period_invoices().get()
    assert "Closed 1 billing period(s); 1 invoice(s) issued, $30.00 in all." in first
    assert invoice.number in first and invoice.total == Decimal("30.00")
    assert "Closed 0 billing period(s); 0 invoice(s) issued" in second
    assert _period_invoices().count() == 1


def test_a_subscription_months_behind_is_caught_up_in_one_run(subscription):
    with time_machine.travel(START + timedelta(days=95)):  # three periods have ended
        out = run("close_periods")
        again = run("close_periods")
    assert "Closed 3 billing period(s); 3 invoice(s) issued, $87.00 in all." in out
    assert "Closed 0 billing period(s)" in again
    subscription.refresh_from_db()
    assert subscription.current_period_start == datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


def test_a_free_plan_closes_its_period_without_an_invoice(owner, org, other_org):
    free = PlanFactory(api=ApiFactory(organization=other_org), name="Free")
    subscription = _subscribe(owner, org, free)
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        out = run("close_periods")
    assert "Closed 1 billing period(s); 0 invoice(s) issued, $0.00 in all." in out
    assert not Invoice.objects.exists()


def test_one_subscription_closes_alone_and_the_others_wait(subscription, other_subscription):
    other = other_subscription
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        out = run("close_periods", "--subscription", subscription.public_id)
    assert "Closed 1 billing period(s); 1 invoice(s) issued" in out
    assert list(_period_invoices().values_list("subscription", flat=True)) == [subscription.pk]
    other.refresh_from_db()
    assert other.current_period_start == START


def test_a_subscription_whose_period_runs_on_is_not_closed_early(subscription):
    with time_machine.travel(START + timedelta(days=20)):
        out = run("close_periods", "--subscription", subscription.public_id)
    assert "Closed 0 billing period(s)" in out
    assert f"{subscription.public_id}: its period ends 2026-02-10 12:00 UTC" in out
    assert not _period_invoices().exists()


def test_an_unknown_subscription_is_refused_by_name():
    with pytest.raises(CommandError, match="No subscription sub_nope"):
        run("close_periods", "--subscription", "sub_nope")


def test_one_failing_subscription_does_not_stop_the_others(
    subscription, other_subscription, monkeypatch
):
    broken = other_subscription
    real = services.close_period

    def close_period(subscription_id, **kwargs):
        if subscription_id == broken.pk:
            raise RuntimeError("rating blew up")
        return real(subscription_id, **kwargs)

    monkeypatch.setattr(services, "close_period", close_period)
    out = io.StringIO()
    with (
        time_machine.travel(subscription.current_period_end + timedelta(minutes=5)),
        pytest.raises(CommandError, match=broken.public_id),
    ):
        call_command("close_periods", stdout=out)
    assert "Closed 1 billing period(s); 1 invoice(s) issued" in out.getvalue()
    assert list(_period_invoices().values_list("subscription", flat=True)) == [subscription.pk]


# --- retry_collection -----------------------------------------------------------------------
def test_retry_collection_sends_invoices_stripe_never_got_once(pending_subscription, stripe_api):
    invoice = issue(pending_subscription, line("fee", "Pro", "29.00"))  # its task gave up

    dry = run("retry_collection", "--dry-run")
    assert "Would send 1 open invoice(s) to Stripe" in dry and invoice.number in dry
    assert stripe_api.posts("/v1/invoices") == []

    out = run("retry_collection")
    invoice.refresh_from_db()
    assert "Sent 1 open invoice(s) to Stripe for collection." in out
    assert invoice.stripe_invoice_id and len(stripe_api.posts("/v1/invoices")) == 1

    again = run("retry_collection")
    assert "Sent 0 open invoice(s)" in again
    assert "1 open invoice(s) are in Stripe, which retries them." in again
    assert len(stripe_api.posts("/v1/invoices")) == 1


def test_retry_collection_reports_a_stripe_refusal_and_sends_the_rest(
    pending_subscription, stripe_api
):
    from tests.billing.stripe_fixtures import stripe_error

    first = issue(pending_subscription, line("fee", "Pro", "29.00"), key="test:1")
    second = issue(pending_subscription, line("fee", "Pro", "29.00"), key="test:2")
    stripe_api.on(
        "POST",
        "/v1/invoices",
        stripe_error(400, "invalid_request_error", "No such customer", "resource_missing"),
        times=1,
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match=first.number):
        call_command("retry_collection", stdout=out)
    assert "Sent 1 open invoice(s)" in out.getvalue()
    second.refresh_from_db()
    assert second.stripe_invoice_id


def test_without_stripe_open_invoices_are_counted_and_nothing_is_sent(subscription):
    assert issue(subscription, line("fee", "Pro", "29.00")).collection_method == "manual"
    out = run("retry_collection")
    assert "Sent 0 open invoice(s)" in out
    assert "1 open invoice(s) are paid by bank transfer" in out


def test_retry_collection_can_name_one_invoice(pending_subscription, stripe_api):
    first = issue(pending_subscription, line("fee", "Pro", "29.00"), key="test:1")
    second = issue(pending_subscription, line("fee", "Pro", "29.00"), key="test:2")
    out = run("retry_collection", "--invoice", second.number)
    assert "Sent 1 open invoice(s)" in out and first.number not in out
    first.refresh_from_db()
    assert first.stripe_invoice_id == ""
    with pytest.raises(CommandError, match="No invoice TG-nope"):
        run("retry_collection", "--invoice", "TG-nope")


def test_the_beat_task_counts_periods_closed(subscription):
    from apps.billing.tasks import close_due_periods

    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        assert close_due_periods() == 1
        assert close_due_periods() == 0


def test_a_period_another_worker_is_closing_is_not_counted(subscription, monkeypatch):
    monkeypatch.setattr(services, "close_period", lambda subscription_id, **kwargs: None)
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        out = run("close_periods")
    assert "Closed 0 billing period(s); 0 invoice(s) issued" in out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_report_one_closed_period_between_them(owner, org, plan):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from apps.billing import runs

    subscription = _subscribe(owner, org, plan)

    def close(_):
        try:
            with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
                return runs.close_due_periods()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = list(pool.map(close, range(3)))
    assert sum(report.periods_closed for report in reports) == 1
    assert sum(len(report.invoices) for report in reports) == 1
    assert _period_invoices().count() == 1


# --- The same work from the admin -----------------------------------------------------------
def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_staff_close_ended_periods_from_the_invoice_list(client, staff, subscription):
    client.force_login(staff)
    page = client.get("/admin/billing/invoice/").content.decode()
    assert "Close ended periods now" in page
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        response = client.post("/admin/billing/invoice/close-periods/", follow=True)
        again = client.post("/admin/billing/invoice/close-periods/", follow=True)
    assert "Closed 1 billing period(s); 1 invoice(s) issued, $29.00 in all." in _messages(response)
    assert "Closed 0 billing period(s); 0 invoice(s) issued, $0.00 in all." in _messages(again)
    assert _period_invoices().count() == 1


def test_closing_periods_from_the_admin_is_staff_only(client, owner, subscription):
    client.force_login(owner)
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        response = client.post("/admin/billing/invoice/close-periods/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not _period_invoices().exists()


def test_staff_close_one_subscriptions_period_from_its_admin(
    client, staff, subscription, other_subscription
):
    client.force_login(staff)
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        response = client.post(
            "/admin/subscriptions/subscription/",
            {"action": "close_period", "_selected_action": [subscription.pk]},
            follow=True,
        )
    assert "Closed 1 billing period(s); 1 invoice(s) issued, $29.00 in all." in _messages(response)
    assert list(_period_invoices().values_list("subscription", flat=True)) == [subscription.pk]


def test_staff_retry_collection_of_selected_invoices(
    client, staff, pending_subscription, stripe_api
):
    invoice = issue(pending_subscription, line("fee", "Pro", "29.00"))
    client.force_login(staff)
    response = client.post(
        "/admin/billing/invoice/",
        {"action": "retry_collection", "_selected_action": [invoice.pk]},
        follow=True,
    )
    assert "Sent 1 open invoice(s) to Stripe for collection." in _messages(response)
    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id
