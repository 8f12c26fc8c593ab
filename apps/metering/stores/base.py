from dataclasses import dataclass

from ..events import CallEvent

REFUSALS = ("rate_limited", "quota_exceeded", "spend_cap_reached")


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
    async def admit(self, limits: Limits, now: float) -> Admission:
        raise NotImplementedError

    async def record(
        self, event: CallEvent, *, reserved_milli: int, log_line: str | None = None
    ) -> None:
        raise NotImplementedError

    async def close(self) -> None:
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
