"""One metered call, as the hot path records it and the flush reads it back.

Encoded as one compact `|`-separated string (a Redis stream field, a hash value, or a
database row), so recording costs one small write. Units are counted in millionths
(X-Tollgate-Units carries up to six decimal places).

Every event carries the gateway's request id: the flush bills a request id once, whichever
source (stream shard, database queue, started record) it arrives from, and however often.

Kinds:
- `C` — a completed call (answered by the upstream or by the gateway after admission);
- `S` — a call started: written at admission, before forwarding, removed by its completion;
- `O` — a started call whose completion never came (the gateway died): billed as one call
  at the plan's minimum units when the flush gives up waiting for it;
- `R` — calls refused although the key was known (401 revoked or expired, 402, 403, 429):
  counted per key and error code (`code`), never billed, never against a quota. The
  gateway merges the refusals of one batch into one event per bucket (`count`, see
  `merge_refusals`), so a flood of 429s costs a stream entry per batch, not per call.
  Refusals are not among the request ids the flush keeps (`MeteredCall`: billed calls):
  one that reached two sources (a Redis write that timed out yet happened, and its
  database fallback) is counted twice — never billed either way.

Formats: version 3 (this; a 17th field `count` only when it is not 1); version 2 (units in
millionths, no request id) and version 1 (milli-units) entries still in a stream or queue at
an upgrade decode as before."""

from dataclasses import dataclass, replace

VERSION = "3"
MICRO_PER_MILLI = 1000
COMPLETED, STARTED, ORPHANED, REFUSED = "C", "S", "O", "R"


@dataclass(frozen=True)
class CallEvent:
    ts_ms: int
    subscription_id: int  # 0 for a refusal with no subscription (not_subscribed, …)
    api_key_id: int
    endpoint_id: int | None
    period_start: int  # epoch seconds of the billing period the call counted against
    status: int
    latency_ms: int
    units_micro: int  # billable units × 1,000,000 (0 when the call is not billed)
    gateway_error: bool
    bytes_in: int
    bytes_out: int
    units_invalid: bool = False  # the upstream's unit report broke the rule: fallback billed
    request_id: str = ""  # empty only for events written before request ids (versions 1, 2)
    kind: str = COMPLETED
    code: str = ""  # the gateway's error code (refusal, upstream_error, …), "" if none
    api_id: int = 0
    count: int = 1  # calls this event stands for: > 1 only for merged refusals

    @property
    def units_milli(self) -> int:
        """The units in thousandths, rounded up: what quota counters (integers) settle."""
        return -(-self.units_micro // MICRO_PER_MILLI)

    @property
    def billed(self) -> bool:
        return self.kind in (COMPLETED, ORPHANED)

    def encode(self) -> str:
        parts = [
            VERSION,
            self.kind,
            self.request_id,
            str(self.ts_ms),
            str(self.subscription_id),
            str(self.api_key_id),
            str(self.api_id),
            "" if self.endpoint_id is None else str(self.endpoint_id),
            str(self.period_start),
            str(self.status),
            str(self.latency_ms),
            str(self.units_micro),
            self.code or ("1" if self.gateway_error else ""),
            str(self.bytes_in),
            str(self.bytes_out),
            "1" if self.units_invalid else "",
        ]
        if self.count != 1:
            parts.append(str(self.count))
        return "|".join(parts)

    @classmethod
    def decode(cls, text: str) -> "CallEvent":
        parts = text.split("|")
        if (parts[0], len(parts)) in {("1", 12), ("2", 13)}:
            return _decode_before_request_ids(parts)
        if parts[0] != VERSION or len(parts) not in (16, 17):
            raise ValueError(f"unknown usage event format: {text[:60]!r}")
        ints = [int(p) if p else None for p in parts[3:12]]
        code = parts[12]
        return cls(
            kind=parts[1],
            request_id=parts[2],
            ts_ms=ints[0],
            subscription_id=ints[1],
            api_key_id=ints[2],
            api_id=ints[3] or 0,
            endpoint_id=ints[4],
            period_start=ints[5],
            status=ints[6],
            latency_ms=ints[7],
            units_micro=ints[8],
            gateway_error=bool(code),
            code="" if code == "1" else code,
            bytes_in=int(parts[13]),
            bytes_out=int(parts[14]),
            units_invalid=parts[15] == "1",
            count=int(parts[16]) if len(parts) == 17 else 1,
        )

    @property
    def refusal_bucket(self) -> tuple:
        """What refusals are counted by: key, subscription, API, period, code and hour."""
        return (
            self.api_key_id,
            self.subscription_id,
            self.api_id,
            self.period_start,
            self.code,
            self.ts_ms // 3_600_000,
        )

    def orphaned(self) -> "CallEvent":
        """The started call billed without its completion: one call, its minimum units."""
        return replace(self, kind=ORPHANED)


def merge_refusals(events: list[CallEvent]) -> list[CallEvent]:
    """The events, with the refusals of one bucket merged into the first of them (its
    request id, the sum of their counts)."""
    merged: list[CallEvent] = []
    first: dict[tuple, int] = {}
    for event in events:
        if event.kind != REFUSED:
            merged.append(event)
            continue
        index = first.get(event.refusal_bucket)
        if index is None:
            first[event.refusal_bucket] = len(merged)
            merged.append(event)
        else:
            merged[index] = replace(merged[index], count=merged[index].count + event.count)
    return merged


def _decode_before_request_ids(parts: list[str]) -> CallEvent:
    ints = [int(p) if p else None for p in parts[1:]]
    return CallEvent(
        ts_ms=ints[0],
        subscription_id=ints[1],
        api_key_id=ints[2],
        endpoint_id=ints[3],
        period_start=ints[4],
        status=ints[5],
        latency_ms=ints[6],
        units_micro=ints[7] * MICRO_PER_MILLI if parts[0] == "1" else ints[7],
        gateway_error=bool(ints[8]),
        bytes_in=ints[9],
        bytes_out=ints[10],
        units_invalid=len(ints) > 11 and bool(ints[11]),
    )
