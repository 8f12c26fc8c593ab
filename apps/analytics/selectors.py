"""Usage as people read it: the current period of a subscription, with the charges the
rating engine estimates (the same engine that writes the invoice)."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from apps.billing.charges import period_estimate
from apps.gateway.responses import REFUSAL_MEANINGS
from apps.keys.selectors import add_key_prefixes
from apps.metering import selectors as usage
from apps.metering.refusals import period_refusals
from apps.subscriptions.models import Subscription
from apps.subscriptions.rating import Estimate


@dataclass
class PeriodUsage:
    subscription: Subscription
    totals: dict
    by_day: list[dict]
    by_endpoint: list[dict]
    by_key: list[dict]
    estimate: Estimate
    refused: dict  # calls refused this period: total, by_code [{code, status, calls}]

    @property
    def included(self) -> int:
        return self.subscription.plan.included_units

    @property
    def used_percent(self) -> float:
        if not self.included:
            return 0.0
        return min(100.0, float(self.totals["billable_units"]) * 100 / self.included)

    @property
    def errors(self) -> int:
        return self.totals["status_4xx"] + self.totals["status_5xx"]


def period_usage(subscription: Subscription) -> PeriodUsage:
    start = subscription.current_period_start
    totals = usage.subscription_period_summary(subscription, start)
    charges = period_estimate(subscription)
    refused = period_refusals(subscription, start)
    for row in refused["by_code"]:
        row["meaning"] = REFUSAL_MEANINGS.get(row["code"], "")
    by_key = _with_refusals(usage.subscription_usage_by_key(subscription, start), refused)
    return PeriodUsage(
        subscription=subscription,
        totals=totals,
        by_day=_fill_days(subscription, usage.subscription_usage_by_day(subscription, start)),
        by_endpoint=usage.subscription_usage_by_endpoint(subscription, start),
        by_key=add_key_prefixes(by_key),
        estimate=charges,
        refused=refused,
    )


def _with_refusals(by_key: list[dict], refused: dict) -> list[dict]:
    """Each key's refused calls beside its calls; a key whose calls were all refused gets a
    row too (that is the key a consumer needs to look at)."""
    counts = dict(refused["by_key"])
    for row in by_key:
        row["refused"] = counts.pop(row["api_key_id"], 0)
    for key_id, calls in sorted(counts.items(), key=lambda item: -item[1]):
        by_key.append({"api_key_id": key_id, "calls": 0, "units": Decimal(0), "refused": calls})
    return by_key


def _fill_days(subscription: Subscription, rows: list[dict]) -> list[dict]:
    """One row per day of the period so far, zeros where nothing happened."""
    by_date = {row["day"]: row for row in rows}
    day = subscription.current_period_start.date()
    last = min(
        subscription.current_period_end - timedelta(seconds=1),
        max(subscription.current_period_start, _now()),
    ).date()
    filled = []
    while day <= last:
        row = by_date.get(day) or {
            "day": day,
            "calls": 0,
            "units": Decimal(0),
            "errors_4xx": 0,
            "errors_5xx": 0,
            "gateway_errors": 0,
        }
        filled.append(row)
        day += timedelta(days=1)
    return filled


def _now():
    from django.utils import timezone

    return timezone.now()
