"""The one way templates show money: `{{ amount|money:invoice.currency }}` gives `$1,234.50`,
`¥1,500`, `KWD 5.120`, `-$3.20` (a built-in library: no `{% load %}` needed). Without a
currency it is the marketplace's. `money_exact` keeps the decimals a unit price needs
(`$0.0004`). Both go through `apps.core.money.format_money`."""

from decimal import Decimal

from django import template

from apps.core.money import format_money, iso_exponent

register = template.Library()


@register.filter
def money(amount, currency=None) -> str:
    """`$1,234.50`, `¥1,500`, `KWD 5.120`: symbol, thousands separators, the currency's
    decimals, a minus for negative amounts; `—` for none."""
    return format_money(amount, currency or None)


@register.filter
def money_exact(amount, currency=None) -> str:
    """A unit price with the decimals it needs, at least the currency's: `$0.0004`."""
    if amount is None or amount == "":
        return "—"

    amount = Decimal(amount)
    decimals = max(-amount.normalize().as_tuple().exponent, 0)
    return format_money(amount, currency or None, places=max(decimals, iso_exponent(currency)))
