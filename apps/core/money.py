"""Money is Decimal end to end; this module is the one place that knows currencies.

Each currency's exponent (its minor unit: 2 for USD, 0 for JPY and KRW, 3 for KWD, BHD, JOD,
OMR and TND) comes from the ISO 4217 table, as the `iso4217` package ships it (kept in step
with ISO's list-one). On top of it, Stripe's special cases:

- three-decimal currencies: Stripe takes amounts in thousandths, but the last digit must
  be 0 (5.124 KWD cannot be charged; 5.120 can). Tollgate keeps such amounts to two
  decimals (`minor_exponent`), shows three, and sends thousandths (`to_minor_units`).
- ISK: zero-decimal for ISO, but Stripe's API keeps it two-decimal (1 króna is `100`),
  in whole krónur. HUF and TWD: two-decimal charges; Stripe pays them out to banks in
  whole units (the provider's Stripe payouts, not our transfers).

Amounts are rounded half-up to `minor_exponent` (once per invoice line, by the rating
engine) and converted to Stripe's integers only at the Stripe boundary."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from django.conf import settings
from django.db import models
from iso4217 import Currency

# Stripe's API exponent where it differs from ISO 4217 (docs.stripe.com/currencies,
# "Special cases")
_STRIPE_EXPONENT = {"ISK": 2}
# Stripe charges three-decimal currencies in tens of their minor unit
_KEPT_DECIMALS_MAX = 2
_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CHF": "CHF ",
    "CAD": "CA$",
    "AUD": "A$",
}
ZERO = Decimal("0")


def default_currency() -> str:
    return settings.CURRENCY


@lru_cache(maxsize=64)
def iso_exponent(currency: str | None = None) -> int:
    """The ISO 4217 minor unit: 2 for USD, 0 for JPY, 3 for KWD. Unknown codes raise."""
    code = (currency or default_currency()).upper()
    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise ValueError(f"{code} is not an ISO 4217 currency") from None
    if exponent is None:  # XAU, XXX…: not money one can charge
        raise ValueError(f"{code} has no minor unit: it cannot be charged")
    return exponent


def minor_exponent(currency: str | None = None) -> int:
    """Decimals Tollgate keeps amounts to: the ISO exponent, but two for three-decimal
    currencies, which Stripe charges only in tens of their minor unit."""
    return min(iso_exponent(currency), _KEPT_DECIMALS_MAX)


def stripe_exponent(currency: str | None = None) -> int:
    """The power of ten Stripe's integer amounts count in (ISO's, but 2 for ISK)."""
    code = (currency or default_currency()).upper()
    return _STRIPE_EXPONENT.get(code, iso_exponent(code))


def money_step(currency: str | None = None) -> Decimal:
    """The smallest amount Tollgate charges or refunds: $0.01, ¥1, KWD 0.010."""
    return Decimal(1).scaleb(-minor_exponent(currency))


def round_money(amount: Decimal, currency: str | None = None) -> Decimal:
    """Half-up to the currency's step: Decimal('0.125') -> Decimal('0.13')."""
    return Decimal(amount).quantize(money_step(currency), rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal, currency: str | None = None) -> int:
    """Stripe's integer amount (5.12 KWD -> 5120, ¥500 -> 500, 500 ISK -> 50000). Refuses
    amounts that are not already rounded to the currency's step."""
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise ValueError(f"{amount} is not rounded to the minor unit of {currency}")
    return int(rounded.scaleb(stripe_exponent(currency)))


def from_minor_units(minor: int, currency: str | None = None) -> Decimal:
    """A Stripe integer amount as a Decimal of the currency."""
    return Decimal(minor).scaleb(-stripe_exponent(currency))


def to_steps(amount: Decimal, currency: str | None = None) -> int:
    """How many of the currency's steps (`money_step`) an amount is: what allocations
    apportion, so every share they give is an amount Tollgate can charge."""
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise ValueError(f"{amount} is not rounded to the minor unit of {currency}")
    return int(rounded.scaleb(minor_exponent(currency)))


def from_steps(steps: int, currency: str | None = None) -> Decimal:
    return Decimal(steps).scaleb(-minor_exponent(currency))


def currency_symbol(currency: str | None = None) -> str:
    code = (currency or default_currency()).upper()
    return _SYMBOLS.get(code, f"{code} ")


def format_money(amount: Decimal | None, currency: str | None = None, *, places=None) -> str:
    """`$1,234.50`, `¥1,500`, `KWD 5.120`; `places` widens precision for unit prices
    (`$0.0004`). Shown with the currency's ISO decimals."""
    if amount is None or amount == "":
        return "—"
    amount = Decimal(amount)
    if places is None:
        places = iso_exponent(currency)
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.{places}f}"
    return f"{sign}{currency_symbol(currency)}{text}"


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount, currency: str | None = None) -> "Money":
        return cls(Decimal(amount), (currency or default_currency()).upper())

    def rounded(self) -> "Money":
        return Money(round_money(self.amount, self.currency), self.currency)

    def __add__(self, other: "Money") -> "Money":
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: "Money") -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __str__(self) -> str:
        return format_money(self.amount, self.currency)


class MoneyField(models.DecimalField):
    """An amount of money in the marketplace currency: 14 digits, 2 decimals (amounts are
    kept to at most two, `minor_exponent`; three-decimal currencies included)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)


class UnitPriceField(models.DecimalField):
    """A price per unit, which may be a fraction of a cent ($0.0004 per call)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 6)
        super().__init__(*args, **kwargs)
