"""What the gateway needs to know about an API, a key, an organization, a subscription and
a plan: small immutable snapshots built from the database on a cache miss, JSON-serialisable
so the Redis cache layer can hold them too."""

import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal

UNIT_MILLI = 1000
UNIT_MICRO = 1_000_000


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


@dataclass(frozen=True)
class ApiSnapshot:
    id: int
    slug: str
    published: bool
    organization_id: int
    upstream_url: str
    connect_timeout_s: float
    read_timeout_s: float
    proxy_secret: str
    signing_secret: str
    routes: tuple  # ((method, regex source, endpoint id), ...)

    def endpoint_for(self, method: str, path: str) -> int | None:
        for route_method, pattern, endpoint_id in self.compiled_routes():
            if route_method == method and pattern.match(path):
                return endpoint_id
        return None

    def compiled_routes(self):
        cached = self.__dict__.get("_compiled")
        if cached is None:
            cached = [(m, re.compile(p), e) for m, p, e in self.routes]
            object.__setattr__(self, "_compiled", cached)
        return cached


@dataclass(frozen=True)
class KeySnapshot:
    id: int
    prefix: str
    organization_id: int
    allowed_api_ids: tuple | None  # None: every API
    expires_at: float | None
    revoked_at: float | None
    grace_until: float | None

    def valid_at(self, now: float) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.grace_until is None or now < self.grace_until

    def allows(self, api_id: int) -> bool:
        return self.allowed_api_ids is None or api_id in self.allowed_api_ids


@dataclass(frozen=True)
class OrganizationSnapshot:
    id: int
    public_id: str
    suspended: bool


@dataclass(frozen=True)
class PlanSnapshot:
    id: int
    public_id: str
    unit: str
    per_second: int | None
    per_minute: int | None
    included_units: int
    hard_limit: bool
    bill_server_errors: bool
    # in millionths of a unit; defaults keep snapshots cached before these fields readable
    max_units_micro: int = 1_000_000  # the most one call bills: admission reserves it
    fallback_units_micro: int = 1_000_000  # billed when X-Tollgate-Units breaks the rule


@dataclass(frozen=True)
class SubscriptionSnapshot:
    id: int
    public_id: str
    status: str
    plan_id: int
    scheduled_plan_id: int | None
    period_anchor: float
    period_start: float
    period_end: float
    cancel_at_period_end: bool
    past_due_since: float | None
    cap_milli: int | None  # the spend cap as units (rating engine), for the current plan


def dumps(snapshot) -> dict:
    return asdict(snapshot)


def loads(cls, data: dict):
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    for key in ("routes", "allowed_api_ids"):
        if isinstance(values.get(key), list):
            values[key] = tuple(tuple(r) if isinstance(r, list) else r for r in values[key])
    return cls(**values)


def path_pattern(template: str) -> str:
    """`/users/{id}/files/{name}` → a regex matching one path segment per parameter."""
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return f"^{regex}/?$"


def decimal_to_milli(value: Decimal) -> int:
    return int(value * UNIT_MILLI)
