"""One metered call, as the hot path records it and the flush reads it back.

Encoded as one compact `|`-separated string (a Redis stream field, or a database row), so
recording costs one small write. Version 2 counts units in millionths (X-Tollgate-Units
carries up to six decimal places) and flags a call whose unit report broke the rule;
version 1 entries (milli-units) still in a stream or queue at an upgrade decode as before."""

from dataclasses import dataclass

VERSION = "2"
MICRO_PER_MILLI = 1000


@dataclass(frozen=True)
class CallEvent:
    ts_ms: int
    subscription_id: int
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

    @property
    def units_milli(self) -> int:
        """The units in thousandths, rounded up: what quota counters (integers) settle."""
        return -(-self.units_micro // MICRO_PER_MILLI)

    def encode(self) -> str:
        return "|".join(
            [
                VERSION,
                str(self.ts_ms),
                str(self.subscription_id),
                str(self.api_key_id),
                "" if self.endpoint_id is None else str(self.endpoint_id),
                str(self.period_start),
                str(self.status),
                str(self.latency_ms),
                str(self.units_micro),
                "1" if self.gateway_error else "0",
                str(self.bytes_in),
                str(self.bytes_out),
                "1" if self.units_invalid else "0",
            ]
        )

    @classmethod
    def decode(cls, text: str) -> "CallEvent":
        parts = text.split("|")
        if (parts[0], len(parts)) not in {("1", 12), (VERSION, 13)}:
            raise ValueError(f"unknown usage event format: {text[:60]!r}")
        ints = [int(p) if p else None for p in parts[1:]]
        units_micro = ints[7] * MICRO_PER_MILLI if parts[0] == "1" else ints[7]
        return cls(
            ts_ms=ints[0],
            subscription_id=ints[1],
            api_key_id=ints[2],
            endpoint_id=ints[3],
            period_start=ints[4],
            status=ints[5],
            latency_ms=ints[6],
            units_micro=units_micro,
            gateway_error=bool(ints[8]),
            bytes_in=ints[9],
            bytes_out=ints[10],
            units_invalid=len(ints) > 11 and bool(ints[11]),
        )
