"""Prices written the way people read them, and the checks a plan's terms must pass.

Display rules: whole fees drop the cents ("$29 / month"); unit prices keep the precision they
need and no more ("$0.0004", never "$0.400000"); a call or custom-unit price below the
currency's minor unit (under $0.01) is shown per 1,000 units ("$0.50 per 1,000 calls");
seconds are always priced per second ("$0.002 per second")."""

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from apps.core.money import ZERO, format_money, minor_exponent

from .rating import UNIT_SECOND, PlanTerms, Tier, plural_unit

FREE = "free"  # nothing to pay, ever
FREEMIUM = "freemium"  # no fee, included units, then a unit price
PAY_PER_USE = "pay_per_use"  # no fee, a unit price from the first unit
MONTHLY = "monthly"  # a monthly fee (with or without included units and overage)
TIERED = "tiered"  # graduated tiers (with or without a fee)


@dataclass(frozen=True)
class PlanDescription:
    kind: str
    headline: str
    lines: tuple[str, ...]


def describe_plan(plan_or_terms) -> PlanDescription:
    """A plan (or PlanTerms) as a pricing card: a kind tag, a headline and short lines."""
    terms = (
        plan_or_terms
        if isinstance(plan_or_terms, PlanTerms)
        else PlanTerms.from_plan(plan_or_terms)
    )
    lines = [*_usage_lines(terms), *_rate_limit_lines(plan_or_terms)]
    if terms.trial_days:
        lines.append(f"{terms.trial_days}-day free trial")
    return PlanDescription(kind=_kind(terms), headline=_headline(terms), lines=tuple(lines))


def _kind(terms: PlanTerms) -> str:
    if terms.tiers:
        return TIERED
    if terms.monthly_fee:
        return MONTHLY
    if not terms.unit_price:
        return FREE
    return FREEMIUM if terms.included_units else PAY_PER_USE


def _headline(terms: PlanTerms) -> str:
    if terms.monthly_fee:
        fee = terms.monthly_fee
        places = 0 if fee == fee.to_integral_value() else None
        return f"{format_money(fee, terms.currency, places=places)} / month"
    if terms.tiers or (terms.unit_price and terms.included_units):
        return "Pay as you go"
    if terms.unit_price:
        return _price(terms.unit_price, terms)
    return "Free"


def _usage_lines(terms: PlanTerms) -> list[str]:
    included = terms.included_units
    if not included:
        if terms.tiers:
            return _tier_lines(terms)
        if terms.unit_price:
            return [f"Plus {_price(terms.unit_price, terms)}"] if terms.monthly_fee else []
        return [] if terms.hard_limit else [f"Unlimited {plural_unit(terms.unit)}"]
    allowance = f"{count(included, terms.unit)}/month included"
    if terms.hard_limit:
        return [allowance, f"Hard limit: stops at {count(included, terms.unit)}"]
    if terms.tiers:
        return [f"{allowance}, then:", *_tier_lines(terms)]
    if terms.unit_price:
        return [f"{allowance}, then {_price(terms.unit_price, terms)}"]
    return [allowance, "Overage allowed at no charge"]


def _tier_lines(terms: PlanTerms) -> list[str]:
    lines, floor = [], 0
    for tier in terms.tiers:
        if tier.up_to is None:
            label = f"Beyond {floor:,}" if floor else f"All {plural_unit(terms.unit)}"
        elif floor:
            label = f"Next {tier.up_to - floor:,}"
        else:
            label = f"First {count(tier.up_to, terms.unit)}"
        lines.append(f"{label}: {_price(tier.unit_price, terms, per_thousand_noun=False)}")
        floor = tier.up_to
    return lines


def _rate_limit_lines(plan) -> list[str]:
    limits = [
        (getattr(plan, "rate_limit_per_second", None), "second"),
        (getattr(plan, "rate_limit_per_minute", None), "minute"),
    ]
    return [f"{limit:,} request{'' if limit == 1 else 's'}/{per}" for limit, per in limits if limit]


def count(number: int, unit: str) -> str:
    """`1 page`, `10,000 pages`."""
    return f"{number:,} {unit if number == 1 else plural_unit(unit)}"


def _price(unit_price: Decimal, terms: PlanTerms, *, per_thousand_noun: bool = True) -> str:
    """`$0.002 per second`, `$0.05 per page`, `$0.50 per 1,000 calls` (or `per 1,000`)."""
    if not unit_price:
        return "free"
    minor_unit = Decimal(1).scaleb(-minor_exponent(terms.currency))
    if terms.unit != UNIT_SECOND and unit_price < minor_unit:
        noun = f" {plural_unit(terms.unit)}" if per_thousand_noun else ""
        return f"{unit_money(unit_price * 1000, terms.currency)} per 1,000{noun}"
    return f"{unit_money(unit_price, terms.currency)} per {terms.unit}"


def unit_money(amount: Decimal, currency: str | None = None) -> str:
    """A unit price with the decimals it needs, at least the currency's: `$0.0004`, `$0.40`."""
    return format_money(amount, currency, places=max(_decimals(amount), minor_exponent(currency)))


