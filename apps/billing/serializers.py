from rest_framework import serializers

from .models import Invoice, InvoiceLine, InvoiceStatus


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
