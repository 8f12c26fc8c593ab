"""Prices as people read them: the exact words on a pricing card for every kind of plan."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from apps.subscriptions.pricing import describe_plan, unit_money
from apps.subscriptions.rating import PlanTerms, Tier, plural_unit

D = Decimal
SCALE_TIERS = [
    {"up_to": 100_000, "unit_price": "0.0005"},
    {"up_to": 1_000_000, "unit_price": "0.0004"},
    {"up_to": None, "unit_price": "0.0003"},
]


def plan(**fields) -> SimpleNamespace:
    """A Plan row as rating and pricing read it."""
    defaults = {
        "name": "Plan",
        "monthly_fee": D("0.00"),
        "included_units": 0,
        "unit_price": D("0.000000"),
        "tiers": [],
        "unit": "call",
        "hard_limit": False,
        "trial_days": 0,
        "rate_limit_per_second": None,
        "rate_limit_per_minute": None,
    }
    return SimpleNamespace(**{**defaults, **fields})


CARDS = [
    (
        "free with a hard quota and rate limits",
        plan(
            included_units=1000, hard_limit=True, rate_limit_per_second=5, rate_limit_per_minute=300
        ),
        "free",
        "Free",
        [
            "1,000 calls/month included",
            "Hard limit: stops at 1,000 calls",
            "5 requests/second",
            "300 requests/minute",
        ],
    ),
    ("free without limits", plan(), "free", "Free", ["Unlimited calls"]),
    (
        "free allowance, overage at no charge",
        plan(included_units=500),
        "free",
        "Free",
        ["500 calls/month included", "Overage allowed at no charge"],
    ),
    (
        "freemium",
        plan(included_units=10_000, unit_price=D("0.0004")),
        "freemium",
        "Pay as you go",
        ["10,000 calls/month included, then $0.40 per 1,000 calls"],
    ),
    (
        "pay per call under a cent: per 1,000",
        plan(unit_price=D("0.000500")),
        "pay_per_use",
        "$0.50 per 1,000 calls",
        [],
    ),
    (
        "pay per call from a cent: per call",
        plan(unit_price=D("0.020000")),
        "pay_per_use",
        "$0.02 per call",
        [],
    ),
    (
        "pay per call, tiny price keeps its precision",
        plan(unit_price=D("0.000001")),
        "pay_per_use",
        "$0.001 per 1,000 calls",
        [],
    ),
    (
        "pay per second, always per second",
        plan(unit="second", unit_price=D("0.002000")),
        "pay_per_use",
        "$0.002 per second",
        [],
    ),
    (
        "pay per second, a cheap second",
        plan(unit="second", unit_price=D("0.0004")),
        "pay_per_use",
        "$0.0004 per second",
        [],
    ),
    (
        "custom unit, one included",
        plan(unit="page", included_units=1, unit_price=D("0.05")),
        "freemium",
        "Pay as you go",
        ["1 page/month included, then $0.05 per page"],
    ),
    (
        "custom unit with a plural in -es",
        plan(unit="search", unit_price=D("0.001")),
        "pay_per_use",
        "$1.00 per 1,000 searches",
        [],
    ),
    (
        "monthly with included units, overage and a trial",
        plan(monthly_fee=D("29.00"), included_units=100_000, unit_price=D("0.0004"), trial_days=14),
        "monthly",
        "$29 / month",
        ["100,000 calls/month included, then $0.40 per 1,000 calls", "14-day free trial"],
    ),
    (
        "monthly with a hard limit and cents in the fee",
        plan(
            monthly_fee=D("29.99"), included_units=10_000, hard_limit=True, rate_limit_per_second=1
        ),
        "monthly",
        "$29.99 / month",
        ["10,000 calls/month included", "Hard limit: stops at 10,000 calls", "1 request/second"],
    ),
    (
        "monthly plus a price from the first call",
        plan(monthly_fee=D("1200"), unit_price=D("0.400000")),
        "monthly",
        "$1,200 / month",
        ["Plus $0.40 per call"],
    ),
    ("monthly, unlimited", plan(monthly_fee=D("5")), "monthly", "$5 / month", ["Unlimited calls"]),
    (
        "graduated tiers",
        plan(tiers=SCALE_TIERS),
        "tiered",
        "Pay as you go",
        [
            "First 100,000 calls: $0.50 per 1,000",
            "Next 900,000: $0.40 per 1,000",
            "Beyond 1,000,000: $0.30 per 1,000",
        ],
    ),
    (
        "graduated tiers after included units, with a fee",
        plan(
            monthly_fee=D("49"),
            included_units=500,
            unit="image",
            tiers=[{"up_to": 1000, "unit_price": "0.02"}, {"up_to": None, "unit_price": "0.015"}],
        ),
        "tiered",
        "$49 / month",
        [
            "500 images/month included, then:",
            "First 1,000 images: $0.02 per image",
            "Beyond 1,000: $0.015 per image",
        ],
    ),
    (
        "graduated tiers with a free first tier",
        plan(tiers=[{"up_to": 1000, "unit_price": "0"}, {"up_to": None, "unit_price": "0.001"}]),
        "tiered",
        "Pay as you go",
        ["First 1,000 calls: free", "Beyond 1,000: $1.00 per 1,000"],
    ),
]


@pytest.mark.parametrize(
    ("row", "kind", "headline", "lines"),
    [card[1:] for card in CARDS],
    ids=[card[0] for card in CARDS],
)
def test_pricing_card(row, kind, headline, lines):
    description = describe_plan(row)
    assert (description.kind, description.headline, list(description.lines)) == (
        kind,
        headline,
        lines,
    )


def test_terms_describe_like_the_plan_they_come_from():
    terms = PlanTerms(monthly_fee=D("9"), included_units=2000, unit_price=D("0.01"), currency="EUR")
    description = describe_plan(terms)
    assert description.headline == "€9 / month"
    assert description.lines == ("2,000 calls/month included, then €0.01 per call",)


def test_a_single_open_tier_covers_all_units():
    terms = PlanTerms(unit="page", tiers=(Tier(None, D("0.05")),), currency="USD")
    assert describe_plan(terms).lines == ("All pages: $0.05 per page",)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0.0004", "$0.0004"),
        ("0.400000", "$0.40"),
        ("0.5", "$0.50"),
        ("2", "$2.00"),
        ("1234.5", "$1,234.50"),
        ("0.000001", "$0.000001"),
        ("10E+1", "$100.00"),
    ],
)
def test_unit_prices_keep_the_precision_they_need(amount, text):
    assert unit_money(D(amount), "USD") == text


@pytest.mark.parametrize(
    ("unit", "plural"),
    [
        ("call", "calls"),
        ("second", "seconds"),
        ("page", "pages"),
        ("search", "searches"),
        ("box", "boxes"),
        ("query", "queries"),
        ("day", "days"),
        ("word token", "word tokens"),
        ("1k characters", "1k characters"),
        ("class", "classes"),
        ("bus", "buses"),
    ],
)
def test_unit_names_are_pluralised(unit, plural):
    assert plural_unit(unit) == plural
