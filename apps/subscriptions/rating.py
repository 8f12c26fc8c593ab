"""The rating engine: plan terms + usage → invoice lines. The one place amounts are computed.

Usage estimates, invoices, provider revenue and payouts all call these functions, so what a
consumer sees before the invoice is what the invoice says. They are pure: plain frozen
dataclasses in, lines out, no ORM and no I/O.

Rules
- The monthly fee is charged in advance, for the period about to start; usage beyond the
  included units is charged in arrears, for the period just closed. A period the caller says
  is inside a free trial (`in_trial`) carries no fee; a trial does not waive overage.
- Graduated tiers apply to the billable units, the ones beyond the included units:
  `up_to=100000` means the first 100,000 units beyond the included ones. One line per tier
  actually used.
- A hard-limit plan bills no usage: the gateway stops at the included units, and anything
  recorded beyond them anyway is not billed.
- Units are exact decimals at their unit's resolution: calls are whole, seconds are metered
  to the millisecond, custom units (what the upstream reports) to six decimal places.
- Each line's amount is rounded once, half-up, to the currency's minor unit; a total is the
  sum of rounded lines. Only credit lines (`proration_credit`, `credit_applied`) are
  negative.
- Money is Decimal end to end: floats are refused with TypeError.

Segments (docs/pricing.md, "Segments")
A period is rated as the sequence of terms in force: each segment (a term clipped to the
period) is rated on its own, under its own terms. Its share of the period is its elapsed
time over the period's, to the microsecond; the included units are prorated by it (rounded
half up to the unit's resolution), and so are fees at a change: the old fee × share left is
credited, the new fee × share left charged, each rounded once, half up. Usage of a segment
invoiced before is billed as the difference (late usage), tier by tier."""

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from itertools import pairwise

from apps.core.money import ZERO, default_currency, minor_exponent, round_money

FEE = "fee"
USAGE = "usage"
LATE_USAGE = "late_usage"  # usage of a period or segment invoiced already, billed on the next
PRORATION_CREDIT = "proration_credit"
PRORATION_CHARGE = "proration_charge"
CREDIT_APPLIED = "credit_applied"  # account credit from earlier invoices, used up here
CREDIT_CARRIED = "credit_carried"  # what credits beyond an invoice's charges carry forward
CARRIED_FORWARD = "carried"  # an earlier invoice below the minimum charge, collected here
NEGATIVE_KINDS = (PRORATION_CREDIT, CREDIT_APPLIED)

UNIT_CALL = "call"  # counted whole (apps.subscriptions.models.UNIT_CALL)
UNIT_SECOND = "second"  # upstream time (apps.subscriptions.models.UNIT_SECOND)
SECOND_RESOLUTION = Decimal("0.001")  # the gateway meters upstream time in milliseconds
CUSTOM_RESOLUTION = Decimal("0.000001")  # X-Tollgate-Units carries up to six decimal places


def unit_resolution(unit: str) -> Decimal:
    """The smallest step of a unit: 1 call, 1 ms of upstream time, 0.000001 custom units."""
    if unit == UNIT_CALL:
        return Decimal(1)
    return SECOND_RESOLUTION if unit == UNIT_SECOND else CUSTOM_RESOLUTION


