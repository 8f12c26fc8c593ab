"""Dunning to its end, through the real gateway on Redis with the clock moved: a failed
payment is retried on the schedule (an email at each failure), the last failure makes the
subscription unpaid (402 subscription_unpaid within a second), no fee is invoiced while
unpaid, and UNPAID_CANCEL_DAYS later it is cancelled with a final usage invoice. Paying
while unpaid makes it serve again at once, with no fee for the months refused."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from apps.accounts.roles import Role
from apps.billing import dunning
from apps.billing import services as billing
from apps.billing.models import Invoice, InvoiceLine, InvoiceStatus
from apps.billing.tasks import close_due_periods
from apps.subscriptions import rating
from apps.subscriptions.models import Plan, Subscription, SubscriptionStatus
from apps.subscriptions.periods import period_containing
from tests.factories import MembershipFactory
from tests.gateway.conftest import settle

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize(
        "counter_store", [pytest.param("redis", marks=pytest.mark.redis)], indirect=True
    ),
]
S = SubscriptionStatus
DAY = timedelta(days=1)


@pytest.fixture
def dunning_world(world, settings):
    settings.PAYMENT_GRACE_DAYS = 3
    settings.DUNNING_RETRY_DAYS = (1, 3, 7, 14)
    settings.UNPAID_CANCEL_DAYS = 30
    Plan.objects.filter(pk=world.plan.pk).update(
        monthly_fee=Decimal("10"), included_units=2, unit_price=Decimal("0.5"), hard_limit=False
    )
    world.plan.refresh_from_db()
    world.subscription.refresh_from_db()
    world.consumer_org.billing_email = "accounts@consumer.test"
    world.consumer_org.save()
    MembershipFactory(organization=world.consumer_org, role=Role.DEVELOPER)  # no billing
    return world


@pytest.fixture
def clock():
    """One journey forward in time, started before the site and ended after it stopped:
    the gateway's event loop runs on this clock too and must never see it jump back."""
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        yield traveller


def wait_for(world, status: int, code: str | None = None, within: float = 1.0):
    """The gateway's answer changes within `within` seconds (the cache invalidation)."""
    deadline = time.monotonic() + within
    while True:
        answer = world.call()
        if answer.status_code == status and (code is None or answer.json()["code"] == code):
            return answer
        assert time.monotonic() < deadline, f"still {answer.status_code} {answer.text[:200]}"
        time.sleep(0.05)


def billing_contacts(world) -> list[str]:
    return sorted([world.consumer.email, "accounts@consumer.test"])


def failure_mails():
    sent = [m for m in mail.outbox if "Payment failed" in m.subject or "unpaid" in m.subject]
    mail.outbox.clear()
    return sent


