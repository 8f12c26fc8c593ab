"""Properties the rating engine keeps for any plan and any usage."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from apps.subscriptions.periods import period_bounds
from apps.subscriptions.rating import (
    PRORATION_CREDIT,
    PlanTerms,
    Tier,
    period_lines,
    rate_usage,
    split_provider_share,
    total,
    unit_resolution,
    units_within_budget,
    upgrade_lines,
)

CENT = Decimal("0.01")
fees = st.decimals(min_value=0, max_value=100_000, places=2)
unit_prices = st.decimals(min_value=0, max_value=10, places=6)
units_counts = st.integers(min_value=0, max_value=10**8)


@st.composite
def tier_limits(draw) -> list[int]:
    return sorted(draw(st.lists(st.integers(1, 10**7), max_size=3, unique=True)))


@st.composite
def plans(draw) -> PlanTerms:
    tiers = ()
    if draw(st.booleans()):
        tiers = tuple(Tier(up_to, draw(unit_prices)) for up_to in [*draw(tier_limits()), None])
    return PlanTerms(
        monthly_fee=draw(fees),
        included_units=draw(st.integers(0, 10**6)),
        unit_price=Decimal(0) if tiers else draw(unit_prices),
        tiers=tiers,
        unit=draw(st.sampled_from(["call", "second", "page"])),
        hard_limit=draw(st.booleans()),
        currency="USD",
    )


@st.composite
def usage(draw, plan: PlanTerms) -> Decimal:
    """Whole calls, seconds to the millisecond, custom units to six decimal places."""
    return Decimal(draw(units_counts)) * unit_resolution(plan.unit)


@st.composite
def plan_and_usage(draw) -> tuple[PlanTerms, Decimal]:
    plan = draw(plans())
    return plan, draw(usage(plan))


def is_cents(amount) -> bool:
    return isinstance(amount, Decimal) and amount.as_tuple().exponent == -2


@given(plan_and_usage())
def test_usage_is_never_negative_and_always_in_cents(plan_units):
    plan, units = plan_units
    for line in rate_usage(plan, units):
        assert line.amount >= 0
        assert is_cents(line.amount)


@given(plan_and_usage(), st.booleans(), st.booleans())
def test_a_period_invoice_is_never_negative_and_adds_up(plan_units, in_trial, ending):
    plan, units = plan_units
    start, end = period_bounds(datetime(2025, 1, 31, tzinfo=UTC), 0)
    next_start, next_end = (None, None) if ending else period_bounds(start, 1)
    lines = period_lines(
        plan,
        period_start=start,
        period_end=end,
        next_period_start=next_start,
        next_period_end=next_end,
        units_used=units,
        in_trial=in_trial,
    )
    assert all(line.amount >= 0 and is_cents(line.amount) for line in lines)
    assert total(lines, "USD") == sum(line.amount for line in lines)
    assert is_cents(total(lines, "USD"))


@given(plans(), units_counts, units_counts)
def test_more_usage_never_costs_less(plan, first, second):
    fewer, more = sorted([Decimal(first), Decimal(second)])
    assert total(rate_usage(plan, fewer), "USD") <= total(rate_usage(plan, more), "USD")


@given(tier_limits(), unit_prices, st.integers(0, 10**4), units_counts)
def test_tiers_at_one_price_match_a_single_rate(limits, price, included, units):
    tiered = PlanTerms(
        included_units=included,
        currency="USD",
        tiers=tuple(Tier(up_to, price) for up_to in [*limits, None]),
    )
    flat = PlanTerms(included_units=included, unit_price=price, currency="USD")
    tier_lines, flat_lines = rate_usage(tiered, Decimal(units)), rate_usage(flat, Decimal(units))
    assert sum(line.quantity for line in tier_lines) == max(units - included, 0)
    assert sum(line.quantity * line.unit_price for line in tier_lines) == sum(
        line.quantity * line.unit_price for line in flat_lines
    )
    # Each line is rounded once, so n lines can drift from one line by under n+1 half-cents.
    drift = abs(total(tier_lines, "USD") - total(flat_lines, "USD"))
    assert drift < Decimal("0.005") * (len(tier_lines) + 1)


@given(tier_limits(), st.decimals(min_value=0, max_value=10, places=2), units_counts)
def test_tiers_at_one_whole_cent_price_match_a_single_rate_exactly(limits, price, units):
    tiered = PlanTerms(currency="USD", tiers=tuple(Tier(up_to, price) for up_to in [*limits, None]))
    flat = PlanTerms(unit_price=price, currency="USD")
    assert total(rate_usage(tiered, Decimal(units)), "USD") == total(
        rate_usage(flat, Decimal(units)), "USD"
    )


@given(
    fees,
    fees,
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(0, 10**9),
)
def test_upgrades_credit_and_charge_at_most_one_fee(old_fee, new_fee, anchor, elapsed):
    start, end = period_bounds(anchor, 0)
    changed_at = start + timedelta(seconds=elapsed % int((end - start).total_seconds()))
    old = PlanTerms(monthly_fee=old_fee, currency="USD")
    new = PlanTerms(monthly_fee=new_fee, currency="USD")
    lines = upgrade_lines(old, new, period_start=start, period_end=end, changed_at=changed_at)
    for line in lines:
        assert is_cents(line.amount)
        if line.kind == PRORATION_CREDIT:
            assert -old_fee <= line.amount < 0
        else:
            assert 0 < line.amount <= new_fee
    assert total(lines, "USD") == sum(line.amount for line in lines)


amounts = st.decimals(min_value=-(10**9), max_value=10**9, places=2)
percents = st.decimals(min_value=0, max_value=100, places=4)


@given(amounts, percents)
def test_provider_share_and_platform_fee_always_add_up(amount, fee_percent):
    share, fee = split_provider_share(amount, fee_percent, "USD")
    assert share + fee == amount
    assert is_cents(share) and is_cents(fee)
    if amount >= 0:
        assert 0 <= fee <= amount


@given(plans(), st.decimals(min_value=-10, max_value=10_000, places=2))
def test_the_units_within_a_budget_fit_it_and_one_more_does_not(plan, budget):
    units = units_within_budget(plan, budget)
    if units is None:
        return
    step = unit_resolution(plan.unit)
    allowed = max(budget, Decimal(0))
    assert total(rate_usage(plan, units), "USD") <= allowed
    assert total(rate_usage(plan, units + step), "USD") > allowed