def exact(value, name: str = "value") -> Decimal:
    """`value` as a finite Decimal; ints are exact too. Floats are refused: they can't be."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number")
    return value


def plural_unit(unit: str) -> str:
    """English plural of a unit name: call → calls, search → searches, query → queries; a
    name already plural stays ("1k characters", one unit of a thousand characters)."""
    head, space, word = unit.rpartition(" ")
    if re.search(r"[^su]s$", word):
        return unit
    if re.search(r"(s|x|z|ch|sh)$", word):
        word += "es"
    elif re.search(r"[^aeiou]y$", word):
        word = word[:-1] + "ies"
    else:
        word += "s"
    return f"{head}{space}{word}"


@dataclass(frozen=True)
class Tier:
    """A graduated tier: billable units up to `up_to` (None: no end) at `unit_price`."""

    up_to: int | None
    unit_price: Decimal

    def __post_init__(self):
        object.__setattr__(self, "unit_price", exact(self.unit_price, "tier unit_price"))
        if self.unit_price < 0:
            raise ValueError("a tier's unit price can't be negative")
        if self.up_to is not None and (type(self.up_to) is not int or self.up_to < 1):
            raise ValueError("a tier's up_to must be a positive whole number or None")

    @classmethod
    def from_json(cls, data: dict) -> "Tier":
        """A tier as stored in Plan.tiers: prices are strings there, to stay exact."""
        price = data["unit_price"]
        return cls(
            up_to=data.get("up_to"), unit_price=Decimal(price) if isinstance(price, str) else price
        )


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        return
    *bounded, last = [tier.up_to for tier in tiers]
    if last is not None or None in bounded:
        raise ValueError("graduated tiers end with exactly one open tier (up_to None)")
    if any(later <= earlier for earlier, later in pairwise(bounded)):
        raise ValueError("tier limits must ascend")


@dataclass(frozen=True)
class PlanTerms:
    """What rating needs to know about a plan. Defaults describe a free plan without limits."""

    monthly_fee: Decimal = ZERO
    included_units: int = 0
    unit_price: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()
    unit: str = "call"
    hard_limit: bool = False
    trial_days: int = 0
    name: str = ""
    currency: str = field(default_factory=default_currency)

    def __post_init__(self):
        object.__setattr__(self, "monthly_fee", exact(self.monthly_fee, "monthly_fee"))
        object.__setattr__(self, "unit_price", exact(self.unit_price, "unit_price"))
        object.__setattr__(self, "tiers", tuple(self.tiers))
        object.__setattr__(self, "currency", self.currency.upper())
        if isinstance(self.included_units, bool) or not isinstance(self.included_units, int):
            raise TypeError("included_units must be an int")
        if min(self.monthly_fee, self.unit_price, self.included_units) < 0:
            raise ValueError("plan terms can't be negative")
        if self.tiers and self.unit_price:
            raise ValueError("a plan has either tiers or a unit price, not both")
        _check_tiers(self.tiers)

    @classmethod
    def from_plan(cls, plan) -> "PlanTerms":
        """From a Plan row, or anything with the same attributes."""
        return cls(
            monthly_fee=plan.monthly_fee,
            included_units=plan.included_units,
            unit_price=plan.unit_price,
            tiers=tuple(Tier.from_json(tier) for tier in plan.tiers or ()),
            unit=plan.unit,
            hard_limit=plan.hard_limit,
            trial_days=plan.trial_days,
            name=plan.name,
            currency=getattr(plan, "currency", None) or default_currency(),
        )

    @property
    def charges_usage(self) -> bool:
        """Whether usage beyond the included units can cost anything."""
        return not self.hard_limit and (bool(self.tiers) or self.unit_price > 0)


@dataclass(frozen=True)
class Line:
    """One invoice line. `amount` is rounded to the minor unit; `tier` numbers from 1."""

    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    tier: int | None = None

    def __post_init__(self):
        exact(self.amount, "amount")
        if self.amount < 0 and self.kind not in NEGATIVE_KINDS:
            raise ValueError(f"a {self.kind} line can't be negative")


# --- Usage ------------------------------------------------------------------------------
def billable_units(terms: PlanTerms, units: Decimal, included: Decimal | None = None) -> Decimal:
    """The units that cost money: those beyond the included ones (none on a hard limit).
    `included` overrides the plan's included units (a segment's prorated share)."""
    units = exact(units, "units")
    if units < 0:
        raise ValueError("usage can't be negative")
    if units % unit_resolution(terms.unit):
        raise ValueError(
            f"{plural_unit(terms.unit)} are counted in steps of {unit_resolution(terms.unit)}"
        )
    if terms.hard_limit:
        return ZERO
    return max(units - (terms.included_units if included is None else included), ZERO)


def rate_usage(
    terms: PlanTerms,
    units: Decimal,
    *,
    period_start: dt.datetime | None = None,
    period_end: dt.datetime | None = None,
) -> list[Line]:
    """Usage lines for `units` used in one period (all of them, included ones too)."""
    billable = billable_units(terms, units)
    period = (period_start, period_end)
    if not billable or not terms.charges_usage:
        return []
    if not terms.tiers:
        return [_usage_line(terms, billable, terms.unit_price, period)]
    return [
        _usage_line(terms, quantity, tier.unit_price, period, number)
        for number, tier, quantity in _fill_tiers(terms.tiers, billable)
    ]


def _fill_tiers(tiers: tuple[Tier, ...], billable: Decimal) -> Iterator[tuple[int, Tier, Decimal]]:
    """(tier number, tier, units in it) for each tier the billable units reach."""
    floor = 0
    for number, tier in enumerate(tiers, start=1):
        ceiling = billable if tier.up_to is None else min(billable, Decimal(tier.up_to))
        if ceiling <= floor:
            return
        yield number, tier, ceiling - floor
        floor = tier.up_to


def _usage_line(
    terms: PlanTerms, quantity: Decimal, unit_price: Decimal, period: tuple, tier: int | None = None
) -> Line:
    return Line(
        kind=USAGE,
        description=_usage_description(terms, tier),
        quantity=quantity,
        unit_price=unit_price,
        amount=round_money(quantity * unit_price, terms.currency),
        period_start=period[0],
        period_end=period[1],
        tier=tier,
    )


def _usage_description(terms: PlanTerms, tier: int | None) -> str:
    text = plural_unit(terms.unit).capitalize()
    if terms.included_units:
        text += f" beyond the {terms.included_units:,} included"
    if tier is None or len(terms.tiers) == 1:
        return text
    floor = terms.tiers[tier - 2].up_to if tier > 1 else 0
    up_to = terms.tiers[tier - 1].up_to
    span = f"over {floor:,}" if up_to is None else f"{floor + 1:,} to {up_to:,}"
    return f"{text}, tier {tier} ({span})"


# --- Fees and periods -------------------------------------------------------------------
def fee_lines(
    terms: PlanTerms, *, period_start: dt.datetime, period_end: dt.datetime, in_trial: bool
) -> list[Line]:
    """The monthly fee for one period: none for a free plan or a period in a trial."""
    if in_trial or not terms.monthly_fee:
        return []
    description = f"Monthly fee ({terms.name})" if terms.name else "Monthly fee"
    return [
        Line(
            kind=FEE,
            description=description,
            quantity=Decimal(1),
            unit_price=terms.monthly_fee,
            amount=round_money(terms.monthly_fee, terms.currency),
            period_start=period_start,
            period_end=period_end,
        )
    ]


def first_period_lines(
    terms: PlanTerms,
    *,
    period_start: dt.datetime,
    period_end: dt.datetime,
    in_trial: bool,
    month_start: dt.datetime | None = None,
) -> list[Line]:
    """What a subscription costs when it starts: the first fee, in advance (none in a trial).
    A first period that joins the organization's billing date (it ends at `period_end`,
    inside the month `month_start` → `period_end`) pays the fee × its share of that month,
    rounded once, half up; its included units are the plan's."""
    if month_start is None or month_start >= period_start:
        return fee_lines(terms, period_start=period_start, period_end=period_end, in_trial=in_trial)
    if in_trial or not terms.monthly_fee:
        return []
    part, whole = Segment(terms, period_start, period_end, month_start, period_end).share
    name = f" ({terms.name})" if terms.name else ""
    return [
        Line(
            kind=FEE,
            description=f"Monthly fee{name}, prorated to the billing date",
            quantity=(Decimal(part) / whole).quantize(Decimal("0.0001")),  # of a month
            unit_price=terms.monthly_fee,
            amount=prorate(terms.monthly_fee, part, whole, terms.currency),
            period_start=period_start,
            period_end=period_end,
        )
    ]


