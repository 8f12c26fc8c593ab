from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin

from .models import InvoiceStatus
from .serializers import InvoiceDetailOutput, InvoiceOutput


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
