"""The flush: hot-path usage events → hourly aggregates, exactly once.

Redis: events sit in `USAGE_STREAM_SHARDS` streams. For each, the flush locks its ledger row
(FlushState), reads the entries after the ledger's cursor, adds them to the aggregates and
moves the cursor — all in one database transaction — and only then deletes the entries from
Redis. A crash before the commit writes nothing (the entries are read again); a crash after
it leaves entries the cursor already covers (they are skipped, then trimmed). Repeats
change nothing.

Database (embedded store, and Redis's fallback): events are rows; the flush aggregates and
deletes them in one transaction.

Across sources, a request id is counted once: the ids the flush counted are written
(`MeteredCall`) in the transaction that counts them, so a call that reached two sources (a
Redis write that timed out but happened, and its database fallback) or the same source
twice is counted the first time only.

Started records (admission's, removed by the completion) that outlive
`METERING_ORPHAN_AFTER_S` belong to calls whose gateway died mid-call: `sweep_started`
bills each as one call at the plan's minimum units — once every source is drained past the
moment its completion would have been written.

Each source's watermark (`FlushState.flushed_through`) is the moment up to which it is
drained: a read that came back short of a full batch saw everything written before it."""

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.subscriptions.selectors import timelines_for

from .events import ORPHANED, REFUSED, CallEvent
from .models import (
    COUNT_FIELDS,
    LATENCY_BUCKETS_MS,
    FlushState,
    MeteredCall,
    StartedCall,
    UsageAggregate,
    UsageDaily,
    UsageEvent,
)
from .redis_layout import STARTED_PATTERN, stream_key, stream_source
from .refusals import apply_refusals

BATCH_SIZE = 5000
STREAM = stream_key(0)
CLAIM_CHUNK = 1000


class Batch(list):
    """The events a batch counted for the first time; true while the batch read anything
    (a batch of duplicates counts nothing, yet the source is not drained)."""

    def __init__(self, events=(), read: int = 0):
        super().__init__(events)
        self.read = read

    def __bool__(self) -> bool:
        return self.read > 0


def _bucket_index(latency_ms: int) -> int:
    for index, upper in enumerate(LATENCY_BUCKETS_MS):
        if latency_ms <= upper:
            return index
    return len(LATENCY_BUCKETS_MS)


def hourly_key(event: CallEvent, timelines: dict | None = None) -> tuple:
    hour = event.ts_ms // 1000 // 3600 * 3600
    return (
        event.subscription_id,
        event.api_key_id,
        event.endpoint_id,
        _when(hour),
        _when(event.period_start),
        _term_of(event, timelines),
    )


def _term_of(event: CallEvent, timelines: dict | None) -> int | None:
    """The subscription's term (plan and price version) in force when the call was made,
    so billing rates it under the terms it was used under (None: no timeline yet)."""
    timeline = (timelines or {}).get(event.subscription_id)
    return None if timeline is None else timeline.term_at(event.ts_ms / 1000, event.period_start)


