from rest_framework import serializers

from .models import SUBSCRIBABLE_EVENT_TYPES, WebhookDelivery, WebhookEndpoint

EVENT_TYPE_HELP = "Event types to send; empty (or left out) means every type: " + ", ".join(
    f"`{value.value}`" for value in SUBSCRIBABLE_EVENT_TYPES
)


class WebhookEndpointOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    event_types = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text=EVENT_TYPE_HELP
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "enabled", "created_at"]


class WebhookEndpointCreatedOutput(WebhookEndpointOutput):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (`whsec_…`). In this response and the console only.",
    )

    class Meta(WebhookEndpointOutput.Meta):
        fields = [*WebhookEndpointOutput.Meta.fields, "secret"]


class WebhookEndpointCreateInput(serializers.Serializer):
    url = serializers.CharField(
        max_length=2000, help_text="An https:// URL that answers 2xx within 10 seconds."
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=60),
        required=False,
        max_length=20,
        help_text=EVENT_TYPE_HELP,
    )


class WebhookDeliveryOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    endpoint = serializers.CharField(source="endpoint.public_id", read_only=True)
    event = serializers.CharField(source="event.public_id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    payload = serializers.JSONField(
        source="event.payload", read_only=True, help_text="The JSON body that was sent."
    )
    # a plain string keeps drf-spectacular from naming a second `status` enum
    status = serializers.CharField(
        read_only=True,
        help_text="`pending` (not sent yet, or waiting for a retry when `attempts` > 0), "
        "`succeeded` (a 2xx answer) or `failed` (gave up).",
    )
    attempts = serializers.IntegerField(source="attempt_count", read_only=True)
    response_status_code = serializers.IntegerField(
        source="last_status_code", read_only=True, allow_null=True
    )
    response_body = serializers.CharField(
        source="last_response_body", read_only=True, help_text="The first 500 characters."
    )
    error = serializers.CharField(source="last_error", read_only=True)
    replay_of = serializers.CharField(
        source="replay_of.public_id", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "event_type",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "response_status_code",
            "response_body",
            "error",
            "duration_ms",
            "created_at",
            "delivered_at",
            "replay_of",
        ]
