from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin
from apps.core.idempotency import idempotent
from apps.subscriptions.selectors import subscription_for_member

from . import services
from .models import Invoice, InvoiceStatus
from .serializers import (
    ChangePreviewInput,
    ChangePreviewOutput,
    InvoiceDetailOutput,
    InvoiceOutput,
    RefundInput,
    RefundOutput,
)


def _invoices(organization):
    return organization.invoices.exclude(status=InvoiceStatus.DRAFT).select_related("subscription")


class InvoiceListView(OrganizationScopedMixin, generics.ListAPIView):
    serializer_class = InvoiceOutput
    required_capability = "see_money"

    def get_queryset(self):
        return _invoices(self.organization)

    @extend_schema(summary="Your organization's invoices")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InvoiceDetailView(OrganizationScopedMixin, APIView):
    required_capability = "see_money"

    @extend_schema(responses=InvoiceDetailOutput, summary="One invoice with its lines")
    def get(self, request, invoice_id: str):
        invoice = (
            _invoices(self.organization)
            .prefetch_related("lines__api")
            .filter(public_id=invoice_id)
            .first()
        )
        if invoice is None:
            raise NotFound("No such invoice.")
        return Response(InvoiceDetailOutput(invoice).data)


# --- Staff: collection actions (every one honours Idempotency-Key) ------------------------
class _StaffInvoiceView(APIView):
    permission_classes = [permissions.IsAdminUser]

    def invoice(self, invoice_id: str) -> Invoice:
        invoice = Invoice.objects.filter(public_id=invoice_id).first()
        if invoice is None:
            raise NotFound("No such invoice.")
        return invoice


class InvoiceRefundView(_StaffInvoiceView):
    @extend_schema(
        request=RefundInput,
        responses={201: RefundOutput},
        summary="Staff: refund a paid invoice (all or part)",
    )
    @idempotent
    def post(self, request, invoice_id: str):
        serializer = RefundInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund = services.invoice_refund(
            invoice=self.invoice(invoice_id), actor=request.user, **serializer.validated_data
        )
        return Response(RefundOutput(refund).data, status=status.HTTP_201_CREATED)


def _invoice_action(service, summary: str):
    class View(_StaffInvoiceView):
        @extend_schema(request=None, responses=InvoiceDetailOutput, summary=summary)
        @idempotent
        def post(self, request, invoice_id: str):
            invoice = service(invoice=self.invoice(invoice_id), actor=request.user)
            return Response(InvoiceDetailOutput(invoice).data)

    View.__name__ = View.__qualname__ = f"{service.__name__.title().replace('_', '')}View"
    return View


InvoiceVoidView = _invoice_action(services.invoice_void, "Staff: void an open invoice")
InvoiceUncollectibleView = _invoice_action(
    services.invoice_mark_uncollectible, "Staff: write an open invoice off as uncollectible"
)
InvoiceMarkPaidView = _invoice_action(
    services.invoice_mark_paid, "Staff: mark an invoice paid (bank transfer received)"
)


class ChangePlanPreviewView(OrganizationScopedMixin, APIView):
    required_capability = "billing"

    @extend_schema(
        parameters=[ChangePreviewInput],
        responses=ChangePreviewOutput,
        summary="What a plan change would charge now and from the period end (changes nothing)",
    )
    def get(self, request, subscription_id: str):
        subscription = subscription_for_member(self.organization, subscription_id)
        if subscription is None:
            raise NotFound("No such subscription.")
        data = ChangePreviewInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        plan = subscription.api.plans.filter(public_id=data.validated_data["plan"]).first()
        if plan is None:
            raise NotFound("No such plan for this API.")
        preview = services.plan_change_preview(
            actor=request.user,
            subscription=subscription,
            plan=plan,
            at_once=data.validated_data["at_once"],
        )
        return Response(ChangePreviewOutput({**vars(preview), "currency": settings.CURRENCY}).data)
