from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import selectors
from .models import GRACE_CHOICES, ApiKey, KeyStatus


class ApiKeyOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    status = serializers.ChoiceField(
        choices=KeyStatus.choices,
        read_only=True,
        help_text="`grace`: rotated, works until `grace_until`; `expiring`: within 7 days of "
        "`expires_at`; `revoked` also covers a rotated key whose grace is over.",
    )
    apis = serializers.SerializerMethodField(
        help_text="Slugs of the APIs the key may call; null means every API."
    )
    created_by = serializers.EmailField(source="created_by.email", default=None, read_only=True)
    rotated_to = serializers.CharField(
        source="rotated_to.public_id",
        default=None,
        read_only=True,
        help_text="The id of the key that replaced this one.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "status",
            "apis",
            "created_at",
            "created_by",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "grace_until",
            "rotated_to",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_apis(self, key: ApiKey) -> list[str] | None:
        if not key.restricted:
            return None
        return [api.slug for api in key.allowed_apis.all()]


class ApiKeyCreatedOutput(ApiKeyOutput):
    # A plain string here keeps the status enum in one schema component (ApiKeyStatusEnum);
    # in two, drf-spectacular warns about other apps' `status` enums.
    status = serializers.CharField(
        read_only=True, help_text="`active`, or `expiring` when the key expires within 7 days."
    )
    key = serializers.CharField(
        read_only=True, help_text="The secret. Shown in this response only."
    )

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "key"]


class ApiKeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    apis = serializers.ListField(
        child=serializers.SlugField(max_length=60),
        required=False,
        max_length=200,
        help_text="Slugs of the APIs the key may call. Leave out (or empty) for every API.",
    )

    def validate_apis(self, slugs: list[str]):
        organization = self.context["organization"]
        found = {
            api.slug: api
            for api in selectors.restrictable_apis(organization).filter(slug__in=slugs)
        }
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            raise serializers.ValidationError(
                f"Not an API your organization subscribes to: {', '.join(unknown)}."
            )
        return [found[slug] for slug in dict.fromkeys(slugs)]


class ApiKeyRotateInput(serializers.Serializer):
    grace = serializers.ChoiceField(
        choices=[value for value, _ in GRACE_CHOICES],
        help_text="How long the old key keeps working: none, 1h, 24h or 7d.",
    )
