"""Time ranges for dashboards: 24 h, 7 d, 30 d or custom dates, in UTC. Ranges of more
than two days read the daily rollup; shorter ones the hourly aggregates."""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from apps.core.dates import parse_day
from apps.core.errors import ServiceError

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_DAYS = 400


@dataclass(frozen=True)
class Range:
    key: str
    start: datetime
    end: datetime
    # custom dates that were refused: why, and what was asked (shown back in the form)
    error: str = ""
    asked: tuple[str, str] = ("", "")

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(seconds=1)).date()

    @property
    def hourly(self) -> bool:
        return self.end - self.start <= timedelta(days=2)

    @property
    def label(self) -> str:
        if self.key in PRESETS:
            return {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}[self.key]
        return f"{self.start:%b %-d, %Y} – {self.last_day:%b %-d, %Y}"

    def buckets(self) -> list[datetime | date]:
        if self.hourly:
            first = self.start.replace(minute=0, second=0, microsecond=0)
            count = int((self.end - first).total_seconds() // 3600) + 1
            return [
                first + timedelta(hours=n)
                for n in range(count)
                if first + timedelta(hours=n) < self.end
            ]
        days = (self.end.date() - self.start.date()).days + 1
        return [
            self.start.date() + timedelta(days=n)
            for n in range(days)
            if datetime.combine(self.start.date() + timedelta(days=n), time(), tzinfo=UTC)
            < self.end
        ]


def parse_range(params, now: datetime | None = None) -> Range:
    """The range asked for; custom dates that are not dates, out of range, reversed or too
    far apart give the last 7 days with `error` saying why (a form error on the page)."""
    now = now or timezone.now()
    key = params.get("range", "7d")
    if key == "custom":
        try:
            return custom_range(params)
        except ServiceError as error:
            asked = (params.get("from") or "", params.get("to") or "")
            return replace(_preset("7d", now), error=error.message, asked=asked)
    return _preset(key if key in PRESETS else "7d", now)


def custom_range(params) -> Range:
    """`from`/`to` as whole UTC days (both included); a ServiceError on the field that makes
    no range (not a date, out of range, reversed, more than MAX_DAYS apart)."""
    message = "Give from and to as YYYY-MM-DD."
    start = parse_day(params.get("from"), field="from", message=message)
    end = parse_day(params.get("to"), field="to", message=message)
    if start > end:
        raise ServiceError("The start date is after the end date.", field="from")
    if (end - start).days > MAX_DAYS:
        raise ServiceError(f"Pick at most {MAX_DAYS} days.", field="to")
    return Range(
        "custom",
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )


def _preset(key: str, now: datetime) -> Range:
    if key == "24h":
        return Range(key, now - PRESETS[key], now)
    # whole UTC days, today included, so the daily rollup covers the range exactly
    end_day = now.date() + timedelta(days=1)
    start_day = end_day - timedelta(days=PRESETS[key].days)
    return Range(
        key,
        datetime.combine(start_day, time(), tzinfo=UTC),
        datetime.combine(end_day, time(), tzinfo=UTC),
    )
