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
