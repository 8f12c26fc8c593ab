"""Limits enforced exactly: rate windows, hard quotas under concurrency, spend caps."""

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

from apps.subscriptions.models import Plan, Subscription
from tests.gateway.conftest import settle

pytestmark = pytest.mark.django_db(transaction=True)


def _set_plan(world, **fields):
    Plan.objects.filter(pk=world.plan.pk).update(**fields)
    from apps.core.invalidation import _publish_now

    _publish_now("plan", str(world.plan.pk))
    time.sleep(1.1)


def test_n_parallel_calls_against_quota_q_admit_exactly_q(world):
    _set_plan(world, included_units=25, hard_limit=True)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=20, pool_maxsize=20)
    session.mount("http://", adapter)

    def call(_):
        return session.get(
            world.base + "/echo", headers={"X-Api-Key": world.key}, timeout=30
        ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, range(60)))
    assert statuses.count(200) == 25
    assert statuses.count(429) == 35
    refused = world.call()
    assert refused.status_code == 429 and refused.json()["code"] == "quota_exceeded"
    assert refused.headers["X-Quota-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) > 0
    settle(25)
    from apps.metering.selectors import period_units

    assert period_units(world.subscription.pk, world.subscription.current_period_start) == 25
    assert len([r for r in world.upstream.received if r["path"] == "/echo"]) == 25


def test_the_per_second_window_is_shared_by_all_keys(world):
    from apps.keys.services import api_key_create

    _set_plan(world, rate_limit_per_second=3, included_units=1000)
    _, second_key = api_key_create(
        actor=world.consumer, organization=world.consumer_org, name="second"
    )
    while time.time() % 1 > 0.5:  # start early in a second so all calls share its window
        time.sleep(0.05)
    statuses = [world.call(key=k).status_code for k in [world.key, second_key] * 3]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]
    refused = next(r for r in (world.call() for _ in range(3)) if r.status_code == 429)
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["Retry-After"] == "1"


def test_rate_limit_headers_on_success(world):
    _set_plan(world, rate_limit_per_second=10, rate_limit_per_minute=100)
    response = world.call()
    assert response.headers["RateLimit-Limit"] == "10"
    assert response.headers["RateLimit-Remaining"] == "9"
    assert response.headers["RateLimit-Reset"] == "1"


def test_soft_limits_allow_overage(world):
    _set_plan(world, included_units=2, hard_limit=False, unit_price=Decimal("0.01"))
    statuses = [world.call().status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200]
    assert world.call().headers["X-Quota-Remaining"] == "0"


def test_the_spend_cap_stops_calls_at_the_cap(world):
    # pay per call at $0.10, cap $0.30 → three billable calls, then 429 spend_cap_reached
    _set_plan(world, included_units=0, hard_limit=False, unit_price=Decimal("0.10"))
    Subscription.objects.filter(pk=world.subscription.pk).update(spend_cap=Decimal("0.30"))
    from apps.core.invalidation import _publish_now

    _publish_now("subscription", f"{world.consumer_org.pk}:{world.api.pk}")
    time.sleep(1.1)
    statuses = [world.call().status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert world.call().json()["code"] == "spend_cap_reached"


def test_per_second_plans_bill_upstream_time(world):
    _set_plan(world, unit="second", included_units=0, hard_limit=False, unit_price=Decimal("0.001"))
    world.call("/sleep_ms?ms=300")
    settle(1)
    from apps.metering.selectors import period_units

    units = period_units(world.subscription.pk, world.subscription.current_period_start)
    assert Decimal("0.29") < units < Decimal("1.5")


def test_custom_units_come_from_the_upstream_header(world):
    _set_plan(world, unit="page", included_units=100, hard_limit=False)
    world.call("/units?u=3")
    world.call("/units?u=2.5")
    world.call("/units?u=banana")  # invalid: counts 1
    world.call("/units?u=-4")  # invalid: counts 1
    world.call("/chunked_units?u=7")  # streamed: the header came first
    settle(5)
    from apps.metering.selectors import period_units

    assert period_units(world.subscription.pk, world.subscription.current_period_start) == Decimal(
        "14.5"
    )


def test_upstream_5xx_is_billed_only_when_the_plan_says(world):
    world.call("/status?code=500")
    _set_plan(world, bill_server_errors=True)
    world.call("/status?code=500")
    settle(2)
    from apps.metering.selectors import period_units

    assert period_units(world.subscription.pk, world.subscription.current_period_start) == 1


def test_a_client_that_disconnects_mid_stream_is_counted_once(world):
    response = world.call("/sse?n=20&gap=0.1", stream=True)
    for line in response.iter_lines():
        if line.startswith(b"data:"):
            break
    response.close()  # hang up after the first token
    world.call("/echo")
    from apps.metering.models import UsageAggregate

    settle(2)  # the hung-up call is recorded when the gateway notices, exactly once
    time.sleep(0.5)
    settle(2)
    sse = UsageAggregate.objects.get(endpoint=None)
    assert sse.bytes_out < 20 * 20  # the gateway stopped reading once the consumer left


def test_unbilled_calls_give_their_reserved_unit_back(world):
    """A call the plan does not bill (an upstream 5xx) must not use up the hard quota."""
    _set_plan(world, included_units=2, hard_limit=True)
    statuses = [world.call("/status?code=503").status_code]
    settle(1)  # the reservation is settled when the call is recorded
    statuses += [world.call().status_code for _ in range(3)]
    assert statuses == [503, 200, 200, 429]
