from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin

from . import selectors, services
from .models import WebhookDelivery, WebhookEndpoint
from .serializers import (
    WebhookDeliveryOutput,
    WebhookEndpointCreatedOutput,
    WebhookEndpointCreateInput,
    WebhookEndpointOutput,
)


class _WebhookScoped(OrganizationScopedMixin):
    def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        """The endpoint if it belongs to the request's organization; 404 otherwise."""
        endpoint = selectors.endpoint_for(self.organization, endpoint_id)
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        return endpoint

    def delivery(self, delivery_id: str) -> WebhookDelivery:
        delivery = selectors.delivery_for(self.organization, delivery_id)
        if delivery is None:
            raise NotFound("No such delivery.")
        return delivery


class EndpointListCreateView(_WebhookScoped, generics.ListAPIView):
    """The organization's webhook endpoints. Tollgate POSTs signed JSON events to each:
    `Tollgate-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""

    serializer_class = WebhookEndpointOutput

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(organization=self.organization)

    @extend_schema(summary="List webhook endpoints")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WebhookEndpointCreateInput,
        responses={201: WebhookEndpointCreatedOutput},
        summary="Add a webhook endpoint (the response carries its signing secret)",
    )
    def post(self, request):
        data = self.validated(WebhookEndpointCreateInput)
        endpoint = services.endpoint_create(
            actor=request.user,
            organization=self.organization,
            url=data["url"],
            event_types=data.get("event_types", []),
            description=data.get("description", ""),
        )
        response = Response(
            WebhookEndpointCreatedOutput(endpoint).data, status=status.HTTP_201_CREATED
        )
        response["Cache-Control"] = "no-store"
        return response


class EndpointDetailView(_WebhookScoped, APIView):
    """DELETE removes an endpoint with its delivery log. Other organizations' are 404."""

    @extend_schema(responses={204: None}, summary="Delete a webhook endpoint")
    def delete(self, request, endpoint_id: str):
        services.endpoint_delete(actor=request.user, endpoint=self.endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(_WebhookScoped, generics.ListAPIView):
    """Deliveries of the organization's endpoints, newest first, with the payload sent and
    the endpoint's last answer."""

    serializer_class = WebhookDeliveryOutput

    def get_queryset(self):
        endpoint_id = self.request.query_params.get("endpoint")
        endpoint = self.endpoint(endpoint_id) if endpoint_id else None
        return selectors.deliveries_for(self.organization, endpoint)

    @extend_schema(
        summary="List webhook deliveries",
        parameters=[
            OpenApiParameter(
                "endpoint",
                OpenApiTypes.STR,
                description="Only this endpoint's deliveries (`whe_…`).",
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DeliveryReplayView(_WebhookScoped, APIView):
    """Send a delivery's event again, as a new delivery to the same endpoint."""

    @extend_schema(
        request=None,
        responses={201: WebhookDeliveryOutput},
        summary="Replay a webhook delivery",
    )
    def post(self, request, delivery_id: str):
        replay = services.delivery_replay(actor=request.user, delivery=self.delivery(delivery_id))
        replay = selectors.delivery_for(self.organization, replay.public_id)
        return Response(WebhookDeliveryOutput(replay).data, status=status.HTTP_201_CREATED)
