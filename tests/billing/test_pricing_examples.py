"""docs/pricing.md's worked examples, run through the real services: subscribing, using,
changing plans, cancelling, price changes, late usage and period closes. The amounts are
the docs' own; a reader can check each by hand."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.core import mail
from django.test import TestCase

from apps.billing import services as billing
from apps.billing.models import CreditBalance, Invoice, InvoiceStatus, Refund
from apps.core.errors import ServiceError
from apps.subscriptions import services
from apps.subscriptions.models import PriceChange, SubscriptionStatus
from tests.billing.usage import record_usage
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@contextmanager
def moment(when: datetime):
    """Everything inside happens at `when`, and after-commit work (the first invoice,
    emails) runs as it would after the commit."""
    with time_machine.travel(when, tick=False), TestCase.captureOnCommitCallbacks(execute=True):
        yield


def lines(invoice) -> list[tuple[str, str]]:
    return [(line.kind, str(line.amount)) for line in invoice.lines.all()]


def close(subscription, when: datetime) -> Invoice | None:
    with moment(when + timedelta(minutes=5)):
        return billing.close_period(subscription.pk)


@pytest.fixture
def api(other_org):
    return ApiFactory(organization=other_org)


@pytest.fixture
def basic(api):
    return PlanFactory(
        api=api,
        name="Basic",
        monthly_fee=D("10"),
        included_units=1_000,
        unit_price=D("0.01"),
        hard_limit=False,
    )


@pytest.fixture
def pro(api):
    return PlanFactory(
        api=api,
        name="Pro",
        monthly_fee=D("40"),
        included_units=10_000,
        unit_price=D("0.002"),
        hard_limit=False,
    )


@pytest.fixture
def free(api):
    return PlanFactory(api=api, name="Free", included_units=100, hard_limit=True)


def subscribe(owner, org, plan, when: datetime):
    with moment(when):
        return services.subscription_create(
            actor=owner, organization=org, plan=plan, now=when
        ).subscription


def change(owner, subscription, plan, when: datetime, **kwargs):
    with moment(when):
        return services.subscription_change_plan(
            actor=owner, subscription=subscription, plan=plan, **kwargs
        )


# --- Segments ---------------------------------------------------------------------------
def test_an_upgrade_halfway_bills_the_old_segment_at_once_and_the_new_one_at_the_close(
    owner, org, basic, pro
):
    subscription = subscribe(owner, org, basic, at(4, 1))
    assert lines(Invoice.objects.get(key__startswith="start:")) == [("fee", "10.00")]
    record_usage(subscription, 1_200, at=at(4, 10))
    subscription = change(owner, subscription, pro, at(4, 16))
    upgrade = Invoice.objects.get(key__startswith="change:")
    # Basic's half of April includes 500 calls: 700 × $0.01; −$10 × ½; +$40 × ½
    assert lines(upgrade) == [
        ("usage", "7.00"),
        ("proration_credit", "-5.00"),
        ("proration_charge", "20.00"),
    ]
    assert upgrade.total == D("22.00")
    record_usage(subscription, 6_000, at=at(4, 20))
    closing = close(subscription, at(5, 1))
    # Pro's half includes 5,000 calls: 1,000 × $0.002; then May's fee in advance
    assert lines(closing) == [("usage", "2.00"), ("fee", "40.00")]
    assert closing.total == D("42.00")


def test_moving_to_the_free_plan_on_the_last_day_still_bills_the_month_used(
    owner, org, basic, free
):
    """The billing review's case: a month of pay-per-use, then the free plan on the last
    day. Before segments the close rated the whole month under Free: $0."""
    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 3_000, at=at(4, 20))
    change(owner, subscription, free, at(4, 30), at_once=True)
    final = Invoice.objects.get(key__startswith="change:")
    # Apr 1–30 is 29/30 of the period: 966.67 → 967 included; 2,033 × $0.01. Basic gives
    # no prorated refunds: its fee is kept, and Free has no fee to charge
    assert lines(final) == [("usage", "20.33")]
    assert close(subscription, at(5, 1)) is None  # Free: nothing to bill


def test_a_downgrade_at_the_period_end_bills_the_period_under_the_plan_it_was_used_under(
    owner, org, basic, pro
):
    subscription = subscribe(owner, org, pro, at(4, 1))
    subscription = change(owner, subscription, basic, at(4, 10))
    assert subscription.plan == pro and subscription.scheduled_plan == basic
    assert not Invoice.objects.filter(key__startswith="change:").exists()
    record_usage(subscription, 12_000, at=at(4, 20))
    closing = close(subscription, at(5, 1))
    # all of April under Pro: 2,000 × $0.002; May's fee is Basic's
    assert lines(closing) == [("usage", "4.00"), ("fee", "10.00")]
    subscription.refresh_from_db()
    assert subscription.plan == basic and subscription.scheduled_plan is None


def test_two_plan_changes_in_the_same_second_are_two_invoices(owner, org, basic, pro, api):
    business = PlanFactory(api=api, name="Business", monthly_fee=D("100"), hard_limit=False)
    subscription = subscribe(owner, org, basic, at(4, 1))
    subscription = change(owner, subscription, pro, at(4, 16))
    subscription = change(owner, subscription, business, at(4, 16))
    changes = Invoice.objects.filter(key__startswith="change:").order_by("pk")
    assert [invoice.total for invoice in changes] == [D("15.00"), D("30.00")]
    # −$10 × ½ + $40 × ½, then −$40 × ½ + $100 × ½: together Basic → Business, ½ month
    assert sum(invoice.total for invoice in changes) == (D("100") - D("10")) / 2


# --- Cancelling ---------------------------------------------------------------------------
@pytest.fixture
def refunding(api):
    return PlanFactory(
        api=api,
        name="Refunding",
        monthly_fee=D("30"),
        included_units=1_000,
        unit_price=D("0.01"),
        hard_limit=False,
        prorated_refunds=True,
    )


def test_cancelling_now_bills_the_usage_to_date_and_refunds_the_unused_fee_when_the_plan_says(
    owner, org, refunding, staff
):
    subscription = subscribe(owner, org, refunding, at(4, 1))
    first = Invoice.objects.get(key__startswith="start:")
    billing.invoice_mark_paid(invoice=first, actor=staff)
    record_usage(subscription, 867, at=at(4, 15))  # Apr 1–21 includes 667: 200 beyond
    with moment(at(4, 21)):
        services.subscription_cancel(actor=owner, subscription=subscription, at_once=True)
    final = Invoice.objects.get(key__startswith="cancel:")
    assert lines(final) == [
        ("usage", "2.00"),
        ("proration_credit", "-10.00"),
        ("credit_carried", "8.00"),
    ]
    assert final.total == 0 and final.status == InvoiceStatus.PAID
    refund = Refund.objects.get()
    assert (refund.invoice, refund.amount) == (first, D("8.00"))
    assert CreditBalance.objects.get(subscription=subscription).amount == 0


def test_cancelling_now_keeps_the_fee_without_prorated_refunds(owner, org, basic):
    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 867, at=at(4, 15))
    with moment(at(4, 21)):
        services.subscription_cancel(actor=owner, subscription=subscription, at_once=True)
    assert lines(Invoice.objects.get(key__startswith="cancel:")) == [("usage", "2.00")]
    assert not Refund.objects.exists()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELED


# --- Price changes --------------------------------------------------------------------------
def test_a_price_change_with_notice_adjusts_the_fee_of_the_period_it_falls_in(
    owner, org, basic, outsider
):
    provider = outsider  # the owner of the organization that sells the API
    subscription = subscribe(owner, org, basic, at(4, 1))
    with moment(at(4, 10)):
        services.plan_update(actor=provider, plan=basic, monthly_fee=D("16"))
        with pytest.raises(ServiceError) as refused:  # 21 days' notice: too short
            services.plan_prices_migrate(actor=provider, plan=basic, effective_at=at(5, 1))
        assert refused.value.code == "notice_too_short"
        assert not PriceChange.objects.exists()
        mail.outbox.clear()
        (scheduled,) = services.plan_prices_migrate(
            actor=provider, plan=basic, effective_at=at(5, 16)
        )
    assert (scheduled.from_version.number, scheduled.to_version.number) == (1, 2)
    assert any("prices change on May 16, 2026" in message.subject for message in mail.outbox)
    assert lines(close(subscription, at(5, 1))) == [("fee", "10.00")]  # still grandfathered
    june = close(subscription, at(6, 1))
    # May 16 → Jun 1 is 16 of May's 31 days: −$10 × 16/31, +$16 × 16/31, then June at $16
    assert lines(june) == [
        ("proration_credit", "-5.16"),
        ("proration_charge", "8.26"),
        ("fee", "16.00"),
    ]
    first = Invoice.objects.get(key__startswith="start:")
    assert lines(first) == [("fee", "10.00")]  # past invoices keep their prices


# --- Late usage -------------------------------------------------------------------------------
def test_late_usage_goes_on_the_next_invoice_naming_its_period(owner, org, api):
    scale = PlanFactory(
        api=api,
        name="Scale",
        included_units=0,
        hard_limit=False,
        tiers=[{"up_to": 1_000, "unit_price": "0.01"}, {"up_to": None, "unit_price": "0.001"}],
    )
    subscription = subscribe(owner, org, scale, at(4, 1))
    record_usage(subscription, 800, at=at(4, 20))
    assert lines(close(subscription, at(5, 1))) == [("usage", "8.00")]
    subscription.refresh_from_db()
    # 700 calls of April arrive in May (a long stream, a flush catching up)
    record_usage(subscription, 700, at=at(4, 29), period_start=at(4, 1))
    record_usage(subscription, 10, at=at(5, 5))
    june = close(subscription, at(6, 1))
    assert lines(june) == [("late_usage", "2.00"), ("late_usage", "0.50"), ("usage", "0.10")]
    late = june.lines.first()
    assert late.description == (
        "Late usage: calls, tier 1 (1 to 1,000) (Scale, period Apr 1 – May 1, 2026)"
    )
    assert (late.period_start, late.period_end) == (at(4, 1), at(5, 1))


def test_late_usage_after_the_end_goes_on_a_final_adjustment_invoice(owner, org, basic):
    subscription = subscribe(owner, org, basic, at(4, 1))
    with moment(at(4, 21)):
        services.subscription_cancel(actor=owner, subscription=subscription, at_once=True)
    assert not Invoice.objects.filter(key__startswith="cancel:").exists()  # nothing used
    record_usage(subscription, 900, at=at(4, 20), period_start=at(4, 1))
    with moment(at(4, 22)):
        adjustment = billing.invoice_late_usage(subscription.pk)
        assert billing.invoice_late_usage(subscription.pk) is None  # nothing new since
    # Apr 1–21 includes 667 calls: 233 × $0.01
    assert adjustment.key == f"adjust:{subscription.pk}:1"
    assert lines(adjustment) == [("late_usage", "2.33")]


# --- Invoices -----------------------------------------------------------------------------
def test_usage_within_the_included_units_prints_no_zero_line(owner, org, basic):
    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 999, at=at(4, 20))
    assert lines(close(subscription, at(5, 1))) == [("fee", "10.00")]


def test_a_trial_bills_overage_but_no_fee_and_no_second_trial(owner, org, api):
    trial_plan = PlanFactory(
        api=api,
        name="Trial",
        monthly_fee=D("20"),
        included_units=100,
        unit_price=D("0.01"),
        hard_limit=False,
        trial_days=10,
    )
    subscription = subscribe(owner, org, trial_plan, at(4, 1))
    assert subscription.status == SubscriptionStatus.TRIALING
    assert not Invoice.objects.exists()
    record_usage(subscription, 300, at=at(4, 5))
    trial_close = close(subscription, at(4, 11))
    # the trial period includes the plan's 100: 200 × $0.01; then the first fee
    assert lines(trial_close) == [("usage", "2.00"), ("fee", "20.00")]
    with moment(at(4, 12)):
        services.subscription_cancel(actor=owner, subscription=subscription, at_once=True)
    again = subscribe(owner, org, trial_plan, at(4, 13))
    assert again.status == SubscriptionStatus.ACTIVE
    assert lines(Invoice.objects.get(key=f"start:{again.pk}")) == [("fee", "20.00")]


# --- Pages --------------------------------------------------------------------------------
def test_the_invoice_page_shows_quantity_unit_price_and_amount_on_every_line(
    owner, org, basic, pro, owner_client
):
    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 1_200, at=at(4, 10))
    change(owner, subscription, pro, at(4, 16))
    upgrade = Invoice.objects.get(key__startswith="change:")
    page = owner_client.get(f"/console/invoices/{upgrade.public_id}/").content.decode()
    rows = [
        ("700", "$0.01", "$7.00"),
        ("0.5", "$10.00", "-$5.00"),  # half a month of Basic's $10, credited
        ("0.5", "$40.00", "$20.00"),
    ]
    for quantity, unit_price, amount in rows:
        assert (
            f'<td class="num" data-label="Quantity">{quantity}</td>'
            f'<td class="num" data-label="Unit price">{unit_price}</td>'
            f'<td class="num" data-label="Amount">{amount}</td>'
        ) in page
    assert "$22.00" in page and "$-" not in page  # a minus before the symbol


def test_the_subscription_page_shows_a_coming_price_change_and_how_cancelling_now_bills(
    owner, org, basic, outsider, owner_client
):
    subscription = subscribe(owner, org, basic, at(4, 1))
    page = owner_client.get(f"/console/subscriptions/{subscription.public_id}/").content.decode()
    assert 'id="price-change"' not in page
    assert "The fee already paid for this period is not refunded." in page
    with moment(at(4, 10)):
        services.plan_update(actor=outsider, plan=basic, monthly_fee=D("16"))
        services.plan_prices_migrate(actor=outsider, plan=basic, effective_at=at(5, 16))
    page = owner_client.get(f"/console/subscriptions/{subscription.public_id}/").content.decode()
    assert "Your prices change on May 16, 2026" in page
    assert "<b>$10 / month</b>" in page and "<b>$16 / month</b>" in page
    plan_card = page.split('<div class="plan-price">')[1]
    assert plan_card.startswith("$10 / month")  # grandfathered until then


def test_downgrading_now_and_cancelling_now_from_the_subscription_page(
    owner, org, pro, basic, owner_client
):
    subscription = subscribe(owner, org, pro, at(4, 1))
    record_usage(subscription, 5_500, at=at(4, 10))
    with moment(at(4, 16)):
        response = owner_client.post(
            f"/console/subscriptions/{subscription.public_id}/change/",
            {"plan": basic.pk, "at_once": "on", "confirm": "1"},
            follow=True,
        )
    assert "You are now on Basic." in response.content.decode()
    # Pro's half includes 5,000: 500 × $0.002; Pro gives no prorated refund; Basic × ½
    assert lines(Invoice.objects.get(key__startswith="change:")) == [
        ("usage", "1.00"),
        ("proration_charge", "5.00"),
    ]
    with moment(at(4, 21)):
        owner_client.post(f"/console/subscriptions/{subscription.public_id}/cancel-now/")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELED


# --- The plan change's confirmation page ------------------------------------------------
def test_an_upgrade_asks_first_and_the_invoice_is_what_the_confirmation_said(
    owner, org, basic, pro, owner_client
):
    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 1_200, at=at(4, 10))
    url = f"/console/subscriptions/{subscription.public_id}/change/"
    with moment(at(4, 16)):
        page = owner_client.get(url, {"plan": pro.pk}).content.decode()
        # a post without `confirm` (an old form, a replayed request) only asks too
        asked = owner_client.post(url, {"plan": pro.pk}).content.decode()
    charged_now = page.split('id="charged-now"')[1].split('id="from-period-end"')[0]
    for amount in ("$7.00", "-$5.00", "$20.00", "$22.00"):
        assert amount in charged_now
    assert "Charged now" in charged_now and "Switch to Pro now" in page
    assert "From May 1, 2026" in page and "$40 / month" in page
    assert "Switch to Pro now" in asked
    subscription.refresh_from_db()
    assert subscription.plan == basic and not Invoice.objects.filter(key__startswith="change:")
    with moment(at(4, 16)):
        done = owner_client.post(url, {"plan": pro.pk, "confirm": "1"}, follow=True)
    assert "You are now on Pro." in done.content.decode()
    assert lines(Invoice.objects.get(key__startswith="change:")) == [
        ("usage", "7.00"),
        ("proration_credit", "-5.00"),
        ("proration_charge", "20.00"),
    ]


def test_a_downgrade_confirmation_says_it_applies_at_the_period_end_unless_now(
    owner, org, basic, pro, owner_client
):
    subscription = subscribe(owner, org, pro, at(4, 1))
    record_usage(subscription, 5_500, at=at(4, 10))
    url = f"/console/subscriptions/{subscription.public_id}/change/"
    with moment(at(4, 16)):
        later = owner_client.get(url, {"plan": basic.pk}).content.decode()
        now = owner_client.get(url, {"plan": basic.pk, "at_once": "on"}).content.decode()
    assert "Nothing is charged now." in later and "until May 1, 2026" in later
    assert "Move to Basic on May 1" in later and "See what switching now costs" in later
    # now: Pro's half (5,000 included) 500 × $0.002; Basic's fee × ½; Pro refunds nothing
    charged_now = now.split('id="charged-now"')[1]
    assert "$1.00" in charged_now and "$5.00" in charged_now and "$6.00" in charged_now
    assert 'name="at_once" value="on"' in now
    with moment(at(4, 16)):
        owner_client.post(url, {"plan": basic.pk, "confirm": "1"})
    subscription.refresh_from_db()
    assert subscription.plan == pro and subscription.scheduled_plan == basic
    assert not Invoice.objects.filter(key__startswith="change:").exists()


def test_moving_to_a_free_plan_now_shows_the_usage_it_bills(owner, org, basic, free, owner_client):
    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 3_000, at=at(4, 20))
    url = f"/console/subscriptions/{subscription.public_id}/change/"
    with moment(at(4, 30)):
        page = owner_client.get(url, {"plan": free.pk, "at_once": "on"}).content.decode()
        owner_client.post(url, {"plan": free.pk, "at_once": "on", "confirm": "1"})
    assert "$20.33" in page.split('id="charged-now"')[1] and "Free" in page
    assert lines(Invoice.objects.get(key__startswith="change:")) == [("usage", "20.33")]


def test_a_plan_change_confirmation_is_404_for_other_organizations(
    owner, org, basic, pro, outsider_client
):
    subscription = subscribe(owner, org, basic, at(4, 1))
    url = f"/console/subscriptions/{subscription.public_id}/change/"
    assert outsider_client.get(url, {"plan": pro.pk}).status_code == 404


def test_providers_see_price_versions_and_announce_a_change_with_notice(
    owner, org, basic, outsider, client
):
    subscribe(owner, org, basic, at(4, 1))
    client.force_login(outsider)
    edit_url = f"/console/apis/{basic.api.slug}/plans/{basic.public_id}/"
    with moment(at(4, 10)):
        services.plan_update(actor=outsider, plan=basic, monthly_fee=D("16"))
        page = client.get(edit_url).content.decode()
        assert 'id="price-versions"' in page and "v2" in page
        assert "Move 1 subscriber on older prices to the current ones on" in page
        too_soon = client.post(
            edit_url + "migrate-prices/", {"effective_at": "2026-04-20"}, follow=True
        ).content.decode()
        assert "Subscribers get at least 30 days" in too_soon
        assert not PriceChange.objects.exists()
        client.post(edit_url + "migrate-prices/", {"effective_at": "2026-05-16"})
    (scheduled,) = PriceChange.objects.all()
    assert scheduled.effective_at == at(5, 16)


def test_a_plan_change_preview_is_the_invoice_it_announces_and_leaves_nothing_behind(
    owner, org, basic, pro
):
    from apps.accounts.models import Notification
    from apps.subscriptions.models import SubscriptionTerm

    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 1_200, at=at(4, 10))
    before = (Invoice.objects.count(), SubscriptionTerm.objects.count(), len(mail.outbox))
    notifications = Notification.objects.count()
    with moment(at(4, 16)):
        preview = billing.plan_change_preview(actor=owner, subscription=subscription, plan=pro)
    assert [(line.kind, str(line.amount)) for line in preview.lines] == [
        ("usage", "7.00"),
        ("proration_credit", "-5.00"),
        ("proration_charge", "20.00"),
    ]
    assert preview.total == D("22.00") and preview.at_once
    after = (Invoice.objects.count(), SubscriptionTerm.objects.count(), len(mail.outbox))
    assert after == before and Notification.objects.count() == notifications
    subscription.refresh_from_db()
    assert subscription.plan == basic
    change(owner, subscription, pro, at(4, 16))
    real = Invoice.objects.get(key__startswith="change:")
    assert [(line.kind, line.description, line.amount) for line in real.lines.all()] == [
        (line.kind, line.description, line.amount) for line in preview.lines
    ]


def test_a_downgrade_preview_says_it_waits_for_the_period_end(owner, org, basic, pro):
    subscription = subscribe(owner, org, pro, at(4, 1))
    with moment(at(4, 16)):
        preview = billing.plan_change_preview(actor=owner, subscription=subscription, plan=basic)
    assert preview.lines == () and not preview.at_once and preview.applies_at == at(5, 1)


def test_the_estimate_after_an_upgrade_counts_each_segment_under_its_own_terms(
    owner, org, basic, pro
):
    from apps.analytics.selectors import period_usage

    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 1_200, at=at(4, 10))
    subscription = change(owner, subscription, pro, at(4, 16))
    record_usage(subscription, 6_000, at=at(4, 20))
    with moment(at(4, 21)):
        estimate = period_usage(subscription).estimate
    # fees so far: $10 − $5 + $20; usage: Basic's half invoiced ($7.00) + Pro's half so far
    # (6,000 beyond 5,000 × $0.002 = $2.00): what the upgrade invoice and the close will say
    assert (estimate.fee, estimate.usage, estimate.total) == (D("25.00"), D("9.00"), D("34.00"))
    closing = close(subscription, at(5, 1))
    assert closing.total - D("40.00") + D("22.00") + D("10.00") == estimate.total
