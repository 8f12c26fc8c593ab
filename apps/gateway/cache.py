"""Two cache layers in front of the database: a per-process TTL dict (no I/O in the steady
state) and Redis (shared by processes, saves the database on cold starts). Misses for the
same key are coalesced, so a burst of calls with a new key costs one query.

Invalidation: lower apps publish (kind, key) after commit (apps.core.invalidation); each
process listens on Redis pub/sub and drops the entry at once. Without Redis, the process
polls the database's cache version at most once a second and clears its cache when it
moved. The TTL is only the backstop."""

import asyncio
import json
import logging
import time
from collections.abc import Callable

from asgiref.sync import sync_to_async

from apps.core.invalidation import CHANNEL

from . import snapshots

logger = logging.getLogger(__name__)
MISSING = object()
VERSION_POLL_S = 1.0


class LocalCache:
    def __init__(self):
        self.entries: dict[tuple[str, str], tuple[float, object]] = {}

    def get(self, kind: str, key: str, now: float):
        entry = self.entries.get((kind, key))
        if entry is None or entry[0] <= now:
            return MISSING
        return entry[1]

    def put(self, kind: str, key: str, value, ttl: float, now: float) -> None:
        if len(self.entries) > 100_000:  # a flood of distinct bad keys must not eat memory
            self.entries.clear()
        self.entries[(kind, key)] = (now + ttl, value)

    def drop(self, kind: str, key: str) -> None:
        self.entries.pop((kind, key), None)

    def clear(self) -> None:
        self.entries.clear()


CLASSES = {
    "api": snapshots.ApiSnapshot,
    "key": snapshots.KeySnapshot,
    "organization": snapshots.OrganizationSnapshot,
    "plan": snapshots.PlanSnapshot,
    "subscription": snapshots.SubscriptionSnapshot,
}


class SnapshotCache:
    def __init__(
        self,
        *,
        redis_client=None,
        pubsub_client=None,
        ttl: float,
        negative_ttl: float,
        version_reader: Callable[[], int] | None = None,
    ):
        self.local = LocalCache()
        self.redis = redis_client
        self.pubsub_client = pubsub_client or redis_client
        self.ttl, self.negative_ttl = ttl, negative_ttl
        self.inflight: dict[tuple[str, str], asyncio.Future] = {}
        self.version_reader = version_reader
        self.version: int | None = None
        self.version_checked_at = 0.0
        self.listener: asyncio.Task | None = None

    async def get(self, kind: str, key: str, loader: Callable[[str], object]):
        now = time.monotonic()
        if self.version_reader is not None and now - self.version_checked_at >= VERSION_POLL_S:
            await self._poll_version(now)
        value = self.local.get(kind, key, now)
        if value is not MISSING:
            return value
        pending = self.inflight.get((kind, key))
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self.inflight[(kind, key)] = future
        try:
            value = await self._fill(kind, key, loader, now)
            future.set_result(value)
            return value
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self.inflight.pop((kind, key), None)

    async def _fill(self, kind: str, key: str, loader, now: float):
        value = await self._from_redis(kind, key)
        if value is MISSING:
            value = await sync_to_async(loader)(key)
            await self._to_redis(kind, key, value)
        ttl = self.ttl if value is not None else self.negative_ttl
        self.local.put(kind, key, value, ttl, now)
        return value

    async def _from_redis(self, kind: str, key: str):
        if self.redis is None:
            return MISSING
        try:
            raw = await self.redis.get(f"tg:cache:{kind}:{key}")
        except Exception:  # the cache is an optimisation: fall through to the database
            return MISSING
        if raw is None:
            return MISSING
        data = json.loads(raw)
        return None if data is None else snapshots.loads(CLASSES[kind], data)

    async def _to_redis(self, kind: str, key: str, value) -> None:
        if self.redis is None:
            return
        data = None if value is None else snapshots.dumps(value)
        ttl = self.ttl if value is not None else self.negative_ttl
        try:
            await self.redis.set(f"tg:cache:{kind}:{key}", json.dumps(data), ex=max(int(ttl), 1))
        except Exception:
            logger.warning("could not write the gateway cache to Redis")

    async def _poll_version(self, now: float) -> None:
        self.version_checked_at = now
        version = await sync_to_async(self.version_reader)()
        if self.version is not None and version != self.version:
            self.local.clear()
        self.version = version

    def invalidate(self, kind: str, key: str) -> None:
        self.local.drop(kind, key)

    def start_listener(self) -> None:
        if self.redis is None or self.listener is not None:
            return
        self.listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self.pubsub_client.pubsub()
                await pubsub.subscribe(CHANNEL)
                self.local.clear()  # anything may have changed while we were not listening
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = json.loads(message["data"])
                        self.invalidate(data["kind"], data["key"])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("invalidation listener lost Redis; retrying in 1 s")
                self.local.clear()
                await asyncio.sleep(1)
