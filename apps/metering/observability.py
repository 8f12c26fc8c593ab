"""What `/readyz` and `/metrics` (apps/core) ask the metering app about its counter store:
is it reachable, does it persist, how much usage waits in each stream shard."""

import time

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from .persistence import check_client
from .redis_layout import counter_redis_url, shard_of_source, stream_key, sync_client, uses_redis


class NotDurable(Exception):
    """Redis answers but would lose usage in a restart, and the gateway fails closed."""


def check_counter_store() -> str:
    """The `/readyz` check `counter_store`. Not ready: Redis unreachable, or without AOF
    while the gateway fails closed (it refuses every call then). Without AOF but failing
    open, the node still serves (usage goes to the database): ready, and says so."""
    if not uses_redis():
        if settings.REDIS_URL:  # the cache and broker's Redis: it must answer all the same
            return _ping(settings.REDIS_URL, cluster=False)
        return "not configured (embedded store)"
    _ping(counter_redis_url())
    if not settings.COUNTER_STORE_REQUIRE_PERSISTENCE:
        return "ok (persistence not required)"
    client = sync_client(timeout=1)
    try:
        verdict = check_client(client)
    finally:
        client.close()
    if verdict.durable:
        return "ok"
    if settings.GATEWAY_FAIL_OPEN:
        return f"degraded: {verdict.detail}; usage goes to the database"
    raise NotDurable(f"{verdict.detail}; the gateway refuses calls until it persists")


def _ping(url: str, cluster: bool | None = None) -> str:
    client = sync_client(timeout=1, url=url, cluster=cluster)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def redis_part(pending: GaugeMetricFamily, lag: GaugeMetricFamily):
    """Scrape-time gauges read from the counter store: each stream shard's backlog (entries
    after the flush's cursor) and the age of its oldest, and whether the store persists."""
    from .flush import stream_cursor, usage_sources

    sources = [s for s in usage_sources() if shard_of_source(s) is not None] or ["redis"]
    client = sync_client(timeout=0.5)
    try:
        for source in sources:
            stream = stream_key(shard_of_source(source))
            cursor = stream_cursor(source)
            length = client.xlen(stream)
            # entries up to the cursor are flushed already (what a crash left behind)
            first = client.xrange(stream, min=f"({cursor}", count=1)
            oldest_age = 0.0
            if first:
                oldest_ms = int(first[0][0].decode().split("-")[0])
                oldest_age = max(0.0, time.time() - oldest_ms / 1000)
            pending.add_metric([source], length)
            lag.add_metric([source], oldest_age)
        durable = check_client(client).durable
    finally:
        client.close()
    yield GaugeMetricFamily(
        "tollgate_counter_store_persistent",
        "1 if the counter store keeps unflushed usage across a restart (AOF, or the database)",
        value=int(durable),
    )


def embedded_persistence() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "tollgate_counter_store_persistent",
        "1 if the counter store keeps unflushed usage across a restart (AOF, or the database)",
        value=1,
    )
