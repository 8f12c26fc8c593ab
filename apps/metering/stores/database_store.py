"""The embedded counter store: the same admission and recording semantics as Redis, kept in
database rows with atomic conditional updates. One process, small installs, and the
durable fallback when Redis is down or keeps nothing across a restart."""

import asyncio
import time
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..events import COMPLETED, REFUSED, CallEvent, merge_refusals
from ..models import QuotaCounter, RateWindow, RequestLogEntry, StartedCall, UsageEvent
from .base import Admission, CounterStore, Limits, decide, window_resets

REQUEST_LOG_LENGTH = 500


class DatabaseStore(CounterStore):
    def __init__(self):
        super().__init__()
        self.writing: set[asyncio.Future] = set()

    async def admit(self, limits: Limits, now: float, start: CallEvent | None = None) -> Admission:
        admission = await sync_to_async(admit_sync)(limits, now, start)
        if admission.allowed and start is not None:
            self._track(start)
        return admission

    async def record(
        self, event: CallEvent, *, reserved_milli: int, log_line: str | None = None
    ) -> None:
        if event.kind == REFUSED:
            self.hold_refusal(event, log_line)
            return
        self._untrack(event.request_id)
        # refusals held so far go in the same transaction
        items = [*self.take_refusals(), (event, reserved_milli, log_line)]
        await sync_to_async(record_sync)(items)

    def _refusals_due(self) -> None:
        super()._refusals_due()
        task = asyncio.ensure_future(self.write_refusals())
        self.writing.add(task)  # a strong reference until it is done
        task.add_done_callback(self.writing.discard)

    async def write_refusals(self) -> None:
        refusals = self.take_refusals()
        if refusals:
            await sync_to_async(record_sync)(refusals)

    async def record_batch(self, items: list[tuple[CallEvent, int, str | None]]) -> None:
        """Several calls in one transaction (what Redis could not take)."""
        await sync_to_async(record_sync)(items)

    async def start_in_fallback(self, start: CallEvent) -> None:
        await sync_to_async(_save_start)(start)

    async def _refresh_starts(self, starts: list[CallEvent]) -> None:
        await sync_to_async(_refresh_starts_sync)(starts)


def _window(key: str, expires_at: float) -> RateWindow:
    window, created = RateWindow.objects.select_for_update().get_or_create(
        key=key, defaults={"expires_at": expires_at}
    )
    if not created and window.expires_at <= time.time():
        window.count, window.expires_at = 0, expires_at
    return window


def _quota(limits: Limits) -> QuotaCounter:
    from ..selectors import period_units_with_pending_milli

    start = datetime.fromtimestamp(limits.period_start, tz=UTC)
    counter = (
        QuotaCounter.objects.select_for_update()
        .filter(subscription_id=limits.subscription_id, period_start=start)
        .first()
    )
    if counter is None:
        used = period_units_with_pending_milli(limits.subscription_id, limits.period_start, [])
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
def admit_sync(limits: Limits, now: float, start: CallEvent | None = None) -> Admission:
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
        if start is not None:
            _save_start(start)  # in the admission's transaction: both or neither
    return Admission(
        allowed=refusal is None,
        refusal=refusal,
        second_count=second_window.count,
        second_reset_s=second_reset,
        minute_count=minute_window.count,
        minute_reset_s=minute_reset,
        used_milli=counter.used_milli,
    )


def _save_start(start: CallEvent) -> None:
    StartedCall.objects.update_or_create(
        request_id=start.request_id,
        defaults={
            "subscription_id": start.subscription_id,
            "data": start.encode(),
            "updated_at": timezone.now(),
        },
    )


def _refresh_starts_sync(starts: list[CallEvent]) -> None:
    for start in starts:
        StartedCall.objects.filter(request_id=start.request_id).update(
            data=start.encode(), updated_at=timezone.now()
        )


@transaction.atomic
def record_sync(items: list[tuple[CallEvent, int, str | None]]) -> None:
    """Queue the events for the flush, settle their reservations and drop their started
    records, in one transaction."""
    events = merge_refusals([event for event, _, _ in items])
    UsageEvent.objects.bulk_create([UsageEvent(data=event.encode()) for event in events])
    settled = [e.request_id for e, _, _ in items if e.kind == COMPLETED and e.request_id]
    if settled:
        StartedCall.objects.filter(request_id__in=settled).delete()
    for event, reserved_milli, _ in items:
        adjust = event.units_milli - reserved_milli
        if adjust and event.kind == COMPLETED:
            QuotaCounter.objects.filter(
                subscription_id=event.subscription_id,
                period_start=datetime.fromtimestamp(event.period_start, tz=UTC),
            ).update(used_milli=F("used_milli") + adjust)
    RequestLogEntry.objects.bulk_create(
        [
            RequestLogEntry(subscription_id=event.subscription_id, data=line)
            for event, _, line in items
            if line is not None and event.subscription_id
        ]
    )


def purge_expired_windows() -> int:
    deleted, _ = RateWindow.objects.filter(expires_at__lt=time.time() - 5).delete()
    return deleted
