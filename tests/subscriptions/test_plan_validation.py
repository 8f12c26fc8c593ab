"""Plan terms that make no sense, and the one message each gets."""

from decimal import Decimal

import pytest

from apps.subscriptions.pricing import validate_plan_terms

# A sound monthly plan, as a form posts it; each case below breaks one thing.
VALID = {
    "name": "Pro",  # not a pricing term: ignored
    "monthly_fee": "29",
    "included_units": "10000",
    "unit_price": "0.0004",
    "tiers": [],
    "unit": "call",
    "hard_limit": False,
    "rate_limit_per_second": "5",
    "rate_limit_per_minute": "300",
    "trial_days": "14",
}
PRICE_NEVER_CHARGED = (
    "A hard limit stops usage at the included units, so the usage price would never be charged: "
    "allow overage or remove the price"
)
NO_PRICE = {"unit_price": "0"}
MAX_UNITS_EMPTY = "Use at least 0.000001, or leave empty for the default"
TIERED = {
    **NO_PRICE,
    "tiers": [{"up_to": 100_000, "unit_price": "0.0005"}, {"up_to": None, "unit_price": "0.0003"}],
}


def tiers(*pairs) -> dict:
    return {**NO_PRICE, "tiers": [{"up_to": up_to, "unit_price": price} for up_to, price in pairs]}


BAD = [
    # money
    ({"monthly_fee": "-1"}, {"monthly_fee": "Can't be negative"}),
    ({"monthly_fee": "29.999"}, {"monthly_fee": "Use whole cents"}),
    ({"monthly_fee": "1000000.01"}, {"monthly_fee": "Keep it at or below $1,000,000"}),
    ({"monthly_fee": "twenty"}, {"monthly_fee": "Enter a number"}),
    ({"monthly_fee": "Infinity"}, {"monthly_fee": "Enter a number"}),
    ({"monthly_fee": 29.0}, {"monthly_fee": "Enter an exact number (as text), not a float"}),
    ({"unit_price": "-0.01"}, {"unit_price": "Can't be negative"}),
    (
        {"unit_price": "0.0000001"},
        {"unit_price": "Use at least $0.000001 per unit, or 0 for no usage price"},
    ),
    ({"unit_price": "0.0000015"}, {"unit_price": "Use at most 6 decimal places"}),
    ({"unit_price": "10000.01"}, {"unit_price": "Keep it at or below $10,000"}),
    # units and limits
    ({"included_units": "-5"}, {"included_units": "Can't be negative"}),
    ({"included_units": "1.5"}, {"included_units": "Enter a whole number"}),
    ({"included_units": 10**12 + 1}, {"included_units": "Keep it at or below 1,000,000,000,000"}),
    (
        {"rate_limit_per_second": "0"},
        {"rate_limit_per_second": "Must be at least 1 (leave empty for no limit)"},
    ),
    (
        {"rate_limit_per_second": "1000001", "rate_limit_per_minute": None},
        {"rate_limit_per_second": "Keep it at or below 1,000,000 per second"},
    ),
    (
        {"rate_limit_per_minute": "60000001"},
        {"rate_limit_per_minute": "Keep it at or below 60,000,000 per minute"},
    ),
    (
        {"rate_limit_per_second": "10", "rate_limit_per_minute": "9"},
        {"rate_limit_per_minute": "Can't be lower than the per-second limit (10)"},
    ),
    ({"trial_days": "366"}, {"trial_days": "A trial can last at most 365 days"}),
    ({"trial_days": "-1"}, {"trial_days": "Can't be negative"}),
    # tiers
    (
        tiers((1000, "0.001"), (500, "0.0005"), (None, "0.0001")),
        {"tiers": "Tiers must go up: tier 2 (500) is below tier 1 (1,000)"},
    ),
    (
        tiers((1000, "0.001"), (1000, "0.0005"), (None, "0.0001")),
        {"tiers": "Tier 2 repeats up_to 1,000"},
    ),
    (tiers((0, "0.001"), (None, "0.0001")), {"tiers": "Tier 1: up_to must be at least 1"}),
    (tiers((-5, "0.001"), (None, "0.0001")), {"tiers": "Tier 1: up_to must be at least 1"}),
    (
        tiers((None, "0.001"), (1000, "0.0001")),
        {"tiers": "Only the last tier can be open-ended (no up_to)"},
    ),
    (
        tiers((1000, "0.001"), (5000, "0.0005")),
        {"tiers": "Add a last tier with no up_to, for usage beyond 5,000"},
    ),
    (tiers((1000, "0.001"), (None, "-0.0001")), {"tiers": "Tier 2: can't be negative"}),
    (
        tiers((1000, "0.0000001"), (None, "0.0001")),
        {"tiers": "Tier 1: use at least $0.000001 per unit, or 0 for no usage price"},
    ),
    (
        tiers((1.5, "0.001"), (None, "0.0001")),
        {"tiers": "Tier 1: enter an exact number (as text), not a float"},
    ),
    (tiers((1000, None), (None, "0.0001")), {"tiers": "Tier 1: give up_to and unit_price"}),
    (
        {**NO_PRICE, "tiers": [{"unit_price": "0.001"}]},
        {"tiers": "Tier 1: give up_to and unit_price"},
    ),
    ({**NO_PRICE, "tiers": {"up_to": None}}, {"tiers": "Enter the tiers as a list"}),
    ({**NO_PRICE, "tiers": "[{"}, {"tiers": "Enter the tiers as a JSON list"}),
    ({**TIERED, "unit_price": "0.0004"}, {"tiers": "Use either tiers or a unit price, not both"}),
    # hard limits
    (
        {"monthly_fee": "0", "included_units": "0", "unit_price": "0", "hard_limit": True},
        {"hard_limit": "A free plan with a hard limit needs included units"},
    ),
    (
        {"hard_limit": True},
        {"hard_limit": PRICE_NEVER_CHARGED},
    ),
    (
        {**TIERED, "hard_limit": "on"},
        {"hard_limit": PRICE_NEVER_CHARGED},
    ),
    (
        {"included_units": "0", "unit_price": "0", "hard_limit": True},
        {
            "hard_limit": "A hard limit stops usage at the included units: include some, or allow "
            "overage"
        },
    ),
    ({"hard_limit": "maybe"}, {"hard_limit": "Choose yes or no"}),
    # the most units one call may bill
    ({"max_units_per_call": "0"}, {"max_units_per_call": MAX_UNITS_EMPTY}),
    ({"max_units_per_call": "-1"}, {"max_units_per_call": MAX_UNITS_EMPTY}),
    (
        {"max_units_per_call": "0.0000015"},
        {"max_units_per_call": "Use at most 6 decimal places"},
    ),
    ({"max_units_per_call": "lots"}, {"max_units_per_call": "Enter a number"}),
    (
        {
            "unit": "second",
            "unit_price": "0",
            "hard_limit": True,
            "included_units": "100",
            "max_units_per_call": "120",
        },
        {
            "max_units_per_call": "One call may bill up to 120 units but the hard limit stops "
            "at 100: lower the maximum"
        },
    ),
    (
        # left empty, a custom unit's maximum is 1,000: more than this hard quota of 500
        {"unit": "page", "unit_price": "0", "hard_limit": True, "included_units": "500"},
        {
            "max_units_per_call": "One call may bill up to 1,000 units but the hard limit "
            "stops at 500: lower the maximum"
        },
    ),
    # units
    (
        {"unit": "Page"},
        {"unit": "Use 1 to 30 lower-case letters, digits, spaces or dashes, like “page”"},
    ),
    (
        {"unit": ""},
        {"unit": "Use 1 to 30 lower-case letters, digits, spaces or dashes, like “page”"},
    ),
    (
        {"unit": "x" * 31},
        {"unit": "Use 1 to 30 lower-case letters, digits, spaces or dashes, like “page”"},
    ),
    (
        {"unit": "page!"},
        {"unit": "Use 1 to 30 lower-case letters, digits, spaces or dashes, like “page”"},
    ),
    (
        {"unit": " page"},
        {"unit": "Use 1 to 30 lower-case letters, digits, spaces or dashes, like “page”"},
    ),
    ({"unit": "Call"}, {"unit": 'Use the built-in unit "call"'}),
    ({"unit": "calls"}, {"unit": 'Use the built-in unit "call"'}),
    ({"unit": "API-call"}, {"unit": 'Use the built-in unit "call"'}),
    ({"unit": "requests"}, {"unit": 'Use the built-in unit "call"'}),
    ({"unit": "Seconds"}, {"unit": 'Use the built-in unit "second"'}),
    ({"unit": "sec"}, {"unit": 'Use the built-in unit "second"'}),
    ({"unit": 7}, {"unit": "Enter a unit name"}),
]


