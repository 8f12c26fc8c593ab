from django import template

from apps.core.money import format_money

register = template.Library()


@register.filter
def money(amount, currency=None) -> str:
    """`$1,234.50`, `-$3.20`: the currency symbol, thousands separators, a real minus."""
    return format_money(amount, currency or None)


@register.filter
def negate(amount):
    return -amount if amount is not None else None
