"""The consumer's usage across subscriptions and keys over a range."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from apps.billing.charges import period_estimate
from apps.keys.selectors import add_key_prefixes
from apps.metering.models import UsageAggregate, UsageDaily
from apps.subscriptions.models import LIVE_STATUSES

from .provider import _add_up, _sums, _with_latency
from .ranges import Range


@dataclass
class ConsumerDashboard:
    range: Range
    totals: dict
    series: list[dict]
    subscriptions: list[dict]
    keys: list[dict]


def _rows(organization, rng: Range, *, hourly: bool | None = None):
    hourly = rng.hourly if hourly is None else hourly
    if hourly:
        return UsageAggregate.objects.filter(
            subscription__organization=organization, hour__gte=rng.start, hour__lt=rng.end
        ), "hour"
    return UsageDaily.objects.filter(
        subscription__organization=organization, day__gte=rng.start.date(), day__lt=rng.end.date()
    ), "day"


def consumer_dashboard(organization, rng: Range) -> ConsumerDashboard:
    rows, time_field = _rows(organization, rng)
    totals = _with_latency(rows.aggregate(**_sums()))
    by_time = {
        r[time_field]: r
        for r in rows.values(time_field).annotate(
            calls=Sum("calls"), errors=Sum("status_4xx") + Sum("status_5xx")
        )
    }
    series = [
        {
            "at": bucket,
            "calls": (by_time.get(bucket) or {}).get("calls") or 0,
            "errors": (by_time.get(bucket) or {}).get("errors") or 0,
        }
        for bucket in rng.buckets()
    ]
    return ConsumerDashboard(
        range=rng,
        totals=totals,
        series=series,
        subscriptions=_by_subscription(organization, rows),
        keys=_by_key(organization, rng),
    )


def _by_subscription(organization, rows) -> list[dict]:
    usage = {
        r["subscription_id"]: _with_latency(r)
        for r in rows.values("subscription_id").annotate(**_sums())
    }
    result = []
    live = organization.subscriptions.filter(status__in=LIVE_STATUSES)
    for subscription in live.select_related("api", "plan", "price_version__plan"):
        row = usage.get(subscription.pk) or _with_latency(_add_up([]))
        charges = period_estimate(subscription)
        result.append(
            {
                "subscription": subscription,
                "api": subscription.api.name,
                "plan": subscription.plan.name,
                "calls": row["calls"],
                "units": row["billable_units"],
                "errors": row["status_4xx"] + row["status_5xx"],
                "p50": row["p50"],
                "estimate": charges.total,
            }
        )
    return result


def _by_key(organization, rng: Range) -> list[dict]:
    rows, _ = _rows(organization, rng, hourly=True)  # only hourly rows know the key
    usage = list(
        rows.values("api_key_id")
        .annotate(
            calls=Sum("calls"),
            units=Sum("billable_units"),
            errors=Sum("status_4xx") + Sum("status_5xx"),
        )
        .order_by("-calls")
    )
    for row in add_key_prefixes(usage):
        row["units"] = row["units"] or Decimal(0)
    return usage
