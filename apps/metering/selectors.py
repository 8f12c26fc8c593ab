"""Reads of usage: what billing rates, what the usage API and dashboards show."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import Coalesce, TruncDate

from .events import COMPLETED, STARTED, CallEvent
from .flush import flushed_through, settled_request_ids
from .models import COUNT_FIELDS, FlushState, StartedCall, UsageAggregate, UsageEvent

ZERO_UNITS = Decimal("0.000")


def _as_datetime(period_start: int | datetime) -> datetime:
    if isinstance(period_start, datetime):
        return period_start.replace(microsecond=0)  # periods start on whole seconds
    return datetime.fromtimestamp(period_start, tz=UTC)


def period_units(subscription_id: int, period_start: int | datetime) -> Decimal:
    """Billable units recorded against one billing period: what the rating engine bills."""
    total = UsageAggregate.objects.filter(
        subscription_id=subscription_id, period_start=_as_datetime(period_start)
    ).aggregate(units=Sum("billable_units"))["units"]
    return total or ZERO_UNITS


def units_by_term(subscription_id: int) -> dict[tuple[int | None, datetime], Decimal]:
    """Billable units per (term, billing period start) of one subscription: what billing
    rates under each term, and compares with what it rated already (late usage)."""
    rows = (
        UsageAggregate.objects.filter(subscription_id=subscription_id)
        .values("term_id", "period_start")
        .annotate(units=Sum("billable_units"))
        .order_by()
    )
    return {(row["term_id"], row["period_start"]): row["units"] for row in rows}


def period_units_milli(subscription_id: int, period_start: int | datetime) -> int:
    return int(period_units(subscription_id, period_start) * 1000)


def period_units_with_pending_milli(
    subscription_id: int, period_start: int, pending: list[CallEvent]
) -> int:
    """What a quota counter lost by its store is rebuilt to: the aggregates plus every call
    of the period not flushed yet — `pending` (read from Redis: the subscription's stream
    shard and its started calls), the database queue and the embedded store's started
    calls — each request id once, and none the flush already counted. A completed call
    counts its units; a call still in flight its started record's (minimum) units."""
    waiting = [CallEvent.decode(data) for data in UsageEvent.objects.values_list("data", flat=True)]
    waiting += [
        CallEvent.decode(data)
        for data in StartedCall.objects.filter(subscription_id=subscription_id).values_list(
            "data", flat=True
        )
    ]
    units, by_id = 0, {}
    for event in [*pending, *waiting]:
        if event.subscription_id != subscription_id or event.period_start != period_start:
            continue
        if event.kind not in (COMPLETED, STARTED):
            continue
        if not event.request_id:
            units += event.units_milli
        elif event.kind == COMPLETED or event.request_id not in by_id:
            by_id[event.request_id] = event  # a completion outranks its started record
    counted = settled_request_ids(by_id)
    units += sum(e.units_milli for rid, e in by_id.items() if rid not in counted)
    return period_units_milli(subscription_id, period_start) + units


def usage_flushed_through() -> datetime | None:
    """The moment up to which every usage source (each Redis stream shard, the database
    queue) is in the aggregates; None when one was never drained. Billing closes a period
    only once this is past its end. Raises `UsageSourceUnreachable` when Redis cannot be
    asked (the close then waits)."""
    from redis.exceptions import RedisError

    try:
        return flushed_through()
    except RedisError as error:
        raise UsageSourceUnreachable(str(error)) from error


class UsageSourceUnreachable(Exception):
    """A usage source (Redis) cannot be read: what it holds is unknown."""


def endpoints_with_usage(endpoint_ids: list[int]) -> set[int]:
    return set(
        UsageAggregate.objects.filter(endpoint_id__in=endpoint_ids)
        .values_list("endpoint_id", flat=True)
        .distinct()
    )


COUNTERS = [*COUNT_FIELDS, "billable_units"]


def _sums(queryset) -> dict:
    return queryset.aggregate(
        **{
            name: Coalesce(Sum(name), 0)
            if name != "billable_units"
            else Coalesce(Sum(name), ZERO_UNITS)
            for name in COUNTERS
        }
    )


def subscription_period_summary(subscription, period_start: datetime) -> dict:
    rows = UsageAggregate.objects.filter(subscription=subscription, period_start=period_start)
    return _sums(rows)


def subscription_usage_by_day(subscription, period_start: datetime) -> list[dict]:
    rows = (
        UsageAggregate.objects.filter(subscription=subscription, period_start=period_start)
        .annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("day")
        .annotate(
            calls=Sum("calls"),
            units=Sum("billable_units"),
            errors_4xx=Sum("status_4xx"),
            errors_5xx=Sum("status_5xx"),
            gateway_errors=Sum("gateway_errors"),
        )
        .order_by("day")
    )
    return list(rows)


def subscription_usage_by_endpoint(subscription, period_start: datetime) -> list[dict]:
    rows = (
        UsageAggregate.objects.filter(subscription=subscription, period_start=period_start)
        .values("endpoint_id", "endpoint__method", "endpoint__path")
        .annotate(
            calls=Sum("calls"),
            units=Sum("billable_units"),
            errors_5xx=Sum("status_5xx"),
            errors_4xx=Sum("status_4xx"),
        )
        .order_by("-calls")
    )
    return list(rows)


def subscription_usage_by_key(subscription, period_start: datetime) -> list[dict]:
    rows = (
        UsageAggregate.objects.filter(subscription=subscription, period_start=period_start)
        .values("api_key_id")
        .annotate(calls=Sum("calls"), units=Sum("billable_units"))
        .order_by("-calls")
    )
    return list(rows)


def pending_events() -> dict[str, int]:
    """Usage events recorded and not yet flushed, per source: the database queue (the
    embedded store, and calls recorded while Redis was down) and, with Redis, each stream
    shard's entries after the flush's cursor. What `flush_usage --dry-run` reports."""
    from .flush import usage_sources
    from .redis_layout import shard_of_source, stream_key, sync_client

    pending = {"database": UsageEvent.objects.count()}
    shards = [(source, shard_of_source(source)) for source in usage_sources()[1:]]
    if not shards:
        return pending
    cursors = dict(FlushState.objects.values_list("source", "last_id"))
    client = sync_client(timeout=5)
    try:
        for source, shard in shards:
            stream, cursor = stream_key(shard), cursors.get(source) or "0-0"
            # entries up to the cursor are flushed already (a crash left them behind)
            leftovers = len(client.xrange(stream, max=cursor)) if cursor != "0-0" else 0
            pending[source] = client.xlen(stream) - leftovers
    finally:
        client.close()
    return pending
