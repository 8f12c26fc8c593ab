from django.urls import path

from . import api

urlpatterns = [
    path("apis/<slug:slug>/plans/", api.PlanListCreateView.as_view(), name="plans"),
    path("apis/<slug:slug>/plans/<str:plan_id>/", api.PlanDetailView.as_view(), name="plan-detail"),
    path("subscriptions/", api.SubscriptionListCreateView.as_view(), name="subscriptions"),
    path(
        "subscriptions/<str:subscription_id>/",
        api.SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
    path(
        "subscriptions/<str:subscription_id>/cancel/",
        api.SubscriptionCancelView.as_view(),
        name="subscription-cancel",
    ),
    path(
        "subscriptions/<str:subscription_id>/change-plan/",
        api.SubscriptionChangePlanView.as_view(),
        name="subscription-change-plan",
    ),
]
