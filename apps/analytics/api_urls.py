from django.urls import path

from . import api

urlpatterns = [
    path(
        "subscriptions/<str:subscription_id>/usage/",
        api.SubscriptionUsageView.as_view(),
        name="subscription-usage",
    ),
    path("provider/analytics/", api.ProviderAnalyticsView.as_view(), name="provider-analytics"),
]
