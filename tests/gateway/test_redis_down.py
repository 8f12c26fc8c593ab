"""Redis unreachable: admission fails closed (503) or open (the call goes through) as
configured, and usage then goes to the database, is flushed from there and is counted as a
store error — nothing is lost."""

import pytest
import requests
from prometheus_client import REGISTRY

from apps.metering.models import UsageEvent
from tests.gateway.conftest import settle

pytestmark = pytest.mark.django_db(transaction=True)
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def counter_store(settings):
    """Overrides the conftest's: the Redis store, pointed at a port nothing listens on."""
    settings.COUNTER_STORE = "redis"
    settings.REDIS_URL = DEAD_REDIS
    settings.GATEWAY_FAIL_OPEN = False
    return "redis"


def _store_errors(operation: str) -> float:
    value = REGISTRY.get_sample_value(
        "tollgate_gateway_store_errors_total", {"operation": operation}
    )
    return value or 0.0


def test_fail_closed_answers_503_and_reaches_no_upstream(world):
    before = _store_errors("admit")
    response = world.call()
    assert response.status_code == 503
    assert response.json()["code"] == "gateway_unavailable"
    assert world.upstream.received == []
    assert _store_errors("admit") == before + 1


def test_fail_open_serves_and_keeps_the_usage_in_the_database(world, settings):
    settings.GATEWAY_FAIL_OPEN = True
    before = _store_errors("record")
    statuses = [world.call().status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert len(world.upstream.received) == 3
    settle(3)  # the flush drains the database queue although Redis is unreachable
    assert UsageEvent.objects.count() == 0
    assert _store_errors("record") >= before + 1


def test_the_site_itself_still_answers(world):
    assert requests.get(world.site.url + "/healthz", timeout=5).status_code == 200
