import json

from django.contrib import admin
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdmin
from apps.core.audit import audit_record

from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Staff may disable an abusive endpoint; the URL (checked for SSRF) and the signing
    secret change only through the provider's console, and the secret is never shown."""

    list_display = ["url", "organization", "enabled", "subscribed", "created_at"]
    list_filter = ["enabled", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["url", "public_id", "description", "organization__name"]
    fields = [
        "public_id",
        "organization",
        "url",
        "description",
        "event_types",
        "enabled",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [field for field in fields if field not in {"enabled", "description"}]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action="webhook_endpoint.changed_by_staff",
            actor=request.user,
            organization=obj.organization,
            target=obj,
            data={field: str(form.cleaned_data.get(field)) for field in form.changed_data},
        )

    @admin.display(description="events")
    def subscribed(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types) or "all"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "type", "organization", "created_at"]
    list_filter = ["type", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["public_id", "organization__name"]
    date_hierarchy = "created_at"
    fields = ["public_id", "organization", "type", "created_at", "pretty_payload"]
    readonly_fields = fields

    @admin.display(description="payload")
    def pretty_payload(self, event: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.payload, indent=2))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "event_type",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "event__type", "created_at"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["public_id", "event__public_id", "endpoint__url", "endpoint__public_id"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    @admin.display(description="event", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type
