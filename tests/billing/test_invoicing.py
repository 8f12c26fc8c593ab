"""Invoices: issued once per subscription and period, numbered without gaps, amounts from
the rating engine, manual collection end to end."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection

from apps.billing import services
from apps.billing.models import Invoice, InvoiceStatus
from apps.metering.models import UsageAggregate
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SubscriptionStatus
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def plan(other_org):
    return PlanFactory(
        api=ApiFactory(organization=other_org),
        name="Pro",
        monthly_fee=Decimal("29.00"),
        included_units=10_000,
        unit_price=Decimal("0.0004"),
        hard_limit=False,
    )


@pytest.fixture
def subscription(owner, org, plan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return subscription_services.subscription_create(
            actor=owner, organization=org, plan=plan, now=START
        ).subscription


def _usage(subscription, units: int):
    UsageAggregate.objects.create(
        subscription=subscription,
        api_key_id=1,
        hour=subscription.current_period_start,
        period_start=subscription.current_period_start,
        calls=units,
        billable_units=Decimal(units),
        latency_histogram=[0] * 13,
    )


def test_a_paid_subscription_is_invoiced_its_first_fee_at_once(subscription):
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.key == f"start:{subscription.pk}"
    assert invoice.total == Decimal("29.00") and invoice.status == InvoiceStatus.OPEN
    assert invoice.collection_method == "manual"  # no Stripe configured
    assert invoice.number == f"TG-{datetime.now(tz=UTC).year}-000001"


def test_closing_a_period_bills_usage_in_arrears_and_the_next_fee(
    subscription, django_capture_on_commit_callbacks
):
    _usage(subscription, 12_500)  # 2,500 over the included 10,000 at $0.0004 = $1.00
    with (
        time_machine.travel(subscription.current_period_end + timedelta(minutes=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        invoice = services.close_period(subscription.pk)
    lines = list(invoice.lines.values_list("kind", "amount"))
    assert lines == [("usage", Decimal("1.00")), ("fee", Decimal("29.00"))]
    assert invoice.total == Decimal("30.00")
    assert invoice.period_start == START
    subscription.refresh_from_db()
    assert subscription.current_period_start == datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    assert any(invoice.number in m.subject for m in mail.outbox)


def test_closing_twice_issues_one_invoice(subscription):
    _usage(subscription, 100)
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        first = services.close_period(subscription.pk)
        second = services.close_period(subscription.pk)
    assert second is None  # the period already rolled on
    assert Invoice.objects.filter(key__startswith="period:").count() == 1
    assert first.total == Decimal("29.00")


@pytest.mark.django_db(transaction=True)
def test_two_workers_closing_at_once_issue_one_invoice(owner, org, plan):
    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL row locks for a real race")
    subscription = subscription_services.subscription_create(
        actor=owner, organization=org, plan=plan, now=START
    ).subscription

    def close(_):
        from django.db import connections

        try:
            with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
                return services.close_period(subscription.pk)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(close, range(4)))
    assert Invoice.objects.filter(key__startswith="period:").count() == 1
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [
        f"TG-{datetime.now(tz=UTC).year}-{n:06d}" for n in range(1, len(numbers) + 1)
    ]  # gapless


def test_invoice_numbers_are_gapless_per_year(owner, org, other_org):
    for _ in range(3):
        plan = PlanFactory(api=ApiFactory(organization=other_org), monthly_fee=Decimal("5"))
        subscription_services.subscription_create(actor=owner, organization=org, plan=plan)
        services.invoice_first_period(plan.subscriptions.get())
    numbers = list(Invoice.objects.order_by("number").values_list("number", flat=True))
    year = datetime.now(tz=UTC).year
    assert numbers == [f"TG-{year}-000001", f"TG-{year}-000002", f"TG-{year}-000003"]


def test_free_periods_issue_nothing(owner, org, other_org):
    free = PlanFactory(api=ApiFactory(organization=other_org))
    subscription = subscription_services.subscription_create(
        actor=owner, organization=org, plan=free, now=START
    ).subscription
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=5)):
        assert services.close_period(subscription.pk) is None
    assert not Invoice.objects.exists()
    subscription.refresh_from_db()
    assert subscription.current_period_start > START  # rolled on anyway


def test_an_upgrade_is_prorated_by_day(owner, org, other_org):
    api = ApiFactory(organization=other_org)
    basic = PlanFactory(api=api, monthly_fee=Decimal("10"))
    pro = PlanFactory(api=api, monthly_fee=Decimal("40"))
    start = datetime(2026, 4, 1, tzinfo=UTC)  # a 30-day period
    subscription = subscription_services.subscription_create(
        actor=owner, organization=org, plan=basic, now=start
    ).subscription
    with time_machine.travel(datetime(2026, 4, 16, 8, 0, tzinfo=UTC)):
        subscription = subscription_services.subscription_change_plan(
            actor=owner, subscription=subscription, plan=pro
        )
        invoice = services.invoice_upgrade(
            subscription, basic, datetime(2026, 4, 16, 8, 0, tzinfo=UTC)
        )
    # 15 of 30 days remain: credit 10 × 15/30 = 5.00, charge 40 × 15/30 = 20.00
    assert list(invoice.lines.values_list("kind", "amount")) == [
        ("proration_credit", Decimal("-5.00")),
        ("proration_charge", Decimal("20.00")),
    ]
    assert invoice.total == Decimal("15.00")


def test_manual_collection_end_to_end(subscription, staff, django_capture_on_commit_callbacks):
    invoice = Invoice.objects.get(subscription=subscription)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_payment_failed(invoice=invoice)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAST_DUE
    with django_capture_on_commit_callbacks(execute=True):
        paid = services.invoice_mark_paid(invoice=invoice, actor=staff)
        again = services.invoice_mark_paid(invoice=paid, actor=staff)  # nothing twice
    assert paid.status == again.status == InvoiceStatus.PAID
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_only_staff_mark_paid_and_refunds_are_bounded(subscription, owner, staff):
    from apps.core.errors import Forbidden, ServiceError

    invoice = Invoice.objects.get(subscription=subscription)
    with pytest.raises(Forbidden):
        services.invoice_mark_paid(invoice=invoice, actor=owner)
    services.invoice_mark_paid(invoice=invoice, actor=staff)
    with pytest.raises(ServiceError):
        services.invoice_refund(invoice=invoice, actor=staff, amount=Decimal("30"))
    services.invoice_refund(invoice=invoice, actor=staff, amount=Decimal("9.00"))
    services.invoice_refund(invoice=invoice, actor=staff)  # the remaining 20.00
    invoice.refresh_from_db()
    assert invoice.amount_refunded == Decimal("29.00")
    with pytest.raises(ServiceError):
        services.invoice_refund(invoice=invoice, actor=staff, amount=Decimal("0.01"))


def test_invoice_pages_and_api_are_tenant_isolated(
    subscription, owner_client, owner, org, outsider, other_org
):
    from django.test import Client

    from tests.conftest import bearer_client

    outsider_client = Client()
    outsider_client.force_login(outsider)
    invoice = Invoice.objects.get(subscription=subscription)
    assert owner_client.get("/console/invoices/").status_code == 200
    html = owner_client.get(f"/console/invoices/{invoice.public_id}/").content.decode()
    assert invoice.number in html and "How to pay" in html and "$29.00" in html
    assert outsider_client.get(f"/console/invoices/{invoice.public_id}/").status_code == 404
    client, _ = bearer_client(owner, org)
    body = client.get(f"/api/v1/invoices/{invoice.public_id}/").json()
    assert body["total"] == "29.00" and body["lines"][0]["amount"] == "29.00"
    other, _ = bearer_client(outsider, other_org)
    assert other.get(f"/api/v1/invoices/{invoice.public_id}/").status_code == 404
    assert other.get("/api/v1/invoices/").json()["count"] == 0


def test_staff_mark_paid_and_refund_in_the_admin(client, staff, subscription):
    invoice = Invoice.objects.get(subscription=subscription)
    client.force_login(staff)
    client.post(
        "/admin/billing/invoice/", {"action": "mark_paid", "_selected_action": [invoice.pk]}
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    response = client.post(
        "/admin/billing/invoice/", {"action": "refund", "_selected_action": [invoice.pk]}
    )
    assert b"reason" in response.content.lower()
    client.post(
        "/admin/billing/invoice/",
        {
            "action": "refund",
            "_selected_action": [invoice.pk],
            "amount": "4.00",
            "reason": "goodwill",
        },
    )
    invoice.refresh_from_db()
    assert invoice.amount_refunded == Decimal("4.00")


def test_one_subscription_failing_to_close_neither_blocks_the_others_nor_stays_unbilled(
    subscription, owner, org, other_org, monkeypatch, caplog
):
    from prometheus_client import REGISTRY

    from apps.billing import tasks
    from apps.core.metrics import MarketplaceCollector

    second_plan = PlanFactory(api=ApiFactory(organization=other_org), monthly_fee=Decimal("5"))
    second = subscription_services.subscription_create(
        actor=owner, organization=org, plan=second_plan, now=START
    ).subscription
    real_lines = services.period_close_lines

    def broken_for_the_first(subscription_, *args, **kwargs):
        if subscription_.pk == subscription.pk:
            raise ValueError("a bad value in this subscription's usage")
        return real_lines(subscription_, *args, **kwargs)

    def failures() -> float:
        return REGISTRY.get_sample_value("tollgate_billing_close_failures_total") or 0.0

    monkeypatch.setattr(services, "period_close_lines", broken_for_the_first)
    before = failures()
    with time_machine.travel(subscription.current_period_end + timedelta(hours=2)):
        assert tasks.close_due_periods() == 1
        overdue = {
            family.name: family.samples[0].value
            for family in MarketplaceCollector().collect()
            if family.name == "tollgate_billing_periods_overdue"
        }
    assert overdue == {"tollgate_billing_periods_overdue": 1}
    assert failures() - before == 1
    assert f"closing the period of subscription {subscription.pk} failed" in caplog.text
    assert Invoice.objects.filter(subscription=second, key__startswith="period:").count() == 1
    assert not Invoice.objects.filter(subscription=subscription, key__startswith="period:")

    monkeypatch.setattr(services, "period_close_lines", real_lines)  # the cause is fixed
    with time_machine.travel(subscription.current_period_end + timedelta(hours=2, minutes=5)):
        assert tasks.close_due_periods() == 1  # the next run retries it
    assert Invoice.objects.filter(subscription=subscription, key__startswith="period:").exists()