def daily_key(event: CallEvent, timelines: dict | None = None) -> tuple:
    return (event.subscription_id, event.endpoint_id, _when(event.ts_ms // 1000).date())


# (model, bucket key of an event, the model fields that key names, the time field)
GRAINS = [
    (
        UsageAggregate,
        hourly_key,
        ("subscription_id", "api_key_id", "endpoint_id", "hour", "period_start", "term_id"),
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
        if not event.billed:
            continue
        counts = buckets[key(event)]
        counts["calls"] += 1
        counts["billable_calls"] += 1 if event.units_micro > 0 else 0
        counts["units_micro"] += event.units_micro
        counts["invalid_unit_reports"] += 1 if event.units_invalid else 0
        if event.kind == ORPHANED:  # the outcome is unknown: no status, no latency
            counts["unsettled_calls"] += 1
            continue
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
    """Adds events to the hourly and daily aggregates (refusals to the refusal counts).
    Call inside the flush's transaction."""
    timelines = timelines_for({event.subscription_id for event in events if event.billed})
    written = apply_refusals(events)  # counted apart: never billed (refusals.py)
    for model, key, fields, time_field in GRAINS:
        buckets = summarize(events, partial(key, timelines=timelines))
        written += _apply(model, buckets, fields, time_field)
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


def stream_cursor(source: str) -> str:
    return FlushState.objects.filter(source=source).values_list("last_id", flat=True).first() or (
        "0-0"
    )


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


def _drained(state: FlushState, read_at: datetime, batch: int, batch_size: int) -> None:
    """A read that came back short of a full batch saw everything written before it."""
    if batch < batch_size:
        state.flushed_through = read_at


# --- Counting each request id once ---------------------------------------------------------
def claim(events: list[CallEvent]) -> list[CallEvent]:
    """The events whose request id no flush has counted yet, marking them counted. Call
    inside the transaction that counts them: if it rolls back, so do the marks; a second
    flush racing for the same id waits on the unique index and then finds it taken."""
    fresh, by_id = [], {}
    for event in events:
        # recorded before request ids existed; or a refusal: never billed, so not kept
        # among the counted ids (which are the billed calls, one each)
        if not event.request_id or event.kind == REFUSED:
            fresh.append(event)
        else:
            by_id.setdefault(event.request_id, event)
    if not by_id:
        return fresh
    claimed = _insert_request_ids(list(by_id))
    return fresh + [event for request_id, event in by_id.items() if request_id in claimed]


def _insert_request_ids(request_ids: list[str]) -> set[str]:
    table = connection.ops.quote_name(MeteredCall._meta.db_table)
    now = timezone.now()
    claimed: set[str] = set()
    with connection.cursor() as cursor:
        for n in range(0, len(request_ids), CLAIM_CHUNK):
            chunk = request_ids[n : n + CLAIM_CHUNK]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            params = [v for request_id in chunk for v in (request_id, now)]
            cursor.execute(
                f"INSERT INTO {table} (request_id, settled_at) VALUES {values} "  # noqa: S608
                "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
                params,
            )
            claimed.update(row[0] for row in cursor.fetchall())
    return claimed


def settled_request_ids(request_ids) -> set[str]:
    return set(
        MeteredCall.objects.filter(request_id__in=list(request_ids)).values_list(
            "request_id", flat=True
        )
    )


def prune_settled(now: datetime | None = None) -> int:
    """Forget request ids once every source is drained well past the time they were counted:
    a duplicate of a call is written around the time of the call itself, so it has been
    read by then."""
    through = flushed_through(stored_only=True)
    if through is None:
        return 0
    keep = timedelta(seconds=settings.METERING_DEDUPE_RETENTION_S)
    cutoff = min(through, now or timezone.now()) - keep
    deleted, _ = MeteredCall.objects.filter(settled_at__lt=cutoff).delete()
    return deleted


# --- Redis ------------------------------------------------------------------------------
def flush_redis(
    client, *, shard: int = 0, batch_size: int = BATCH_SIZE, after_commit=None
) -> Batch:
    """One batch from one stream shard. `client` is a blocking redis client (or cluster)."""
    stream, source = stream_key(shard), stream_source(shard)
    with transaction.atomic():
        state = _state(source)
        client.xtrim(stream, minid=state.last_id, approximate=False)  # leftovers of a crash
        read_at = timezone.now()
        entries = client.xrange(stream, min=f"({state.last_id}", count=batch_size)
        _drained(state, read_at, len(entries), batch_size)
        if not entries:
            state.save(update_fields=["flushed_through"])
            return Batch()
        events = [CallEvent.decode(fields[b"d"].decode()) for _, fields in entries]
        fresh = claim(events)
        apply_events(fresh)
        last_id = entries[-1][0].decode()
        _finish(state, events, last_id)
    if after_commit:
        after_commit()  # tests use it to simulate a crash after the commit
    client.xdel(stream, *[entry_id for entry_id, _ in entries])
    return Batch(fresh, len(entries))


# --- Database (embedded store, and the fallback while Redis cannot take usage) -------------
def flush_database(*, batch_size: int = BATCH_SIZE) -> Batch:
    with transaction.atomic():
        state = _state("database")
        read_at = timezone.now()
        rows = list(UsageEvent.objects.select_for_update().order_by("id")[:batch_size])
        _drained(state, read_at, len(rows), batch_size)
        if not rows:
            state.save(update_fields=["flushed_through"])
            return Batch()
        events = [CallEvent.decode(row.data) for row in rows]
        fresh = claim(events)
        apply_events(fresh)
        UsageEvent.objects.filter(id__in=[row.id for row in rows]).delete()
        _finish(state, events, str(rows[-1].id))
    return Batch(fresh, len(rows))


# --- Watermarks ---------------------------------------------------------------------------
def usage_sources() -> list[str]:
    """Every source usage can wait in: the database queue, and with Redis each stream shard
    configured (and any shard a larger setting left behind, until it is empty)."""
    from .redis_layout import shard_count, shard_of_source, uses_redis

    sources = ["database"]
    if uses_redis():
        sources += [stream_source(shard) for shard in range(shard_count())]
        known = FlushState.objects.values_list("source", flat=True)
        sources += sorted({s for s in known if shard_of_source(s) is not None and s not in sources})
    return sources


def flushed_through(*, client=None, stored_only: bool = False) -> datetime | None:
    """The moment up to which every usage source is in the aggregates (the earliest of their
    watermarks), or None if one was never drained. A source that holds nothing right now is
    drained up to now. `stored_only`: the watermarks as the last flushes left them, without
    asking Redis (None if Redis was never drained). Raises RedisError if Redis is needed
    and unreachable."""
    rows = {row.source: row.flushed_through for row in FlushState.objects.all()}
    now = timezone.now()
    marks = []
    for source in usage_sources():
        mark = rows.get(source)
        if not stored_only and _source_is_empty(source, client):
            mark = now
        if mark is None:
            return None
        marks.append(mark)
    return min(marks)


def _source_is_empty(source: str, client) -> bool:
    from .redis_layout import shard_of_source, sync_client

    if source == "database":
        return not UsageEvent.objects.exists()
    shard = shard_of_source(source)
    own = client is None
    client = client or sync_client(timeout=2)
    try:
        cursor = stream_cursor(source)
        return not client.xrange(stream_key(shard), min=f"({cursor}", count=1)
    finally:
        if own:
            client.close()


# --- Started calls whose completion never came ---------------------------------------------
def sweep_started(client=None, *, now: float | None = None) -> list[CallEvent]:
    """Started records whose call was counted are dropped; those older than
    `METERING_ORPHAN_AFTER_S` whose completion cannot arrive any more (every source is
    drained past the moment it would have been written) are billed as orphans, once."""
    now = time.time() if now is None else now
    give_up_ms = int((now - settings.METERING_ORPHAN_AFTER_S) * 1000)
    stored = flushed_through(stored_only=True)
    drained_ms = int(stored.timestamp() * 1000) if stored else 0
    orphans = []
    db_starts = [
        (CallEvent.decode(data), pk) for pk, data in StartedCall.objects.values_list("pk", "data")
    ]
    orphans += _settle_starts(db_starts, give_up_ms, drained_ms, _drop_database_starts)
    if client is not None:
        for key in client.scan_iter(match=STARTED_PATTERN, count=1000):
            starts = [(CallEvent.decode(v.decode()), k) for k, v in client.hgetall(key).items()]

            def drop(request_ids, key=key):
                client.hdel(key, *request_ids)

            orphans += _settle_starts(starts, give_up_ms, drained_ms, drop)
    return orphans


def _settle_starts(starts: list, give_up_ms: int, drained_ms: int, drop) -> list[CallEvent]:
    if not starts:
        return []
    settled = settled_request_ids(start.request_id for start, _ in starts)
    done = [handle for start, handle in starts if start.request_id in settled]
    waiting = [
        start
        for start, _ in starts
        if start.request_id not in settled
        and start.ts_ms < give_up_ms
        and start.ts_ms + settings.METERING_ORPHAN_AFTER_S * 1000 <= drained_ms
    ]
    orphans = []
    if waiting:
        with transaction.atomic():
            state = _state("started")
            orphans = claim([start.orphaned() for start in waiting])
            apply_events(orphans)
            if orphans:
                _finish(state, orphans, state.last_id)
        handles = {start.request_id: handle for start, handle in starts}
        done += [handles[start.request_id] for start in waiting]
    if done:
        drop(done)
    return orphans


def _drop_database_starts(pks: list[int]) -> None:
    StartedCall.objects.filter(pk__in=pks).delete()


def last_used_by_key(events: list[CallEvent]) -> dict[int, datetime]:
    latest: dict[int, int] = {}
    for event in events:
        latest[event.api_key_id] = max(latest.get(event.api_key_id, 0), event.ts_ms)
    return {key_id: datetime.fromtimestamp(ts / 1000, tz=UTC) for key_id, ts in latest.items()}
