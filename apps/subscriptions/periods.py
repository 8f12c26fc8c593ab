"""Monthly billing periods anchored at the subscription's start.

Period n runs from anchor + n months to anchor + n+1 months, where "+ n months" keeps the
anchor's day and clamps to the month's last day (Jan 31 → Feb 28 → Mar 31), so periods
never drift. Times are timezone-aware UTC."""

from datetime import datetime

from dateutil.relativedelta import relativedelta


def add_months(anchor: datetime, months: int) -> datetime:
    return anchor + relativedelta(months=months)


def period_index(anchor: datetime, at: datetime) -> int:
    """Which period `at` falls in (0 for the first)."""
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    while months > 0 and add_months(anchor, months) > at:
        months -= 1
    while add_months(anchor, months + 1) <= at:
        months += 1
    return max(months, 0)


def period_bounds(anchor: datetime, index: int) -> tuple[datetime, datetime]:
    return add_months(anchor, index), add_months(anchor, index + 1)


def period_containing(anchor: datetime, at: datetime) -> tuple[datetime, datetime]:
    return period_bounds(anchor, period_index(anchor, at))


def next_period(anchor: datetime, current_start: datetime) -> tuple[datetime, datetime]:
    return period_bounds(anchor, period_index(anchor, current_start) + 1)


def period_end_at(anchor: datetime, period_start: datetime) -> datetime:
    """Where the billing period starting at `period_start` ends. A trial is the period
    before the anchor and ends at it; the others end at the next anchor month."""
    if period_start < anchor:
        return anchor
    return period_bounds(anchor, period_index(anchor, period_start))[1]
