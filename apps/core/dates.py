"""The dates the product accepts from people.

Python's dates end at 9999-12-31 and start at year 1, and what is done with a date taken
from a request (the day or month after it, a time zone shift, a billing period around it)
breaks near either end: `month=9999-12` or `to=9999-12-31` used to be a 500. Every date or
month taken from a request is checked here first: it must lie between EARLIEST and LATEST,
far enough from both ends that any period computed around it exists."""

import datetime as dt

from .errors import ServiceError

EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(9998, 12, 31)
OUT_OF_RANGE = f"Pick a date between {EARLIEST.isoformat()} and {LATEST.isoformat()}."


def check_day(day: dt.date, *, field: str | None = None, message: str = OUT_OF_RANGE) -> dt.date:
    """`day` (a date, or the date part of a datetime) if it is in range; a ServiceError
    (code `date_out_of_range`) on `field` otherwise."""
    if isinstance(day, dt.datetime):
        day = day.date()
    if not EARLIEST <= day <= LATEST:
        raise ServiceError(message, code="date_out_of_range", field=field)
    return day


def parse_day(value: str | None, *, field: str | None = None, message: str) -> dt.date:
    """An ISO date (`2026-11-30`) within range; a ServiceError with `message` when it is not
    a date at all."""
    try:
        day = dt.date.fromisoformat(value or "")
    except ValueError:
        raise ServiceError(message, field=field) from None
    return check_day(day, field=field)
