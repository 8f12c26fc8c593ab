import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace

from django.conf import settings

from ..events import CallEvent

logger = logging.getLogger(__name__)
REFUSALS = ("rate_limited", "quota_exceeded", "spend_cap_reached")
# Refused calls wait up to this long for others, unless completions are written first
# (they ride along): a flood of 429s costs one write per interval, not one per call.
REFUSAL_BATCH_S = 0.1


class StoreUnavailable(Exception):
    """The counter store cannot be reached (Redis down)."""


@dataclass(frozen=True)
class Limits:
    """What admission checks for one call, all in integer units (milli-units for quota)."""

    subscription_id: int
    period_start: int  # epoch seconds
    period_end: int
    per_second: int | None
    per_minute: int | None
    quota_milli: int | None  # hard limit on units this period, × 1000
    cap_milli: int | None  # the spend cap expressed in units (by the rating engine), × 1000
    reserve_milli: int  # the most units the call may bill (1000 for a call), reserved at admission


@dataclass(frozen=True)
class Admission:
    allowed: bool
    refusal: str | None  # one of REFUSALS
    second_count: int
    second_reset_s: float
    minute_count: int
    minute_reset_s: float
    used_milli: int  # units used this period after this admission, × 1000


class CounterStore:
    """Admission counts, started records and usage events of the hot path.

    A call admitted with a `start` event leaves a durable started record, written in the
    same atomic step as its admission; its completion (`record`) removes it. Calls still in
    flight after `METERING_START_REFRESH_S` get their record refreshed, so only a call whose
    gateway died stops being refreshed and is billed by the flush as an orphan."""

    def __init__(self):
        self.in_flight: dict[str, CallEvent] = {}
        self.maintenance: asyncio.Future | None = None
        self.refusals: list[tuple[CallEvent, int, str | None]] = []
        self.refusal_timer: asyncio.TimerHandle | None = None

    async def admit(self, limits: Limits, now: float, start: CallEvent | None = None) -> Admission:
        raise NotImplementedError

    async def record(
        self, event: CallEvent, *, reserved_milli: int, log_line: str | None = None
    ) -> None:
        raise NotImplementedError

    # --- refused calls -----------------------------------------------------------------
    def hold_refusal(self, event: CallEvent, log_line: str | None) -> None:
        """Keep a refused call for the next write (at most `REFUSAL_BATCH_S` away)."""
        self.refusals.append((event, 0, log_line))
        if self.refusal_timer is None:
            loop = asyncio.get_running_loop()
            self.refusal_timer = loop.call_later(REFUSAL_BATCH_S, self._refusals_due)
        self._untrack(event.request_id)

    def take_refusals(self) -> list[tuple[CallEvent, int, str | None]]:
        if self.refusal_timer is not None:
            self.refusal_timer.cancel()
            self.refusal_timer = None
        refusals, self.refusals = self.refusals, []
        return refusals

    def _refusals_due(self) -> None:
        """The held refusals waited long enough: write them (each store schedules it)."""
        self.refusal_timer = None

    async def write_refusals(self) -> None:
        """Write the held refusals now (at close). The Redis store's writer takes them with
        its next batch (`flush_pending`)."""

    async def start_in_fallback(self, start: CallEvent) -> None:
        """Admission could not run (Redis down, failing open): keep the started record in
        the durable fallback instead."""

    def durable(self) -> bool | None:
        """False while usage recorded here could be lost by a restart (Redis without AOF);
        None when not known yet (no connection made): ask `check_persistence()`."""
        return True

    async def check_persistence(self) -> bool:
        return True

    async def close(self) -> None:
        await self.write_refusals()
        if self.maintenance is not None:
            self.maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.maintenance

    # --- calls in flight --------------------------------------------------------------
    def _track(self, start: CallEvent) -> None:
        self.in_flight[start.request_id] = start
        if self.maintenance is None or self.maintenance.done():
            self.maintenance = asyncio.ensure_future(self._maintain())

    def _untrack(self, request_id: str) -> None:
        if request_id:
            self.in_flight.pop(request_id, None)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, settings.METERING_START_REFRESH_S / 2))
            try:
                await self._maintenance_round()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the next round tries again
                logger.warning("counter store upkeep failed: %s: %s", type(error).__name__, error)

    async def _maintenance_round(self) -> None:
        now_ms = int(time.time() * 1000)
        cutoff = now_ms - int(settings.METERING_START_REFRESH_S * 1000)
        stale = [start for start in self.in_flight.values() if start.ts_ms <= cutoff]
        if stale:
            fresh = [replace(start, ts_ms=now_ms) for start in stale]
            for start in fresh:
                if start.request_id in self.in_flight:
                    self.in_flight[start.request_id] = start
            await self._refresh_starts(fresh)

    async def _refresh_starts(self, starts: list[CallEvent]) -> None:
        pass


def window_resets(now: float) -> tuple[int, int, float, float]:
    """The current fixed second and minute windows and the seconds until each resets."""
    second = int(now)
    minute = int(now // 60)
    return second, minute, second + 1 - now, (minute + 1) * 60 - now


def decide(limits: Limits, second_count: int, minute_count: int, used_milli: int) -> str | None:
    """The refusal for a call given the current counts (before counting it), or None.
    Shared by both stores' Python paths; the Redis Lua script mirrors it."""
    if limits.per_second and second_count >= limits.per_second:
        return "rate_limited"
    if limits.per_minute and minute_count >= limits.per_minute:
        return "rate_limited"
    # A call is admitted while the period's units (settled calls plus what the calls in
    # flight reserved) are below the limit, and reserves its maximum: at most one call's
    # maximum can land beyond a hard quota or a spend cap.
    for limit, code in (
        (limits.quota_milli, "quota_exceeded"),
        (limits.cap_milli, "spend_cap_reached"),
    ):
        if limit is not None and used_milli >= limit:
            return code
    return None
