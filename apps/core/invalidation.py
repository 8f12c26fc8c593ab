"""Cache invalidation news for the gateway's caches: lower apps publish what changed
("key", "api", "subscription", "organization", "plan"); the gateway listens.

With Redis, news goes out on a pub/sub channel and each gateway process drops its
in-process entries within milliseconds. Without Redis (the embedded store, one process),
the gateway reads a version counter from the database at most once a second. Either way a
change is effective everywhere within one second; the cache TTL is only the backstop.
Publishing happens after the surrounding transaction commits."""

import json
import logging

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)
CHANNEL = "tg:invalidate"


def publish_invalidation(kind: str, key: str) -> None:
    transaction.on_commit(lambda: _publish_now(kind, str(key)))


def _publish_now(kind: str, key: str) -> None:
    from .models import CacheVersion

    CacheVersion.bump()
    if not settings.REDIS_URL:
        return
    import redis

    message = json.dumps({"kind": kind, "key": key})
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
        try:
            client.delete(f"tg:cache:{kind}:{key}")
            client.publish(CHANNEL, message)
        finally:
            client.close()
    except redis.RedisError:
        # the database version bump above still reaches every process within a second
        logger.warning("could not publish invalidation %s", message)
