from django.urls import path

from . import console_views, views

app_name = "catalog"

urlpatterns = [
    path("apis/", views.catalog, name="catalog"),
    path("sell/", views.sell, name="sell"),
    path("apis/<slug:slug>/", views.api_page, name="api"),
    path("apis/<slug:slug>/openapi.json", views.api_openapi, name="api_openapi"),
    # provider console
    path("console/apis/", console_views.api_list, name="provider_apis"),
    path("console/apis/new/", console_views.api_create, name="provider_api_create"),
    path("console/apis/<slug:slug>/", console_views.api_overview, name="provider_api"),
    path("console/apis/<slug:slug>/listing/", console_views.api_edit, name="provider_api_edit"),
    path(
        "console/apis/<slug:slug>/status/<str:action>/",
        console_views.api_action,
        name="provider_api_action",
    ),
    path(
        "console/apis/<slug:slug>/secrets/<str:which>/rotate/",
        console_views.api_rotate_secret,
        name="provider_api_rotate",
    ),
    path("console/apis/<slug:slug>/openapi/", console_views.spec_import, name="provider_spec"),
    path(
        "console/apis/<slug:slug>/openapi/<str:import_id>/",
        console_views.spec_preview,
        name="provider_spec_preview",
    ),
    path("console/apis/<slug:slug>/endpoints/", console_views.endpoints, name="provider_endpoints"),
    path(
        "console/apis/<slug:slug>/endpoints/<str:endpoint_id>/",
        console_views.endpoint_edit,
        name="provider_endpoint_edit",
    ),
]
