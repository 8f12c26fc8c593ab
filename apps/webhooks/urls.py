"""The provider console's webhooks pages, mounted under /console/."""

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/", views.endpoint_list, name="endpoints"),
    path("webhooks/<str:public_id>/", views.endpoint_detail, name="endpoint"),
    path("webhooks/<str:public_id>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("webhooks/<str:public_id>/enabled/", views.endpoint_enabled, name="endpoint_enabled"),
    path("webhooks/<str:public_id>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("webhooks/<str:public_id>/rotate/", views.endpoint_rotate, name="endpoint_rotate"),
    path("webhooks/<str:public_id>/test/", views.endpoint_test, name="endpoint_test"),
    path(
        "webhooks/<str:public_id>/deliveries/<str:delivery_id>/",
        views.delivery_detail,
        name="delivery",
    ),
    path(
        "webhooks/<str:public_id>/deliveries/<str:delivery_id>/replay/",
        views.delivery_replay,
        name="delivery_replay",
    ),
]
