from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin
from apps.subscriptions.selectors import subscription_for_member

from .selectors import period_usage
from .serializers import UsageOutput


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
