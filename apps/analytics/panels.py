"""Sections other apps' pages include: the usage panel on a subscription's page, and the
Try it console on an API page."""

from apps.keys.selectors import live_keys
from apps.subscriptions.selectors import live_subscription

from . import charts
from .selectors import period_usage


def usage_panel(request, subscription):
    if subscription.status in ("canceled", "pending_payment"):
        return None
    data = period_usage(subscription)
    labels = [row["day"].strftime("%b %-d") for row in data.by_day]
    ok = [max(row["calls"] - row["errors_4xx"] - row["errors_5xx"], 0) for row in data.by_day]
    errors = [row["errors_4xx"] + row["errors_5xx"] for row in data.by_day]
    chart = charts.stacked_bars(
        labels,
        [charts.Series("successful calls", ok), charts.Series("errors", errors)],
        title="Calls per day this period",
    )
    return {"template": "analytics/_usage_panel.html", "usage": data, "chart": chart}


def try_it_section(request, api):
    """Only consumers subscribed to the API get the console (it calls the real gateway)."""
    if not request.user.is_authenticated or request.organization is None:
        return None
    subscription = live_subscription(request.organization, api)
    if subscription is None:
        return None
    from django.utils import timezone

    return {
        "key": "try",
        "tab": "Try it",
        "template": "analytics/_try_it.html",
        "subscription": subscription,
        "endpoint_data": _endpoint_data(api),
        "keys": live_keys(request.organization, timezone.now())[:20],
    }


def _endpoint_data(api) -> dict:
    from apps.catalog.snippets import body_example

    return {
        e.public_id: {
            "method": e.method,
            "path": e.path,
            "parameters": e.parameters,
            "body_example": body_example(e.request_body),
        }
        for e in api.endpoints.filter(removed_at=None)
    }
