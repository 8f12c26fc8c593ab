from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin

from . import selectors, services
from .models import Api
from .serializers import (
    ApiDetailOutput,
    ApiInput,
    ApiOutput,
    ApiUpdateInput,
    OptionalReasonInput,
    OwnerApiOutput,
    ReasonInput,
)


def _input_fields(data: dict) -> dict:
    fields = dict(data)
    if "category" in fields:
        fields["category"] = services.category_for(fields["category"])
    if "openapi" in fields:
        fields["openapi_source"] = fields.pop("openapi")
    return fields


class ApiListCreateView(OrganizationScopedMixin, generics.ListAPIView):
    serializer_class = ApiOutput

    def get_permissions(self):
        if self.request.method == "GET":
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    @extend_schema(
        parameters=[OpenApiParameter("search", str), OpenApiParameter("category", str)],
        summary="The published catalog",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.search_apis(
            self.request.query_params.get("search", ""),
            self.request.query_params.get("category", ""),
        )

    @extend_schema(
        request=ApiInput, responses={201: OwnerApiOutput}, summary="Create a listing (draft)"
    )
    def post(self, request):
        data = _input_fields(self.validated(ApiInput))
        api = services.api_create(
            actor=request.user, organization=self.organization, slug_strict="slug" in data, **data
        )
        return Response(
            OwnerApiOutput(api, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ApiDetailView(OrganizationScopedMixin, APIView):
    def get_permissions(self):
        if self.request.method == "GET":
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    def _is_owner(self, api: Api) -> bool:
        user = self.request.user
        return user.is_authenticated and api.organization.memberships.filter(user=user).exists()

    @extend_schema(responses=ApiDetailOutput, summary="Read a listing")
    def get(self, request, slug: str):
        api = selectors.api_for_viewer(slug, request.user)
        if api is None:
            raise NotFound("No such API.")
        output = OwnerApiOutput if self._is_owner(api) else ApiDetailOutput
        return Response(output(api, context={"request": request}).data)

    @extend_schema(request=ApiUpdateInput, responses=OwnerApiOutput, summary="Edit a listing")
    def patch(self, request, slug: str):
        api = owned_api(self, slug)
        data = _input_fields(self.validated(ApiUpdateInput, partial=True))
        source = data.pop("openapi_source", None)
        api = services.api_update(actor=request.user, api=api, **data)
        if source is not None:
            pending = services.spec_import_prepare(actor=request.user, api=api, source=source)
            services.spec_import_apply(actor=request.user, spec_import=pending)
        return Response(OwnerApiOutput(api, context={"request": request}).data)


def owned_api(view: OrganizationScopedMixin, slug: str) -> Api:
    """The API if the request's organization owns it; 404 otherwise (never 403)."""
    return get_object_or_404(Api, slug=slug, organization=view.organization)


class _Action(OrganizationScopedMixin, APIView):
    input_class = None
    output_class = OwnerApiOutput

    def api(self, slug: str) -> Api:
        return owned_api(self, slug)

    def run(self, api: Api, **data) -> Api:
        raise NotImplementedError

    def post(self, request, slug: str):
        data = self.validated(self.input_class) if self.input_class else {}
        api = self.run(self.api(slug), **data)
        return Response(self.output_class(api).data)


class _StaffAction(_Action):
    permission_classes = [permissions.IsAdminUser]
    output_class = ApiDetailOutput

    def api(self, slug: str) -> Api:
        return get_object_or_404(Api, slug=slug)


@extend_schema(request=None, responses=OwnerApiOutput, summary="Submit for review")
class ApiSubmitView(_Action):
    def run(self, api, **data):
        return services.api_submit(actor=self.request.user, api=api)


@extend_schema(request=None, responses=ApiDetailOutput, summary="Approve (staff)")
class ApiApproveView(_StaffAction):
    def run(self, api, **data):
        return services.api_approve(actor=self.request.user, api=api)


@extend_schema(request=ReasonInput, responses=ApiDetailOutput, summary="Reject (staff)")
class ApiRejectView(_StaffAction):
    input_class = ReasonInput

    def run(self, api, reason):
        return services.api_reject(actor=self.request.user, api=api, reason=reason)


@extend_schema(request=OptionalReasonInput, responses=ApiDetailOutput, summary="Suspend (staff)")
class ApiSuspendView(_StaffAction):
    input_class = OptionalReasonInput

    def run(self, api, reason=""):
        return services.api_suspend(actor=self.request.user, api=api, reason=reason)


@extend_schema(request=None, responses=ApiDetailOutput, summary="Restore a suspended API (staff)")
class ApiRestoreView(_StaffAction):
    def run(self, api, **data):
        return services.api_restore(actor=self.request.user, api=api)
