"""Time ranges for dashboards: 24 h, 7 d, 30 d or custom dates, in UTC. Ranges of more
than two days read the daily rollup; shorter ones the hourly aggregates."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_DAYS = 400


@dataclass(frozen=True)
class Range:
    key: str
    start: datetime
    end: datetime

    @property
    def hourly(self) -> bool:
        return self.end - self.start <= timedelta(days=2)

    @property
    def label(self) -> str:
        if self.key in PRESETS:
            return {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}[self.key]
        return f"{self.start:%b %-d, %Y} – {(self.end - timedelta(seconds=1)):%b %-d, %Y}"

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
    now = now or timezone.now()
    key = params.get("range", "7d")
    if key == "custom":
        custom = parse_custom_range(params)
        if custom is not None:
            return custom
        key = "7d"
    if key not in PRESETS:
        key = "7d"
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


def parse_custom_range(params) -> Range | None:
    """`from`/`to` as whole UTC days (both included), or None when they make no range."""
    start, end = _date(params.get("from")), _date(params.get("to"))
    if not (start and end and start <= end and (end - start).days <= MAX_DAYS):
        return None
    return Range(
        "custom",
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None
