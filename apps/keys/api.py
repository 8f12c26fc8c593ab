from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin
from apps.core.idempotency import idempotent

from . import selectors, services
from .models import GRACE_PERIODS, ApiKey
from .serializers import ApiKeyCreatedOutput, ApiKeyCreateInput, ApiKeyOutput, ApiKeyRotateInput


def _created(key: ApiKey, secret: str) -> Response:
    key = selectors.key_for(key.organization, key.public_id)
    key.key = secret
    response = Response(ApiKeyCreatedOutput(key).data, status=status.HTTP_201_CREATED)
    response["Cache-Control"] = "no-store"
    return response


class _KeyScoped(OrganizationScopedMixin):
    def key(self, key_id: str) -> ApiKey:
        """The key if it belongs to the request's organization; 404 otherwise (never 403)."""
        key = selectors.key_for(self.organization, key_id)
        if key is None:
            raise NotFound("No such key.")
        return key


class KeyListCreateView(_KeyScoped, generics.ListAPIView):
    """Gateway keys of the organization (`X-Api-Key: tg_…`), newest first. A key may be
    limited to some APIs (`apis`) and may expire. An organization holds at most 50 working
    keys. Creating needs the owner, admin or developer role."""

    serializer_class = ApiKeyOutput

    def get_queryset(self):
        return selectors.keys_for(self.organization)

    @extend_schema(summary="List the organization's API keys")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ApiKeyCreateInput,
        responses={201: ApiKeyCreatedOutput},
        summary="Create an API key (the secret is in this response only)",
    )
    @idempotent(secret_fields=("key",))
    def post(self, request):
        data = self.validated(ApiKeyCreateInput, context={"organization": self.organization})
        key, secret = services.api_key_create(
            actor=request.user,
            organization=self.organization,
            name=data["name"],
            expires_at=data.get("expires_at"),
            allowed_apis=data.get("apis"),
        )
        return _created(key, secret)


class KeyDetailView(_KeyScoped, APIView):
    """One key of the organization; DELETE revokes it, and the gateway refuses it within a
    second. Keys of other organizations are 404."""

    @extend_schema(responses=ApiKeyOutput, summary="Read an API key")
    def get(self, request, key_id: str):
        return Response(ApiKeyOutput(self.key(key_id)).data)

    @extend_schema(responses={204: None}, summary="Revoke an API key (effective at once)")
    @idempotent
    def delete(self, request, key_id: str):
        services.api_key_revoke(actor=request.user, key=self.key(key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class KeyRotateView(_KeyScoped, APIView):
    """Replace a key: the new one copies its name, APIs and expiry; the old one keeps working
    for the grace period (`none`, `1h`, `24h`, `7d`) so clients can switch without downtime."""

    @extend_schema(
        request=ApiKeyRotateInput,
        responses={201: ApiKeyCreatedOutput},
        summary="Rotate an API key: a new key, the old one works for the grace period",
    )
    @idempotent(secret_fields=("key",))
    def post(self, request, key_id: str):
        key = self.key(key_id)
        data = self.validated(ApiKeyRotateInput)
        new_key, secret = services.api_key_rotate(
            actor=request.user, key=key, grace=GRACE_PERIODS[data["grace"]]
        )
        return _created(new_key, secret)
