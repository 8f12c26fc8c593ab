"""Plan changes, cancellations and period closes racing each other on PostgreSQL (real
threads, real row locks): every event is billed once, none is lost, and the amounts are the
ones docs/pricing.md gives for the order the locks let them through."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from threading import Barrier

import pytest
import time_machine
from django.db import connections
from django.db.models import Sum

from apps.billing import services as billing
from apps.billing.models import Invoice, InvoiceLine, RatedUsage
from apps.subscriptions import services
from apps.subscriptions.models import Subscription, SubscriptionStatus
from tests.billing.usage import record_usage
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
APR_1 = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def plans(other_org):
    api = ApiFactory(organization=other_org)
    common = {"included_units": 1_000, "unit_price": D("0.01"), "hard_limit": False}
    return {
        "basic": PlanFactory(api=api, name="Basic", monthly_fee=D("10"), **common),
        "pro": PlanFactory(api=api, name="Pro", monthly_fee=D("40"), **common),
        "business": PlanFactory(api=api, name="Business", monthly_fee=D("100"), **common),
    }


def _together(*actions):
    """Run the actions in threads that start at the same instant; each thread's own
    database connection is closed after."""
    barrier = Barrier(len(actions))

    def run(action):
        try:
            barrier.wait()
            return action()
        except Exception as error:  # the refusal is part of the result
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        return list(pool.map(run, actions))


def _billed(subscription) -> D:
    return InvoiceLine.objects.filter(invoice__subscription=subscription).aggregate(
        total=Sum("amount")
    )["total"]


def test_two_upgrades_at_the_same_moment_are_both_billed_one_after_the_other(owner, org, plans):
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=plans["basic"], now=APR_1
    ).subscription
    billing.invoice_first_period(subscription)

    def upgrade_to(name):
        def action():
            with time_machine.travel(datetime(2026, 4, 16, tzinfo=UTC), tick=False):
                return services.subscription_change_plan(
                    actor=owner, subscription=subscription, plan=plans[name]
                )

        return action

    results = _together(upgrade_to("pro"), upgrade_to("business"))
    changes = Invoice.objects.filter(key__startswith="change:").order_by("pk")
    subscription.refresh_from_db()
    if all(isinstance(result, Subscription) for result in results):
        # both went through, serialized by the row lock, Basic → X → Y at ½ month left.
        # Pro first: Business is an upgrade too, billed at once, and the charges telescope.
        # Business first: Pro is a downgrade, scheduled for the period end, not billed now.
        if subscription.plan == plans["business"] and subscription.scheduled_plan is None:
            assert changes.count() == 2
        else:
            assert subscription.scheduled_plan == plans["pro"] and changes.count() == 1
        assert (
            sum(invoice.total for invoice in changes)
            == (subscription.plan.monthly_fee - D("10")) / 2
        )
    else:  # the second found the subscription already on the plan it asked for
        assert changes.count() == 1
    # $10 first fee + the proration to the plan it ended on: nothing lost, nothing twice
    assert _billed(subscription) == D("10") + (subscription.plan.monthly_fee - D("10")) / 2


def test_a_close_racing_a_downgrade_now_bills_each_segment_once(owner, org, plans):
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=plans["pro"], now=APR_1
    ).subscription
    billing.invoice_first_period(subscription)
    record_usage(subscription, 3_000, at=datetime(2026, 4, 20, tzinfo=UTC))
    just_after = APR_1 + timedelta(days=30, minutes=5)  # April is over, not closed yet

    def close():
        with time_machine.travel(just_after, tick=False):
            return billing.close_period(subscription.pk)

    def downgrade_now():
        with time_machine.travel(just_after, tick=False):
            return services.subscription_change_plan(
                actor=owner, subscription=subscription, plan=plans["basic"], at_once=True
            )

    _together(close, close, downgrade_now)
    assert Invoice.objects.filter(key__startswith="period:").count() == 1
    # April under Pro, whoever won: 2,000 calls beyond the 1,000 × $0.01, once
    (april,) = RatedUsage.objects.filter(period_start=APR_1)
    assert april.units == 3_000
    usage = InvoiceLine.objects.filter(invoice__subscription=subscription, kind="usage")
    assert usage.aggregate(total=Sum("amount"))["total"] == D("20.00")
    subscription.refresh_from_db()
    assert subscription.plan == plans["basic"]
    assert subscription.current_period_start == APR_1 + timedelta(days=30)


def test_cancelling_now_while_the_close_runs_ends_once_and_bills_once(owner, org, plans):
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=plans["basic"], now=APR_1
    ).subscription
    record_usage(subscription, 1_500, at=datetime(2026, 4, 20, tzinfo=UTC))
    just_after = APR_1 + timedelta(days=30, minutes=5)

    def close():
        with time_machine.travel(just_after, tick=False):
            return billing.close_period(subscription.pk)

    def cancel_now():
        with time_machine.travel(just_after, tick=False):
            return services.subscription_cancel(
                actor=owner, subscription=subscription, at_once=True
            )

    _together(close, cancel_now, cancel_now)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELED
    usage = InvoiceLine.objects.filter(invoice__subscription=subscription, kind="usage")
    assert usage.aggregate(total=Sum("amount"))["total"] == D("5.00")  # 500 × $0.01, once
    assert Invoice.objects.filter(key__startswith="cancel:").count() <= 1


def _holding_the_lock(monkeypatch, module, name, started):
    """Make `module.name` (called while its caller holds the invoice's row lock) say so and
    hold the lock a while, so the other thread is sure to wait for it."""
    import time

    original = getattr(module, name)

    def slow(*args, **kwargs):
        result = original(*args, **kwargs)
        started.set()
        time.sleep(0.5)
        return result

    monkeypatch.setattr(module, name, slow)


@pytest.mark.parametrize("first", ["payment", "last_failure"])
def test_a_payment_racing_the_last_failed_retry_leaves_the_subscription_active(
    owner, org, plans, settings, monkeypatch, first
):
    """The last retry fails (→ unpaid) while the payment arrives (→ paid, active): both lock
    the invoice first, so whichever goes second sees the other. Paid wins either way."""
    from threading import Event

    from apps.billing import dunning
    from apps.billing.models import InvoiceStatus

    settings.DUNNING_RETRY_DAYS = (1, 3, 7, 14)
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=plans["basic"]
    ).subscription
    invoice = billing.invoice_first_period(subscription)
    billing.invoice_payment_failed(invoice=invoice)
    Invoice.objects.filter(pk=invoice.pk).update(payment_retries=3)
    started = Event()
    if first == "payment":
        _holding_the_lock(monkeypatch, billing, "_has_failed_open_invoices", started)
    else:
        _holding_the_lock(monkeypatch, dunning, "_tell_unpaid", started)

    def fail_last():
        if first == "payment":
            started.wait(5)
        return dunning.record_failed_retry(invoice.pk, attempt=4)

    def pay():
        if first == "last_failure":
            started.wait(5)
        return billing.invoice_mark_paid(invoice=invoice)

    results = _together(fail_last, pay)
    assert started.is_set()
    assert not [r for r in results if isinstance(r, Exception)], results
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert (invoice.status, invoice.payment_retries) == (
        InvoiceStatus.PAID,
        3 if first == "payment" else 4,
    )
    assert (subscription.status, subscription.unpaid_since, subscription.past_due_since) == (
        SubscriptionStatus.ACTIVE,
        None,
        None,
    )
