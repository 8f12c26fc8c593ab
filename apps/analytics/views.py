"""Dashboards: the provider's analytics, the consumer's usage and request log, the staff
overview. Every table has a CSV export (same query, `?export=<table>`)."""

from datetime import timedelta

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.decorators import member_required
from apps.catalog.selectors import provider_api
from apps.core.csv_export import csv_response
from apps.core.errors import ServiceError
from apps.keys.services import api_key_create
from apps.subscriptions.selectors import subscription_for_member

from . import charts, consumer, provider, staff
from .ranges import parse_range
from .request_log import recent_calls

TRY_KEY_LIFETIME = timedelta(hours=1)


@require_POST
@member_required("develop")
def try_key(request):
    """A key for the Try it console that expires in an hour (secrets are never stored, so
    the console cannot reuse an existing key's secret)."""
    try:
        _, secret = api_key_create(
            actor=request.user,
            organization=request.organization,
            name="Try it console (temporary)",
            expires_at=timezone.now() + TRY_KEY_LIFETIME,
        )
    except ServiceError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    return JsonResponse({"key": secret})


def _range_or_400(request):
    """The range asked for, and a 400 answer for a CSV export whose custom dates were
    refused (a page shows the refusal as a form error instead)."""
    rng = parse_range(request.GET)
    if rng.error and request.GET.get("export"):
        return rng, HttpResponseBadRequest(rng.error, content_type="text/plain")
    return rng, None


def _page_query(request, rng) -> str:
    """The page's query for its export links: the range shown, not refused dates."""
    query = request.GET.copy()
    if rng.error:
        query["range"] = rng.key
        query.pop("from", None)
        query.pop("to", None)
    return query.urlencode()


def _bucket_label(at, hourly: bool) -> str:
    return at.strftime("%H:%M") if hourly else at.strftime("%b %-d")


@member_required("view")
def console_home(request):
    from .overview import overview

    return render(request, "console/home.html", overview(request.membership))


@member_required("view")
def provider_analytics(request):
    rng, refused = _range_or_400(request)
    if refused:
        return refused
    api = None
    if request.GET.get("api"):
        api = provider_api(request.organization, request.GET["api"])
        if api is None:
            raise Http404("No such API in this organization.")
    board = provider.provider_dashboard(request.organization, rng, api)
    export = request.GET.get("export")
    if export:
        return _provider_csv(board, export)
    labels = [_bucket_label(p["at"], rng.hourly) for p in board.series]
    context = {
        "board": board,
        "range": rng,
        "api": api,
        "apis": request.organization.apis.all(),
        "traffic_chart": charts.stacked_bars(
            labels,
            [
                charts.Series("successful", [p["calls"] - p["errors"] for p in board.series]),
                charts.Series("errors", [p["errors"] for p in board.series]),
            ],
            title="Calls over the range",
        ),
        "subscriber_chart": charts.line(
            [p["day"].strftime("%b %-d") for p in board.subscribers],
            [charts.Series("subscribers", [p["subscribers"] for p in board.subscribers])],
            title="Live subscriptions per day",
        ),
        "query": _page_query(request, rng),
    }
    return render(request, "analytics/provider.html", context)


