"""The units rule (docs/pricing.md, "Units"): X-Tollgate-Units is a non-negative decimal with
at most six decimal places, at most the plan's max_units_per_call; anything else is billed
at the plan's fallback and counted where the provider sees it. Per-second units are the
upstream's time to the millisecond, exactly. Admission reserves a call's maximum, so a
hard quota or a spend cap is overshot by at most one call's maximum."""

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db.models import Sum
from prometheus_client import REGISTRY

from apps.gateway.record import reported_units_micro, upstream_time_micro
from apps.metering.events import CallEvent
from apps.metering.models import UsageAggregate, UsageDaily
from apps.metering.selectors import period_units
from apps.subscriptions.models import Plan, Subscription
from tests.gateway.conftest import settle

MILLION = 1_000_000
TEN = 10 * MILLION


@pytest.mark.parametrize(
    ("header", "micro"),
    [
        ("3", 3 * MILLION),
        ("0", 0),
        ("2.5", 2_500_000),
        ("0.000001", 1),
        ("3.141593", 3_141_593),
        ("  7  ", 7 * MILLION),  # surrounding spaces are not part of the value
        ("007", 7 * MILLION),
        ("10", TEN),  # exactly the maximum
    ],
)
def test_a_report_that_keeps_the_rule_is_billed_exactly(header, micro):
    assert reported_units_micro(header, TEN) == micro


@pytest.mark.parametrize(
    "header",
    [
        None,  # no header at all
        "",
        "-4",
        "+4",
        "NaN",
        "nan",
        "Infinity",
        "1e3",
        "1.1234567",  # seven decimal places
        "banana",
        "1,5",
        "1 000",
        ".5",
        "5.",
        "１２",  # full-width digits are digits to Python, not to the rule
        "10.000001",  # above the plan's maximum
        "99999999999999999999999",
    ],
)
def test_a_report_that_breaks_the_rule_is_refused(header):
    assert reported_units_micro(header, TEN) is None


@pytest.mark.parametrize(
    ("nanoseconds", "micro"),
    [
        (0, 0),
        (499_999, 0),
        (500_000, 1_000),  # half a millisecond rounds up
        (1_499_999, 1_000),
        (12_345_678_901, 12_346_000),  # 12.345678901 s → 12.346 s, no float anywhere
        (10**15, 60 * MILLION),  # a day-long stream bills the plan's maximum
    ],
)
def test_upstream_time_is_billed_to_the_millisecond_and_at_most_the_maximum(nanoseconds, micro):
    assert upstream_time_micro(nanoseconds, 60 * MILLION) == micro


# --- Through the gateway, on both counter stores ------------------------------------------
gateway_db = pytest.mark.django_db(transaction=True)


def _set_plan(world, **fields):
    Plan.objects.filter(pk=world.plan.pk).update(**fields)
    from apps.core.invalidation import _publish_now

    _publish_now("plan", str(world.plan.pk))
    time.sleep(1.1)


def _pages_at_a_dollar_with_a_ten_dollar_cap(world):
    """$1 a page, at most 5 pages a call; the consumer caps the period at $10."""
    from apps.core.invalidation import _publish_now

    Subscription.objects.filter(pk=world.subscription.pk).update(spend_cap=Decimal("10"))
    _publish_now("subscription", f"{world.consumer_org.pk}:{world.api.pk}")
    _set_plan(  # waits for both invalidations to reach the gateway
        world,
        unit="page",
        included_units=0,
        hard_limit=False,
        unit_price=Decimal("1"),
        max_units_per_call=Decimal(5),
    )


def _invalid_count(world) -> float:
    value = REGISTRY.get_sample_value(
        "tollgate_gateway_invalid_units_total", {"api": world.api.slug}
    )
    return value or 0.0


@gateway_db
def test_broken_unit_reports_bill_the_fallback_and_the_provider_sees_them(world):
    _set_plan(
        world, unit="page", included_units=0, hard_limit=False, max_units_per_call=Decimal(10)
    )
    before = _invalid_count(world)
    for report in ["3", "0.000001", "2.5", "banana", "-4", "11", "1.1234567", "NaN"]:
        assert world.call(f"/units?u={report}").status_code == 200
    settle(8)
    # 3 + 0.000001 + 2.5 kept the rule; five broke it and count the fallback, 1 page each
    units = period_units(world.subscription.pk, world.subscription.current_period_start)
    assert units == Decimal("10.500001")
    hourly = UsageAggregate.objects.aggregate(n=Sum("invalid_unit_reports"))["n"]
    daily = UsageDaily.objects.aggregate(n=Sum("invalid_unit_reports"))["n"]
    assert hourly == daily == 5
    assert _invalid_count(world) - before == 5


