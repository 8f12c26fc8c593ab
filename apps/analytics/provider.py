"""The provider's dashboard: traffic, errors, latency, money and subscribers of their APIs
over a range, computed in the database (sums and histogram sums), a fixed number of
queries whatever the range or the number of subscriptions."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.apps import apps
from django.db.models import BigIntegerField, Count, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from apps.billing.models import InvoiceLine, InvoiceStatus
from apps.metering.models import LATENCY_BUCKETS_MS, UsageAggregate, UsageDaily
from apps.metering.refusals import refusals_by_code, refusals_of_apis
from apps.subscriptions.models import Subscription, SubscriptionStatus

from . import percentiles
from .ranges import Range

COUNTERS = (
    "calls",
    "billable_units",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "gateway_errors",
    "latency_ms_sum",
    "invalid_unit_reports",
)
BUCKETS = len(LATENCY_BUCKETS_MS) + 1


def _sums() -> dict:
    sums = {
        name: Coalesce(Sum(name), 0)
        if name != "billable_units"
        else Coalesce(Sum(name), Decimal(0))
        for name in COUNTERS
    }
    for index in range(BUCKETS):
        sums[f"h{index}"] = Coalesce(
            Sum(Cast(KeyTextTransform(str(index), "latency_histogram"), BigIntegerField())), 0
        )
    return sums


def _with_latency(row: dict) -> dict:
    histogram = [row.pop(f"h{index}") for index in range(BUCKETS)]
    row.update(percentiles.summary(histogram))
    calls = row["calls"] or 0
    errors = row["status_4xx"] + row["status_5xx"]
    row["error_rate"] = errors * 100 / calls if calls else 0.0
    row["server_error_rate"] = row["status_5xx"] * 100 / calls if calls else 0.0
    return row


def usage_rows(organization, rng: Range, api=None):
    model, time_field = (UsageAggregate, "hour") if rng.hourly else (UsageDaily, "day")
    start = rng.start if rng.hourly else rng.start.date()
    end = rng.end if rng.hourly else rng.end.date()
    # the provider's subscription ids first: the big table is then read by (time,
    # subscription) without joining two tables for every row
    subscriptions = Subscription.objects.filter(api__organization=organization)
    if api is not None:
        subscriptions = subscriptions.filter(api=api)
    ids = list(subscriptions.values_list("pk", flat=True))
    rows = model.objects.filter(
        subscription_id__in=ids, **{f"{time_field}__gte": start, f"{time_field}__lt": end}
    )
    return rows, time_field


def _add_up(groups: list[dict]) -> dict:
    names = [*COUNTERS, *(f"h{index}" for index in range(BUCKETS))]
    totals = dict.fromkeys(names, 0)
    totals["billable_units"] = Decimal(0)
    for group in groups:
        for name in names:
            totals[name] += group[name] or 0
    return totals


@dataclass
class ProviderDashboard:
    range: Range
    totals: dict
    series: list[dict]
    endpoints: list[dict]
    consumers: list[dict]
    money: dict
    subscribers: list[dict] = field(default_factory=list)
    refused: dict = field(default_factory=dict)  # calls the gateway refused: total, by_code


def provider_dashboard(organization, rng: Range, api=None) -> ProviderDashboard:
    rows, time_field = usage_rows(organization, rng, api)
    per_endpoint = list(
        rows.values("endpoint_id", "endpoint__method", "endpoint__path", "subscription__api__name")
        .annotate(**_sums())
        .order_by("-calls")
    )
    # the totals are the endpoint groups added up: one pass over the rows, not two
    totals = _with_latency(_add_up(per_endpoint))
    by_time = {
        r[time_field]: r
        for r in rows.values(time_field).annotate(
            calls=Sum("calls"),
            errors=Sum("status_4xx") + Sum("status_5xx"),
            units=Sum("billable_units"),
        )
    }
    series = [
        {
            "at": bucket,
            "calls": by_time.get(bucket, {}).get("calls") or 0,
            "errors": by_time.get(bucket, {}).get("errors") or 0,
            "units": by_time.get(bucket, {}).get("units") or 0,
        }
        for bucket in rng.buckets()
    ]
    endpoints = [_with_latency(r) for r in per_endpoint[:50]]
    consumers = list(
        rows.values("subscription__organization__name", "subscription__organization__public_id")
        .annotate(
            calls=Sum("calls"),
            units=Sum("billable_units"),
            errors=Sum("status_5xx") + Sum("status_4xx"),
        )
        .order_by("-calls")[:10]
    )
    return ProviderDashboard(
        range=rng,
        totals=totals,
        series=series,
        endpoints=endpoints,
        consumers=consumers,
        money=money(organization, rng, api),
        subscribers=subscribers_over_time(organization, rng, api),
        refused=refusals_by_code(refusals_of_apis(organization, rng, api)),
    )


def money(organization, rng: Range, api=None) -> dict:
    """Billed: the rating engine's invoice lines for the provider's APIs issued in range.
    Earned and paid out: the payouts ledger (the provider's share after the fee)."""
    lines = InvoiceLine.objects.filter(
        provider=organization,
        invoice__issued_at__gte=rng.start,
        invoice__issued_at__lt=rng.end,
        invoice__status__in=[InvoiceStatus.OPEN, InvoiceStatus.PAID],
    )
    if api is not None:
        lines = lines.filter(api=api)
    billed = lines.aggregate(
        billed=Coalesce(Sum("amount"), Decimal(0)),
        collected=Coalesce(Sum("amount", filter=Q(invoice__status=InvoiceStatus.PAID)), Decimal(0)),
    )
    billed.update(_ledger(organization, rng))
    return billed


def _ledger(organization, rng: Range) -> dict:
    if not apps.is_installed("apps.payouts"):
        return {"earned": None, "paid_out": None}
    from apps.payouts.selectors import ledger_summary

    return ledger_summary(organization, rng.start, rng.end)


def subscribers_over_time(organization, rng: Range, api=None) -> list[dict]:
    """Live subscriptions at the end of each day of the range (UTC): +1 on the day one
    starts, −1 on the day it is canceled, summed up to each day in one sweep."""
    subscriptions = Subscription.objects.filter(api__organization=organization).exclude(
        status=SubscriptionStatus.PENDING_PAYMENT
    )
    if api is not None:
        subscriptions = subscriptions.filter(api=api)
    changes: dict = defaultdict(int)
    for created, canceled in subscriptions.values_list("created_at", "canceled_at"):
        changes[created.astimezone(UTC).date()] += 1
        if canceled is not None:
            changes[canceled.astimezone(UTC).date()] -= 1
    pending = sorted(changes.items())
    days = sorted({b.date() if isinstance(b, datetime) else b for b in rng.buckets()})
    points, live, index = [], 0, 0
    for day in days:
        while index < len(pending) and pending[index][0] <= day:
            live += pending[index][1]
            index += 1
        points.append({"day": day, "subscribers": live})
    return points


def subscriber_counts(organization) -> dict:
    return dict(
        Subscription.objects.filter(api__organization=organization)
        .values_list("status")
        .annotate(n=Count("id"))
    )
