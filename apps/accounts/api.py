from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.idempotency import idempotent

from . import services
from .scoping import OrganizationScopedMixin
from .selectors import active_membership, memberships_of
from .serializers import (
    AccessTokenCreatedOutput,
    AccessTokenCreateInput,
    AccessTokenOutput,
    MeOutput,
)


class MeView(APIView):
    @extend_schema(responses=MeOutput, summary="Who am I, and for which organization")
    def get(self, request):
        membership = active_membership(request)
        data = {
            "user": request.user,
            "organizations": memberships_of(request.user),
            "active_organization": membership.organization if membership else None,
            "role": membership.role if membership else None,
        }
        return Response(MeOutput(data).data)


class TokenListCreateView(OrganizationScopedMixin, generics.ListAPIView):
    serializer_class = AccessTokenOutput

    def get_queryset(self):
        return self.organization.access_tokens.select_related("created_by")

    @extend_schema(request=AccessTokenCreateInput, responses={201: AccessTokenCreatedOutput})
    @idempotent
    def post(self, request):
        data = self.validated(AccessTokenCreateInput)
        token, secret = services.access_token_create(
            actor=request.user, organization=self.organization, **data
        )
        token.token = secret
        return Response(AccessTokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class TokenDetailView(OrganizationScopedMixin, APIView):
    @extend_schema(responses=AccessTokenOutput)
    def get(self, request, token_id: str):
        return Response(AccessTokenOutput(self._token(token_id)).data)

    @extend_schema(responses={204: None}, summary="Revoke a token")
    def delete(self, request, token_id: str):
        services.access_token_revoke(actor=request.user, token=self._token(token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _token(self, token_id: str):
        return get_object_or_404(self.organization.access_tokens, public_id=token_id)