@gateway_db
def test_a_small_maximum_lowers_the_fallback_to_it(world):
    _set_plan(
        world, unit="page", included_units=0, hard_limit=False, max_units_per_call=Decimal("0.5")
    )
    world.call("/units?u=0.75")  # above the maximum: the fallback, here the maximum itself
    world.call("/units?u=0.25")
    settle(2)
    units = period_units(world.subscription.pk, world.subscription.current_period_start)
    assert units == Decimal("0.75")


@gateway_db
def test_per_second_calls_bill_their_time_to_the_millisecond(world):
    _set_plan(world, unit="second", included_units=0, hard_limit=False, unit_price=Decimal("0.01"))
    world.call("/sleep_ms?ms=250")
    settle(1)
    row = UsageAggregate.objects.get()
    assert Decimal("0.250") <= row.billable_units < Decimal("2")
    assert row.billable_units == row.billable_units.quantize(Decimal("0.001"))
    assert row.invalid_unit_reports == 0


@gateway_db
def test_a_spend_cap_on_custom_units_is_overshot_by_at_most_one_calls_maximum(world):
    """$1 a page, a $10 cap, at most 5 pages a call. Before max_units_per_call the gateway
    admitted any call under the cap and billed whatever the upstream reported: one report
    of 10,000 pages made a $10,009.99-style invoice."""
    _pages_at_a_dollar_with_a_ten_dollar_cap(world)
    reports = ["4", "4", "10000", "5", "5"]
    statuses = []
    for report in reports:
        statuses.append(world.call(f"/units?u={report}").status_code)
        time.sleep(0.2)  # each call is settled before the next is admitted
    # 4 + 4 = 8 < 10: admitted; the 10,000 report is above the maximum: 1 page (9 < 10);
    # the next call is admitted at 9 and bills its 5: 14 ≥ 10, so the last one is refused
    assert statuses == [200, 200, 200, 200, 429]
    refused = world.call("/units?u=1")
    assert refused.json()["code"] == "spend_cap_reached"
    settle(4)
    units = period_units(world.subscription.pk, world.subscription.current_period_start)
    assert units == Decimal(14)
    assert units * Decimal(1) <= Decimal(10) + Decimal(5)  # the cap plus one call's maximum


@gateway_db
def test_a_hard_quota_on_seconds_is_overshot_by_at_most_one_calls_maximum(world):
    _set_plan(
        world,
        unit="second",
        included_units=1,
        hard_limit=True,
        max_units_per_call=Decimal("0.4"),
    )
    statuses = []
    for _ in range(6):
        statuses.append(world.call("/sleep_ms?ms=300").status_code)
        time.sleep(0.2)
    settle(statuses.count(200))
    used = period_units(world.subscription.pk, world.subscription.current_period_start)
    # each call bills at most 0.4 s; calls stop once a whole second is used
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
    assert Decimal(1) <= used <= Decimal("1.4")


@gateway_db
def test_calls_in_flight_reserve_their_maximum_so_a_burst_cannot_blow_the_cap(world):
    """Eight slow calls at once, each reporting its 5-page maximum, against a $10 cap at $1
    a page. Each admitted call reserves 5 pages: calls are admitted while the reserved pages
    are under what $10 buys (10.004999 pages still round to $10.00), so three pass (15
    pages: the cap plus one call's maximum) and five are refused before they reach the
    upstream. Without the reservation all eight pass: a $40 bill."""
    _pages_at_a_dollar_with_a_ten_dollar_cap(world)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda _: world.call("/slow_units?u=5&ms=700").status_code, range(8))
        )
    assert sorted(statuses) == [200] * 3 + [429] * 5, statuses
    settle(3)
    units = period_units(world.subscription.pk, world.subscription.current_period_start)
    assert units == Decimal(15) <= Decimal(10) + Decimal(5)
    assert len([r for r in world.upstream.received if r["path"].startswith("/slow_units")]) == 3


def test_usage_events_carry_millionths_and_the_broken_report_flag():
    event = CallEvent(
        ts_ms=1,
        subscription_id=2,
        api_key_id=3,
        endpoint_id=None,
        period_start=4,
        status=200,
        latency_ms=5,
        units_micro=1_500_001,
        gateway_error=False,
        bytes_in=6,
        bytes_out=7,
        units_invalid=True,
    )
    assert CallEvent.decode(event.encode()) == event
    assert event.units_milli == 1501  # quota counters settle whole thousandths, rounded up


def test_events_written_before_the_upgrade_still_decode():
    """Version 1 entries (milli-units) may wait in the stream when the new code starts."""
    event = CallEvent.decode("1|1700000000000|2|3||1699990000|200|12|2500|0|10|20")
    assert event.units_micro == 2_500_000 and not event.units_invalid
