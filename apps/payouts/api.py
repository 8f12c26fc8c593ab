"""Provider payouts in the platform API: balance, payouts, ledger (the request's
organization only; another organization's payout is a 404)."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import OrganizationScopedMixin
from apps.core.idempotency import idempotent

from . import selectors, services
from .models import Payout, PayoutDetails
from .periods import parse_month
from .serializers import (
    BalanceOutput,
    LedgerEntryOutput,
    PayoutDetailsInput,
    PayoutDetailsOutput,
    PayoutOutput,
)


class _MoneyView(OrganizationScopedMixin):
    required_capability = "see_money"


class ProviderBalanceView(_MoneyView, APIView):
    """What the organization has earned as a provider and not yet been paid, the next
    monthly payout and whether it will be paid, and its Stripe Connect status."""

    @extend_schema(responses=BalanceOutput, summary="Provider balance and next payout")
    def get(self, request):
        organization = self.organization
        account = selectors.provider_account(organization)
        summary = selectors.balance_summary(organization, account)
        upcoming = selectors.next_payout(organization, balance=summary.payable, account=account)
        data = {
            **summary.__dict__,
            "payout_minimum": Decimal(settings.PAYOUT_MINIMUM),
            "next_payout": upcoming.__dict__,
            "stripe_account": {
                "configured": selectors.stripe_configured(),
                "connected": bool(account and account.stripe_account_id),
                "details_submitted": bool(account and account.details_submitted),
                "payouts_enabled": bool(account and account.payouts_enabled),
            },
        }
        return Response(BalanceOutput(data).data)


class ProviderPayoutListView(_MoneyView, generics.ListAPIView):
    """Payouts made to the organization, newest first."""

    serializer_class = PayoutOutput

    def get_queryset(self):
        return selectors.payouts_for(self.organization)

    @extend_schema(summary="List the provider's payouts")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ProviderPayoutDetailView(_MoneyView, APIView):
    @extend_schema(responses=PayoutOutput, summary="Read one payout")
    def get(self, request, payout_id: str):
        payout = selectors.payout_for(self.organization, payout_id)
        if payout is None:
            raise NotFound("No such payout.")
        return Response(PayoutOutput(payout).data)


class ProviderLedgerView(_MoneyView, generics.ListAPIView):
    """The provider's ledger, newest first: earnings (provider share, with the gross and
    the platform fee), refunds, payouts and returned payouts. `amount` is signed."""

    serializer_class = LedgerEntryOutput

    def get_queryset(self):
        month = self.request.query_params.get("month")
        if month:
            parse_month(month)  # a bad or out-of-range month is a 400 on `month`
        return selectors.entries_for(self.organization, month).order_by("-created_at", "-id")

    @extend_schema(
        summary="List the provider's ledger entries",
        parameters=[OpenApiParameter("month", str, description="Only this month (UTC), YYYY-MM.")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ProviderPayoutDetailsView(_MoneyView, APIView):
    """Where the organization's manual payouts are sent. Read by the roles that see money
    (the number masked), replaced by the roles that handle billing: every PUT carries the
    whole account number again, is audited and emailed to the owners."""

    @extend_schema(responses=PayoutDetailsOutput, summary="Read the payout details (masked)")
    def get(self, request):
        details = selectors.payout_details(self.organization) or PayoutDetails()
        return Response(PayoutDetailsOutput(details).data)

    @extend_schema(
        request=PayoutDetailsInput,
        responses=PayoutDetailsOutput,
        summary="Set the payout details",
    )
    def put(self, request):
        values = self.validated(PayoutDetailsInput)
        try:
            details, _ = services.payout_details_save(
                actor=request.user,
                organization=self.organization,
                values=values,
                ip=request.META.get("REMOTE_ADDR", ""),
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return Response(PayoutDetailsOutput(details).data)


# --- Staff: payout actions (every one honours Idempotency-Key) -----------------------------
class PayoutRunInput(serializers.Serializer):
    period = serializers.CharField(required=False, help_text="YYYY-MM; default this month.")


class PayoutRunOutput(serializers.Serializer):
    period = serializers.CharField()
    created = PayoutOutput(many=True)
    resent = PayoutOutput(many=True)
    failed_organizations = serializers.IntegerField()


class MarkPaidInput(serializers.Serializer):
    reference = serializers.CharField(max_length=120, required=False, allow_blank=True)


class PayoutRunView(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        request=PayoutRunInput, responses=PayoutRunOutput, summary="Staff: run payouts now"
    )
    @idempotent
    def post(self, request):
        serializer = PayoutRunInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = services.run_payouts(serializer.validated_data.get("period"))
        data = {
            "period": report.period,
            "created": report.created,
            "resent": report.resent,
            "failed_organizations": len(report.failed_organization_ids),
        }
        return Response(PayoutRunOutput(data).data)


class PayoutMarkPaidView(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        request=MarkPaidInput,
        responses=PayoutOutput,
        summary="Staff: mark a manual payout paid (bank transfer sent)",
    )
    @idempotent
    def post(self, request, payout_id: str):
        payout = Payout.objects.filter(public_id=payout_id).first()
        if payout is None:
            raise NotFound("No such payout.")
        serializer = MarkPaidInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        payout = services.payout_mark_paid(
            payout=payout, actor=request.user, **serializer.validated_data
        )
        return Response(PayoutOutput(payout).data)
