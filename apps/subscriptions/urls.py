from django.urls import path

from . import views

app_name = "subscriptions"

urlpatterns = [
    path("apis/<slug:slug>/subscribe/", views.subscribe, name="subscribe"),
    path("apis/<slug:slug>/plans/<str:token>/", views.private_plan, name="private_plan"),
    path("console/subscriptions/", views.subscription_list, name="list"),
    path("console/subscriptions/<str:public_id>/", views.subscription_detail, name="detail"),
    path(
        "console/subscriptions/<str:public_id>/change/",
        views.subscription_change,
        name="change",
    ),
    path(
        "console/subscriptions/<str:public_id>/<str:action>/",
        views.subscription_action,
        name="action",
    ),
    path("console/apis/<slug:slug>/plans/", views.provider_plans, name="provider_plans"),
    path(
        "console/apis/<slug:slug>/plans/<str:plan_id>/",
        views.provider_plan_edit,
        name="provider_plan_edit",
    ),
    path(
        "console/apis/<slug:slug>/plans/<str:plan_id>/<str:action>/",
        views.provider_plan_action,
        name="provider_plan_action",
    ),
    path(
        "console/apis/<slug:slug>/subscribers/",
        views.provider_subscribers,
        name="provider_subscribers",
    ),
]
