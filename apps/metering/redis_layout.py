"""Where the counter store lives in Redis, and how to connect to it (one server or a Redis
Cluster).

Keys (docs/ARCHITECTURE.md "Counting"):
- `tg:{s<id>}:…` — a subscription's rate windows, quota counters, started calls and request
  log. The hash tag keeps them on one cluster slot, so the admission script is single-slot.
- `tg:usage`, `tg:usage:1` … `tg:usage:<N-1>` — the usage stream, in `USAGE_STREAM_SHARDS`
  shards (a subscription's events always go to the same shard). Each shard is a key of its
  own, so a Redis Cluster spreads them; the flush drains each with its own cursor
  (`FlushState` rows `redis`, `redis:1` …). Shard 0 keeps the name of the single stream
  installs had before sharding, so an upgrade loses nothing waiting there.

The counter store may be a different Redis from the cache and the Celery broker (which
cannot use a cluster): `COUNTER_REDIS_URL` (default: `REDIS_URL`), `COUNTER_REDIS_CLUSTER`."""

from django.conf import settings

STREAM_PREFIX = "tg:usage"
STARTED_PATTERN = "tg:{s*}:started"


def counter_redis_url() -> str:
    return settings.COUNTER_REDIS_URL or settings.REDIS_URL


def uses_redis() -> bool:
    """Whether usage is recorded in Redis (else the embedded store's database queue)."""
    return settings.COUNTER_STORE == "redis" and bool(counter_redis_url())


def is_cluster() -> bool:
    return bool(settings.COUNTER_REDIS_CLUSTER)


def shard_count() -> int:
    return max(1, int(settings.USAGE_STREAM_SHARDS))


def stream_key(shard: int) -> str:
    return STREAM_PREFIX if shard == 0 else f"{STREAM_PREFIX}:{shard}"


def stream_source(shard: int) -> str:
    """The flush ledger's name for a shard."""
    return "redis" if shard == 0 else f"redis:{shard}"


def shard_of_source(source: str) -> int | None:
    if source == "redis":
        return 0
    if source.startswith("redis:") and source[6:].isdigit():
        return int(source[6:])
    return None


def shard_for(subscription_id: int, api_key_id: int, shards: int) -> int:
    return (subscription_id or api_key_id) % shards


def subscription_prefix(subscription_id: int) -> str:
    return f"tg:{{s{subscription_id}}}"


def quota_key(subscription_id: int, period_start: int) -> str:
    return f"{subscription_prefix(subscription_id)}:q:{period_start}"


def started_key(subscription_id: int) -> str:
    return f"{subscription_prefix(subscription_id)}:started"


def request_log_key(subscription_id: int) -> str:
    return f"{subscription_prefix(subscription_id)}:log"


def _retry(asyncio: bool):
    """One immediate retry when a pooled connection turns out dead (Redis restarted), none
    on a timeout: the gateway's timeout is a real bound (redis-py's default retries three
    times with up to 10 s of backoff), and a write that timed out may still happen, so it
    goes to the fallback rather than again to Redis (request ids reconcile the two)."""
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError

    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry
    return Retry(NoBackoff(), 1, supported_errors=(ConnectionError,))


def sync_client(*, timeout: float = 5.0, url: str | None = None, cluster: bool | None = None):
    """A blocking client for the flush, the close and the pages (redis-py)."""
    url = url or counter_redis_url()
    options = {
        "socket_timeout": timeout,
        "socket_connect_timeout": min(timeout, 2.0),
        "retry": _retry(asyncio=False),
    }
    if is_cluster() if cluster is None else cluster:
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(url, **options)
    import redis

    return redis.Redis.from_url(url, **options)


def async_client(
    *, timeout: float, url: str | None = None, cluster: bool | None = None, on_connect=None
):
    """The gateway's client. `on_connect(connection)` replaces the handshake of every new
    connection: it must call `connection.on_connect()` first, then may ask questions (the
    persistence check) before the connection's first command."""
    url = url or counter_redis_url()
    options = {"socket_timeout": timeout, "socket_connect_timeout": 1, "retry": _retry(True)}
    if is_cluster() if cluster is None else cluster:
        from redis.asyncio.cluster import RedisCluster

        client = RedisCluster.from_url(url, **options)
        if on_connect is not None:
            # nodes found later are built from these kwargs; the start-up nodes already exist
            client.connection_kwargs["redis_connect_func"] = on_connect
            for node in client.startup_nodes:
                node.connection_kwargs["redis_connect_func"] = on_connect
        return client
    import redis.asyncio as aioredis

    extra = {"redis_connect_func": on_connect} if on_connect is not None else {}
    return aioredis.Redis.from_url(url, health_check_interval=30, **options, **extra)


def primaries(client) -> list:
    """The nodes to ask server-wide questions (INFO, SCAN): every primary of a cluster, or
    the one server."""
    if hasattr(client, "get_primaries"):
        return client.get_primaries()
    return [None]