def test_the_schedule_runs_to_unpaid_then_cancel_with_a_final_usage_invoice(clock, dunning_world):
    world = dunning_world
    start = timezone.now()
    first = billing.invoice_first_period(world.subscription)
    for _ in range(3):  # usage not invoiced yet (2 units included)
        assert world.call().status_code == 200
    settle(3)
    billing.invoice_payment_failed(invoice=first)
    (mail_0,) = failure_mails()
    assert sorted(mail_0.to) == billing_contacts(world)
    assert "try 1 of 5" in mail_0.subject and first.number in mail_0.subject
    retry_1 = start + DAY
    assert f"try again on {retry_1:%b %-d, %Y}" in mail_0.body
    assert "/console/billing/" in mail_0.body  # where to update the card
    assert world.call().status_code == 200  # past due, inside the grace period

    for number, day in enumerate((1, 3, 7), start=1):
        clock.move_to(start + day * DAY + timedelta(hours=1))
        report = dunning.run()
        assert report.retried == {"failed": 1}
        (sent,) = failure_mails()
        assert f"try {number + 1} of 5" in sent.subject
        next_day = (3, 7, 14)[number - 1]
        assert f"try again on {start + next_day * DAY:%b %-d, %Y}" in sent.body
        assert sorted(sent.to) == billing_contacts(world)
        if day > 3:  # beyond the grace period: refused, still past due
            wait_for(world, 402, "payment_required")
        assert dunning.run().retried == {}  # nothing more due today

    last = start + 14 * DAY + timedelta(hours=1)
    clock.move_to(last)
    assert dunning.run().retried == {"failed": 1}
    (unpaid_mail,) = failure_mails()
    assert "unpaid" in unpaid_mail.subject and world.api.name in unpaid_mail.subject
    assert sorted(unpaid_mail.to) == billing_contacts(world)
    cancel_on = start + 14 * DAY + 30 * DAY
    assert f"{cancel_on:%b %-d, %Y}, the subscription is cancelled" in unpaid_mail.body
    subscription = Subscription.objects.get(pk=world.subscription.pk)
    assert subscription.status == S.UNPAID
    refused = wait_for(world, 402, "subscription_unpaid")
    assert refused.headers["content-type"] == "application/problem+json"
    assert "unpaid" in refused.json()["detail"]
    first.refresh_from_db()
    assert (first.status, first.payment_retries, first.next_payment_attempt_at) == (
        InvoiceStatus.OPEN,
        4,
        None,
    )

    # a month on, the period has ended: the close job invoices no fee while unpaid
    clock.move_to(start + 40 * DAY)
    close_due_periods()
    assert list(Invoice.objects.values_list("pk", flat=True)) == [first.pk]
    wait_for(world, 402, "subscription_unpaid")

    clock.move_to(start + 44 * DAY + timedelta(hours=2))
    assert dunning.run().canceled == 1
    subscription.refresh_from_db()
    assert subscription.status == S.CANCELED
    final = Invoice.objects.exclude(pk=first.pk).get()
    lines = list(final.lines.values_list("kind", "quantity", "amount"))
    # 4 calls served (3, and 1 inside the grace period; the refused ones are not
    # billed), 2 included: 2 × $0.50 of usage, and no fee
    assert lines == [(rating.USAGE, Decimal(2), Decimal("1.00"))]
    assert final.total == Decimal("1.00") and final.key == f"cancel:{subscription.pk}"
    wait_for(world, 403, "not_subscribed")
    assert dunning.run().canceled == 0  # once
    first.refresh_from_db()
    assert first.status == InvoiceStatus.OPEN  # still owed


def test_paying_while_unpaid_serves_at_once_and_bills_no_fee_for_the_refused_months(
    clock, dunning_world, staff
):
    world = dunning_world
    start = timezone.now()
    anchor = world.subscription.period_anchor
    first = billing.invoice_first_period(world.subscription)
    billing.invoice_payment_failed(invoice=first)
    for day in (1, 3, 7, 14):
        clock.move_to(start + day * DAY + timedelta(hours=1))
        dunning.run()
    mail.outbox.clear()
    # two and a half months later (two period ends passed while unpaid), a bank transfer
    paid_on = start + 75 * DAY
    clock.move_to(paid_on)
    close_due_periods()
    wait_for(world, 402, "subscription_unpaid")
    billing.invoice_mark_paid(invoice=first, actor=staff)
    wait_for(world, 200)
    subscription = Subscription.objects.get(pk=world.subscription.pk)
    assert (subscription.status, subscription.unpaid_since) == (S.ACTIVE, None)
    # moved on to the period containing today, without invoicing the skipped ones
    assert (subscription.current_period_start, subscription.current_period_end) == (
        period_containing(anchor, paid_on)
    )
    assert InvoiceLine.objects.filter(kind=rating.FEE).count() == 1  # the first month's
    # the rest of this period, from the payment on, is billed; not the refused part
    (again,) = Invoice.objects.exclude(pk=first.pk)
    (rest,) = again.lines.all()
    period = subscription.current_period_end - subscription.current_period_start
    share = (subscription.current_period_end - rest.period_start) / period
    assert rest.kind == rating.PRORATION_CHARGE and paid_on <= rest.period_start
    assert abs(rest.amount - Decimal("10") * Decimal(share)) <= Decimal("0.01")
    assert Decimal("0") < rest.amount < Decimal("10")
    assert dunning.run().canceled == 0  # no longer unpaid: never cancelled
    # the next close bills the following month's fee as usual
    clock.move_to(subscription.current_period_end + timedelta(minutes=5))
    close_due_periods()
    fees = InvoiceLine.objects.filter(kind=rating.FEE).order_by("period_start")
    assert [line.period_start for line in fees][1:] == [subscription.current_period_end]
    assert fees.last().amount == Decimal("10.00")
