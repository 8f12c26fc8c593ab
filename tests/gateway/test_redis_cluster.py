"""The counter store on a real three-master Redis Cluster (issue 14, item 6): admission
keys keep their `{s<id>}` hash tags, the usage stream is sharded over the masters, the
flush drains every shard exactly once, and a hard quota holds."""

import pytest

from apps.catalog.models import ApiStatus
from apps.keys.services import api_key_create
from apps.metering.models import FlushState
from apps.metering.redis_layout import stream_key
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import MembershipFactory
from tests.gateway.cluster import redis_cluster  # noqa: F401
from tests.gateway.conftest import flush_all, make_plan, redis_test_url, subscribe
from tests.gateway.faults import metered_calls, metered_request_ids, served_request_ids

SHARDS = 3
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cluster_store(redis_cluster, settings):  # noqa: F811
    redis_cluster.flush()
    # the gateway's snapshot cache and invalidation news stay on REDIS_URL (one server, as
    # the cache and the broker need), each test's own database there
    settings.REDIS_URL = redis_test_url() or ""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    settings.COUNTER_STORE = "redis"
    settings.COUNTER_REDIS_URL = redis_cluster.url
    settings.COUNTER_REDIS_CLUSTER = True
    settings.USAGE_STREAM_SHARDS = SHARDS
    settings.GATEWAY_FAIL_OPEN = False
    return redis_cluster


@pytest.fixture
def api(cluster_store, upstream, live_site):
    provider = MembershipFactory(organization__name="Provider").organization
    api = ApiFactory(
        organization=provider,
        slug="echo-api",
        upstream_url=upstream.url,
        status=ApiStatus.PUBLISHED,
    )
    EndpointFactory(api=api, method="GET", path="/echo", summary="Echo")
    return api


def _consumer(api, **terms):
    membership = MembershipFactory()
    subscription = subscribe(membership.organization, make_plan(api, **terms))
    _, secret = api_key_create(
        actor=membership.user, organization=membership.organization, name="cluster"
    )
    return subscription, secret


def _call(live_site, secret):
    import requests

    return requests.get(
        f"{live_site.url}/gw/echo-api/echo", headers={"X-Api-Key": secret}, timeout=30
    )


def test_calls_on_every_shard_are_metered_once(api, live_site, upstream, cluster_store):
    consumers = [_consumer(api) for _ in range(SHARDS)]  # consecutive ids: one per shard
    for count, (_, secret) in zip([7, 5, 3], consumers, strict=True):
        assert [_call(live_site, secret).status_code for _ in range(count)] == [200] * count

    masters = {cluster_store.node_of(stream_key(shard)) for shard in range(SHARDS)}
    assert len(masters) > 1  # the shards are spread over the cluster, not on one node

    flush_all()
    flush_all()  # a second flush finds nothing more
    assert [metered_calls(sub) for sub, _ in consumers] == [7, 5, 3]
    assert metered_request_ids() == served_request_ids(upstream)
    sources = set(FlushState.objects.values_list("source", flat=True))
    assert {"redis", "redis:1", "redis:2"} <= sources  # each shard has its own cursor


def test_a_hard_quota_holds_on_the_cluster(api, live_site, upstream):
    subscription, secret = _consumer(api, included_units=4, hard_limit=True)
    statuses = [_call(live_site, secret) for _ in range(7)]
    assert [r.status_code for r in statuses] == [200] * 4 + [429] * 3
    assert statuses[-1].json()["code"] == "quota_exceeded"
    flush_all()
    assert metered_calls(subscription) == 4 == len(served_request_ids(upstream))
