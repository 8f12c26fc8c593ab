"""One metered call, as the hot path records it and the flush reads it back.

Encoded as one compact `|`-separated string (a Redis stream field, or a database row), so
recording costs one small write."""

from dataclasses import dataclass

VERSION = "1"


@dataclass(frozen=True)
class CallEvent:
    ts_ms: int
    subscription_id: int
    api_key_id: int
    endpoint_id: int | None
    period_start: int  # epoch seconds of the billing period the call counted against
    status: int
    latency_ms: int
    units_milli: int  # billable units × 1000 (0 when the call is not billed)
    gateway_error: bool
    bytes_in: int
    bytes_out: int

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
                str(self.units_milli),
                "1" if self.gateway_error else "0",
                str(self.bytes_in),
                str(self.bytes_out),
            ]
        )

    @classmethod
    def decode(cls, text: str) -> "CallEvent":
        parts = text.split("|")
        if parts[0] != VERSION or len(parts) != 12:
            raise ValueError(f"unknown usage event format: {text[:60]!r}")
        ints = [int(p) if p else None for p in parts[1:]]
        return cls(
            ts_ms=ints[0],
            subscription_id=ints[1],
            api_key_id=ints[2],
            endpoint_id=ints[3],
            period_start=ints[4],
            status=ints[5],
            latency_ms=ints[6],
            units_milli=ints[7],
            gateway_error=bool(ints[8]),
            bytes_in=ints[9],
            bytes_out=ints[10],
        )
