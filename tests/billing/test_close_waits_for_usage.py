"""A period closes only once its usage is in (issue 14, item 5): the close waits while a
usage source (a Redis stream shard, the database queue) holds calls made before the period's
end, and while Redis cannot be asked; it never invoices short. Job results count invoices
issued even when what follows the commit (queueing collection) fails."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from kombu.exceptions import OperationalError
from prometheus_client import REGISTRY

from apps.billing import runs, tasks
from apps.billing.models import Invoice
from apps.subscriptions import services as subscription_services
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import issue, line
from tests.gateway.conftest import counter_store  # noqa: F401  (both stores)
from tests.gateway.test_metering import _events, _record

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
UNITS_PER_CALL = 2_500  # five calls: 12,500 units, 2,500 beyond the 10,000 included = $1.00


@pytest.fixture
def subscription(owner, org, paid_plan):
    return subscription_services.subscription_create(
        actor=owner, organization=org, plan=paid_plan, now=START
    ).subscription


def _calls_before_the_end(subscription, count=5):
    """Calls in the period's last minutes, recorded by the gateway's store, not flushed."""
    period_start = int(subscription.current_period_start.timestamp())
    with time_machine.travel(subscription.current_period_end - timedelta(minutes=10)):
        events = _events(subscription.pk, count, period_start)
        _record([replace(event, units_micro=UNITS_PER_CALL * 1_000_000) for event in events])


def _period_invoices(subscription):
    return Invoice.objects.filter(subscription=subscription, key__startswith="period:")


def _deferred() -> float:
    return REGISTRY.get_sample_value("tollgate_billing_close_deferred_total") or 0


# the store writes from the gateway's own connection: committed rows, so a transactional test
@pytest.mark.django_db(transaction=True)
def test_a_period_whose_usage_is_not_flushed_waits_then_bills_all_of_it(
    counter_store,  # noqa: F811
    subscription,
):
    _calls_before_the_end(subscription)
    deferred_before = _deferred()
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        report = runs.close_due_periods()
        assert report.periods_closed == 0 and report.invoices == []
        assert report.waiting_for_usage == [subscription.public_id]
        assert "1 ended period(s) wait for usage" in report.summary()
        assert not _period_invoices(subscription).exists()
        assert _deferred() == deferred_before + 1

        assert tasks.close_due_periods() == 1  # the job flushes first, then closes
    invoice = _period_invoices(subscription).get()
    overage = invoice.lines.get(kind="usage")
    assert overage.quantity == Decimal(2_500) and overage.amount == Decimal("1.00")
    assert invoice.total == Decimal("30.00")  # $1.00 of usage, then next month's $29


@pytest.mark.django_db(transaction=True)
def test_a_source_drained_past_the_end_does_not_hold_the_close(
    counter_store,  # noqa: F811
    subscription,
):
    """Calls after the period's end wait in the source; the period closes without them."""
    from apps.metering.tasks import flush_usage

    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        flush_usage()  # every source drained through now
        report = runs.close_due_periods()
    assert report.periods_closed == 1 and report.waiting_for_usage == []
    assert _period_invoices(subscription).get().total == Decimal("29.00")


@pytest.mark.redis
def test_while_redis_cannot_be_read_the_close_defers_and_says_why(subscription, settings):
    settings.COUNTER_STORE = "redis"
    settings.COUNTER_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        report = runs.close_due_periods()
    assert report.periods_closed == 0 and report.usage_unreachable
    assert report.waiting_for_usage == [subscription.public_id]
    assert "the usage store cannot be read" in report.summary()
    assert not _period_invoices(subscription).exists()


def test_an_invoice_issued_while_the_broker_is_down_counts_and_is_announced(
    subscription, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.collect_invoice, "delay", broker_down)
    mail.outbox.clear()
    with (
        time_machine.travel(subscription.current_period_end + timedelta(minutes=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.close_due_periods() == 1
    invoice = _period_invoices(subscription).get()
    assert invoice.status == "open" and invoice.total == Decimal("29.00")
    assert any(invoice.number in message.subject for message in mail.outbox)


def test_the_collection_retry_job_sends_what_the_broker_never_queued(
    pending_subscription, stripe_api, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(
        tasks.collect_invoice, "delay", lambda *a, **k: (_ for _ in ()).throw(OperationalError())
    )
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(pending_subscription, line("fee", "Pro", "29.00"))
    assert stripe_api.posts("/v1/invoices") == []

    assert tasks.retry_collection() == 0  # just issued: its own task may still be queued
    with time_machine.travel(invoice.issued_at + timedelta(minutes=15)):
        assert tasks.retry_collection() == 1
        assert tasks.retry_collection() == 0
    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id and len(stripe_api.posts("/v1/invoices")) == 1
