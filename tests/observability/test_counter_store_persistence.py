"""A counter store that would lose usage in a restart (Redis without AOF) is reported: by
/readyz (not ready when the gateway fails closed, degraded when it fails open) and by the
`tollgate_counter_store_persistent` gauge the TollgateCounterStoreNotPersistent alert uses."""

import pytest

from tests.gateway.faults import RedisProcess, needs_redis_server
from tests.observability.conftest import METRICS_URLS, value

pytestmark = [pytest.mark.django_db, pytest.mark.urls(METRICS_URLS), needs_redis_server]


@pytest.fixture(params=[True, False], ids=["aof", "no-aof"])
def redis_server(request, settings):
    process = RedisProcess(aof=request.param).start()
    settings.COUNTER_REDIS_URL = process.url
    settings.COUNTER_STORE = "redis"
    settings.COUNTER_STORE_REQUIRE_PERSISTENCE = True
    yield process
    process.stop()


def test_readyz_fails_when_redis_cannot_keep_usage_and_the_gateway_fails_closed(
    client, redis_server, settings
):
    settings.GATEWAY_FAIL_OPEN = False
    response = client.get("/readyz")
    status = response.json()["checks"]["counter_store"]["status"]
    if redis_server.aof:
        assert response.status_code == 200 and status == "ok"
    else:
        assert response.status_code == 503
        assert "AOF is off" in status and "refuses calls" in status


def test_readyz_says_degraded_when_the_gateway_fails_open_to_the_database(
    client, redis_server, settings
):
    settings.GATEWAY_FAIL_OPEN = True
    response = client.get("/readyz")
    assert response.status_code == 200  # the node serves: usage goes to the database
    status = response.json()["checks"]["counter_store"]["status"]
    if redis_server.aof:
        assert status == "ok"
    else:
        assert status.startswith("degraded: AOF is off") and "database" in status


def test_the_persistence_gauge_follows_redis(scrape, redis_server):
    metrics = scrape()
    assert value(metrics, "tollgate_counter_store_persistent") == int(redis_server.aof)
    assert value(metrics, "tollgate_metrics_part_up", part="redis") == 1


def test_the_embedded_store_counts_as_persistent(scrape, settings):
    settings.REDIS_URL = ""
    settings.COUNTER_REDIS_URL = ""
    settings.COUNTER_STORE = "database"
    assert value(scrape(), "tollgate_counter_store_persistent") == 1
