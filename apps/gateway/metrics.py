"""Prometheus metrics of the gateway (served at /metrics). With several worker processes,
set PROMETHEUS_MULTIPROC_DIR so every process's numbers are summed."""

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "tollgate_gateway_requests_total", "Calls answered by the gateway", ["api", "outcome"]
)
LATENCY = Histogram(
    "tollgate_gateway_request_seconds",
    "Time from request to last byte",
    ["api"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ADMISSIONS = Counter("tollgate_gateway_admissions_total", "Admission decisions", ["result"])
UPSTREAM_ERRORS = Counter(
    "tollgate_gateway_upstream_errors_total", "Upstream calls that failed", ["api", "kind"]
)
STORE_ERRORS = Counter(
    "tollgate_gateway_store_errors_total",
    "Counter store failures (Redis unreachable)",
    ["operation"],
)
INVALID_UNITS = Counter(
    "tollgate_gateway_invalid_units_total",
    "Calls whose X-Tollgate-Units broke the units rule (billed at the plan's fallback)",
    ["api"],
)


class GatewayMetrics:
    """Label children are cached: `labels()` costs more than the increment itself."""

    def __init__(self):
        self.children: dict[tuple, object] = {}

    def _child(self, metric, **labels):
        key = (metric._name, *labels.values())
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = metric.labels(**labels)
        return child

    def refused(self, code: str, api: str = "-") -> None:
        self._child(REQUESTS, api=api, outcome=code).inc()
        if code in ("rate_limited", "quota_exceeded", "spend_cap_reached"):
            self._child(ADMISSIONS, result=code).inc()

    def admitted(self) -> None:
        self._child(ADMISSIONS, result="admitted").inc()

    def answered(self, api: str, outcome: str, seconds: float) -> None:
        self._child(REQUESTS, api=api, outcome=outcome).inc()
        self._child(LATENCY, api=api).observe(seconds)

    def upstream_error(self, api: str, kind: str) -> None:
        self._child(UPSTREAM_ERRORS, api=api, kind=kind).inc()

    def store_error(self, operation: str) -> None:
        self._child(STORE_ERRORS, operation=operation).inc()

    def invalid_units(self, api: str) -> None:
        self._child(INVALID_UNITS, api=api).inc()
