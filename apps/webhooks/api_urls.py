from django.urls import path

from . import api

urlpatterns = [
    path("webhooks/endpoints/", api.EndpointListCreateView.as_view(), name="webhook-endpoints"),
    path(
        "webhooks/endpoints/<str:endpoint_id>/",
        api.EndpointDetailView.as_view(),
        name="webhook-endpoint-detail",
    ),
    path("webhooks/deliveries/", api.DeliveryListView.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/deliveries/<str:delivery_id>/replay/",
        api.DeliveryReplayView.as_view(),
        name="webhook-delivery-replay",
    ),
]