def period_lines(
    terms: PlanTerms,
    *,
    period_start: dt.datetime,
    period_end: dt.datetime,
    next_period_start: dt.datetime | None,
    next_period_end: dt.datetime | None,
    units_used: Decimal,
    in_trial: bool,
    bill_fee_in_advance: bool = True,
) -> list[Line]:
    """The invoice for closing a period: its usage (arrears), then the next period's fee.

    Pass `next_period_*=None` when the subscription ends with this period: no fee then.
    `in_trial` says whether the period the fee is for is inside a trial: the next period
    (fee in advance), or the closed one when `bill_fee_in_advance=False` (fee in arrears)."""
    if (next_period_start is None) != (next_period_end is None):
        raise ValueError("pass both next_period_start and next_period_end, or neither")
    lines = rate_usage(terms, units_used, period_start=period_start, period_end=period_end)
    if not bill_fee_in_advance:
        fee_period = (period_start, period_end)
    elif next_period_start is not None:
        fee_period = (next_period_start, next_period_end)
    else:
        return lines
    return lines + fee_lines(
        terms, period_start=fee_period[0], period_end=fee_period[1], in_trial=in_trial
    )


# --- Segments: a period under the sequence of terms in force ------------------------------
def _microseconds(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class Segment:
    """One stretch of a billing period under one set of terms. Its share of the period is
    its elapsed time over the period's (to the microsecond): the fee and the included units
    are prorated by it."""

    terms: PlanTerms
    start: dt.datetime
    end: dt.datetime
    period_start: dt.datetime
    period_end: dt.datetime

    def __post_init__(self):
        for moment in (self.start, self.end, self.period_start, self.period_end):
            if moment.tzinfo is None:
                raise ValueError("use timezone-aware datetimes")
        if not self.period_start <= self.start <= self.end <= self.period_end:
            raise ValueError("a segment lies inside its period")
        if self.period_start == self.period_end:
            raise ValueError("a period can't be empty")

    @property
    def share(self) -> tuple[int, int]:
        """(microseconds of the segment, microseconds of the period)."""
        return (
            _microseconds(self.end - self.start),
            _microseconds(self.period_end - self.period_start),
        )

    @property
    def whole(self) -> bool:
        return self.start == self.period_start and self.end == self.period_end


def prorate(amount: Decimal, part: int, whole: int, currency: str | None = None) -> Decimal:
    """amount × part / whole, rounded once, half up, to the minor unit (multiply first)."""
    return round_money(exact(amount, "amount") * part / whole, currency)


def included_in(segment: Segment) -> Decimal:
    """The included units of a segment: the plan's included units × the segment's share,
    rounded half up to the unit's resolution (whole calls, milliseconds, millionths)."""
    included = Decimal(segment.terms.included_units)
    if segment.whole:
        return included
    part, whole = segment.share
    step = unit_resolution(segment.terms.unit)
    return (included * part / whole / step).to_integral_value(ROUND_HALF_UP) * step


def _tiers_used(terms: PlanTerms, billable: Decimal) -> dict[int | None, tuple[Decimal, Decimal]]:
    """{tier number (None without tiers): (units, unit price)} for billable units."""
    if not billable or not terms.charges_usage:
        return {}
    if not terms.tiers:
        return {None: (billable, terms.unit_price)}
    return {
        number: (quantity, tier.unit_price)
        for number, tier, quantity in _fill_tiers(terms.tiers, billable)
    }


def segment_usage_lines(
    segment: Segment, units: Decimal, *, rated_before: Decimal = ZERO, late: bool = False
) -> list[Line]:
    """Usage lines for `units` used in a segment, beyond the segment's included units,
    less what the `rated_before` units of it were already invoiced for: usage that arrives
    after its segment was invoiced is billed as the difference, tier by tier, so the
    invoices of a segment add up to exactly what rating it once would give."""
    terms, included = segment.terms, included_in(segment)
    now = _tiers_used(terms, billable_units(terms, units, included))
    before = _tiers_used(terms, billable_units(terms, rated_before, included))
    currency, lines = terms.currency, []
    for tier, (quantity, unit_price) in now.items():
        earlier = before.get(tier, (ZERO, unit_price))[0]
        if quantity <= earlier:
            continue
        amount = round_money(quantity * unit_price, currency) - round_money(
            earlier * unit_price, currency
        )
        lines.append(
            Line(
                kind=LATE_USAGE if late else USAGE,
                description=_segment_usage_description(segment, included, tier, late),
                quantity=quantity - earlier,
                unit_price=unit_price,
                amount=amount,
                period_start=segment.start,
                period_end=segment.end,
                tier=tier,
            )
        )
    return lines


def _segment_usage_description(segment: Segment, included: Decimal, tier, late: bool) -> str:
    terms = segment.terms
    text = plural_unit(terms.unit).capitalize()
    if included and not terms.hard_limit:
        text += f" beyond the {included.normalize():,f} included"
    if tier is not None and len(terms.tiers) > 1:
        floor = terms.tiers[tier - 2].up_to if tier > 1 else 0
        up_to = terms.tiers[tier - 1].up_to
        span = f"over {floor:,}" if up_to is None else f"{floor + 1:,} to {up_to:,}"
        text += f", tier {tier} ({span})"
    if late:  # it names its period: the invoice it lands on is another period's
        name = f"{terms.name}, " if terms.name else ""
        return f"Late usage: {text.lower()} ({name}period {period_text(segment)})"
    return f"{text} ({terms.name})" if terms.name else text


def period_text(segment: Segment) -> str:
    """`Jan 10 – Feb 10, 2026`: the segment's billing period."""
    start, end = segment.period_start, segment.period_end
    return f"{start:%b %-d} – {end:%b %-d, %Y}"


def change_fee_lines(
    old_terms: PlanTerms | None,
    new_terms: PlanTerms | None,
    *,
    at: dt.datetime,
    period_start: dt.datetime,
    period_end: dt.datetime,
    credit_old: bool = True,
) -> list[Line]:
    """A change of terms at `at` inside a period whose fee was charged in advance: a credit
    for the old fee's remaining share (when `credit_old`) and a charge for the new fee's
    remaining share (none when `new_terms` is None: the subscription ends). Each is the
    fee × remaining time / period time, rounded once; quantity is that share."""
    remaining = Segment(
        terms=new_terms or old_terms,
        start=at,
        end=period_end,
        period_start=period_start,
        period_end=period_end,
    )
    part, whole = remaining.share
    quantity = (Decimal(part) / whole).quantize(Decimal("0.0001"))  # of a month
    lines = []
    if credit_old and old_terms is not None and old_terms.monthly_fee:
        lines.append(
            Line(
                kind=PRORATION_CREDIT,
                description=f"Unused time on {old_terms.name or 'the previous plan'}",
                quantity=quantity,
                unit_price=old_terms.monthly_fee,
                amount=-prorate(old_terms.monthly_fee, part, whole, old_terms.currency),
                period_start=at,
                period_end=period_end,
            )
        )
    if new_terms is not None and new_terms.monthly_fee:
        lines.append(
            Line(
                kind=PRORATION_CHARGE,
                description=f"Remaining time on {new_terms.name or 'the new plan'}",
                quantity=quantity,
                unit_price=new_terms.monthly_fee,
                amount=prorate(new_terms.monthly_fee, part, whole, new_terms.currency),
                period_start=at,
                period_end=period_end,
            )
        )
    return [line for line in lines if line.amount]


# --- Estimates, spend caps, totals, payouts ---------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """The "estimated charges this period" display: the fee already charged + usage so far."""

    fee: Decimal
    usage_lines: tuple[Line, ...]
    usage: Decimal
    total: Decimal
    units_so_far: Decimal
    included_remaining: Decimal


def estimate(
    terms: PlanTerms,
    units_so_far: Decimal,
    *,
    period_start: dt.datetime | None = None,
    period_end: dt.datetime | None = None,
    in_trial: bool = False,
    fee_charged: Decimal | None = None,
) -> Estimate:
    """Charges so far this period. `fee_charged` overrides the plan's fee (after a prorated
    upgrade, say); by default it is the plan's fee, or nothing in a trial."""
    usage_lines = tuple(
        rate_usage(terms, units_so_far, period_start=period_start, period_end=period_end)
    )
    if fee_charged is None:
        fee_charged = ZERO if in_trial else terms.monthly_fee
    fee = round_money(exact(fee_charged, "fee_charged"), terms.currency)
    usage = total(usage_lines, terms.currency)
    units = exact(units_so_far, "units_so_far")
    return Estimate(
        fee=fee,
        usage_lines=usage_lines,
        usage=usage,
        total=fee + usage,
        units_so_far=units,
        included_remaining=max(terms.included_units - units, ZERO),
    )


def units_within_budget(terms: PlanTerms, budget: Decimal) -> Decimal | None:
    """The most units (included ones too) whose usage lines cost at most `budget`, or None
    when usage can never cost anything (no price, or a hard limit: the quota stops it).

    For spend caps: pass the cap minus what the period's fee already took."""
    budget = max(exact(budget, "budget"), ZERO)  # over budget already: only free units left
    if not terms.charges_usage:
        return None
    tiers = terms.tiers or (Tier(up_to=None, unit_price=terms.unit_price),)
    bought, floor = ZERO, 0
    for tier in tiers:
        room = None if tier.up_to is None else Decimal(tier.up_to - floor)
        if room is not None and round_money(room * tier.unit_price, terms.currency) <= budget:
            budget -= round_money(room * tier.unit_price, terms.currency)
            bought, floor = bought + room, tier.up_to
            continue
        if not tier.unit_price:
            return None  # an open, free tier: no budget is ever reached
        return terms.included_units + bought + _affordable(terms, tier.unit_price, budget)
    raise AssertionError("the last tier is open")  # pragma: no cover


def _affordable(terms: PlanTerms, unit_price: Decimal, budget: Decimal) -> Decimal:
    """Most units at `unit_price` (one line, rounded half-up) costing at most `budget`."""
    step = unit_resolution(terms.unit)
    half_minor = Decimal(5).scaleb(-minor_exponent(terms.currency) - 1)
    # Rounds to at most `budget` ⇔ costs less than budget + half a minor unit.
    steps = ((budget + half_minor) / unit_price / step).to_integral_value(ROUND_CEILING) - 1
    units = max(steps, ZERO) * step
    while units > 0 and round_money(units * unit_price, terms.currency) > budget:
        units -= step  # the division above is rounded to 28 digits: never trust it blindly
    return units


def total(lines: Iterable[Line], currency: str | None = None) -> Decimal:
    """The sum of the lines' (already rounded) amounts, in minor units of `currency`."""
    return round_money(sum((line.amount for line in lines), ZERO), currency)


def split_provider_share(
    amount: Decimal, fee_percent: Decimal, currency: str | None = None
) -> tuple[Decimal, Decimal]:
    """(provider share, platform fee) of a paid amount: the fee is rounded half-up and the
    provider gets the rest, so the two always add up to `amount` exactly. Negative amounts
    (refunds) split the same way, mirrored."""
    amount, fee_percent = exact(amount, "amount"), exact(fee_percent, "fee_percent")
    if not 0 <= fee_percent <= 100:
        raise ValueError("fee_percent is between 0 and 100")
    if round_money(amount, currency) != amount:
        raise ValueError("split amounts already rounded to the minor unit")
    platform_fee = round_money(amount * fee_percent / 100, currency)
    return round_money(amount - platform_fee, currency), platform_fee
