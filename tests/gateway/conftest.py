"""Gateway test world: a real upstream on loopback, the whole site under uvicorn, a
published API, a consumer subscribed with a key — on the embedded store and on Redis."""

import os
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from apps.catalog.models import ApiStatus
from apps.keys.services import api_key_create
from apps.subscriptions.models import Plan, Subscription, SubscriptionStatus
from apps.subscriptions.periods import period_bounds
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import MembershipFactory
from tests.gateway.upstream import Upstream

REDIS_TEST_DB = 15


def redis_test_url() -> str | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    return url.rsplit("/", 1)[0] + f"/{REDIS_TEST_DB}"


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def counter_store(request, settings):
    """Every gateway test runs against both stores (Redis ones skip without REDIS_URL)."""
    if request.param == "redis":
        import redis

        settings.REDIS_URL = redis_test_url()
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.flushdb()
        client.close()
    else:
        settings.REDIS_URL = ""
    settings.COUNTER_STORE = request.param
    settings.GATEWAY_FAIL_OPEN = False
    return request.param


@pytest.fixture
def upstream():
    with Upstream() as server:
        yield server


@dataclass
class World:
    site: object
    upstream: Upstream
    api: object
    plan: object
    subscription: object
    key: str
    key_row: object
    consumer: object
    consumer_org: object
    provider_org: object

    @property
    def base(self) -> str:
        return f"{self.site.url}/gw/{self.api.slug}"

    def call(self, path="/echo", method="GET", key=None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key is not False:
            headers.setdefault("X-Api-Key", key or self.key)
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.base + path, headers=headers, **kwargs)


def make_plan(api, **terms) -> Plan:
    values = {
        "name": "Test",
        "monthly_fee": Decimal("0"),
        "included_units": 1000,
        "unit_price": Decimal("0"),
        "unit": "call",
        "hard_limit": True,
    }
    values.update(terms)
    return Plan.objects.create(api=api, **values)


def subscribe(organization, plan, **fields) -> Subscription:
    now = timezone.now().replace(microsecond=0)
    start, end = period_bounds(now, 0)
    values = {
        "status": SubscriptionStatus.ACTIVE,
        "period_anchor": now,
        "current_period_start": start,
        "current_period_end": end,
    }
    values.update(fields)
    return Subscription.objects.create(organization=organization, api=plan.api, plan=plan, **values)


@pytest.fixture
def world(counter_store, upstream, live_site, settings):
    provider = MembershipFactory(organization__name="Provider").organization
    api = ApiFactory(
        organization=provider,
        slug="echo-api",
        upstream_url=upstream.url,
        status=ApiStatus.PUBLISHED,
    )
    EndpointFactory(api=api, method="GET", path="/echo", summary="Echo")
    EndpointFactory(api=api, method="POST", path="/items/{id}", summary="Item")
    plan = make_plan(api)
    membership = MembershipFactory(organization__name="Consumer")
    subscription = subscribe(membership.organization, plan)
    key_row, secret = api_key_create(
        actor=membership.user, organization=membership.organization, name="test"
    )
    return World(
        site=live_site,
        upstream=upstream,
        api=api,
        plan=plan,
        subscription=subscription,
        key=secret,
        key_row=key_row,
        consumer=membership.user,
        consumer_org=membership.organization,
        provider_org=provider,
    )


def flush_all() -> None:
    from apps.metering.tasks import flush_usage

    flush_usage()


def settle(calls: int, timeout: float = 5.0) -> None:
    """Flush until `calls` calls are in the aggregates. The gateway records a call just
    after the consumer got its last byte, so a test must wait for it, not race it."""
    import time

    from django.db.models import Sum

    from apps.metering.models import UsageAggregate

    deadline = time.monotonic() + timeout
    while True:
        flush_all()
        done = UsageAggregate.objects.aggregate(n=Sum("calls"))["n"] or 0
        if done >= calls or time.monotonic() > deadline:
            assert done == calls, f"{done} calls recorded, expected {calls}"
            return
        time.sleep(0.1)
