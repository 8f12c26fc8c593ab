"""Money is Decimal end to end; this module is the one place that knows currencies.

Amounts are rounded half-up to the currency's minor unit (once per invoice line, by the rating
engine) and converted to integer minor units only at the Stripe boundary."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models

# ISO 4217 exponents for the currencies Stripe settles in that are not 2-decimal.
_ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
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


def minor_exponent(currency: str | None = None) -> int:
    return 0 if (currency or default_currency()).upper() in _ZERO_DECIMAL else 2


def round_money(amount: Decimal, currency: str | None = None) -> Decimal:
    """Half-up to the currency's minor unit: Decimal('0.125') -> Decimal('0.13')."""
    quantum = Decimal(1).scaleb(-minor_exponent(currency))
    return Decimal(amount).quantize(quantum, rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal, currency: str | None = None) -> int:
    """Stripe's integer amount. Refuses amounts that are not already rounded."""
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise ValueError(f"{amount} is not rounded to the minor unit of {currency}")
    return int(rounded.scaleb(minor_exponent(currency)))


def from_minor_units(minor: int, currency: str | None = None) -> Decimal:
    return Decimal(minor).scaleb(-minor_exponent(currency))


def currency_symbol(currency: str | None = None) -> str:
    code = (currency or default_currency()).upper()
    return _SYMBOLS.get(code, f"{code} ")


def format_money(amount: Decimal | None, currency: str | None = None, *, places=None) -> str:
    """`$1,234.50`; `places` widens precision for unit prices (`$0.0004`)."""
    if amount is None:
        return "—"
    amount = Decimal(amount)
    if places is None:
        places = minor_exponent(currency)
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
    """An amount of money in the marketplace currency: 14 digits, 2 decimals."""

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
