"""/metrics: who may scrape it, its format, multiprocess mode, and the gauges it computes
from the database and Redis at scrape time."""

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.billing.models import Invoice, InvoiceStatus
from apps.catalog.models import ApiStatus
from apps.metering.events import CallEvent
from apps.metering.models import UsageEvent
from apps.subscriptions.models import SubscriptionStatus
from tests.catalog.factories import ApiFactory
from tests.factories import MembershipFactory
from tests.gateway.conftest import make_plan, subscribe
from tests.observability.conftest import METRICS_URLS, samples, value
from tests.servers import free_port

pytestmark = [pytest.mark.urls(METRICS_URLS), pytest.mark.django_db]

TOKEN = "s3cr3t-metrics-token-for-tests"


# --- Who may scrape ----------------------------------------------------------------------
def test_with_a_token_set_a_scrape_without_it_is_401(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_with_a_token_set_the_right_bearer_token_is_200(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE tollgate_gateway_requests_total counter" in response.content


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer ", "Bearer é"],
)
def test_a_wrong_token_is_401(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}
    assert TOKEN.encode() not in response.content


def test_a_token_from_loopback_is_still_required_when_set(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.DEBUG = True
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401


def test_without_a_token_loopback_may_scrape(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_without_a_token_another_host_may_not(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "METRICS_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"])
def test_without_a_token_a_proxied_request_is_not_loopback(client, settings, header):
    """Behind a reverse proxy on the same host every request comes from 127.0.0.1; and with
    uvicorn's --forwarded-allow-ips='*' a client can claim to be 127.0.0.1."""
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **{header: "127.0.0.1"})
    assert response.status_code == 403


def test_without_a_token_debug_may_scrape_from_anywhere(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 200


def test_only_get_and_head(client, scrape):
    assert client.post("/metrics").status_code == 405
    assert client.head("/metrics").status_code == 200


def test_it_is_never_cached(client, scrape):
    assert "no-cache" in client.get("/metrics")["Cache-Control"]


# --- Scrape-time gauges ------------------------------------------------------------------
@pytest.fixture
def subscription(db):
    provider = MembershipFactory(organization__name="Provider").organization
    api = ApiFactory(organization=provider, slug="gauges-api", status=ApiStatus.PUBLISHED)
    consumer = MembershipFactory(organization__name="Consumer").organization
    return subscribe(consumer, make_plan(api))


def _invoice(subscription, n: int, status: str, total: str, **fields) -> Invoice:
    return Invoice.objects.create(
        key=f"obs:{n}",
        organization=subscription.organization,
        subscription=subscription,
        status=status,
        collection_method="manual",
        currency="USD",
        total=Decimal(total),
        **fields,
    )


def test_invoices_by_status_count_and_amount(scrape, subscription):
    past = timezone.now() - timedelta(days=2)
    _invoice(subscription, 1, InvoiceStatus.OPEN, "10.00", due_at=past)
    _invoice(subscription, 2, InvoiceStatus.OPEN, "5.50", payment_failed_at=past)
    _invoice(subscription, 3, InvoiceStatus.PAID, "7.25")
    metrics = samples(scrape())
    assert value(metrics, "tollgate_invoices", status="open") == 2
    assert value(metrics, "tollgate_invoices", status="paid") == 1
    assert ("tollgate_invoices", frozenset({("status", "void")})) in metrics  # zeros shown
    assert value(metrics, "tollgate_invoices_amount", status="open", currency="USD") == 15.5
    assert value(metrics, "tollgate_invoices_amount", status="paid", currency="USD") == 7.25
    assert value(metrics, "tollgate_invoices_payment_failed") == 1
    assert value(metrics, "tollgate_invoices_overdue") == 1


def test_live_subscriptions_by_status(scrape, subscription):
    other = MembershipFactory(organization__name="Late payer").organization
    subscribe(other, subscription.plan, status=SubscriptionStatus.PAST_DUE)
    metrics = samples(scrape())
    assert value(metrics, "tollgate_subscriptions", status="active") == 1
    assert value(metrics, "tollgate_subscriptions", status="past_due") == 1
    assert value(metrics, "tollgate_subscriptions", status="trialing") == 0
    assert ("tollgate_subscriptions", frozenset({("status", "canceled")})) not in metrics


def test_values_are_read_at_scrape_time_not_cached(scrape, subscription):
    assert value(scrape(), "tollgate_invoices", status="open") == 0
    _invoice(subscription, 1, InvoiceStatus.OPEN, "1.00")
    assert value(scrape(), "tollgate_invoices", status="open") == 1
    Invoice.objects.update(status=InvoiceStatus.PAID)
    text = scrape()
    assert value(text, "tollgate_invoices", status="open") == 0
    assert value(text, "tollgate_invoices", status="paid") == 1


def _event(subscription, ts_ms: int) -> CallEvent:
    return CallEvent(
        ts_ms=ts_ms,
        subscription_id=subscription.id,
        api_key_id=1,
        endpoint_id=None,
        period_start=int(subscription.current_period_start.timestamp()),
        status=200,
        latency_ms=12,
        units_micro=1_000_000,
        gateway_error=False,
        bytes_in=0,
        bytes_out=10,
    )


def test_flush_gauges_before_and_after_a_flush(scrape, subscription, settings):
    from apps.metering.tasks import flush_usage

    settings.REDIS_URL = ""
    old = timezone.now() - timedelta(seconds=90)
    for _ in range(3):
        UsageEvent.objects.create(data=_event(subscription, int(old.timestamp() * 1000)).encode())
    UsageEvent.objects.update(created_at=old)
    before = samples(scrape())
    assert value(before, "tollgate_usage_pending_events", source="database") == 3
    assert value(before, "tollgate_flush_lag_seconds", source="database") >= 89
    assert value(before, "tollgate_flush_events_total", source="database") == 0

    assert flush_usage() == 3

    after = samples(scrape())
    assert value(after, "tollgate_usage_pending_events", source="database") == 0
    assert value(after, "tollgate_flush_lag_seconds", source="database") == 0
    assert value(after, "tollgate_flush_events_total", source="database") == 3
    assert value(after, "tollgate_flush_batches_total", source="database") == 1
    assert value(after, "tollgate_flush_last_batch_size", source="database") == 3
    assert value(after, "tollgate_flush_last_batch_lag_seconds", source="database") >= 89
    flushed_at = value(after, "tollgate_flush_last_flush_timestamp_seconds", source="database")
    assert abs(flushed_at - timezone.now().timestamp()) < 60
    assert value(after, "tollgate_metrics_part_up", part="flush") == 1


@pytest.mark.redis
def test_redis_stream_length_and_lag(scrape, subscription, settings):
    import redis

    from apps.metering.flush import STREAM
    from tests.gateway.conftest import redis_test_url

    settings.REDIS_URL = redis_test_url()
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(STREAM)
    try:
        stamp = int((timezone.now() - timedelta(seconds=120)).timestamp() * 1000)
        for n in range(4):
            client.xadd(STREAM, {"d": _event(subscription, stamp).encode()}, id=f"{stamp}-{n}")
        metrics = samples(scrape())
        assert value(metrics, "tollgate_usage_pending_events", source="redis") == 4
        assert value(metrics, "tollgate_flush_lag_seconds", source="redis") >= 119
        assert value(metrics, "tollgate_metrics_part_up", part="redis") == 1
    finally:
        client.delete(STREAM)
        client.close()


def test_an_unreachable_redis_never_fails_the_scrape(scrape, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    metrics = samples(scrape())
    assert value(metrics, "tollgate_metrics_part_up", part="redis") == 0
    assert value(metrics, "tollgate_metrics_part_up", part="flush") == 1
    assert value(metrics, "tollgate_metrics_part_up", part="invoices") == 1
    assert ("tollgate_usage_pending_events", frozenset({("source", "redis")})) not in metrics
    assert value(metrics, "tollgate_readiness_check", check="counter_store") == 0
    assert value(metrics, "tollgate_readiness_check", check="database") == 1
    assert value(metrics, "tollgate_ready") == 0


def test_readiness_is_reported(scrape, settings):
    settings.REDIS_URL = ""
    metrics = samples(scrape())
    assert value(metrics, "tollgate_ready") == 1
    for check in ("database", "counter_store", "broker"):
        assert value(metrics, "tollgate_readiness_check", check=check) == 1


def test_payouts_by_status_when_the_app_is_installed(scrape):
    from django.apps import apps

    if not apps.is_installed("apps.payouts"):
        text = scrape()
        assert "tollgate_payouts" not in text
        assert 'part="payouts"' not in text
        return
    payout = apps.get_model("payouts", "Payout")
    provider = MembershipFactory(organization__name="Provider").organization
    payout.objects.create(
        organization=provider,
        period="2026-10",
        amount=Decimal("120.50"),
        currency="USD",
        status="failed",
        method="manual",
    )
    metrics = samples(scrape())
    assert value(metrics, "tollgate_metrics_part_up", part="payouts") == 1
    assert value(metrics, "tollgate_payouts", status="failed") == 1
    assert value(metrics, "tollgate_payouts", status="paid") == 0
    assert value(metrics, "tollgate_payouts_amount", status="failed", currency="USD") == 120.5


# --- Multiprocess mode --------------------------------------------------------------------
WORKER = """
from apps.gateway.metrics import GatewayMetrics
GatewayMetrics().answered("multi-api", "2xx", 0.02)
GatewayMetrics().refused("rate_limited")
"""


def test_multiprocess_mode_sums_every_worker(scrape, tmp_path, monkeypatch):
    """Two "workers" (separate processes) count calls into PROMETHEUS_MULTIPROC_DIR; one
    scrape of the web process shows their sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", WORKER], env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    metrics = samples(scrape())
    assert value(metrics, "tollgate_gateway_requests_total", api="multi-api", outcome="2xx") == 2
    assert value(metrics, "tollgate_gateway_admissions_total", result="rate_limited") == 2
    assert value(metrics, "tollgate_gateway_request_seconds_count", api="multi-api") == 2
    bucket = value(metrics, "tollgate_gateway_request_seconds_bucket", api="multi-api", le="0.025")
    assert bucket == 2
    # the scrape-time gauges are there too; this process's own registry is not
    assert value(metrics, "tollgate_metrics_part_up", part="flush") == 1
    assert not any(name.startswith("process_") for name, _ in metrics)
