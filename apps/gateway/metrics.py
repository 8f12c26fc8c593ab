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


class GatewayMetrics:
    def refused(self, code: str, api: str = "-") -> None:
        REQUESTS.labels(api=api, outcome=code).inc()
        if code in ("rate_limited", "quota_exceeded", "spend_cap_reached"):
            ADMISSIONS.labels(result=code).inc()

    def admitted(self) -> None:
        ADMISSIONS.labels(result="admitted").inc()

    def answered(self, api: str, outcome: str, seconds: float) -> None:
        REQUESTS.labels(api=api, outcome=outcome).inc()
        LATENCY.labels(api=api).observe(seconds)

    def upstream_error(self, api: str, kind: str) -> None:
        UPSTREAM_ERRORS.labels(api=api, kind=kind).inc()

    def store_error(self, operation: str) -> None:
        STORE_ERRORS.labels(operation=operation).inc()
