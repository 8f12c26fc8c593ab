"""Invoice quantities without trailing zeros: `12,345.5`, `0.5` (of a month), `700`.
Money has the one built-in filter, `money` (apps/core/templatetags/money.py)."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def quantity(value) -> str:
    number = Decimal(value).normalize()
    if number == number.to_integral_value():
        return f"{number:,.0f}"
    return f"{number:,f}"
