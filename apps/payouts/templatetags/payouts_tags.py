from django import template

from apps.core.errors import ServiceError
from apps.payouts.periods import month_bounds

register = template.Library()


@register.filter
def negate(amount):
    return -amount if amount is not None else None


@register.filter
def month_label(month: str) -> str:
    """ "2026-11" → "November 2026" (a payout period or statement month)."""
    try:
        start, _ = month_bounds(month)
    except ServiceError:
        return month
    return f"{start:%B %Y}"
