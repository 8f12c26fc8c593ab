"""Step 4: count the call — after the consumer has the last byte, so recording adds no
latency. Units: 1 per call, the upstream's time (to the millisecond), or the upstream's
X-Tollgate-Units under the units rule (docs/pricing.md, "Units").
Gateway-made errors are never billed; upstream 5xx only when the plan says so."""

import json
import logging
import re
import time
from decimal import Decimal

from apps.metering.events import REFUSED, STARTED, CallEvent

from .forward import Outcome
from .resolve import Call, split_path

logger = logging.getLogger("tollgate.gateway")
MICRO = 1_000_000
NS_PER_MS = 1_000_000
# The units rule: a non-negative decimal with at most six decimal places ("12", "0.5",
# "3.141593"); no sign, exponent, spaces inside, NaN or infinity.
UNITS_RULE = re.compile(r"[0-9]{1,19}(?:\.[0-9]{1,6})?")


def reported_units_micro(value: str | None, max_micro: int) -> int | None:
    """X-Tollgate-Units in millionths, or None when it breaks the units rule or exceeds
    the plan's max_units_per_call. Integer arithmetic: nothing is rounded."""
    if value is None:
        return None
    text = value.strip()
    if not UNITS_RULE.fullmatch(text):
        return None
    whole, _, fraction = text.partition(".")
    micro = int(whole) * MICRO + int(fraction.ljust(6, "0"))
    return micro if micro <= max_micro else None


def upstream_time_micro(upstream_ns: int, max_micro: int) -> int:
    """Upstream time to the millisecond (half up), in millionths of a second, at most the
    plan's max_units_per_call."""
    milliseconds = (upstream_ns + NS_PER_MS // 2) // NS_PER_MS
    return min(milliseconds * 1000, max_micro)


def billable_units_micro(call: Call, outcome: Outcome) -> tuple[int, bool]:
    """(units in millionths, whether the upstream's unit report broke the rule)."""
    if outcome.gateway_error or not outcome.status:
        return 0, False
    if outcome.status >= 500 and not call.plan.bill_server_errors:
        return 0, False
    plan = call.plan
    if plan.unit == "call":
        return MICRO, False
    if plan.unit == "second":
        return upstream_time_micro(outcome.upstream_ns, plan.max_units_micro), False
    micro = reported_units_micro(outcome.units_header, plan.max_units_micro)
    if micro is None:
        return plan.fallback_units_micro, True
    return micro, False


def minimum_units_micro(call: Call) -> int:
    """What a call the upstream was asked to serve costs at least: a per-call plan's one
    unit; nothing for plans whose units only the outcome tells (seconds, reported units).
    Billed for a call whose gateway died before recording its outcome."""
    return MICRO if call.plan.unit == "call" else 0


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
        units_micro=minimum_units_micro(call),
        gateway_error=False,
        bytes_in=0,
        bytes_out=0,
        request_id=call.request_id,
        kind=STARTED,
        api_id=call.api.id,
    )


def _log_line(call: Call, outcome: Outcome, latency_ms: int, units_micro: int) -> str:
    line = {
        "t": round(time.time(), 3),
        "id": call.request_id,
        "key": call.key.prefix,
        "m": call.method,
        "e": call.endpoint_id,
        "p": call.upstream_path.decode("latin-1")[:120],
        "s": outcome.status,
        "ms": latency_ms,
        "u": str(Decimal(units_micro).scaleb(-6).normalize()),
    }
    if outcome.gateway_error:
        line["c"] = outcome.gateway_error
    return json.dumps(line, separators=(",", ":"))


# Refusals not counted for the consumer: the counter store itself is unavailable.
UNCOUNTED = frozenset({"gateway_unavailable"})


def refused(state, caller, code: str, status: int, request_id: str, scope) -> None:
    """Count a call refused although its key was known (`caller`: a resolved Call, or the
    resolve.Caller a refusal carries): per key, subscription and code, never billed, no
    quota. Written through the same store and flush as calls (held for the next write:
    nothing here waits); the subscription's request log shows it with its code. Unknown
    keys are not counted (nobody to show them to)."""
    if code in UNCOUNTED:
        return
    subscription = caller.subscription
    now = time.time()
    event = CallEvent(
        ts_ms=int(now * 1000),
        subscription_id=subscription.id if subscription else 0,
        api_key_id=caller.key.id,
        endpoint_id=caller.endpoint_id,
        period_start=caller.period_start,
        status=status,
        latency_ms=0,
        units_micro=0,
        gateway_error=True,
        bytes_in=0,
        bytes_out=0,
        request_id=request_id,
        kind=REFUSED,
        code=code,
        api_id=caller.api.id,
    )
    line = None
    if subscription is not None:
        path = split_path(scope)[1]  # as the upstream would have seen it
        line = json.dumps(
            {
                "t": round(now, 3),
                "id": request_id,
                "key": caller.key.prefix,
                "m": scope["method"],
                "e": event.endpoint_id,
                "p": path.decode("latin-1")[:120],
                "s": status,
                "ms": 0,
                "u": "0",
                "c": code,
            },
            separators=(",", ":"),
        )
    state.store.hold_refusal(event, line)


async def record(state, call: Call, admission, outcome: Outcome, started: float) -> None:
    units_micro, units_invalid = billable_units_micro(call, outcome)
    if units_invalid:
        state.metrics.invalid_units(call.api.slug)
        logger.warning(
            "%s sent an invalid X-Tollgate-Units (%r); billed the fallback",
            call.api.slug,
            (outcome.units_header or "")[:40],
        )
    latency_ms = int((time.monotonic() - started) * 1000)
    event = CallEvent(
        ts_ms=int(time.time() * 1000),
        subscription_id=call.subscription.id,
        api_key_id=call.key.id,
        endpoint_id=call.endpoint_id,
        period_start=call.period_start,
        status=outcome.status,
        latency_ms=latency_ms,
        units_micro=units_micro,
        gateway_error=outcome.gateway_error is not None,
        bytes_in=outcome.bytes_in,
        bytes_out=outcome.bytes_out,
        units_invalid=units_invalid,
        request_id=call.request_id,
        code=outcome.gateway_error or "",
        api_id=call.api.id,
    )
    reserved = call.limits.reserve_milli if admission is not None else 0
    line = _log_line(call, outcome, latency_ms, units_micro)
    # never raises for Redis: usage Redis refuses goes to the database (make_store)
    await state.store.record(event, reserved_milli=reserved, log_line=line)
    state.metrics.answered(
        call.api.slug, outcome.gateway_error or str(outcome.status // 100) + "xx", latency_ms / 1000
    )
