from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin
from apps.catalog.models import Api
from apps.subscriptions.selectors import subscription_for_member

from . import provider
from .ranges import PRESETS, custom_range, parse_range
from .selectors import period_usage
from .serializers import ProviderAnalyticsOutput, UsageOutput


class SubscriptionUsageView(OrganizationScopedMixin, APIView):
    @extend_schema(responses=UsageOutput, summary="Usage and estimated charges this period")
    def get(self, request, subscription_id: str):
        subscription = subscription_for_member(self.organization, subscription_id)
        if subscription is None:
            raise NotFound("No such subscription.")
        data = period_usage(subscription)
        totals = data.totals
        return Response(
            UsageOutput(
                {
                    "subscription": subscription.public_id,
                    "period_start": subscription.current_period_start,
                    "period_end": subscription.current_period_end,
                    "unit": subscription.plan.unit,
                    "units_used": totals["billable_units"],
                    "included_units": data.included,
                    "remaining_units": data.estimate.included_remaining,
                    "calls": totals["calls"],
                    "errors": {
                        "client_4xx": totals["status_4xx"],
                        "server_5xx": totals["status_5xx"],
                        "gateway": totals["gateway_errors"],
                    },
                    "refused": data.refused,
                    "estimated_charges": {
                        "fee": data.estimate.fee,
                        "usage": data.estimate.usage,
                        "total": data.estimate.total,
                        "currency": settings.CURRENCY,
                    }
                    if self.membership.can("see_money")
                    else None,
                    "by_day": data.by_day,
                    "by_endpoint": data.by_endpoint,
                    "by_key": data.by_key,
                }
            ).data
        )


class ProviderAnalyticsView(OrganizationScopedMixin, APIView):
    """Calls, errors, latency percentiles and revenue of the organization's APIs over a
    range: the provider dashboard's figures, as JSON. Revenue is shown to members whose
    role may see billing."""

    @extend_schema(
        parameters=[
            OpenApiParameter("range", str, enum=["24h", "7d", "30d", "custom"]),
            OpenApiParameter("from", str, description="YYYY-MM-DD, with range=custom"),
            OpenApiParameter("to", str, description="YYYY-MM-DD, with range=custom"),
            OpenApiParameter("api", str, description="one API's slug (default: all yours)"),
        ],
        responses=ProviderAnalyticsOutput,
        summary="Provider analytics: traffic, errors, latency, revenue",
    )
    def get(self, request):
        rng = self._range(request.query_params)
        api = self._api(request.query_params.get("api"))
        board = provider.provider_dashboard(self.organization, rng, api)
        totals = board.totals
        shows_money = self.membership.can("see_money")
        return Response(
            ProviderAnalyticsOutput(
                {
                    "range": {"key": rng.key, "start": rng.start, "end": rng.end},
                    "api": api.slug if api else None,
                    "calls": totals["calls"],
                    "billable_units": totals["billable_units"],
                    "errors": {
                        "client_4xx": totals["status_4xx"],
                        "server_5xx": totals["status_5xx"],
                        "gateway": totals["gateway_errors"],
                        "error_rate_percent": round(totals["error_rate"], 3),
                    },
                    "latency_ms": {name: totals[name] for name in ("p50", "p95", "p99")},
                    "refused": board.refused,
                    "revenue": _revenue(board.money) if shows_money else None,
                    "series": board.series,
                    "endpoints": [_endpoint(row) for row in board.endpoints],
                }
            ).data
        )

    def _range(self, params):
        if params.get("range") == "custom":
            return custom_range(params)  # a ServiceError on `from` or `to`: a 400 problem
        if params.get("range", "7d") not in PRESETS:
            raise ValidationError({"range": f"One of {', '.join(PRESETS)} or custom."})
        return parse_range(params)

    def _api(self, slug):
        if not slug:
            return None
        api = Api.objects.filter(organization=self.organization, slug=slug).first()
        if api is None:
            raise NotFound("No such API of yours.")
        return api


def _revenue(money: dict) -> dict:
    return {
        "currency": settings.CURRENCY,
        **{name: money.get(name) for name in ("billed", "collected", "earned", "paid_out")},
    }


def _endpoint(row: dict) -> dict:
    return {
        "method": row["endpoint__method"],
        "path": row["endpoint__path"],
        "calls": row["calls"],
        "error_rate_percent": round(row["error_rate"], 3),
        "p50_ms": row["p50"],
        "p95_ms": row["p95"],
        "p99_ms": row["p99"],
    }
