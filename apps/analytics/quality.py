"""Public quality signals on an API page, from real aggregates over the last 7 days."""

from datetime import timedelta

from django.utils import timezone

from apps.metering.models import UsageDaily
from apps.subscriptions.models import LIVE_STATUSES

from . import percentiles
from .provider import BUCKETS, _sums

MIN_CALLS = 100  # below this, a percentage says more about luck than about the API


def quality_signals(api) -> dict:
    since = (timezone.now() - timedelta(days=7)).date()
    rows = UsageDaily.objects.filter(subscription__api=api, day__gte=since)
    totals = rows.aggregate(**_sums())
    calls = totals["calls"]
    histogram = [totals[f"h{index}"] for index in range(BUCKETS)]
    subscribers = api.subscriptions.filter(status__in=LIVE_STATUSES).count()
    if calls < MIN_CALLS:
        return {"enough": False, "calls": calls, "subscribers": subscribers}
    served = calls - totals["status_5xx"] - totals["gateway_errors"]
    return {
        "enough": True,
        "calls": calls,
        "subscribers": subscribers,
        "success_rate": served * 100 / calls,
        "median_ms": percentiles.percentile(histogram, 0.5),
    }


def quality_section(request, api):
    return {
        "key": "quality",
        "tab": None,
        "template": "analytics/_quality.html",
        "quality": quality_signals(api),
    }
