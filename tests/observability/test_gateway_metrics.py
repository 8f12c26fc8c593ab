"""/metrics after real gateway calls: the site runs under uvicorn in a thread of this process,
so its gateway counts into the registry /metrics reads. Counters are process-wide, so each
test compares a scrape after its calls with one before them."""

import time

import pytest
import requests

from apps.core.invalidation import _publish_now
from apps.subscriptions.models import Plan
from tests.observability.conftest import METRICS_URLS, samples, value

pytestmark = [pytest.mark.urls(METRICS_URLS), pytest.mark.django_db(transaction=True)]

TOKEN = "gateway-metrics-token"


def _scrape(world) -> dict:
    response = requests.get(
        f"{world.site.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def _delta(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def _scrape_until(world, before: dict, name: str, expected: float, **labels) -> dict:
    """The gateway counts a call just after the consumer has its last byte: wait for it."""
    deadline = time.monotonic() + 5
    while True:
        after = _scrape(world)
        if _delta(before, after, name, **labels) >= expected or time.monotonic() > deadline:
            return after
        time.sleep(0.05)


@pytest.fixture
def metrics_world(world, settings):
    settings.METRICS_TOKEN = TOKEN
    return world


def test_calls_are_counted_by_api_and_outcome(metrics_world):
    world = metrics_world
    before = _scrape(world)
    assert [world.call().status_code for _ in range(2)] == [200, 200]
    assert world.call("/status?code=503").status_code == 503
    assert world.call(key="tg_" + "x" * 46).status_code == 401
    assert world.call(key=False).status_code == 401

    after = _scrape_until(
        world, before, "tollgate_gateway_requests_total", 1, api=world.api.slug, outcome="5xx"
    )
    requests_total = "tollgate_gateway_requests_total"
    assert _delta(before, after, requests_total, api=world.api.slug, outcome="2xx") == 2
    assert _delta(before, after, requests_total, api=world.api.slug, outcome="5xx") == 1
    assert _delta(before, after, requests_total, api="-", outcome="invalid_api_key") == 1
    assert _delta(before, after, requests_total, api="-", outcome="missing_api_key") == 1
    assert _delta(before, after, "tollgate_gateway_admissions_total", result="admitted") == 3

    latency = "tollgate_gateway_request_seconds"
    assert _delta(before, after, f"{latency}_count", api=world.api.slug) == 3
    assert _delta(before, after, f"{latency}_bucket", api=world.api.slug, le="+Inf") == 3
    assert _delta(before, after, f"{latency}_sum", api=world.api.slug) > 0


def test_admission_refusals_are_counted_by_reason(metrics_world):
    world = metrics_world
    Plan.objects.filter(pk=world.plan.pk).update(included_units=2, hard_limit=True)
    _publish_now("plan", str(world.plan.pk))
    time.sleep(1.1)  # the gateway's cache hears of the change within a second
    before = _scrape(world)

    assert [world.call().status_code for _ in range(3)] == [200, 200, 429]

    after = _scrape_until(
        world, before, "tollgate_gateway_requests_total", 2, api=world.api.slug, outcome="2xx"
    )
    admissions = "tollgate_gateway_admissions_total"
    assert _delta(before, after, admissions, result="admitted") == 2
    assert _delta(before, after, admissions, result="quota_exceeded") == 1
    requests_total = "tollgate_gateway_requests_total"
    assert _delta(before, after, requests_total, api=world.api.slug, outcome="quota_exceeded") == 1
    assert _delta(before, after, requests_total, api=world.api.slug, outcome="2xx") == 2


def test_upstream_errors_are_counted_by_kind(metrics_world):
    world = metrics_world
    before = _scrape(world)
    assert world.call("/drop").status_code == 502
    after = _scrape_until(
        world, before, "tollgate_gateway_requests_total", 1, api=world.api.slug,
        outcome="upstream_error",
    )  # fmt: skip
    errors = "tollgate_gateway_upstream_errors_total"
    assert _delta(before, after, errors, api=world.api.slug, kind="upstream_error") == 1


def test_the_site_answers_metrics_only_with_the_token(metrics_world):
    url = f"{metrics_world.site.url}/metrics"
    assert requests.get(url, timeout=30).status_code == 401
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    assert wrong.headers["Content-Type"] == "application/problem+json"
