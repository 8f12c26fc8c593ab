from rest_framework import serializers

from .bank import AccountType
from .models import LedgerEntry, LedgerKind, Payout, PayoutDetails, PayoutMethod, PayoutStatus

MONEY = {"max_digits": 14, "decimal_places": 2}


class NextPayoutOutput(serializers.Serializer):
    date = serializers.DateField(help_text="The monthly run: the 1st of next month (UTC).")
    period = serializers.CharField(help_text="The run's period, YYYY-MM.")
    amount = serializers.DecimalField(**MONEY, help_text="The balance it would pay today.")
    will_be_paid = serializers.BooleanField()
    method = serializers.CharField(
        allow_null=True, help_text="`stripe`, `manual` (bank transfer by staff), or null."
    )
    headline = serializers.CharField()
    reason = serializers.CharField()


class StripeAccountOutput(serializers.Serializer):
    configured = serializers.BooleanField(help_text="Whether the marketplace uses Stripe.")
    connected = serializers.BooleanField()
    details_submitted = serializers.BooleanField()
    payouts_enabled = serializers.BooleanField()


class BalanceOutput(serializers.Serializer):
    balance = serializers.DecimalField(
        **MONEY, help_text="Earned and not yet paid out: payable + pending + held."
    )
    payable = serializers.DecimalField(
        **MONEY,
        help_text="What the next payout run pays (if it reaches the minimum). Negative when "
        "refunds or lost disputes took back more than is left; later earnings cover it.",
    )
    pending = serializers.DecimalField(
        **MONEY, help_text="Earnings within their holdback (hold_days after the payment)."
    )
    held = serializers.DecimalField(
        **MONEY, help_text="Earnings of invoices under an open dispute: frozen until it closes."
    )
    reversed = serializers.DecimalField(
        **MONEY, help_text="What refunds, lost disputes and dispute fees took back (negative)."
    )
    hold_days = serializers.IntegerField(help_text="PAYOUT_HOLD_DAYS.")
    currency = serializers.CharField()
    earned = serializers.DecimalField(**MONEY, help_text="Net earnings after refunds.")
    gross = serializers.DecimalField(**MONEY, help_text="What consumers paid, after refunds.")
    platform_fees = serializers.DecimalField(**MONEY)
    paid_out = serializers.DecimalField(**MONEY)
    in_transit = serializers.DecimalField(**MONEY, help_text="Payouts made and not yet paid.")
    fee_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    payout_minimum = serializers.DecimalField(**MONEY)
    next_payout = NextPayoutOutput()
    stripe_account = StripeAccountOutput()


class PayoutOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    status = serializers.ChoiceField(choices=PayoutStatus.choices)
    method = serializers.ChoiceField(choices=PayoutMethod.choices)

    class Meta:
        model = Payout
        fields = [
            "id",
            "period",
            "amount",
            "currency",
            "status",
            "method",
            "created_at",
            "paid_at",
            "stripe_transfer_id",
            "failure_reason",
        ]


class LedgerEntryOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    kind = serializers.ChoiceField(choices=LedgerKind.choices)
    invoice = serializers.SerializerMethodField()
    payout = serializers.SlugRelatedField(slug_field="public_id", read_only=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "created_at",
            "kind",
            "description",
            "gross",
            "fee_percent",
            "platform_fee",
            "amount",
            "currency",
            "invoice",
            "payout",
            "available_at",
        ]
        extra_kwargs = {
            "available_at": {
                "help_text": "When the amount becomes payable (earnings: the holdback's end); "
                "null: at once. Entries of an invoice under an open dispute stay frozen."
            }
        }

    def get_invoice(self, entry) -> str | None:
        line = entry.invoice_line
        return line.invoice.number if line else None


class PayoutDetailsInput(serializers.Serializer):
    """Checked by `bank.clean_bank_details`; which fields count depends on the kind."""

    account_type = serializers.ChoiceField(
        choices=AccountType.choices,
        help_text="`iban`: iban (+ bic, optional). `us`: routing_number, account_number. "
        "`other`: country, bank_name, account_number, bic.",
    )
    holder_name = serializers.CharField(max_length=140)
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, such as EUR.")
    iban = serializers.CharField(max_length=42, required=False, allow_blank=True)
    bic = serializers.CharField(max_length=14, required=False, allow_blank=True)
    routing_number = serializers.CharField(max_length=11, required=False, allow_blank=True)
    account_number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    bank_name = serializers.CharField(max_length=140, required=False, allow_blank=True)


class PayoutDetailsOutput(serializers.ModelSerializer):
    """The details as members see them: the account number masked, never whole."""

    on_file = serializers.SerializerMethodField(
        help_text="False until the details are entered; every other field is then empty."
    )
    number = serializers.CharField(
        source="masked_number", help_text="The IBAN or account number, masked."
    )
    updated_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = PayoutDetails
        fields = [
            "on_file",
            "account_type",
            "holder_name",
            "number",
            "bic",
            "routing_number",
            "bank_name",
            "country",
            "currency",
            "updated_at",
            "updated_by",
        ]

    def get_on_file(self, details) -> bool:
        return details.pk is not None
