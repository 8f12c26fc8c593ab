from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin
from apps.catalog import selectors as catalog_selectors
from apps.catalog.api import owned_api
from apps.catalog.models import Api
from apps.core.idempotency import idempotent

from . import selectors, services
from .models import Plan
from .serializers import (
    CancelInput,
    ChangePlanInput,
    PlanInput,
    PlanOutput,
    PlanUpdateInput,
    SubscribeInput,
    SubscriptionCreatedOutput,
    SubscriptionOutput,
)


class PlanListCreateView(OrganizationScopedMixin, generics.ListAPIView):
    serializer_class = PlanOutput
    pagination_class = None

    def get_permissions(self):
        if self.request.method == "GET":
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    def _api(self) -> Api:
        api = catalog_selectors.api_for_viewer(self.kwargs["slug"], self.request.user)
        if api is None:
            raise NotFound("No such API.")
        return api

    def get_queryset(self):
        api = self._api()
        user = self.request.user
        if user.is_authenticated and api.organization.memberships.filter(user=user).exists():
            return api.plans.all()  # the owner sees private and archived plans too
        return selectors.public_plans(api)

    @extend_schema(summary="An API's plans (public ones, or all for the owner)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=PlanInput, responses={201: PlanOutput}, summary="Create a plan")
    @idempotent
    def post(self, request, slug: str):
        plan = services.plan_create(
            actor=request.user, api=owned_api(self, slug), **self.validated(PlanInput)
        )
        return Response(PlanOutput(plan).data, status=status.HTTP_201_CREATED)


class PlanDetailView(OrganizationScopedMixin, APIView):
    def _plan(self, slug: str, plan_id: str) -> Plan:
        return get_object_or_404(owned_api(self, slug).plans, public_id=plan_id)

    @extend_schema(request=PlanUpdateInput, responses=PlanOutput, summary="Edit or archive a plan")
    def patch(self, request, slug: str, plan_id: str):
        plan = self._plan(slug, plan_id)
        data = self.validated(PlanUpdateInput, partial=True)
        archived = data.pop("archived", None)
        if data:
            plan = services.plan_update(actor=request.user, plan=plan, **data)
        if archived is not None:
            plan = services.plan_archive(actor=request.user, plan=plan, archived=archived)
        return Response(PlanOutput(plan).data)

    @extend_schema(responses={204: None}, summary="Delete a plan without subscribers")
    def delete(self, request, slug: str, plan_id: str):
        services.plan_delete(actor=request.user, plan=self._plan(slug, plan_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionListCreateView(OrganizationScopedMixin, generics.ListAPIView):
    serializer_class = SubscriptionOutput

    def get_queryset(self):
        return selectors.subscriptions_of(self.organization)

    @extend_schema(
        request=SubscribeInput,
        responses={201: SubscriptionCreatedOutput},
        summary="Subscribe to a plan",
    )
    @idempotent
    def post(self, request):
        data = self.validated(SubscribeInput)
        plan = Plan.objects.select_related("api").filter(public_id=data["plan"]).first()
        if plan is None:
            raise NotFound("No such plan.")
        result = services.subscription_create(
            actor=request.user,
            organization=self.organization,
            plan=plan,
            invite_token=data.get("invite", ""),
        )
        subscription = result.subscription
        subscription.checkout_url = result.checkout_url
        return Response(
            SubscriptionCreatedOutput(subscription).data, status=status.HTTP_201_CREATED
        )


class _SubscriptionView(OrganizationScopedMixin, APIView):
    def subscription(self, subscription_id: str):
        subscription = selectors.subscription_for_member(self.organization, subscription_id)
        if subscription is None:
            raise NotFound("No such subscription.")
        return subscription


class SubscriptionDetailView(_SubscriptionView):
    @extend_schema(responses=SubscriptionOutput, summary="One subscription")
    def get(self, request, subscription_id: str):
        return Response(SubscriptionOutput(self.subscription(subscription_id)).data)


class SubscriptionCancelView(_SubscriptionView):
    @extend_schema(
        request=CancelInput,
        responses=SubscriptionOutput,
        summary="Cancel (at the period end for paid plans)",
    )
    @idempotent
    def post(self, request, subscription_id: str):
        data = self.validated(CancelInput)
        subscription = services.subscription_cancel(
            actor=request.user, subscription=self.subscription(subscription_id), **data
        )
        return Response(SubscriptionOutput(subscription).data)


class SubscriptionChangePlanView(_SubscriptionView):
    @extend_schema(
        request=ChangePlanInput,
        responses=SubscriptionOutput,
        summary="Change plan (upgrades now, downgrades at the period end)",
    )
    @idempotent
    def post(self, request, subscription_id: str):
        subscription = self.subscription(subscription_id)
        data = self.validated(ChangePlanInput)
        plan = subscription.api.plans.filter(public_id=data["plan"]).first()
        if plan is None:
            raise NotFound("No such plan for this API.")
        subscription = services.subscription_change_plan(
            actor=request.user, subscription=subscription, plan=plan, at_once=data["at_once"]
        )
        return Response(SubscriptionOutput(subscription).data)
