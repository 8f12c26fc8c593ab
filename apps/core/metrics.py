"""`/metrics` in the Prometheus text format, and the metrics that are not the gateway's.

Three kinds of numbers end up in one scrape:

- counters and histograms kept in process memory: the gateway's (apps/gateway/metrics.py)
  and Celery task results (`connect_celery_signals`, below). With several worker processes
  (`uvicorn --workers N`, Celery's prefork pool) set PROMETHEUS_MULTIPROC_DIR so each
  process writes its numbers to a file there and the scrape sums them all;
- gauges read from the database and Redis **at scrape time** by `MarketplaceCollector`
  (flush lag, pending usage events, invoices, payouts, subscriptions, readiness), so they
  are never stale and cost nothing between scrapes;
- with no multiprocess directory, the client library's process and platform gauges.

Access: with METRICS_TOKEN set, the scrape must send `Authorization: Bearer <token>`.
Without a token, only DEBUG or a direct loopback request (no proxy headers) may scrape:
a Prometheus agent on the same host works out of the box, the internet never does."""

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Min, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# Redis is asked with a short leash: a slow or dead Redis must not make the scrape fail.
REDIS_TIMEOUT_S = 0.5
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")
PERIOD_CLOSE_OVERDUE = timedelta(hours=1)


# --- Celery task results ----------------------------------------------------------------
CELERY_TASKS = Counter("tollgate_celery_tasks", "Celery task runs by outcome", ["task", "result"])
CELERY_TASK_SECONDS = Histogram(
    "tollgate_celery_task_seconds",
    "Celery task run time",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
_task_started: dict[str, float] = {}


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


def _on_task_prerun(sender=None, task_id=None, **_):
    if task_id:
        if len(_task_started) > 10_000:  # runs whose postrun never came (killed workers)
            _task_started.clear()
        _task_started[task_id] = time.monotonic()


def _on_task_postrun(sender=None, task_id=None, **_):
    started = _task_started.pop(task_id, None) if task_id else None
    if started is not None:
        CELERY_TASK_SECONDS.labels(task=_task_name(sender)).observe(time.monotonic() - started)


def _on_task_success(sender=None, **_):
    CELERY_TASKS.labels(task=_task_name(sender), result="success").inc()


def _on_task_failure(sender=None, **_):
    CELERY_TASKS.labels(task=_task_name(sender), result="failure").inc()


def _on_task_retry(sender=None, **_):
    CELERY_TASKS.labels(task=_task_name(sender), result="retry").inc()


def connect_celery_signals() -> None:
    """Count every task run by outcome (success, failure, retry) and time it. Call once
    from config/celery.py; connecting again changes nothing (dispatch_uid)."""
    from celery import signals

    receivers = [
        (signals.task_prerun, _on_task_prerun),
        (signals.task_postrun, _on_task_postrun),
        (signals.task_success, _on_task_success),
        (signals.task_failure, _on_task_failure),
        (signals.task_retry, _on_task_retry),
    ]
    for signal, receiver in receivers:
        signal.connect(receiver, weak=False, dispatch_uid=f"tollgate.metrics.{signal.name}")


# --- Gauges computed at scrape time -------------------------------------------------------
def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class MarketplaceCollector:
    """Reads the marketplace's state when Prometheus scrapes. Each part is independent: one
    that fails (Redis away, a table locked) drops its own series, reports
    `tollgate_metrics_part_up{part=…} 0` and logs why; the scrape still succeeds."""

    PARTS = ("flush", "redis", "invoices", "payouts", "subscriptions", "readiness")

    def describe(self) -> list:
        return []  # registered per scrape in a fresh registry: nothing to check against

    def collect(self) -> Iterator[Metric]:
        # shared by the database and Redis parts: one family per name in the output
        self.pending = _gauge(
            "tollgate_usage_pending_events", "Usage events waiting for the flush", ["source"]
        )
        self.lag = _gauge(
            "tollgate_flush_lag_seconds",
            "How far the flush is behind now: age of the oldest unflushed event (0: none)",
            ["source"],
        )
        part_up = _gauge(
            "tollgate_metrics_part_up",
            "1 if this part of the scrape-time metrics could be read, 0 if it failed",
            ["part"],
        )
        for part in self.PARTS:
            if part == "payouts" and not apps.is_installed("apps.payouts"):
                continue
            if part == "redis" and not _counter_redis_url():
                if apps.is_installed("apps.metering"):
                    yield import_module("apps.metering.observability").embedded_persistence()
                continue
            try:
                families = list(getattr(self, f"_{part}")())
            except Exception as error:  # a scrape reports what it can; say what it could not
                logger.warning(
                    "metrics: could not read %s: %s: %s", part, type(error).__name__, error
                )
                part_up.add_metric([part], 0)
                continue
            part_up.add_metric([part], 1)
            yield from families
        yield from (self.pending, self.lag, part_up)

    # the flush ledger, and the database queue of unflushed events (always read: calls go
    # there while Redis is down, not only with the embedded store)
    def _flush(self) -> Iterator[Metric]:
        flush_state = apps.get_model("metering", "FlushState")
        usage_event = apps.get_model("metering", "UsageEvent")
        rows = {row.source: row for row in flush_state.objects.all()}
        pending = usage_event.objects.aggregate(n=Count("id"), oldest=Min("created_at"))
        redis_sources = ["redis"] if _counter_redis_url() else []
        sources = sorted({"database", *redis_sources, *rows})
        lag = _gauge(
            "tollgate_flush_last_batch_lag_seconds",
            "Age of the oldest event of the last flushed batch, when it was flushed",
            ["source"],
        )
        size = _gauge("tollgate_flush_last_batch_size", "Events in the last batch", ["source"])
        when = _gauge(
            "tollgate_flush_last_flush_timestamp_seconds",
            "When the last non-empty batch was flushed (Unix time; 0: never)",
            ["source"],
        )
        through = _gauge(
            "tollgate_usage_flushed_through_timestamp_seconds",
            "Every event this source held at this moment is in the aggregates (Unix time; "
            "0: never drained). Billing closes a period only once all are past its end.",
            ["source"],
        )
        events = CounterMetricFamily(
            "tollgate_flush_events", "Usage events written to aggregates", labels=["source"]
        )
        batches = CounterMetricFamily(
            "tollgate_flush_batches", "Batches written to aggregates", labels=["source"]
        )
        for source in sources:
            row = rows.get(source)
            lag.add_metric([source], row.last_lag_seconds if row else 0)
            size.add_metric([source], row.last_batch_size if row else 0)
            flushed_at = row.last_flush_at.timestamp() if row and row.last_flush_at else 0
            when.add_metric([source], flushed_at)
            events.add_metric([source], row.flushed_events if row else 0)
            batches.add_metric([source], row.flushed_batches if row else 0)
            if source != "started":
                mark = row.flushed_through if row else None
                through.add_metric([source], mark.timestamp() if mark else 0)
        oldest = pending["oldest"]
        self.pending.add_metric(["database"], pending["n"])
        self.lag.add_metric(
            ["database"], (timezone.now() - oldest).total_seconds() if oldest else 0
        )
        yield from (lag, size, when, events, batches, through)

    # the Redis stream shards the gateway appends to and the flush drains, and whether that
    # Redis persists (apps/metering/observability.py: core does not import metering)
    def _redis(self) -> Iterator[Metric]:
        return import_module("apps.metering.observability").redis_part(self.pending, self.lag)

    def _invoices(self) -> Iterator[Metric]:
        invoice = apps.get_model("billing", "Invoice")
        open_invoices = invoice.objects.filter(status="open")
        yield from _by_status(invoice, "tollgate_invoices", "Invoices by status", "total")
        yield _single(
            "tollgate_invoices_payment_failed",
            "Open invoices whose last payment attempt failed",
            open_invoices.filter(payment_failed_at__isnull=False).count(),
        )
        yield _single(
            "tollgate_invoices_overdue",
            "Open invoices past their due date",
            open_invoices.filter(due_at__lt=timezone.now()).count(),
        )

    def _payouts(self) -> Iterator[Metric]:
        payout = apps.get_model("payouts", "Payout")
        yield from _by_status(payout, "tollgate_payouts", "Payouts by status", "amount")

    def _subscriptions(self) -> Iterator[Metric]:
        from apps.subscriptions.models import LIVE_STATUSES, SERVING_STATUSES, Subscription

        counts = dict(
            Subscription.objects.filter(status__in=LIVE_STATUSES)
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
        )
        family = _gauge("tollgate_subscriptions", "Live subscriptions by status", ["status"])
        for status in LIVE_STATUSES:
            family.add_metric([str(status)], counts.get(str(status), 0))
        yield family
        # the close job runs every few minutes: a period ended an hour ago and still open
        # means its close keeps failing (or the job does not run)
        overdue = Subscription.objects.filter(
            status__in=SERVING_STATUSES,
            current_period_end__lt=timezone.now() - PERIOD_CLOSE_OVERDUE,
        ).count()
        yield _single(
            "tollgate_billing_periods_overdue",
            "Subscriptions whose billing period ended over an hour ago and is not closed",
            overdue,
        )

    def _readiness(self) -> Iterator[Metric]:
        from .health import run_checks

        healthy, checks = run_checks()
        family = _gauge(
            "tollgate_readiness_check", "1 if this /readyz check passes, else 0", ["check"]
        )
        for name, result in checks.items():
            family.add_metric([name], 0 if result["status"].startswith("error") else 1)
        yield family
        yield _single("tollgate_ready", "1 if /readyz would answer 200, else 0", int(healthy))


def _counter_redis_url() -> str:
    return settings.COUNTER_REDIS_URL or settings.REDIS_URL


def _single(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _by_status(model, name: str, documentation: str, amount_field: str):
    """Count (every status, zeros included) and amount per status and currency."""
    rows = (
        model.objects.order_by()
        .values("status", "currency")
        .annotate(n=Count("id"), sum=Sum(amount_field))
    )
    count = _gauge(name, documentation, ["status"])
    amount = _gauge(f"{name}_amount", f"{documentation}: amount", ["status", "currency"])
    totals = {str(value): 0 for value, _ in model._meta.get_field("status").choices}
    for row in rows:
        totals[row["status"]] = totals.get(row["status"], 0) + row["n"]
        amount.add_metric([row["status"], row["currency"]], float(row["sum"] or 0))
    for status, n in totals.items():
        count.add_metric([status], n)
    return count, amount


# --- The view -----------------------------------------------------------------------------
class _ProcessRegistry:
    """The default registry (this process's counters), inside a per-scrape registry."""

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """A fresh registry per scrape: every process's counters (from the multiprocess files
    when PROMETHEUS_MULTIPROC_DIR is set, else this process's) plus the scrape-time gauges."""
    _declare_gateway_metrics()
    registry = CollectorRegistry()
    multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiprocess_dir:
        MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        registry.register(_ProcessRegistry())
    registry.register(MarketplaceCollector())
    return registry


def _declare_gateway_metrics() -> None:
    # Under ASGI the gateway is imported already; a WSGI-only process (runserver) still
    # shows its metric families (empty) so dashboards and alerts find the names.
    if apps.is_installed("apps.gateway"):
        import_module("apps.gateway.metrics")


def _is_direct_loopback(request) -> bool:
    if any(header in request.headers for header in FORWARDING_HEADERS):
        return False  # proxied (or pretending to be): the peer address proves nothing
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _refusal(request) -> HttpResponse | None:
    from .problems import problem_response  # DRF: not importable before the app registry

    token = settings.METRICS_TOKEN
    if not token:
        if settings.DEBUG or _is_direct_loopback(request):
            return None
        return problem_response(
            403,
            "forbidden",
            "Set METRICS_TOKEN to scrape /metrics from another host.",
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    code = "authentication_failed" if given else "not_authenticated"
    response = problem_response(401, code, "Send Authorization: Bearer <METRICS_TOKEN>.")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_safe
def metrics(request):
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
