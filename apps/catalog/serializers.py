from decimal import Decimal

from rest_framework import serializers

from apps.core.public_urls import gateway_url

from .models import Api, Endpoint, Visibility


class EndpointOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "method",
            "path",
            "operation_id",
            "summary",
            "description",
            "tags",
            "parameters",
            "request_body",
            "responses",
            "deprecated",
        ]


class ApiOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    provider = serializers.CharField(source="organization.name", read_only=True)
    gateway_url = serializers.SerializerMethodField()

    class Meta:
        model = Api
        fields = [
            "id",
            "slug",
            "name",
            "summary",
            "description",
            "category",
            "tags",
            "provider",
            "status",
            "visibility",
            "gateway_url",
            "website_url",
            "terms_url",
            "support_email",
            "support_url",
            "published_at",
            "created_at",
            "updated_at",
        ]

    def get_gateway_url(self, api) -> str:
        return f"{gateway_url(self.context.get('request'))}/{api.slug}"


class ApiDetailOutput(ApiOutput):
    endpoints = serializers.SerializerMethodField()

    class Meta(ApiOutput.Meta):
        fields = [*ApiOutput.Meta.fields, "endpoints"]

    def get_endpoints(self, api) -> list[dict]:
        endpoints = api.endpoints.filter(removed_at=None)
        return EndpointOutput(endpoints, many=True).data


class OwnerApiOutput(ApiDetailOutput):
    """What the owning organization sees: the upstream and moderation details too."""

    class Meta(ApiDetailOutput.Meta):
        fields = [
            *ApiDetailOutput.Meta.fields,
            "upstream_url",
            "upstream_timeout_s",
            "upstream_connect_timeout_s",
            "rejection_reason",
            "suspension_reason",
            "openapi_version",
        ]


class ApiInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    slug = serializers.SlugField(max_length=60, required=False)
    summary = serializers.CharField(max_length=160, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=50_000)
    category = serializers.CharField(
        required=False, allow_blank=True, help_text="A category slug, e.g. `finance`."
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=30), required=False, max_length=10
    )
    upstream_url = serializers.CharField(max_length=500)
    upstream_timeout_s = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        required=False,
        min_value=Decimal("0.5"),
        max_value=Decimal("300"),
    )
    upstream_connect_timeout_s = serializers.DecimalField(
        max_digits=4,
        decimal_places=1,
        required=False,
        min_value=Decimal("0.1"),
        max_value=Decimal("30"),
    )
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    website_url = serializers.URLField(required=False, allow_blank=True)
    terms_url = serializers.URLField(required=False, allow_blank=True)
    support_email = serializers.EmailField(required=False, allow_blank=True)
    support_url = serializers.URLField(required=False, allow_blank=True)
    openapi = serializers.JSONField(required=False, help_text="The OpenAPI document (object).")

    def validate_openapi(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Send the OpenAPI document as a JSON object.")
        return value


class ApiUpdateInput(ApiInput):
    name = serializers.CharField(max_length=80, required=False)
    upstream_url = serializers.CharField(max_length=500, required=False)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OptionalReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)
