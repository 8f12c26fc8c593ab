"""The recent request log of a subscription: the last few hundred calls (time, key prefix,
method, path, status, latency, units). Kept bounded in Redis (a capped list written by the
gateway after the response) or, on the embedded store, in the database."""

import json
from datetime import UTC, datetime

from django.conf import settings

from apps.metering.models import RequestLogEntry
from apps.metering.stores.redis_store import REQUEST_LOG_LENGTH, request_log_key


def _raw_lines(subscription) -> list[str]:
    if settings.COUNTER_STORE == "redis" and settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        try:
            lines = [
                v.decode()
                for v in client.lrange(request_log_key(subscription.pk), 0, REQUEST_LOG_LENGTH - 1)
            ]
        finally:
            client.close()
    else:
        lines = []
    lines += list(
        RequestLogEntry.objects.filter(subscription_id=subscription.pk)
        .order_by("-id")
        .values_list("data", flat=True)[:REQUEST_LOG_LENGTH]
    )
    return lines


def recent_calls(subscription) -> list[dict]:
    calls = []
    for line in _raw_lines(subscription):
        try:
            call = json.loads(line)
        except ValueError:
            continue
        call["at"] = datetime.fromtimestamp(call["t"], tz=UTC)
        calls.append(call)
    calls.sort(key=lambda c: c["t"], reverse=True)
    return calls[:REQUEST_LOG_LENGTH]
