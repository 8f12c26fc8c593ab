"""Reads for webhooks: a provider's endpoints and their delivery logs."""

from datetime import timedelta

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import Organization

from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

RECENT = timedelta(days=7)
LOG_FILTERS = {
    "failed": Q(status=DeliveryStatus.FAILED),
    "retrying": Q(status=DeliveryStatus.PENDING, attempt_count__gt=0),
    "succeeded": Q(status=DeliveryStatus.SUCCEEDED),
}


def endpoints_for(organization: Organization) -> QuerySet[WebhookEndpoint]:
    """The organization's endpoints with what the list shows about the last 7 days."""
    since = timezone.now() - RECENT
    recent = Q(deliveries__created_at__gte=since)
    return WebhookEndpoint.objects.filter(organization=organization).annotate(
        recent_deliveries=Count("deliveries", filter=recent),
        recent_failures=Count(
            "deliveries",
            filter=recent
            & (
                Q(deliveries__status=DeliveryStatus.FAILED)
                | Q(deliveries__status=DeliveryStatus.PENDING, deliveries__attempt_count__gt=0)
            ),
        ),
        last_delivery_at=Max("deliveries__created_at"),
    )


def endpoint_for(organization: Organization, public_id: str) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(organization=organization, public_id=public_id).first()


def deliveries_of(endpoint: WebhookEndpoint, status: str = "") -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    if status in LOG_FILTERS:
        deliveries = deliveries.filter(LOG_FILTERS[status])
    return deliveries


def deliveries_for(
    organization: Organization, endpoint: WebhookEndpoint | None = None
) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint__organization=organization)
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return deliveries.select_related("endpoint", "event", "replay_of")


def delivery_for(organization: Organization, public_id: str) -> WebhookDelivery | None:
    return (
        deliveries_for(organization)
        .select_related("endpoint__organization")
        .filter(public_id=public_id)
        .first()
    )
