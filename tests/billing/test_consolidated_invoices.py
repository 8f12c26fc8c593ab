"""One invoice per organization and billing date: a section per subscription, earnings split
per provider, amounts below the minimum charge carried to the next invoice, upgrades billed
apart, new subscriptions joining the organization's date with a prorated first fee."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum

from apps.billing import runs, services
from apps.billing.assembly import sections_of
from apps.billing.models import Invoice, InvoiceStatus
from apps.payouts.models import LedgerEntry, LedgerKind
from apps.subscriptions import services as subscription_services
from tests.billing.usage import record_usage
from tests.catalog.factories import ApiFactory
from tests.factories import MembershipFactory, OrganizationFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
FEB_10 = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
MAR_10 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def paid_plan(provider, fee: str, unit_price: str = "0", included: int = 0):
    return PlanFactory(
        api=ApiFactory(organization=provider),
        name=f"Plan {fee}",
        monthly_fee=Decimal(fee),
        included_units=included,
        unit_price=Decimal(unit_price),
        hard_limit=False,
    )


@pytest.fixture(autouse=True)
def _run_on_commit(monkeypatch):
    """Run after-commit work (the first fee's invoice, collection) at once."""
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda fn, using=None, robust=False: fn())


def subscribe(owner, org, plan, at):
    return subscription_services.subscription_create(
        actor=owner, organization=org, plan=plan, now=at
    ).subscription


def close_all(at, capture):
    with time_machine.travel(at), capture(execute=True):
        return runs.close_due_periods()


def billing_date_invoices(org):
    return Invoice.objects.filter(organization=org, key__startswith="period:").order_by("pk")


def test_three_subscriptions_of_two_providers_make_one_invoice_per_billing_date(
    owner, org, django_capture_on_commit_callbacks
):
    ocr, llm = OrganizationFactory(name="OCR Inc"), OrganizationFactory(name="LLM Ltd")
    first = subscribe(owner, org, paid_plan(ocr, "20.00", "0.01", 100), START)
    second = subscribe(owner, org, paid_plan(ocr, "10.00"), START + timedelta(days=5))
    third = subscribe(owner, org, paid_plan(llm, "31.00", "0.02"), START + timedelta(days=10))
    # the later ones join the first one's billing date (Feb 10), their first fee prorated
    assert second.current_period_end == third.current_period_end == FEB_10
    starts = Invoice.objects.filter(key__startswith="start:").order_by("pk")
    assert [invoice.total for invoice in starts] == [
        Decimal("20.00"),
        Decimal("8.39"),  # $10 × 26/31 days
        Decimal("21.00"),  # $31 × 21/31 days
    ]
    record_usage(first, 150, at=START + timedelta(days=20))  # 50 over 100 × $0.01 = $0.50
    record_usage(third, 100, at=START + timedelta(days=20))  # 100 × $0.02 = $2.00

    report = close_all(FEB_10 + timedelta(minutes=5), django_capture_on_commit_callbacks)

    assert report.periods_closed >= 1
    [invoice] = billing_date_invoices(org)
    sections = sections_of(invoice)
    assert [section.subscription for section in sections] == [first, second, third]
    assert [[(line.kind, line.amount) for line in s.lines] for s in sections] == [
        [("usage", Decimal("0.50")), ("fee", Decimal("20.00"))],
        [("fee", Decimal("10.00"))],
        [("usage", Decimal("2.00")), ("fee", Decimal("31.00"))],
    ]
    assert invoice.total == Decimal("63.50") and invoice.status == InvoiceStatus.OPEN
    for subscription in (first, second, third):
        subscription.refresh_from_db()
        assert subscription.current_period_start == FEB_10

    staff = MembershipFactory(organization=OrganizationFactory()).user
    staff.is_staff = True
    staff.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_mark_paid(invoice=invoice, actor=staff)
    earnings = LedgerEntry.objects.filter(kind=LedgerKind.EARNING, invoice_line__invoice=invoice)
    by_provider = dict(earnings.values_list("organization").annotate(gross=Sum("gross")).order_by())
    assert by_provider == {ocr.pk: Decimal("30.50"), llm.pk: Decimal("33.00")}
    net = dict(earnings.values_list("organization").annotate(net=Sum("amount")).order_by())
    assert net == {ocr.pk: Decimal("24.40"), llm.pk: Decimal("26.40")}  # 20 % platform fee

    # the next billing date: one invoice again, three sections
    close_all(MAR_10 + timedelta(minutes=5), django_capture_on_commit_callbacks)
    assert billing_date_invoices(org).count() == 2
    assert len(sections_of(billing_date_invoices(org).last())) == 3


