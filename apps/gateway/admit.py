"""Step 2: admission — one atomic call to the counter store (rate windows shared by all the
organization's keys, the period quota, the spend cap), and the headers that report it."""

import logging
import math
import time

from django.conf import settings

from apps.metering.stores import Admission, Limits, StoreUnavailable

from .record import started_event
from .resolve import Call
from .responses import Refused

UNIT_MILLI = 1000
logger = logging.getLogger("tollgate.gateway")


def limits_for(call: Call) -> Limits:
    plan = call.plan
    hard_quota = call.hard_limit and call.included_units > 0
    return Limits(
        subscription_id=call.subscription.id,
        period_start=call.period_start,
        period_end=call.period_end,
        per_second=plan.per_second,
        per_minute=plan.per_minute,
        quota_milli=call.included_units * UNIT_MILLI if hard_quota else None,
        cap_milli=call.subscription.cap_milli,
        # the most this call can bill: what a cap or hard quota can be overshot by
        reserve_milli=-(-plan.max_units_micro // UNIT_MILLI),
    )


NOT_DURABLE = (
    "The gateway cannot keep a record of calls right now (its counter store does not "
    "persist writes); retry shortly."
)


async def admit(state, call: Call) -> Admission | None:
    """The admission, or None when Redis is down and the gateway fails open. An admitted
    call leaves a started record (written with the admission) that its completion settles:
    if this process dies mid-call the flush still bills it."""
    limits = limits_for(call)
    call.limits = limits
    store = state.store
    start = started_event(call)
    try:
        if not settings.GATEWAY_FAIL_OPEN and not _durable(store) and not await _check(store):
            raise Refused("gateway_unavailable", detail=NOT_DURABLE)
        admission = await store.admit(limits, time.time(), start)
    except StoreUnavailable as error:
        state.metrics.store_error("admit")
        if settings.GATEWAY_FAIL_OPEN:
            await _start_in_fallback(store, start)
            return None
        raise Refused("gateway_unavailable") from error
    headers = limit_headers(call, admission)
    call.limit_headers = headers
    if not admission.allowed:
        retry = _retry_after(call, admission)
        raise Refused(admission.refusal, headers=[*headers, (b"retry-after", retry)])
    state.metrics.admitted()
    return admission


def _durable(store) -> bool:
    return store.durable() is True


async def _check(store) -> bool:
    """Not known yet (this process has not connected), or known not to persist: ask again
    (the store answers from its last check within a second)."""
    return await store.check_persistence()


async def _start_in_fallback(store, start) -> None:
    try:
        await store.start_in_fallback(start)
    except Exception:  # failing open: the call goes on; its completion is what bills it
        logger.exception("could not keep the started record of %s", start.request_id)


def _retry_after(call: Call, admission: Admission) -> bytes:
    if admission.refusal == "rate_limited":
        plan = call.plan
        if plan.per_second and admission.second_count >= plan.per_second:
            seconds = admission.second_reset_s
        else:
            seconds = admission.minute_reset_s
    else:
        seconds = call.period_end - time.time()
    return str(max(1, math.ceil(seconds))).encode()


def limit_headers(call: Call, admission: Admission) -> list[tuple[bytes, bytes]]:
    plan = call.plan
    headers = []
    windows = [
        (plan.per_second, admission.second_count, admission.second_reset_s),
        (plan.per_minute, admission.minute_count, admission.minute_reset_s),
    ]
    windows = [(limit, max(0, limit - count), reset) for limit, count, reset in windows if limit]
    if windows:
        limit, remaining, reset = min(windows, key=lambda w: (w[1], w[2]))
        headers += [
            (b"ratelimit-limit", str(limit).encode()),
            (b"ratelimit-remaining", str(remaining).encode()),
            (b"ratelimit-reset", str(max(1, math.ceil(reset))).encode()),
        ]
    if call.included_units > 0:
        used = admission.used_milli // UNIT_MILLI
        headers += [
            (b"x-quota-limit", str(call.included_units).encode()),
            (b"x-quota-remaining", str(max(0, call.included_units - used)).encode()),
            (b"x-quota-reset", str(max(0, int(call.period_end - time.time()))).encode()),
        ]
    return headers
