"""The flush every ~10 seconds (beat), idempotent and safe to run in parallel workers."""

import logging
import time

from celery import shared_task
from django.conf import settings

from . import flush, services
from .redis_layout import sync_client, uses_redis

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 50
_last_sweep = 0.0  # per worker process: the sweep SCANs the counter store, so not every run


@shared_task(ignore_result=True)
def flush_usage() -> int:
    """Drain every source: each Redis stream shard (when configured) and the database queue
    (the embedded store, and calls recorded there while Redis was down), then bill the
    started calls whose gateway died, and forget request ids no duplicate can reach."""
    total = 0
    client = None
    if uses_redis():
        from redis.exceptions import RedisError

        client = sync_client(timeout=5)
        try:
            for source in flush.usage_sources()[1:]:
                shard = _shard(source)
                total += _drain(lambda shard=shard: flush.flush_redis(client, shard=shard))
        except RedisError:
            # the streams wait for Redis (their watermarks stop, so no period closes short);
            # the database queue (where calls go while Redis is down) is drained below
            logger.warning("usage flush: Redis unreachable; draining the database queue only")
            client.close()
            client = None
    total += _drain(flush.flush_database)
    try:
        total += _sweep(client)
    finally:
        if client is not None:
            client.close()
    flush.prune_settled()
    services.housekeeping()
    return total


def _shard(source: str) -> int:
    from .redis_layout import shard_of_source

    return shard_of_source(source)


def _sweep(client) -> int:
    global _last_sweep
    elapsed = time.monotonic() - _last_sweep  # negative if the clock was moved (tests)
    if 0 <= elapsed < settings.METERING_SWEEP_INTERVAL_S:
        return 0
    from redis.exceptions import RedisError

    try:
        orphans = flush.sweep_started(client)
    except RedisError:
        logger.warning("usage flush: Redis unreachable; started calls are swept later")
        return 0
    _last_sweep = time.monotonic()
    if orphans:
        logger.warning("billed %d calls whose gateway died before recording them", len(orphans))
        services.after_flush(orphans)
    return len(orphans)


def _drain(flush_batch) -> int:
    total = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        events = flush_batch()
        if not events:
            break
        services.after_flush(events)
        total += len(events)
    return total
