"""The embedded counter store: the same admission and recording semantics as Redis, kept in
database rows with atomic conditional updates. One process, small installs, and the
fail-open fallback when Redis is down."""

import time

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import F

from ..events import CallEvent
from ..models import QuotaCounter, RateWindow, RequestLogEntry, UsageEvent
from .base import Admission, CounterStore, Limits, decide, window_resets

REQUEST_LOG_LENGTH = 500


class DatabaseStore(CounterStore):
    async def admit(self, limits: Limits, now: float) -> Admission:
        return await sync_to_async(admit_sync)(limits, now)

    async def record(
        self, event: CallEvent, *, reserved_milli: int, log_line: str | None = None
    ) -> None:
        await sync_to_async(record_sync)(event, reserved_milli, log_line)


def _window(key: str, expires_at: float) -> RateWindow:
    window, created = RateWindow.objects.select_for_update().get_or_create(
        key=key, defaults={"expires_at": expires_at}
    )
    if not created and window.expires_at <= time.time():
        window.count, window.expires_at = 0, expires_at
    return window


def _quota(limits: Limits) -> QuotaCounter:
    from datetime import UTC, datetime

    from ..selectors import period_units_milli

    start = datetime.fromtimestamp(limits.period_start, tz=UTC)
    counter = (
        QuotaCounter.objects.select_for_update()
        .filter(subscription_id=limits.subscription_id, period_start=start)
        .first()
    )
    if counter is None:
        used = period_units_milli(limits.subscription_id, limits.period_start)
        try:
            with transaction.atomic():
                counter = QuotaCounter.objects.create(
                    subscription_id=limits.subscription_id, period_start=start, used_milli=used
                )
        except IntegrityError:
            counter = QuotaCounter.objects.select_for_update().get(
                subscription_id=limits.subscription_id, period_start=start
            )
    return counter


@transaction.atomic
def admit_sync(limits: Limits, now: float) -> Admission:
    second, minute, second_reset, minute_reset = window_resets(now)
    counter = _quota(limits)  # locks the subscription's counter row: admissions serialize
    prefix = f"s{limits.subscription_id}"
    second_window = _window(f"{prefix}:rs:{second}", second + 2)
    minute_window = _window(f"{prefix}:rm:{minute}", (minute + 1) * 60 + 1)
    refusal = decide(limits, second_window.count, minute_window.count, counter.used_milli)
    if refusal is None:
        second_window.count += 1
        minute_window.count += 1
        counter.used_milli += limits.reserve_milli
        for row in (second_window, minute_window, counter):
            row.save()
    return Admission(
        allowed=refusal is None,
        refusal=refusal,
        second_count=second_window.count,
        second_reset_s=second_reset,
        minute_count=minute_window.count,
        minute_reset_s=minute_reset,
        used_milli=counter.used_milli,
    )


@transaction.atomic
def record_sync(event: CallEvent, reserved_milli: int, log_line: str | None) -> None:
    from datetime import UTC, datetime

    UsageEvent.objects.create(data=event.encode())
    adjust = event.units_milli - reserved_milli
    if adjust:
        QuotaCounter.objects.filter(
            subscription_id=event.subscription_id,
            period_start=datetime.fromtimestamp(event.period_start, tz=UTC),
        ).update(used_milli=F("used_milli") + adjust)
    if log_line is not None:
        RequestLogEntry.objects.create(subscription_id=event.subscription_id, data=log_line)


def purge_expired_windows() -> int:
    deleted, _ = RateWindow.objects.filter(expires_at__lt=time.time() - 5).delete()
    return deleted
