from rest_framework import serializers

from .models import Invoice, InvoiceLine, InvoiceStatus, Refund


class InvoiceLineOutput(serializers.ModelSerializer):
    api = serializers.CharField(source="api.slug")

    class Meta:
        model = InvoiceLine
        fields = [
            "kind",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "period_start",
            "period_end",
            "api",
        ]


class InvoiceOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    subscription = serializers.CharField(source="subscription.public_id")
    status = serializers.ChoiceField(choices=InvoiceStatus.choices)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "status",
            "subscription",
            "currency",
            "total",
            "amount_refunded",
            "period_start",
            "period_end",
            "issued_at",
            "due_at",
            "paid_at",
            "collection_method",
            "hosted_invoice_url",
        ]


class InvoiceDetailOutput(InvoiceOutput):
    lines = InvoiceLineOutput(many=True)

    class Meta(InvoiceOutput.Meta):
        fields = [*InvoiceOutput.Meta.fields, "lines"]


class RefundInput(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        required=False,
        allow_null=True,
        help_text="In the invoice's currency, a whole number of its minor unit. Empty: "
        "everything not refunded yet.",
    )
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class RefundOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    invoice = serializers.CharField(source="invoice.public_id")

    class Meta:
        model = Refund
        fields = ["id", "invoice", "amount", "reason", "created_at"]


class ChangePreviewInput(serializers.Serializer):
    plan = serializers.CharField(help_text="The id of the plan to move to.")
    at_once = serializers.BooleanField(
        default=False, help_text="A downgrade now instead of at the period end."
    )


class ChangePreviewLineOutput(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=26, decimal_places=6)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)


class RenewalTermsOutput(serializers.Serializer):
    monthly_fee = serializers.DecimalField(max_digits=14, decimal_places=2)
    included_units = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=6)
    unit = serializers.CharField()


class ChangePreviewOutput(serializers.Serializer):
    """What the change would invoice now, line for line, and the terms from the period end."""

    currency = serializers.CharField()
    lines = ChangePreviewLineOutput(many=True)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    at_once = serializers.BooleanField(help_text="False: a downgrade waiting for the period end.")
    applies_at = serializers.DateTimeField()
    carried = serializers.BooleanField(
        help_text="Below the minimum charge: added to the next invoice instead of charged now."
    )
    renews_at = serializers.DateTimeField()
    renewal = RenewalTermsOutput(help_text="The terms billed from the period end on.")
