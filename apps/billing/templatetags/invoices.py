"""Invoice figures in the currency's own format: `$1,234.50`, `−$5.00`, `¥1,200`; unit
prices with the decimals they need (`$0.0004`); quantities without trailing zeros."""

from decimal import Decimal

from django import template

from apps.core.money import format_money
from apps.subscriptions.pricing import unit_money

register = template.Library()


@register.filter
def money(amount, currency=None) -> str:
    text = format_money(amount, currency)
    return text.replace("-", "−", 1) if text.startswith("-") else text


@register.filter
def unit_price(amount, currency=None) -> str:
    if amount is None:
        return ""
    text = unit_money(Decimal(amount), currency)
    return text.replace("-", "−", 1) if text.startswith("-") else text


@register.filter
def quantity(value) -> str:
    """12,345.5 for 12345.500000; whole numbers without a point."""
    number = Decimal(value).normalize()
    if number == number.to_integral_value():
        return f"{number:,.0f}"
    return f"{number:,f}"
