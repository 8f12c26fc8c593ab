"""Step 4: count the call — after the consumer has the last byte, so recording adds no
latency. Units: 1 per call, the upstream's seconds, or the upstream's X-Tollgate-Units.
Gateway-made errors are never billed; upstream 5xx only when the plan says so."""

import json
import logging
import time
from decimal import Decimal, InvalidOperation

from apps.metering.events import STARTED, CallEvent

from .forward import Outcome
from .resolve import Call

logger = logging.getLogger("tollgate.gateway")
MAX_REPORTED_UNITS = Decimal("1000000000")


def reported_units(value: str | None, api_slug: str) -> Decimal:
    try:
        units = Decimal(value.strip())
    except (InvalidOperation, AttributeError, ValueError):
        units = None
    if units is None or not units.is_finite() or units < 0 or units > MAX_REPORTED_UNITS:
        logger.warning(
            "%s sent an invalid X-Tollgate-Units (%r); counting 1", api_slug, (value or "")[:40]
        )
        return Decimal(1)
    return units


def billable_units(call: Call, outcome: Outcome) -> Decimal:
    if outcome.gateway_error or not outcome.status:
        return Decimal(0)
    if outcome.status >= 500 and not call.plan.bill_server_errors:
        return Decimal(0)
    unit = call.plan.unit
    if unit == "call":
        return Decimal(1)
    if unit == "second":
        return Decimal(int(outcome.upstream_seconds * 1000)) / 1000
    return reported_units(outcome.units_header, call.api.slug)


def minimum_units_milli(call: Call) -> int:
    """What a call the upstream was asked to serve costs at least: a per-call plan's one
    unit; nothing for plans whose units only the outcome tells (seconds, reported units).
    Billed for a call whose gateway died before recording its outcome."""
    return 1000 if call.plan.unit == "call" else 0


def started_event(call: Call) -> CallEvent:
    """The durable record admission writes before the call is forwarded."""
    return CallEvent(
        ts_ms=int(time.time() * 1000),
        subscription_id=call.subscription.id,
        api_key_id=call.key.id,
        endpoint_id=call.endpoint_id,
        period_start=call.period_start,
        status=0,
        latency_ms=0,
        units_milli=minimum_units_milli(call),
        gateway_error=False,
        bytes_in=0,
        bytes_out=0,
        request_id=call.request_id,
        kind=STARTED,
        api_id=call.api.id,
    )


def _log_line(call: Call, outcome: Outcome, latency_ms: int, units: Decimal) -> str:
    return json.dumps(
        {
            "t": round(time.time(), 3),
            "id": call.request_id,
            "key": call.key.prefix,
            "m": call.method,
            "e": call.endpoint_id,
            "p": call.upstream_path.decode("latin-1")[:120],
            "s": outcome.status,
            "ms": latency_ms,
            "u": str(units),
        },
        separators=(",", ":"),
    )


async def record(state, call: Call, admission, outcome: Outcome, started: float) -> None:
    units = billable_units(call, outcome)
    latency_ms = int((time.monotonic() - started) * 1000)
    event = CallEvent(
        ts_ms=int(time.time() * 1000),
        subscription_id=call.subscription.id,
        api_key_id=call.key.id,
        endpoint_id=call.endpoint_id,
        period_start=call.period_start,
        status=outcome.status,
        latency_ms=latency_ms,
        units_milli=int(units * 1000),
        gateway_error=outcome.gateway_error is not None,
        bytes_in=outcome.bytes_in,
        bytes_out=outcome.bytes_out,
        request_id=call.request_id,
        code=outcome.gateway_error or "",
        api_id=call.api.id,
    )
    reserved = call.limits.reserve_milli if admission is not None else 0
    line = _log_line(call, outcome, latency_ms, units)
    # never raises for Redis: usage Redis refuses goes to the database (make_store)
    await state.store.record(event, reserved_milli=reserved, log_line=line)
    state.metrics.answered(
        call.api.slug, outcome.gateway_error or str(outcome.status // 100) + "xx", latency_ms / 1000
    )