def _decimals(number: Decimal) -> int:
    return max(-number.normalize().as_tuple().exponent, 0)


# --- Validation -------------------------------------------------------------------------
MAX_MONTHLY_FEE = Decimal(1_000_000)
MIN_UNIT_PRICE = Decimal("0.000001")
MAX_UNIT_PRICE = Decimal(10_000)
UNIT_PRICE_DECIMALS = 6
MAX_UNITS = 10**12
MAX_PER_SECOND = 1_000_000
MAX_TRIAL_DAYS = 365
UNITS_DECIMALS = 6  # X-Tollgate-Units carries at most six decimal places
MIN_UNITS_PER_CALL = Decimal("0.000001")
_UNIT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9 -]{0,28}[a-z0-9])?")
_BUILT_IN_SPELLINGS = {
    "call": {"call", "calls", "apicall", "apicalls", "request", "requests"},
    "second": {"second", "seconds", "sec", "secs"},
}


class _Invalid(ValueError):
    """A field's value makes no sense; the message is for the person who typed it."""


def validate_plan_terms(data: dict, *, currency: str | None = None) -> dict[str, str]:
    """{field: message} for every plan term that makes no sense; {} when all is well.

    Values may be strings from a form or Decimals/ints. Missing fields take the model's
    defaults (so merge a partial update with the current plan first); other keys are ignored.
    One message per field: the first problem found."""
    values, errors = {}, {}
    for name, parse in _FIELDS.items():
        try:
            values[name] = parse(data.get(name), currency)
        except _Invalid as invalid:
            errors[name] = str(invalid)
    checks = (_tiers_or_price, _minute_not_below_second, _hard_limit_makes_sense, _call_fits_quota)
    for check in checks:
        found = check(values, currency)
        if found and found[0] not in errors:
            errors[found[0]] = found[1]
    return errors


