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
    Tier,
    estimate,
    first_period_lines,
    period_lines,
    proration_days,
    rate_usage,
    split_provider_share,
    total,
    units_within_budget,
    upgrade_lines,
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


UPGRADES = [
    # (id, old fee, new fee, period, changed_at, credit, charge, total)
    # Apr 11 → May 1: 20 of 30 days. 29 * 20/30 = 19.333… → 19.33; 99 * 20/30 = 66.00
    (
        "30-day period",
        "29",
        "99",
        (APR_1, MAY_1),
        at(2025, 4, 11, 15, 30),
        (20, "-19.33"),
        (20, "66.00"),
        "46.67",
    ),
    # Jan 21 → Feb 1: 11 of 31 days. 10 * 11/31 = 3.548… → 3.55; 25 * 11/31 = 8.870… → 8.87
    ("31-day period", "10", "25", CLOSED, at(2025, 1, 21, 8), (11, "-3.55"), (11, "8.87"), "5.32"),
    # 20:00 at UTC-5 on Jan 20 is Jan 21 01:00 UTC: still 11 of 31 days
    (
        "the change day is taken in UTC",
        "10",
        "25",
        CLOSED,
        datetime(2025, 1, 20, 20, tzinfo=timezone(timedelta(hours=-5))),
        (11, "-3.55"),
        (11, "8.87"),
        "5.32",
    ),
    (
        "first day of a 31-day period",
        "10",
        "25",
        CLOSED,
        JAN_1,
        (31, "-10.00"),
        (31, "25.00"),
        "15.00",
    ),
    (
        "first day of a 30-day period",
        "29",
        "99",
        (APR_1, MAY_1),
        at(2025, 4, 1, 12),
        (30, "-29.00"),
        (30, "99.00"),
        "70.00",
    ),
    # 1 of 31: 10/31 = 0.3225… → 0.32; 25/31 = 0.8064… → 0.81
    (
        "last day of a 31-day period",
        "10",
        "25",
        CLOSED,
        at(2025, 1, 31, 23, 59, 59),
        (1, "-0.32"),
        (1, "0.81"),
        "0.49",
    ),
    # 1 of 30: 29/30 = 0.9666… → 0.97; 99/30 = 3.30
    (
        "last day of a 30-day period",
        "29",
        "99",
        (APR_1, MAY_1),
        at(2025, 4, 30, 9),
        (1, "-0.97"),
        (1, "3.30"),
        "2.33",
    ),
    # Feb 15 → Mar 1: 14 of 28 days. 10 * 14/28 = 5.00; 25 * 14/28 = 12.50
    ("28-day February", "10", "25", NEXT, at(2025, 2, 15), (14, "-5.00"), (14, "12.50"), "7.50"),
    # Apr 16 → May 1: 15 of 30. 24.25/2 = 12.125 → 12.13; 48.25/2 = 24.125 → 24.13
    (
        "half a cent rounds up",
        "24.25",
        "48.25",
        (APR_1, MAY_1),
        at(2025, 4, 16),
        (15, "-12.13"),
        (15, "24.13"),
        "12.00",
    ),
    (
        "from a free plan: nothing to credit",
        "0",
        "29",
        (APR_1, MAY_1),
        at(2025, 4, 11),
        None,
        (20, "19.33"),
        "19.33",
    ),
    # A period anchored at 10:00: Jan 15 10:00 → Feb 15 10:00 is 31 days; at 09:00 on Feb 15
    # the change day (the period's last, partial day) still counts: 1 of 31
    (
        "last, partial day of a period anchored mid-day",
        "10",
        "25",
        (at(2025, 1, 15, 10), at(2025, 2, 15, 10)),
        at(2025, 2, 15, 9),
        (1, "-0.32"),
        (1, "0.81"),
        "0.49",
    ),
    (
        "first day of a period anchored mid-day",
        "10",
        "25",
        (at(2025, 1, 15, 10), at(2025, 2, 15, 10)),
        at(2025, 1, 15, 10),
        (31, "-10.00"),
        (31, "25.00"),
        "15.00",
    ),
]


@pytest.mark.parametrize(
    ("old_fee", "new_fee", "period", "changed_at", "credit", "charge", "expected_total"),
    [case[1:] for case in UPGRADES],
    ids=[case[0] for case in UPGRADES],
)
def test_upgrade_is_prorated_by_day(
    old_fee, new_fee, period, changed_at, credit, charge, expected_total
):
    old = terms(name="Basic", monthly_fee=D(old_fee))
    new = terms(name="Pro", monthly_fee=D(new_fee))
    lines = upgrade_lines(
        old, new, period_start=period[0], period_end=period[1], changed_at=changed_at
    )
    expected = []
    for kind, days_and_amount in (("proration_credit", credit), ("proration_charge", charge)):
        if days_and_amount:
            days, amount = days_and_amount
            expected.append((kind, D(days), None, amount, None, (changed_at, period[1])))
    assert [shape(line) for line in lines] == expected
    assert str(total(lines)) == expected_total


def test_upgrade_lines_say_which_days_they_cover():
    credit, charge = upgrade_lines(
        terms(name="Basic", monthly_fee=D("29")),
        terms(name="Pro", monthly_fee=D("99")),
        period_start=APR_1,
        period_end=MAY_1,
        changed_at=at(2025, 4, 11),
    )
    assert credit.description == "Unused time on Basic (20 of 30 days)"
    assert charge.description == "Remaining time on Pro (20 of 30 days)"


def test_an_upgrade_during_a_trial_costs_nothing():
    assert (
        upgrade_lines(
            FREEMIUM,
            PRO,
            period_start=APR_1,
            period_end=MAY_1,
            changed_at=at(2025, 4, 11),
            in_trial=True,
        )
        == []
    )


def test_proration_days_counts_calendar_days():
    assert proration_days(period_start=APR_1, period_end=MAY_1, changed_at=APR_1) == (30, 30)
    assert proration_days(
        period_start=JAN_1, period_end=FEB_1, changed_at=at(2025, 1, 31, 23, 59)
    ) == (1, 31)


@pytest.mark.parametrize("changed_at", [at(2025, 3, 31, 23, 59), MAY_1])
def test_an_upgrade_outside_the_period_is_refused(changed_at):
    with pytest.raises(ValueError):
        upgrade_lines(FREEMIUM, PRO, period_start=APR_1, period_end=MAY_1, changed_at=changed_at)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        proration_days(
            period_start=datetime(2025, 4, 1), period_end=MAY_1, changed_at=at(2025, 4, 2)
        )


def test_an_upgrade_cannot_change_currency():
    with pytest.raises(ValueError):
        upgrade_lines(
            PRO,
            PlanTerms(monthly_fee=D("99"), currency="EUR"),
            period_start=APR_1,
            period_end=MAY_1,
            changed_at=at(2025, 4, 2),
        )


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
