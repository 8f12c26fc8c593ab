"""Reads of usage: what billing rates, what the usage API and dashboards show."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import Coalesce, TruncDate

from .models import COUNT_FIELDS, UsageAggregate

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
    embedded store, and calls recorded while Redis was down) and, with Redis, the stream
    entries after the flush's cursor. What `flush_usage --dry-run` reports."""
    from django.conf import settings

    from .flush import STREAM
    from .models import FlushState, UsageEvent

    pending = {"database": UsageEvent.objects.count()}
    if settings.REDIS_URL:
        import redis

        cursor = FlushState.objects.filter(source="redis").values_list("last_id", flat=True)
        cursor = cursor.first() or "0-0"
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        try:
            # entries up to the cursor are flushed already (a crash left them behind)
            leftovers = len(client.xrange(STREAM, max=cursor)) if cursor != "0-0" else 0
            pending["redis"] = client.xlen(STREAM) - leftovers
        finally:
            client.close()
    return pending
