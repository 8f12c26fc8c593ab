"""The consumer's usage across subscriptions and keys over a range."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from apps.billing.charges import period_estimate
from apps.gateway.responses import REFUSAL_MEANINGS
from apps.keys.models import ApiKey
from apps.keys.selectors import add_key_prefixes
from apps.metering.models import UsageAggregate, UsageDaily
from apps.metering.refusals import refusals_of_keys
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
    refused: list[dict]  # refused calls by key, API and code (never billed)

    @property
    def refused_total(self) -> int:
        return sum(row["calls"] for row in self.refused)


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
    refused = _refused(organization, rng)
    return ConsumerDashboard(
        range=rng,
        totals=totals,
        series=series,
        subscriptions=_by_subscription(organization, rows, refused),
        keys=_by_key(organization, rng, refused),
        refused=refused,
    )


def _refused(organization, rng: Range) -> list[dict]:
    """Calls refused with the organization's keys in the range, by key, API and code —
    with a subscription (429, 402, …) or without (not subscribed, key restricted, revoked)."""
    rows = refusals_of_keys(ApiKey.objects.filter(organization=organization).values("pk"), rng)
    refused = list(
        rows.values("api_key_id", "subscription_id", "api__name", "code", "status")
        .annotate(calls=Sum("calls"))
        .order_by("-calls", "code")
    )
    for row in add_key_prefixes(refused):
        row["meaning"] = REFUSAL_MEANINGS.get(row["code"], "")
    return refused


def _counts_by(refused: list[dict], field: str) -> dict:
    counts: dict = {}
    for row in refused:
        counts[row[field]] = counts.get(row[field], 0) + row["calls"]
    return counts


def _by_subscription(organization, rows, refused: list[dict]) -> list[dict]:
    refused_by_subscription = _counts_by(refused, "subscription_id")
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
                "refused": refused_by_subscription.get(subscription.pk, 0),
                "p50": row["p50"],
                "estimate": charges.total,
            }
        )
    return result


def _by_key(organization, rng: Range, refused: list[dict]) -> list[dict]:
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
    refused_by_key = _counts_by(refused, "api_key_id")
    for row in usage:
        row["refused"] = refused_by_key.pop(row["api_key_id"], 0)
    for key_id, calls in sorted(refused_by_key.items(), key=lambda item: -item[1]):
        usage.append({"api_key_id": key_id, "calls": 0, "errors": 0, "refused": calls})
    for row in add_key_prefixes(usage):
        row["units"] = row.get("units") or Decimal(0)
    return usage