def _number(value) -> Decimal | None:
    """A Decimal from a form string, Decimal or int; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        raise _Invalid("Enter an exact number (as text), not a float")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise _Invalid("Enter a number") from None
    if isinstance(value, bool) or not number.is_finite():
        raise _Invalid("Enter a number")
    return number


def _whole(value, *, default: int | None = 0) -> int | None:
    number = _number(value)
    if number is None:
        return default
    if number != number.to_integral_value():
        raise _Invalid("Enter a whole number")
    return int(number)


def _at_most(number, limit, text: str) -> None:
    if number > limit:
        raise _Invalid(f"Keep it at or below {text}")


def _monthly_fee(value, currency) -> Decimal:
    fee = _number(value) or ZERO
    if fee < 0:
        raise _Invalid("Can't be negative")
    if _decimals(fee) > minor_exponent(currency):
        raise _Invalid("Use whole cents" if minor_exponent(currency) == 2 else "Use whole units")
    _at_most(fee, MAX_MONTHLY_FEE, format_money(MAX_MONTHLY_FEE, currency, places=0))
    return fee


def _unit_price(value, currency) -> Decimal:
    price = _number(value) or ZERO
    if price < 0:
        raise _Invalid("Can't be negative")
    if 0 < price < MIN_UNIT_PRICE:
        raise _Invalid(
            f"Use at least {unit_money(MIN_UNIT_PRICE, currency)} per unit, or 0 for no usage price"
        )
    if _decimals(price) > UNIT_PRICE_DECIMALS:
        raise _Invalid(f"Use at most {UNIT_PRICE_DECIMALS} decimal places")
    _at_most(price, MAX_UNIT_PRICE, format_money(MAX_UNIT_PRICE, currency, places=0))
    return price


def _units(value, currency) -> int:
    units = _whole(value)
    if units < 0:
        raise _Invalid("Can't be negative")
    _at_most(units, MAX_UNITS, f"{MAX_UNITS:,}")
    return units


def _rate_limit(per: str, most: int):
    def parse(value, currency) -> int | None:
        limit = _whole(value, default=None)
        if limit is not None and limit < 1:
            raise _Invalid("Must be at least 1 (leave empty for no limit)")
        if limit is not None:
            _at_most(limit, most, f"{most:,} per {per}")
        return limit

    return parse


def _max_units_per_call(value, currency) -> Decimal | None:
    units = _number(value)
    if units is None:
        return None
    if units < MIN_UNITS_PER_CALL:
        raise _Invalid(f"Use at least {MIN_UNITS_PER_CALL}, or leave empty for the default")
    if _decimals(units) > UNITS_DECIMALS:
        raise _Invalid(f"Use at most {UNITS_DECIMALS} decimal places")
    _at_most(units, MAX_UNITS, f"{MAX_UNITS:,}")
    return units


def _trial_days(value, currency) -> int:
    days = _whole(value)
    if days < 0:
        raise _Invalid("Can't be negative")
    if days > MAX_TRIAL_DAYS:
        raise _Invalid(f"A trial can last at most {MAX_TRIAL_DAYS} days")
    return days


def _unit(value, currency) -> str:
    if value is None:
        return "call"
    if not isinstance(value, str):
        raise _Invalid("Enter a unit name")
    squashed = re.sub(r"[\s_-]+", "", value.lower())
    for built_in, spellings in _BUILT_IN_SPELLINGS.items():
        if value != built_in and squashed in spellings:
            raise _Invalid(f'Use the built-in unit "{built_in}"')
    if not _UNIT_NAME.fullmatch(value):
        raise _Invalid("Use 1 to 30 lower-case letters, digits, spaces or dashes, like “page”")
    return value


def _hard_limit(value, currency) -> bool:
    if value is None:
        return True  # the model's default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "on", "1", "yes"}:
        return True
    if text in {"false", "off", "0", "no", ""}:
        return False
    raise _Invalid("Choose yes or no")


def _tiers(value, currency) -> tuple[Tier, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _Invalid("Enter the tiers as a JSON list") from None
    if not isinstance(value, list | tuple):
        raise _Invalid("Enter the tiers as a list")
    tiers = tuple(_tier(number, item, currency) for number, item in enumerate(value, start=1))
    _check_tier_order(tiers)
    return tiers


def _tier(number: int, item, currency) -> Tier:
    if not isinstance(item, dict) or item.get("unit_price") in (None, "") or "up_to" not in item:
        raise _Invalid(f"Tier {number}: give up_to and unit_price")
    try:
        price = _unit_price(item["unit_price"], currency)
        up_to = _whole(item["up_to"], default=None)
    except _Invalid as invalid:
        raise _Invalid(f"Tier {number}: {_lower_first(str(invalid))}") from None
    if up_to is not None and up_to < 1:
        raise _Invalid(f"Tier {number}: up_to must be at least 1")
    if up_to is not None and up_to > MAX_UNITS:
        raise _Invalid(f"Tier {number}: keep up_to at or below {MAX_UNITS:,}")
    return Tier(up_to=up_to, unit_price=price)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _check_tier_order(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        return
    *bounded, last = [tier.up_to for tier in tiers]
    if None in bounded:
        raise _Invalid("Only the last tier can be open-ended (no up_to)")
    if last is not None:
        raise _Invalid(f"Add a last tier with no up_to, for usage beyond {last:,}")
    for number, (earlier, later) in enumerate(pairwise(bounded), start=2):
        if later == earlier:
            raise _Invalid(f"Tier {number} repeats up_to {later:,}")
        if later < earlier:
            raise _Invalid(
                f"Tiers must go up: tier {number} ({later:,}) is below tier "
                f"{number - 1} ({earlier:,})"
            )


def _tiers_or_price(values: dict, currency) -> tuple[str, str] | None:
    if values.get("tiers") and values.get("unit_price"):
        return "tiers", "Use either tiers or a unit price, not both"
    return None


def _minute_not_below_second(values: dict, currency) -> tuple[str, str] | None:
    per_second = values.get("rate_limit_per_second")
    per_minute = values.get("rate_limit_per_minute")
    if per_second and per_minute and per_minute < per_second:
        return "rate_limit_per_minute", (
            f"Can't be lower than the per-second limit ({per_second:,})"
        )
    return None


def _hard_limit_makes_sense(values: dict, currency) -> tuple[str, str] | None:
    needed = ("hard_limit", "included_units", "unit_price", "tiers", "monthly_fee")
    if not all(name in values for name in needed) or not values["hard_limit"]:
        return None
    usage_price = values["unit_price"] or values["tiers"]
    if usage_price:
        return "hard_limit", (
            "A hard limit stops usage at the included units, so the usage "
            "price would never be charged: allow overage or remove the price"
        )
    if values["included_units"]:
        return None
    if values["monthly_fee"]:
        return "hard_limit", (
            "A hard limit stops usage at the included units: include some, or allow overage"
        )
    return "hard_limit", "A free plan with a hard limit needs included units"


def _call_fits_quota(values: dict, currency) -> tuple[str, str] | None:
    """A hard quota smaller than one call's maximum would refuse every call: admission
    reserves the maximum before forwarding."""
    from .models import Plan

    needed = ("hard_limit", "included_units", "unit", "max_units_per_call")
    if not all(name in values for name in needed) or not values["hard_limit"]:
        return None
    limit = Plan(unit=values["unit"], max_units_per_call=values["max_units_per_call"])
    if values["included_units"] and limit.units_per_call_limit > values["included_units"]:
        return "max_units_per_call", (
            f"One call may bill up to {limit.units_per_call_limit.normalize():,f} units but "
            f"the hard limit stops at {values['included_units']:,}: lower the maximum"
        )
    return None


_FIELDS = {
    "monthly_fee": _monthly_fee,
    "included_units": _units,
    "unit_price": _unit_price,
    "tiers": _tiers,
    "unit": _unit,
    "hard_limit": _hard_limit,
    "rate_limit_per_second": _rate_limit("second", MAX_PER_SECOND),
    "rate_limit_per_minute": _rate_limit("minute", MAX_PER_SECOND * 60),
    "trial_days": _trial_days,
    "max_units_per_call": _max_units_per_call,
}
