"""The platform API, /api/v1/. Each app contributes its rows of DESIGN.md's contract."""

from django.urls import include, path

from apps.core.api_index import ApiIndexView

app_name = "api"

urlpatterns = [
    path("", ApiIndexView.as_view(), name="index"),
    path("", include("apps.accounts.api_urls")),
    path("", include("apps.catalog.api_urls")),
    path("", include("apps.subscriptions.api_urls")),
    path("", include("apps.keys.api_urls")),
    path("", include("apps.analytics.api_urls")),
    path("", include("apps.billing.api_urls")),
    path("", include("apps.payouts.api_urls")),
    path("", include("apps.webhooks.api_urls")),
]
