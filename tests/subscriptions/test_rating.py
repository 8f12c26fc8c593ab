"""The rating engine against hand-computed invoices: every expected quantity, amount and total
below was worked out by hand (the arithmetic is in the comments), never by the code under
test."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from apps.subscriptions.rating import (
    Line,
    PlanTerms,
    Segment,
    Tier,
    change_fee_lines,
    estimate,
    first_period_lines,
    included_in,
    period_lines,
    rate_usage,
    segment_usage_lines,
    split_provider_share,
    total,
    units_within_budget,
)

D = Decimal
JAN_1, FEB_1, MAR_1 = (datetime(2025, month, 1, tzinfo=UTC) for month in (1, 2, 3))
CLOSED = (JAN_1, FEB_1)  # the period being closed (31 days)
NEXT = (FEB_1, MAR_1)  # the period whose fee is charged in advance

FREE = PlanTerms(name="Free", included_units=1000, hard_limit=True, currency="USD")
FREEMIUM = PlanTerms(name="Starter", included_units=10_000, unit_price=D("0.0004"), currency="USD")
PRO = PlanTerms(
    name="Pro",
    monthly_fee=D("29"),
    included_units=10_000,
    unit_price=D("0.0004"),
    trial_days=14,
    currency="USD",
)
GRADUATED = PlanTerms(
    name="Scale",
    included_units=10_000,
    currency="USD",
    tiers=(Tier(100_000, D("0.0005")), Tier(1_000_000, D("0.0004")), Tier(None, D("0.0003"))),
)


def terms(**fields) -> PlanTerms:
    return PlanTerms(currency="USD", **fields)


@dataclass
class Case:
    id: str
    terms: PlanTerms
    units: str
    lines: list[tuple]  # (kind, quantity, unit_price, amount, tier, period)
    total: str
    in_trial: bool = False
    ending: bool = False
    fee_in_advance: bool = True


CASES = [
    Case("free plan under its hard quota", FREE, "999", [], "0.00"),
    Case("free plan over its hard quota anyway: nothing billed", FREE, "1500", [], "0.00"),
    Case("freemium inside the allowance", FREEMIUM, "10000", [], "0.00"),
    # 12,345 - 10,000 = 2,345 * 0.0004 = 0.938 → 0.94
    Case(
        "freemium beyond the allowance",
        FREEMIUM,
        "12345",
        [("usage", "2345", "0.0004", "0.94", None, CLOSED)],
        "0.94",
    ),
    # 1,234 * 0.002 = 2.468 → 2.47
    Case(
        "pay per call",
        terms(unit_price=D("0.002")),
        "1234",
        [("usage", "1234", "0.002", "2.47", None, CLOSED)],
        "2.47",
    ),
    # 25 * 0.001 = 0.025 → 0.03 (half-up; half-even would say 0.02)
    Case(
        "pay per call, a half cent rounds up",
        terms(unit_price=D("0.001")),
        "25",
        [("usage", "25", "0.001", "0.03", None, CLOSED)],
        "0.03",
    ),
    # 1,234.567 s * 0.0015 = 1.8518505 → 1.85
    Case(
        "pay per second, fractional seconds",
        terms(unit="second", unit_price=D("0.0015")),
        "1234.567",
        [("usage", "1234.567", "0.0015", "1.85", None, CLOSED)],
        "1.85",
    ),
    # 0.5 s * 0.01 = 0.005 → 0.01
    Case(
        "pay per second, half a cent",
        terms(unit="second", unit_price=D("0.01")),
        "0.5",
        [("usage", "0.5", "0.01", "0.01", None, CLOSED)],
        "0.01",
    ),
    # 137 - 100 = 37 pages * 0.05 = 1.85; fee 10.00 → 11.85
    Case(
        "custom unit with a fee and included pages",
        terms(unit="page", monthly_fee=D("10"), included_units=100, unit_price=D("0.05")),
        "137",
        [("usage", "37", "0.05", "1.85", None, CLOSED), ("fee", "1", "10", "10.00", None, NEXT)],
        "11.85",
    ),
    # 25,000 - 10,000 = 15,000 * 0.0004 = 6.00; fee 29.00 → 35.00
    Case(
        "monthly fee + included units + overage",
        PRO,
        "25000",
        [
            ("usage", "15000", "0.0004", "6.00", None, CLOSED),
            ("fee", "1", "29", "29.00", None, NEXT),
        ],
        "35.00",
    ),
    Case(
        "monthly fee, usage inside the included units",
        PRO,
        "8000",
        [("fee", "1", "29", "29.00", None, NEXT)],
        "29.00",
    ),
    # 160,000 - 10,000 = 150,000: 100,000 * 0.0005 = 50.00; 50,000 * 0.0004 = 20.00 → 70.00
    Case(
        "graduated, crossing into the 2nd tier",
        GRADUATED,
        "160000",
        [
            ("usage", "100000", "0.0005", "50.00", 1, CLOSED),
            ("usage", "50000", "0.0004", "20.00", 2, CLOSED),
        ],
        "70.00",
    ),
    # 1,510,003 - 10,000 = 1,500,003: 50.00 + 900,000 * 0.0004 = 360.00
    # + 500,003 * 0.0003 = 150.0009 → 150.00 → 560.00
    Case(
        "graduated, crossing into the 3rd tier",
        GRADUATED,
        "1510003",
        [
            ("usage", "100000", "0.0005", "50.00", 1, CLOSED),
            ("usage", "900000", "0.0004", "360.00", 2, CLOSED),
            ("usage", "500003", "0.0003", "150.00", 3, CLOSED),
        ],
        "560.00",
    ),
    # exactly 100,000 billable: the whole first tier, nothing in the second
    Case(
        "graduated, exactly at a tier boundary",
        GRADUATED,
        "110000",
        [("usage", "100000", "0.0005", "50.00", 1, CLOSED)],
        "50.00",
    ),
    # 1,000 * 0.0125 = 12.50; 203 * 0.0105 = 2.1315 → 2.13; fee 49.00 → 63.63
    Case(
        "graduated with a fee: each tier line rounded once",
        terms(monthly_fee=D("49"), tiers=(Tier(1000, D("0.0125")), Tier(None, D("0.0105")))),
        "1203",
        [
            ("usage", "1000", "0.0125", "12.50", 1, CLOSED),
            ("usage", "203", "0.0105", "2.13", 2, CLOSED),
            ("fee", "1", "49", "49.00", None, NEXT),
        ],
        "63.63",
    ),
    Case(
        "hard limit exceeded: only the fee",
        terms(monthly_fee=D("29"), included_units=10_000, hard_limit=True),
        "12000",
        [("fee", "1", "29", "29.00", None, NEXT)],
        "29.00",
    ),
    Case("next period inside the trial: no fee", PRO, "0", [], "0.00", in_trial=True),
    Case(
        "trial waives the fee, not the overage",
        PRO,
        "25000",
        [("usage", "15000", "0.0004", "6.00", None, CLOSED)],
        "6.00",
        in_trial=True,
    ),
    Case(
        "subscription ending: usage, no next fee",
        PRO,
        "25000",
        [("usage", "15000", "0.0004", "6.00", None, CLOSED)],
        "6.00",
        ending=True,
    ),
    Case(
        "fee in arrears: the closed period's fee",
        PRO,
        "25000",
        [
            ("usage", "15000", "0.0004", "6.00", None, CLOSED),
            ("fee", "1", "29", "29.00", None, CLOSED),
        ],
        "35.00",
        fee_in_advance=False,
    ),
    # 3 * ¥0.5 = ¥1.5 → ¥2; fee ¥1,000 → ¥1,002
    Case(
        "a zero-decimal currency rounds to whole yen",
        PlanTerms(monthly_fee=D("1000"), unit_price=D("0.5"), currency="JPY"),
        "3",
        [("usage", "3", "0.5", "2", None, CLOSED), ("fee", "1", "1000", "1000", None, NEXT)],
        "1002",
    ),
]


def shape(line: Line) -> tuple:
    return (
        line.kind,
        line.quantity,
        line.unit_price,
        str(line.amount),
        line.tier,
        (line.period_start, line.period_end),
    )


def expected_shape(kind, quantity, unit_price, amount, tier, period) -> tuple:
    return (kind, D(quantity), None if unit_price is None else D(unit_price), amount, tier, period)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_period_invoice(case):
    next_start, next_end = (None, None) if case.ending else NEXT
    lines = period_lines(
        case.terms,
        period_start=JAN_1,
        period_end=FEB_1,
        next_period_start=next_start,
        next_period_end=next_end,
        units_used=D(case.units),
        in_trial=case.in_trial,
        bill_fee_in_advance=case.fee_in_advance,
    )
    assert [shape(line) for line in lines] == [expected_shape(*line) for line in case.lines]
    assert str(total(lines, case.terms.currency)) == case.total


@pytest.mark.parametrize(
    ("units", "unit_price", "amount"),
    [
        ("5", "0.001", "0.01"),  # 0.005 → 0.01
        ("15", "0.001", "0.02"),  # 0.015 → 0.02
        ("25", "0.001", "0.03"),  # 0.025 → 0.03, not the banker's 0.02
        ("4", "0.001", "0.00"),  # 0.004 → 0.00
        ("49", "0.0001", "0.00"),  # 0.0049 → 0.00
        ("3", "0.0015", "0.00"),  # 0.0045 → 0.00: rounded once, not 0.005 → 0.01
        ("7", "0.0015", "0.01"),  # 0.0105 → 0.01
        ("1", "0.125", "0.13"),  # 0.125 → 0.13
    ],
)
def test_a_line_rounds_half_up_to_the_cent_once(units, unit_price, amount):
    [line] = rate_usage(terms(unit_price=D(unit_price)), D(units))
    assert str(line.amount) == amount


def test_usage_lines_describe_what_was_billed():
    lines = rate_usage(GRADUATED, D(1_510_003))
    assert [line.description for line in lines] == [
        "Calls beyond the 10,000 included, tier 1 (1 to 100,000)",
        "Calls beyond the 10,000 included, tier 2 (100,001 to 1,000,000)",
        "Calls beyond the 10,000 included, tier 3 (over 1,000,000)",
    ]
    [seconds] = rate_usage(terms(unit="second", unit_price=D("0.001")), D("2.5"))
    assert seconds.description == "Seconds"
    [pages] = rate_usage(terms(unit="page", included_units=100, unit_price=D("0.05")), D(101))
    assert pages.description == "Pages beyond the 100 included"


def test_usage_lines_carry_the_period_when_given():
    [line] = rate_usage(FREEMIUM, D(10_001), period_start=JAN_1, period_end=FEB_1)
    assert (line.period_start, line.period_end) == (JAN_1, FEB_1)


def test_a_plan_without_a_usage_price_bills_no_usage():
    assert rate_usage(terms(monthly_fee=D("5")), D(10**9)) == []


# --- First period -----------------------------------------------------------------------
def test_the_first_fee_is_charged_in_advance():
    [line] = first_period_lines(PRO, period_start=JAN_1, period_end=FEB_1, in_trial=False)
    assert shape(line) == expected_shape("fee", "1", "29", "29.00", None, CLOSED)
    assert line.description == "Monthly fee (Pro)"


def test_the_first_period_of_a_trial_costs_nothing():
    assert first_period_lines(PRO, period_start=JAN_1, period_end=FEB_1, in_trial=True) == []


def test_a_free_plan_starts_without_lines():
    assert first_period_lines(FREE, period_start=JAN_1, period_end=FEB_1, in_trial=False) == []


# --- Upgrades ---------------------------------------------------------------------------
APR_1, MAY_1 = datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


CHANGES = [
    # (id, old fee, new fee, period, change at, credit, charge, quantity)
    # Apr 11 00:00 → May 1: 20 of 30 days. 29 × 20/30 = 19.333… → 19.33; 99 × 20/30 = 66.00
    ("30-day period", "29", "99", (APR_1, MAY_1), at(2025, 4, 11), "-19.33", "66.00", "0.6667"),
    # Jan 21 00:00 → Feb 1: 11 of 31 days. 10 × 11/31 = 3.548… → 3.55; 25 × 11/31 → 8.87
    ("31-day period", "10", "25", CLOSED, at(2025, 1, 21), "-3.55", "8.87", "0.3548"),
    # Apr 16 12:00 → May 1: 14.5 of 30 days. 10 × 14.5/30 = 4.833… → 4.83; 40 → 19.33
    ("mid-day", "10", "40", (APR_1, MAY_1), at(2025, 4, 16, 12), "-4.83", "19.33", "0.4833"),
    # 19:00 at UTC-5 on Apr 15 is Apr 16 00:00 UTC: 15 of 30 days
    (
        "time zones do not matter",
        "10",
        "40",
        (APR_1, MAY_1),
        datetime(2025, 4, 15, 19, tzinfo=timezone(timedelta(hours=-5))),
        "-5.00",
        "20.00",
        "0.5000",
    ),
    ("first instant", "10", "25", CLOSED, JAN_1, "-10.00", "25.00", "1.0000"),
    ("from a free plan", "0", "29", (APR_1, MAY_1), at(2025, 4, 11), None, "19.33", "0.6667"),
]


@pytest.mark.parametrize(
    ("old_fee", "new_fee", "period", "changed_at", "credit", "charge", "quantity"),
    [case[1:] for case in CHANGES],
    ids=[case[0] for case in CHANGES],
)
def test_a_change_prorates_the_fee_by_the_time_left_in_the_period(
    old_fee, new_fee, period, changed_at, credit, charge, quantity
):
    old = terms(name="Basic", monthly_fee=D(old_fee))
    new = terms(name="Pro", monthly_fee=D(new_fee))
    lines = change_fee_lines(old, new, at=changed_at, period_start=period[0], period_end=period[1])
    expected = []
    if credit:
        expected.append(("proration_credit", D(quantity), D(old_fee), credit, None))
    expected.append(("proration_charge", D(quantity), D(new_fee), charge, None))
    assert [shape(line)[:5] for line in lines] == expected
    assert all(line.period_end == period[1] for line in lines)


def test_change_lines_say_which_time_they_cover():
    credit, charge = change_fee_lines(
        terms(name="Basic", monthly_fee=D("29")),
        terms(name="Pro", monthly_fee=D("99")),
        at=at(2025, 4, 11),
        period_start=APR_1,
        period_end=MAY_1,
    )
    assert credit.description == "Unused time on Basic"
    assert charge.description == "Remaining time on Pro"
    assert (credit.period_start, credit.period_end) == (at(2025, 4, 11), MAY_1)


def test_without_a_credit_only_the_new_fee_is_charged():
    lines = change_fee_lines(
        terms(name="Pro", monthly_fee=D("99")),
        terms(name="Basic", monthly_fee=D("29")),
        at=at(2025, 4, 11),
        period_start=APR_1,
        period_end=MAY_1,
        credit_old=False,
    )
    assert [(line.kind, str(line.amount)) for line in lines] == [("proration_charge", "19.33")]


def test_ending_now_credits_the_unused_fee_and_charges_nothing():
    lines = change_fee_lines(
        terms(name="Pro", monthly_fee=D("30")),
        None,
        at=at(2025, 4, 21),
        period_start=APR_1,
        period_end=MAY_1,
    )
    assert [(line.kind, str(line.amount)) for line in lines] == [("proration_credit", "-10.00")]


@pytest.mark.parametrize("changed_at", [at(2025, 3, 31, 23, 59), at(2025, 5, 1, 0, 0, 1)])
def test_a_change_outside_the_period_is_refused(changed_at):
    with pytest.raises(ValueError):
        change_fee_lines(FREEMIUM, PRO, at=changed_at, period_start=APR_1, period_end=MAY_1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        change_fee_lines(
            FREEMIUM, PRO, at=datetime(2025, 4, 2), period_start=APR_1, period_end=MAY_1
        )


# --- Segments ---------------------------------------------------------------------------
def _segment(plan: PlanTerms, start, end, period=(APR_1, MAY_1)) -> Segment:
    return Segment(plan, start, end, *period)


def test_a_segment_gets_its_share_of_the_included_units():
    # 10,000 included; Apr 1 → Apr 16 00:00 is 15 of 30 days: 5,000 included
    first_half = _segment(PRO, APR_1, at(2025, 4, 16))
    assert included_in(first_half) == 5_000
    # 7,000 used: 2,000 beyond the 5,000, at $0.0004 = $0.80
    (line,) = segment_usage_lines(first_half, D(7_000))
    assert (line.kind, line.quantity, str(line.amount)) == ("usage", D(2_000), "0.80")
    assert line.description == "Calls beyond the 5,000 included (Pro)"
    assert (line.period_start, line.period_end) == (APR_1, at(2025, 4, 16))


def test_included_units_of_a_segment_round_half_up_to_the_units_resolution():
    # 1,000 calls over 7 days of a 30-day period: 233.33… → 233 calls
    calls = terms(name="P", included_units=1_000, unit_price=D("0.01"))
    assert included_in(_segment(calls, APR_1, at(2025, 4, 8))) == 233
    # 1,000 seconds over 7 days: 233.333 s (to the millisecond)
    seconds = terms(name="S", included_units=1_000, unit_price=D("0.01"), unit="second")
    assert included_in(_segment(seconds, APR_1, at(2025, 4, 8))) == D("233.333")


def test_a_whole_period_segment_rates_as_the_period_does():
    whole = _segment(PRO, APR_1, MAY_1)
    assert [shape(line)[:4] for line in segment_usage_lines(whole, D(12_500))] == [
        shape(line)[:4] for line in rate_usage(PRO, D(12_500))
    ]


def test_late_usage_is_billed_as_the_difference_tier_by_tier():
    scale = terms(
        name="Scale",
        tiers=(Tier(1_000, D("0.01")), Tier(None, D("0.001"))),
    )
    whole = _segment(scale, APR_1, MAY_1)
    first = segment_usage_lines(whole, D(800))
    late = segment_usage_lines(whole, D(1_500), rated_before=D(800), late=True)
    assert [(line.tier, line.quantity, str(line.amount)) for line in first] == [(1, 800, "8.00")]
    # 200 more in tier 1 ($2.00), 500 in tier 2 ($0.50)
    assert [(line.kind, line.tier, line.quantity, str(line.amount)) for line in late] == [
        ("late_usage", 1, D(200), "2.00"),
        ("late_usage", 2, D(500), "0.50"),
    ]
    assert late[0].description == (
        "Late usage: calls, tier 1 (1 to 1,000) (Scale, period Apr 1 – May 1, 2025)"
    )
    # the two invoices add up to rating 1,500 at once
    assert total(first + late) == total(segment_usage_lines(whole, D(1_500)))


# --- Estimates --------------------------------------------------------------------------
def test_estimate_adds_usage_so_far_to_the_fee_already_charged():
    # 12,500 - 10,000 = 2,500 * 0.0004 = 1.00
    result = estimate(PRO, D(12_500), period_start=JAN_1, period_end=FEB_1)
    assert (str(result.fee), str(result.usage), str(result.total)) == ("29.00", "1.00", "30.00")
    assert result.included_remaining == 0
    assert [shape(line) for line in result.usage_lines] == [
        expected_shape("usage", "2500", "0.0004", "1.00", None, CLOSED)
    ]


def test_estimate_inside_the_included_units():
    result = estimate(PRO, D(4000))
    assert (str(result.usage), str(result.total)) == ("0.00", "29.00")
    assert result.included_remaining == 6000


def test_estimate_in_a_trial_has_no_fee():
    assert str(estimate(PRO, D(0), in_trial=True).total) == "0.00"


def test_estimate_uses_the_fee_actually_charged_after_an_upgrade():
    assert str(estimate(PRO, D(12_500), fee_charged=D("19.33")).total) == "20.33"


# --- Spend caps -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("plan", "budget", "units"),
    [
        # 14 * 0.001 = 0.014 → 0.01; 15 * 0.001 = 0.015 → 0.02
        (terms(unit_price=D("0.001")), "0.01", "14"),
        # 100.499 s * 0.01 = 1.00499 → 1.00; 100.5 s → 1.005 → 1.01
        (terms(unit="second", unit_price=D("0.01")), "1.00", "100.499"),
        # tier 1 whole: 50.00; 20.00 left at 0.0004: 50,012 * 0.0004 = 20.0048 → 20.00
        # 10,000 included + 100,000 + 50,012
        (GRADUATED, "70.00", "160012"),
        # over budget already: the included units, and 12 * 0.0004 = 0.0048 → 0.00
        (FREEMIUM, "-5.00", "10012"),
    ],
)
def test_units_within_budget(plan, budget, units):
    assert units_within_budget(plan, D(budget)) == D(units)


@pytest.mark.parametrize(
    "plan",
    [
        FREE,
        terms(monthly_fee=D("10")),
        terms(unit_price=D("1"), included_units=5, hard_limit=True),
        terms(tiers=(Tier(10, D("1")), Tier(None, D("0")))),
    ],
)
def test_no_budget_limits_usage_that_never_costs_anything(plan):
    assert units_within_budget(plan, D("100")) is None


# --- Provider share ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("amount", "fee_percent", "provider_share", "platform_fee"),
    [
        ("100.00", "20", "80.00", "20.00"),
        ("0.10", "5", "0.09", "0.01"),  # 0.005 → 0.01
        ("0.01", "50", "0.00", "0.01"),  # 0.005 → 0.01
        ("10.01", "15", "8.51", "1.50"),  # 1.5015 → 1.50
        ("0.05", "12.5", "0.04", "0.01"),  # 0.00625 → 0.01
        ("19.99", "0", "19.99", "0.00"),
        ("19.99", "100", "0.00", "19.99"),
        ("-10.00", "20", "-8.00", "-2.00"),  # a refund reverses the split
    ],
)
def test_provider_share_and_platform_fee_add_up(amount, fee_percent, provider_share, platform_fee):
    share, fee = split_provider_share(D(amount), D(fee_percent), "USD")
    assert (str(share), str(fee)) == (provider_share, platform_fee)


@pytest.mark.parametrize(
    ("amount", "fee_percent"), [("10.00", "101"), ("10.00", "-1"), ("10.001", "20")]
)
def test_split_refuses_nonsense(amount, fee_percent):
    with pytest.raises(ValueError):
        split_provider_share(D(amount), D(fee_percent), "USD")


def test_the_total_of_no_lines_is_zero_cents():
    assert str(total([], "USD")) == "0.00"


# --- Inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: rate_usage(PRO, 1500.0),
        lambda: PlanTerms(monthly_fee=29.0),
        lambda: PlanTerms(unit_price=0.0004),
        lambda: Tier(None, 0.001),
        lambda: Tier.from_json({"up_to": None, "unit_price": 0.001}),
        lambda: split_provider_share(10.0, D(20)),
        lambda: split_provider_share(D("10.00"), 20.0),
        lambda: estimate(PRO, D(1), fee_charged=29.0),
    ],
)
def test_floats_are_refused(build):
    with pytest.raises(TypeError):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: rate_usage(PRO, D("1.5")),  # calls are whole
        lambda: rate_usage(PRO, D(-1)),
        lambda: rate_usage(PRO, D("NaN")),
        lambda: terms(tiers=(Tier(100, D(1)), Tier(50, D(1)), Tier(None, D(1)))),
        lambda: terms(tiers=(Tier(100, D(1)), Tier(100, D(1)), Tier(None, D(1)))),
        lambda: terms(tiers=(Tier(100, D(1)),)),
        lambda: terms(tiers=(Tier(None, D(1)), Tier(100, D(1)))),
        lambda: terms(tiers=(Tier(None, D(1)),), unit_price=D(1)),
        lambda: terms(monthly_fee=D(-1)),
        lambda: Tier(0, D(1)),
        lambda: Tier(None, D(-1)),
        lambda: Line("usage", "oops", D(1), D(1), D("-1.00"), None, None),
    ],
)
def test_nonsense_terms_and_usage_are_refused(build):
    with pytest.raises(ValueError):
        build()


def test_a_credit_line_may_be_negative():
    assert Line("proration_credit", "Unused", D(1), None, D("-1.00"), None, None).amount < 0


def test_terms_from_a_plan_row():
    plan = SimpleNamespace(
        name="Scale",
        monthly_fee=D("49.00"),
        included_units=10_000,
        unit_price=D("0.000000"),
        tiers=[{"up_to": 100_000, "unit_price": "0.0005"}, {"up_to": None, "unit_price": "0.0003"}],
        unit="call",
        hard_limit=False,
        trial_days=7,
    )
    assert PlanTerms.from_plan(plan) == PlanTerms(
        name="Scale",
        monthly_fee=D("49"),
        included_units=10_000,
        tiers=(Tier(100_000, D("0.0005")), Tier(None, D("0.0003"))),
        unit="call",
        hard_limit=False,
        trial_days=7,
        currency="USD",
    )


def test_custom_units_are_billed_to_the_millionth():
    pages = terms(unit="page", unit_price=D("0.10"))
    (line,) = rate_usage(pages, D("12.345678"))
    assert line.quantity == D("12.345678") and line.amount == D("1.23")


@pytest.mark.parametrize(
    ("unit", "units"),
    [("call", "1.5"), ("second", "1.0005"), ("page", "1.0000001")],
)
def test_units_finer_than_their_unit_are_refused(unit, units):
    with pytest.raises(ValueError, match="steps of"):
        rate_usage(terms(unit=unit, unit_price=D("0.01")), D(units))
