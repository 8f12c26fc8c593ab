"""Payout periods and statement months: "YYYY-MM", in UTC."""

import datetime as dt
import re

from apps.core.dates import EARLIEST, LATEST, check_day
from apps.core.errors import ServiceError

OUT_OF_RANGE = f"Pick a month between {EARLIEST:%Y-%m} and {LATEST:%Y-%m}."
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m")


def parse_month(value: str, *, field: str = "month") -> str:
    """`value` if it is a month like "2026-11" within the accepted dates (its first day
    and the first of the next month must exist); a ServiceError otherwise."""
    match = MONTH.match(value) if isinstance(value, str) else None
    if match is None:
        raise ServiceError("Give a month as YYYY-MM, e.g. 2026-11.", field=field)
    first_day = dt.date(max(int(match[1]), 1), int(match[2]), 1)  # year 0 does not exist
    check_day(
        first_day, field=field, message=f"Pick a month between {EARLIEST:%Y-%m} and {LATEST:%Y-%m}."
    )
    return value


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a month, UTC."""
    year, number = (int(part) for part in parse_month(month).split("-"))
    start = dt.datetime(year, number, 1, tzinfo=dt.UTC)
    return start, first_of_next_month(start)


def first_of_next_month(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    year, number = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return dt.datetime(year, number, 1, tzinfo=dt.UTC)
