"""The flush every ~10 seconds (beat), idempotent and safe to run in parallel workers."""

import logging

from celery import shared_task
from django.conf import settings

from . import flush, services

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 50


@shared_task(ignore_result=True)
def flush_usage() -> int:
    """Drain both sources: Redis (when configured) and the database queue (the embedded
    store, and calls recorded there while Redis was down)."""
    total = 0
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        try:
            total += _drain(lambda: flush.flush_redis(client))
        except redis.RedisError:
            # the stream waits for Redis; the database queue (where calls go while Redis is
            # down) is drained below all the same
            logger.warning("usage flush: Redis unreachable; draining the database queue only")
        finally:
            client.close()
    total += _drain(flush.flush_database)
    services.housekeeping()
    return total


def _drain(flush_batch) -> int:
    total = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        events = flush_batch()
        if not events:
            break
        services.after_flush(events)
        total += len(events)
    return total
