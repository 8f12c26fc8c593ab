"""Dunning's edges, without the gateway: a consumer cancelling an unpaid subscription, a
write-off ending dunning, a schedule without retries, a retry that raises, and failure
news arriving for an unpaid subscription."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.billing import dunning
from apps.billing import services as billing
from apps.billing.collection import ManualCollector
from apps.billing.models import Invoice, InvoiceStatus
from apps.subscriptions import rating
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SubscriptionStatus
from tests.billing.usage import record_usage
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db
S = SubscriptionStatus


@pytest.fixture
def failed(owner, org, other_org, settings):
    """A $10 plan (refunds unused fees) whose first invoice's payment failed."""
    settings.DUNNING_RETRY_DAYS = (1, 3)
    settings.UNPAID_CANCEL_DAYS = 30
    plan = PlanFactory(
        api=ApiFactory(organization=other_org),
        monthly_fee=Decimal("10"),
        included_units=100,
        unit_price=Decimal("0.01"),
        hard_limit=False,
        prorated_refunds=True,
    )
    subscription = subscription_services.subscription_create(
        actor=owner, organization=org, plan=plan
    ).subscription
    invoice = billing.invoice_first_period(subscription)
    return billing.invoice_payment_failed(invoice=invoice)


def _to_unpaid(invoice):
    for day in (1, 3):
        with time_machine.travel(invoice.payment_failed_at + timedelta(days=day, minutes=1)):
            dunning.run()
    invoice.subscription.refresh_from_db()
    assert invoice.subscription.status == S.UNPAID


def test_a_consumer_cancelling_an_unpaid_subscription_gets_the_usage_but_no_credit(failed, owner):
    subscription = failed.subscription
    record_usage(subscription, 150, at=timezone.now())
    _to_unpaid(failed)
    # a month on (the period ended unclosed: unpaid), the consumer gives up
    with time_machine.travel(subscription.current_period_end + timedelta(days=1)):
        canceled = subscription_services.subscription_cancel(actor=owner, subscription=subscription)
    assert canceled.status == S.CANCELED  # at once, not at a period end
    final = Invoice.objects.get(key=f"cancel:{subscription.pk}")
    # 50 units beyond the 100 included; no credit for the unused fee: it was never paid
    assert list(final.lines.values_list("kind", "amount")) == [(rating.USAGE, Decimal("0.50"))]
    failed.refresh_from_db()
    assert failed.status == InvoiceStatus.OPEN


def test_writing_off_a_failed_invoice_ends_dunning_and_paying_it_later_reactivates(failed, staff):
    billing.invoice_mark_uncollectible(invoice=failed, actor=staff)
    subscription = failed.subscription
    subscription.refresh_from_db()
    assert subscription.status == S.UNPAID
    with time_machine.travel(failed.payment_failed_at + timedelta(days=1, minutes=1)):
        assert dunning.run().retried == {}  # no retries of a written-off invoice
    billing.invoice_mark_paid(invoice=failed, actor=staff)
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE


def test_without_retries_the_first_failure_is_the_last(owner, org, other_org, settings):
    settings.DUNNING_RETRY_DAYS = ()
    plan = PlanFactory(api=ApiFactory(organization=other_org), monthly_fee=Decimal("10"))
    subscription = subscription_services.subscription_create(
        actor=owner, organization=org, plan=plan
    ).subscription
    invoice = billing.invoice_first_period(subscription)
    billing.invoice_payment_failed(invoice=invoice)
    subscription.refresh_from_db()
    assert subscription.status == S.UNPAID


def test_a_retry_that_raises_is_tried_again_on_the_next_run(failed, monkeypatch):
    def unreachable(self, invoice, attempt):
        raise ConnectionError("Stripe is unavailable")

    monkeypatch.setattr(ManualCollector, "retry", unreachable)
    moment = failed.payment_failed_at + timedelta(days=1, minutes=1)
    with time_machine.travel(moment):
        report = dunning.run()
    assert report.failed == [failed.pk] and report.retried == {}
    failed.refresh_from_db()
    assert failed.payment_retries == 0  # not counted: the next run tries the same retry
    monkeypatch.undo()
    with time_machine.travel(moment + timedelta(hours=1)):
        assert dunning.run().retried == {"failed": 1}
    failed.refresh_from_db()
    assert failed.payment_retries == 1


def test_failure_news_for_an_unpaid_subscription_changes_nothing(failed):
    _to_unpaid(failed)
    subscription = failed.subscription
    again = billing.invoice_payment_failed(invoice=failed)
    assert again.payment_retries == 2
    subscription_services.subscription_payment_failed(subscription=subscription)
    subscription.refresh_from_db()
    assert subscription.status == S.UNPAID
