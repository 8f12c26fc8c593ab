"""The flush: hot-path usage events → hourly aggregates, exactly once.

Redis: events sit in a stream. The flush locks its ledger row (FlushState), reads the entries
after the ledger's cursor, adds them to the aggregates and moves the cursor — all in one
database transaction — and only then deletes the entries from Redis. A crash before the
commit writes nothing (the entries are read again); a crash after it leaves entries the
cursor already covers (they are skipped, then trimmed). Repeats change nothing.

Database (embedded store): events are rows; the flush aggregates and deletes them in one
transaction."""

import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from .events import CallEvent
from .models import (
    COUNT_FIELDS,
    LATENCY_BUCKETS_MS,
    FlushState,
    UsageAggregate,
    UsageDaily,
    UsageEvent,
)

BATCH_SIZE = 5000
STREAM = "tg:usage"


def _bucket_index(latency_ms: int) -> int:
    for index, upper in enumerate(LATENCY_BUCKETS_MS):
        if latency_ms <= upper:
            return index
    return len(LATENCY_BUCKETS_MS)


def hourly_key(event: CallEvent) -> tuple:
    hour = event.ts_ms // 1000 // 3600 * 3600
    return (
        event.subscription_id,
        event.api_key_id,
        event.endpoint_id,
        _when(hour),
        _when(event.period_start),
    )


def daily_key(event: CallEvent) -> tuple:
    return (event.subscription_id, event.endpoint_id, _when(event.ts_ms // 1000).date())


# (model, bucket key of an event, the model fields that key names, the time field)
GRAINS = [
    (
        UsageAggregate,
        hourly_key,
        ("subscription_id", "api_key_id", "endpoint_id", "hour", "period_start"),
        "hour",
    ),
    (UsageDaily, daily_key, ("subscription_id", "endpoint_id", "day"), "day"),
]


def _empty_counts() -> dict:
    return {
        **dict.fromkeys(COUNT_FIELDS, 0),
        "units_micro": 0,
        "histogram": [0] * (len(LATENCY_BUCKETS_MS) + 1),
    }


def summarize(events: list[CallEvent], key=hourly_key) -> dict[tuple, dict]:
    """Pure: events → counts per bucket (by default subscription, key, endpoint, hour and
    billing period)."""
    buckets: dict[tuple, dict] = defaultdict(_empty_counts)
    for event in events:
        counts = buckets[key(event)]
        counts["calls"] += 1
        counts["billable_calls"] += 1 if event.units_micro > 0 else 0
        counts["units_micro"] += event.units_micro
        counts["invalid_unit_reports"] += 1 if event.units_invalid else 0
        status_class = f"status_{min(max(event.status // 100, 2), 5)}xx"
        counts[status_class] += 1
        counts["gateway_errors"] += 1 if event.gateway_error else 0
        counts["bytes_in"] += event.bytes_in
        counts["bytes_out"] += event.bytes_out
        counts["latency_ms_sum"] += event.latency_ms
        counts["histogram"][_bucket_index(event.latency_ms)] += 1
    return buckets


def _when(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def apply_events(events: list[CallEvent]) -> int:
    """Adds events to the hourly and daily aggregates. Call inside the flush's transaction."""
    written = 0
    for model, key, fields, time_field in GRAINS:
        written += _apply(model, summarize(events, key), fields, time_field)
    return written


def _apply(model, buckets: dict, fields: tuple, time_field: str) -> int:
    if not buckets:
        return 0
    existing = _existing_rows(model, buckets, fields, time_field)
    to_create, to_update = [], []
    for bucket, counts in buckets.items():
        row = existing.get(bucket)
        if row is None:
            row = model(
                **dict(zip(fields, bucket, strict=True)),
                billable_units=Decimal("0"),
                latency_histogram=[0] * (len(LATENCY_BUCKETS_MS) + 1),
            )
            to_create.append(row)
        else:
            to_update.append(row)
        _add(row, counts)
    model.objects.bulk_create(to_create, batch_size=500)
    model.objects.bulk_update(
        to_update, [*COUNT_FIELDS, "billable_units", "latency_histogram"], batch_size=500
    )
    return len(buckets)


def _add(row, counts: dict) -> None:
    for field in COUNT_FIELDS:
        setattr(row, field, getattr(row, field) + counts[field])
    row.billable_units = Decimal(row.billable_units) + Decimal(counts["units_micro"]).scaleb(-6)
    histogram = list(row.latency_histogram) or [0] * len(counts["histogram"])
    row.latency_histogram = [a + b for a, b in zip(histogram, counts["histogram"], strict=True)]


def _existing_rows(model, buckets: dict, fields: tuple, time_field: str) -> dict:
    position = fields.index(time_field)
    rows = model.objects.select_for_update().filter(
        subscription_id__in={bucket[0] for bucket in buckets},
        **{f"{time_field}__in": {bucket[position] for bucket in buckets}},
    )
    return {tuple(getattr(row, field) for field in fields): row for row in rows}


def _state(source: str) -> FlushState:
    state, _ = FlushState.objects.get_or_create(source=source)
    return FlushState.objects.select_for_update().get(pk=state.pk)


def _finish(state: FlushState, events: list[CallEvent], last_id: str) -> None:
    now = timezone.now()
    state.last_id = last_id
    state.flushed_events += len(events)
    state.flushed_batches += 1
    state.last_flush_at = now
    state.last_batch_size = len(events)
    oldest = min(e.ts_ms for e in events) / 1000
    state.last_lag_seconds = max(0.0, time.time() - oldest)
    state.save()


# --- Redis ------------------------------------------------------------------------------
def flush_redis(client, *, batch_size: int = BATCH_SIZE, after_commit=None) -> list[CallEvent]:
    """One batch from the stream. `client` is a sync redis client."""
    with transaction.atomic():
        state = _state("redis")
        client.xtrim(STREAM, minid=state.last_id, approximate=False)  # leftovers of a crash
        entries = client.xrange(STREAM, min=f"({state.last_id}", count=batch_size)
        if not entries:
            return []
        events = [CallEvent.decode(fields[b"d"].decode()) for _, fields in entries]
        apply_events(events)
        last_id = entries[-1][0].decode()
        _finish(state, events, last_id)
    if after_commit:
        after_commit()  # tests use it to simulate a crash after the commit
    client.xdel(STREAM, *[entry_id for entry_id, _ in entries])
    return events


# --- Database (embedded store) -------------------------------------------------------------
def flush_database(*, batch_size: int = BATCH_SIZE) -> list[CallEvent]:
    with transaction.atomic():
        state = _state("database")
        rows = list(UsageEvent.objects.select_for_update().order_by("id")[:batch_size])
        if not rows:
            return []
        events = [CallEvent.decode(row.data) for row in rows]
        apply_events(events)
        UsageEvent.objects.filter(id__in=[row.id for row in rows]).delete()
        _finish(state, events, str(rows[-1].id))
    return events


def last_used_by_key(events: list[CallEvent]) -> dict[int, datetime]:
    latest: dict[int, int] = {}
    for event in events:
        latest[event.api_key_id] = max(latest.get(event.api_key_id, 0), event.ts_ms)
    return {key_id: datetime.fromtimestamp(ts / 1000, tz=UTC) for key_id, ts in latest.items()}
