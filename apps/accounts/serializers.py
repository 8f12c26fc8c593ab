from rest_framework import serializers

from .models import AccessToken, Membership, Organization, User


class OrganizationOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "is_personal"]


class MembershipOutput(serializers.ModelSerializer):
    organization = OrganizationOutput()

    class Meta:
        model = Membership
        fields = ["organization", "role"]


class UserOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "name", "is_staff"]


class MeOutput(serializers.Serializer):
    user = UserOutput()
    organizations = MembershipOutput(many=True)
    active_organization = OrganizationOutput(allow_null=True)
    role = serializers.CharField(allow_null=True)


class AccessTokenOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    created_by = serializers.EmailField(source="created_by.email", default=None)

    class Meta:
        model = AccessToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "created_by",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]


class AccessTokenCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class AccessTokenCreatedOutput(AccessTokenOutput):
    token = serializers.CharField(help_text="The secret. Shown in this response only.")

    class Meta(AccessTokenOutput.Meta):
        fields = [*AccessTokenOutput.Meta.fields, "token"]