def test_an_overage_below_the_minimum_charge_is_carried_then_collected_with_the_next_month(
    owner, org, other_org, django_capture_on_commit_callbacks
):
    metered = subscribe(owner, org, paid_plan(other_org, "0", "0.01"), START)
    record_usage(metered, 9, at=START + timedelta(days=3))  # $0.09

    close_all(FEB_10 + timedelta(minutes=5), django_capture_on_commit_callbacks)
    [carried] = billing_date_invoices(org)
    assert carried.total == Decimal("0.09")
    assert carried.status == InvoiceStatus.CARRIED and carried.amount_due == 0
    assert "Below the minimum charge of $0.50" in carried.memo
    assert carried.number  # numbered all the same: the sequence stays gapless

    metered.refresh_from_db()
    record_usage(metered, 100, at=FEB_10 + timedelta(days=3))  # $1.00
    close_all(MAR_10 + timedelta(minutes=5), django_capture_on_commit_callbacks)
    collecting = billing_date_invoices(org).last()
    assert [(line.kind, line.description, line.amount) for line in collecting.lines.all()] == [
        ("usage", "Calls (Plan 0)", Decimal("1.00")),
        ("carried", f"Carried from {carried.number} (below the minimum charge)", Decimal("0.09")),
    ]
    assert collecting.total == Decimal("1.09") and collecting.status == InvoiceStatus.OPEN
    carried.refresh_from_db()
    assert carried.carried_into == collecting and carried.status == InvoiceStatus.CARRIED
    # a later close finds nothing left to carry: never charged twice
    close_all(datetime(2026, 4, 10, 12, 5, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert not Invoice.objects.filter(lines__carried_invoice=carried).exclude(pk=collecting.pk)


def test_a_carry_goes_on_the_final_invoice_and_is_written_off_if_still_below_the_minimum(
    owner, org, other_org, django_capture_on_commit_callbacks
):
    metered = subscribe(owner, org, paid_plan(other_org, "0", "0.01"), START)
    record_usage(metered, 9, at=START + timedelta(days=3))
    close_all(FEB_10 + timedelta(minutes=5), django_capture_on_commit_callbacks)
    [carried] = billing_date_invoices(org)
    metered.refresh_from_db()
    record_usage(metered, 5, at=FEB_10 + timedelta(days=1))
    with time_machine.travel(FEB_10 + timedelta(days=2)):
        subscription_services.subscription_cancel(actor=owner, subscription=metered, at_once=True)
    final = Invoice.objects.get(key__startswith="cancel:")
    assert final.total == Decimal("0.14")  # $0.05 of usage + the $0.09 carried
    assert final.status == InvoiceStatus.UNCOLLECTIBLE
    assert "written off" in final.memo
    carried.refresh_from_db()
    assert carried.carried_into == final


def test_an_upgrade_is_billed_at_once_on_an_invoice_of_its_own(
    owner, org, other_org, django_capture_on_commit_callbacks
):
    basic = paid_plan(other_org, "10.00")
    pro = PlanFactory(api=basic.api, name="Pro", monthly_fee=Decimal("40.00"), hard_limit=False)
    upgraded = subscribe(owner, org, basic, START)
    other = subscribe(owner, org, paid_plan(other_org, "5.00"), START)
    with time_machine.travel(START + timedelta(days=15)):
        subscription_services.subscription_change_plan(actor=owner, subscription=upgraded, plan=pro)
    change = Invoice.objects.get(key__startswith="change:")
    assert {line.subscription_id for line in change.lines.all()} == {upgraded.pk}
    assert change.status == InvoiceStatus.OPEN and change.total > Decimal("0.50")

    close_all(FEB_10 + timedelta(minutes=5), django_capture_on_commit_callbacks)
    [invoice] = billing_date_invoices(org)
    assert [s.subscription for s in sections_of(invoice)] == [upgraded, other]
    assert invoice.total == Decimal("45.00")


def test_a_payment_failure_of_a_consolidated_invoice_holds_every_subscription_on_it(
    owner, org, other_org, staff, django_capture_on_commit_callbacks
):
    first = subscribe(owner, org, paid_plan(other_org, "10.00"), START)
    second = subscribe(owner, org, paid_plan(other_org, "5.00"), START)
    close_all(FEB_10 + timedelta(minutes=5), django_capture_on_commit_callbacks)
    [invoice] = billing_date_invoices(org)
    services.invoice_payment_failed(invoice=invoice)
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == second.status == "past_due"
    services.invoice_mark_paid(invoice=invoice, actor=staff)
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == second.status == "active"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_closes_of_many_organizations_number_without_gaps(owner):
    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL row locks for a real race")
    provider = OrganizationFactory(name="Provider")
    plans = [paid_plan(provider, "10.00"), paid_plan(provider, "7.00")]
    consumers = []
    for n in range(6):
        consumer = OrganizationFactory(name=f"Consumer {n}")
        member = MembershipFactory(organization=consumer, role="owner").user
        for plan in plans:
            subscribe(member, consumer, plan, START)
        consumers.append(consumer)
    due = sorted(services.due_subscription_ids(FEB_10 + timedelta(minutes=5)))

    def close(subscription_id):
        from django.db import connections

        try:
            with time_machine.travel(FEB_10 + timedelta(minutes=5)):
                return services.close_period(subscription_id)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:  # both of each org's subscriptions race
        list(pool.map(close, due + due[::-1]))
    for consumer in consumers:
        [invoice] = billing_date_invoices(consumer)
        assert invoice.total == Decimal("17.00") and invoice.lines.count() == 2
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    year = datetime.now(tz=UTC).year
    assert numbers == [f"TG-{year}-{n:06d}" for n in range(1, len(numbers) + 1)]
    assert len(numbers) == 6 * 2 + 6  # the first fees, then one invoice per organization
