"""Per-process gateway state: the pooled upstream session, the counter stores and caches."""

import asyncio

import aiohttp
from django.conf import settings

from apps.core.models import CacheVersion
from apps.metering.stores import make_store

from .cache import SnapshotCache
from .metrics import GatewayMetrics
from .netsafe import SafeResolver


class GatewayState:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.metrics = GatewayMetrics()
        self.store = make_store(on_fallback=self.metrics.store_error)
        self.cache = _make_cache()
        self.cache.start_listener()
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=0,
                ttl_dns_cache=60,
                keepalive_timeout=30,
                resolver=SafeResolver(lambda: settings.UPSTREAM_ALLOW_PRIVATE),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.store.close()
        if self.cache.listener is not None:
            self.cache.listener.cancel()


def _make_cache() -> SnapshotCache:
    redis_client = pubsub_client = None
    if settings.REDIS_URL:
        import redis.asyncio as aioredis

        redis_client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        # pub/sub waits for messages indefinitely: no read timeout on its own connection
        pubsub_client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, health_check_interval=30
        )
    return SnapshotCache(
        redis_client=redis_client,
        pubsub_client=pubsub_client,
        ttl=settings.GATEWAY_CACHE_TTL_S,
        negative_ttl=settings.GATEWAY_NEGATIVE_CACHE_TTL_S,
        version_reader=None if redis_client else CacheVersion.current,
    )
