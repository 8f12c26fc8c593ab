"""`GET /api/v1/`: what the platform API offers, for a person or a client exploring it.

The list is built from the API's URLconf (every collection route, i.e. one without a
parameter), each with a sentence from RESOURCES; a test keeps the two in step."""

from django.urls import get_resolver
from django.urls.resolvers import URLResolver
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

API_URLCONF = "config.api_urls"
API_PREFIX = "/api/v1/"
RESOURCES = {
    "me": "You: your user and the organizations you belong to.",
    "tokens": "Access tokens of your organization (Authorization: Bearer …).",
    "apis": "The published catalog (?search=, ?category=); providers create listings here.",
    "subscriptions": "Your organization's subscriptions: subscribe, change plan, cancel, usage.",
    "keys": "API keys for the gateway (the secret is shown once, on create and rotate).",
    "invoices": "Your organization's invoices and their lines.",
    "provider/analytics": "Providers: calls, errors, latency percentiles and revenue (?range=).",
    "provider/balance": "Providers: pending, payable, paid and reversed earnings.",
    "provider/payouts": "Providers: payouts and their statements.",
    "provider/ledger": "Providers: every ledger entry behind the balance.",
    "provider/payout-details": "Providers: the bank account manual payouts go to (masked; "
    "PUT to change it).",
    "payouts/run": "Staff: run the payout job for a month.",
    "webhooks/endpoints": "Providers: endpoints that receive signed event webhooks.",
    "webhooks/deliveries": "Providers: webhook deliveries, their attempts and replays.",
}


def collection_routes(patterns=None, prefix: str = "") -> list[str]:
    """Every route of the platform API without a parameter, e.g. "apis", "provider/balance"."""
    if patterns is None:
        patterns = get_resolver(API_URLCONF).url_patterns
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += collection_routes(pattern.url_patterns, route)
        elif route and "<" not in route:
            routes.append(route.rstrip("/"))
    return list(dict.fromkeys(routes))


class ApiIndexView(APIView):
    """The API's front door: its resources and where the schema and docs are."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(exclude=True)
    def get(self, request):
        absolute = request.build_absolute_uri
        return Response(
            {
                "name": "Tollgate platform API",
                "version": "v1",
                "schema": absolute("/api/schema/"),
                "docs": absolute("/api/docs/"),
                "authentication": (
                    "A browser session, or Authorization: Bearer <access token> "
                    "(Console → Access tokens). An access token acts for one organization."
                ),
                "resources": [
                    {
                        "name": route,
                        "url": absolute(f"{API_PREFIX}{route}/"),
                        "description": RESOURCES.get(route, ""),
                    }
                    for route in collection_routes()
                ],
            }
        )