def _provider_csv(board, table: str) -> HttpResponse:
    if table == "endpoints":
        return csv_response(
            "endpoints.csv",
            [
                "api",
                "method",
                "path",
                "calls",
                "units",
                "4xx",
                "5xx",
                "gateway_errors",
                "p50_ms",
                "p95_ms",
                "p99_ms",
            ],
            [
                [
                    r["subscription__api__name"],
                    r["endpoint__method"] or "",
                    r["endpoint__path"] or "",
                    r["calls"],
                    r["billable_units"],
                    r["status_4xx"],
                    r["status_5xx"],
                    r["gateway_errors"],
                    _ms(r["p50"]),
                    _ms(r["p95"]),
                    _ms(r["p99"]),
                ]
                for r in board.endpoints
            ],
        )
    if table == "consumers":
        return csv_response(
            "consumers.csv",
            ["consumer", "consumer_id", "calls", "units", "errors"],
            [
                [
                    r["subscription__organization__name"],
                    r["subscription__organization__public_id"],
                    r["calls"],
                    r["units"],
                    r["errors"],
                ]
                for r in board.consumers
            ],
        )
    if table == "series":
        return csv_response(
            "traffic.csv",
            ["bucket_start_utc", "calls", "errors", "units"],
            [[p["at"].isoformat(), p["calls"], p["errors"], p["units"]] for p in board.series],
        )
    if table == "subscribers":
        return csv_response(
            "subscribers.csv",
            ["day", "subscribers"],
            [[p["day"].isoformat(), p["subscribers"]] for p in board.subscribers],
        )
    raise Http404("No such table.")


def _ms(value) -> str:
    return "" if value is None else f"{value:.1f}"


@member_required("view")
def consumer_usage(request):
    rng, refused = _range_or_400(request)
    if refused:
        return refused
    board = consumer.consumer_dashboard(request.organization, rng)
    if request.GET.get("export") == "keys":
        return csv_response(
            "keys.csv",
            ["key_prefix", "calls", "units", "errors", "refused"],
            [[r["prefix"], r["calls"], r["units"], r["errors"], r["refused"]] for r in board.keys],
        )
    if request.GET.get("export") == "refused":
        return csv_response(
            "refused.csv",
            ["key_prefix", "api", "code", "status", "calls"],
            [
                [r["prefix"], r["api__name"] or "", r["code"], r["status"], r["calls"]]
                for r in board.refused
            ],
        )
    if request.GET.get("export") == "subscriptions":
        money = request.membership.can("see_money")  # the estimate is money (roles.py)
        return csv_response(
            "subscriptions.csv",
            ["api", "plan", "calls", "units", "errors", "refused", "p50_ms"]
            + (["estimated_charges"] if money else []),
            [
                [r["api"], r["plan"], r["calls"], r["units"], r["errors"], r["refused"]]
                + [_ms(r["p50"])]
                + ([r["estimate"]] if money else [])
                for r in board.subscriptions
            ],
        )
    labels = [_bucket_label(p["at"], rng.hourly) for p in board.series]
    chart = charts.stacked_bars(
        labels,
        [
            charts.Series("successful", [p["calls"] - p["errors"] for p in board.series]),
            charts.Series("errors", [p["errors"] for p in board.series]),
        ],
        title="Calls over the range",
    )
    return render(
        request,
        "analytics/consumer.html",
        {"board": board, "range": rng, "chart": chart, "query": _page_query(request, rng)},
    )


@member_required("view")
def request_log(request, public_id: str):
    subscription = subscription_for_member(request.organization, public_id)
    if subscription is None:
        raise Http404("No such subscription.")
    calls = recent_calls(subscription)
    if request.GET.get("export") == "csv":
        return csv_response(
            "request-log.csv",
            [
                "time_utc",
                "request_id",
                "key_prefix",
                "method",
                "path",
                "status",
                "latency_ms",
                "units",
                "code",
            ],
            [_log_row(c) for c in calls],
        )
    return render(
        request, "analytics/request_log.html", {"subscription": subscription, "calls": calls}
    )


def _log_row(c: dict) -> list:
    """A request-log line as a CSV row; `code` is the gateway's error code (a refusal,
    upstream_error, …), empty for calls the upstream answered."""
    fields = (c["id"], c["key"], c["m"], c["p"], c["s"], c["ms"], c["u"], c.get("c", ""))
    return [c["at"].isoformat(), *fields]


@staff_member_required
def staff_dashboard(request):
    rng = parse_range(request.GET)
    return render(
        request, "analytics/staff.html", {"board": staff.staff_dashboard(rng), "range": rng}
    )