@pytest.mark.parametrize(("change", "errors"), BAD, ids=[str(change) for change, _ in BAD])
def test_nonsense_gets_one_clear_message_per_field(change, errors):
    assert validate_plan_terms({**VALID, **change}) == errors


def test_every_broken_field_is_reported_at_once():
    data = {
        **VALID,
        "monthly_fee": "-1",
        "unit_price": "0.0000015",
        "unit": "Calls",
        "trial_days": "400",
    }
    assert validate_plan_terms(data) == {
        "monthly_fee": "Can't be negative",
        "unit_price": "Use at most 6 decimal places",
        "unit": 'Use the built-in unit "call"',
        "trial_days": "A trial can last at most 365 days",
    }


GOOD = [
    VALID,
    {
        **VALID,
        "monthly_fee": Decimal("29.00"),
        "unit_price": Decimal("0.000400"),
        "included_units": 10_000,
        "trial_days": 0,
        "rate_limit_per_second": None,
        "rate_limit_per_minute": None,
    },
    {"monthly_fee": "0", "included_units": "1000", "unit_price": "0", "hard_limit": True},
    {"unit_price": "0.002", "unit": "second", "hard_limit": False},
    {"unit_price": "0.05", "unit": "page", "included_units": "100", "hard_limit": "false"},
    {"unit": "word token", "unit_price": "0.000001", "hard_limit": False},
    {**TIERED, "hard_limit": False},
    {
        **TIERED,
        "hard_limit": False,
        "tiers": '[{"up_to": 1000, "unit_price": "0"}, {"up_to": null, "unit_price": "0.001"}]',
    },
    {
        **VALID,
        "monthly_fee": "1000000",
        "unit_price": "10000",
        "included_units": 10**12,
        "rate_limit_per_second": "1000000",
        "rate_limit_per_minute": "",
        "trial_days": "365",
    },
    {**VALID, "monthly_fee": "", "unit_price": ""},
]


@pytest.mark.parametrize("data", GOOD)
def test_sound_terms_pass(data):
    assert validate_plan_terms(data) == {}


def test_missing_fields_take_the_model_defaults():
    # The model's defaults: no fee, no included units, no price, a hard limit.
    assert validate_plan_terms({}) == {
        "hard_limit": "A free plan with a hard limit needs included units"
    }


def test_whole_units_in_a_zero_decimal_currency():
    assert validate_plan_terms({**VALID, "monthly_fee": "2900.5"}, currency="JPY") == {
        "monthly_fee": "Use whole units"
    }
