"""The provider ledger: what each provider organization earned, had reversed and was paid.

Every change to a provider's money is a row in `LedgerEntry`; rows are never edited or
deleted, and the balance is their sum. Unique constraints make each entry enterable once,
so repeated signals, webhooks and payout runs cannot count anything twice."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.billing.models import Dispute, InvoiceLine, Refund
from apps.core.models import PublicIdField, TimeStampedModel
from apps.core.money import MoneyField

from .bank import AccountType, masked


class ProviderAccount(TimeStampedModel):
    """A provider organization's payout setup: its Stripe Connect account and the status
    Stripe reports for it (`account.updated`), and the fee staff may set for it."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="provider_account"
    )
    stripe_account_id = models.CharField(max_length=64, blank=True, db_index=True)
    details_submitted = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    status_updated_at = models.DateTimeField(null=True, blank=True)
    fee_percent_override = models.DecimalField(
        "platform fee override (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Leave empty to use the marketplace fee (PLATFORM_FEE_PERCENT). Applies to "
        "invoices paid from now on; entries already made keep their fee.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(fee_percent_override__isnull=True)
                | Q(fee_percent_override__gte=0, fee_percent_override__lte=100),
                name="payouts_fee_override_is_a_percentage",
            ),
            models.UniqueConstraint(
                fields=["stripe_account_id"],
                condition=~Q(stripe_account_id=""),
                name="payouts_one_organization_per_stripe_account",
            ),
        ]

    def __str__(self):
        return f"Payouts of {self.organization}"

    @property
    def stripe_connected(self) -> bool:
        return bool(self.stripe_account_id)


class LedgerKind(models.TextChoices):
    EARNING = "earning", "Earning"
    REFUND_REVERSAL = "refund_reversal", "Refund"
    PAYOUT = "payout", "Payout"
    PAYOUT_REVERSAL = "payout_reversal", "Payout returned"
    DISPUTE_OPENED = "dispute_opened", "Dispute opened (earnings frozen)"
    DISPUTE_WON = "dispute_won", "Dispute won (earnings released)"
    DISPUTE_LOST = "dispute_lost", "Dispute lost"
    DISPUTE_FEE = "dispute_fee", "Dispute fee"
    TRANSFER_REVERSAL = "transfer_reversal", "Recovered from Stripe"


# What each kind counts as on the balance: taken back from the provider (refunds, lost
# disputes and their fees) or paid to them (payouts, less what came back)
REVERSED_KINDS = (LedgerKind.REFUND_REVERSAL, LedgerKind.DISPUTE_LOST, LedgerKind.DISPUTE_FEE)
PAID_KINDS = (LedgerKind.PAYOUT, LedgerKind.PAYOUT_REVERSAL, LedgerKind.TRANSFER_REVERSAL)


class LedgerEntry(models.Model):
    """One movement of a provider's money. `amount` is the provider's net (signed: earnings
    are positive; refunds and payouts negative); `gross` and `platform_fee` say how it was
    split (`gross = amount + platform_fee`), and stay zero for payouts."""

    public_id = PublicIdField(prefix="le")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=20, choices=LedgerKind.choices)
    amount = MoneyField()
    gross = MoneyField(default=0)
    platform_fee = MoneyField(default=0)
    fee_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=300, blank=True)
    invoice_line = models.ForeignKey(
        InvoiceLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payout = models.ForeignKey(
        "Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    dispute = models.ForeignKey(
        Dispute, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When the amount becomes payable: an earning PAYOUT_HOLD_DAYS after the payment
    # cleared (its reversals with it); empty means at once. Entries of an invoice under an
    # open dispute stay frozen, whatever this says.
    available_at = models.DateTimeField(null=True, blank=True, db_index=True)
    stripe_reversal_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["organization", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice_line"],
                condition=Q(kind="earning"),
                name="payouts_one_earning_per_invoice_line",
            ),
            models.UniqueConstraint(
                fields=["refund", "invoice_line"],
                condition=Q(kind="refund_reversal"),
                name="payouts_one_reversal_per_refund_and_line",
            ),
            models.UniqueConstraint(
                fields=["payout", "kind"],
                condition=Q(payout__isnull=False, kind__in=["payout", "payout_reversal"]),
                name="payouts_one_entry_per_payout_and_kind",
            ),
            models.UniqueConstraint(
                fields=["dispute", "invoice_line", "kind"],
                condition=Q(dispute__isnull=False, invoice_line__isnull=False),
                name="payouts_one_dispute_entry_per_line",
            ),
            models.UniqueConstraint(
                fields=["dispute", "organization", "kind"],
                condition=Q(dispute__isnull=False, invoice_line__isnull=True),
                name="payouts_one_dispute_entry_per_provider",
            ),
            models.UniqueConstraint(
                fields=["stripe_reversal_id"],
                condition=~Q(stripe_reversal_id=""),
                name="payouts_one_entry_per_transfer_reversal",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} ({self.organization})"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class PayoutMethod(models.TextChoices):
    STRIPE = "stripe", "Stripe transfer"
    MANUAL = "manual", "Bank transfer (manual)"


class Payout(TimeStampedModel):
    """One payment of a provider's balance, made by a payout run. A provider gets at most one
    payout per run period ("2026-11"), whatever runs, so a re-run never pays twice; the
    Stripe transfer carries `idempotency_key` for the same reason."""

    public_id = PublicIdField(prefix="payout")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="payouts")
    period = models.CharField(max_length=7, help_text="The run's month, YYYY-MM.")
    amount = MoneyField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.PENDING, db_index=True
    )
    method = models.CharField(max_length=10, choices=PayoutMethod.choices)
    stripe_account_id = models.CharField(max_length=64, blank=True)
    stripe_transfer_id = models.CharField(max_length=64, blank=True, db_index=True)
    transfer_attempted_at = models.DateTimeField(null=True, blank=True)
    # retries of a transfer Stripe refused for a passing reason (its own trouble, too little
    # platform balance): the retry job sends it again at `next_attempt_at`
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_round = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=300, blank=True)
    invoices = models.ManyToManyField(
        "billing.Invoice",
        blank=True,
        related_name="+",
        help_text="The invoices whose earnings this payout pays out (the transfer's group).",
    )
    failure_reason = models.CharField(max_length=300, blank=True)
    reference = models.CharField(
        max_length=120, blank=True, help_text="The bank transfer's reference, for manual payouts."
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    marked_paid_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "period"], name="payouts_one_payout_per_provider_and_period"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payouts_payout_is_positive"),
        ]

    def __str__(self):
        return f"Payout {self.public_id} of {self.amount} {self.currency} to {self.organization}"

    @property
    def idempotency_key(self) -> str:
        return f"tg-payout-{self.public_id}"


class PayoutDetails(TimeStampedModel):
    """Where staff send a provider's manual payouts: one bank account per organization
    (see `bank.py` for the kinds and their checks). Members see the numbers masked; staff,
    who pay from them, see them whole. Changes are audited and emailed to the owners."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="payout_details"
    )
    account_type = models.CharField(max_length=10, choices=AccountType.choices)
    holder_name = models.CharField(max_length=140)
    currency = models.CharField(max_length=3)
    country = models.CharField(max_length=2)
    bank_name = models.CharField(max_length=140, blank=True)
    iban = models.CharField("IBAN", max_length=34, blank=True)
    bic = models.CharField("SWIFT/BIC", max_length=11, blank=True)
    routing_number = models.CharField("ABA routing number", max_length=9, blank=True)
    account_number = models.CharField(max_length=34, blank=True)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "payout details"

    def __str__(self):
        return f"Payout details of {self.organization}"

    @property
    def masked_number(self) -> str:
        if self.iban:
            return masked("iban", self.iban)
        return masked("account_number", self.account_number)

    @property
    def full_number(self) -> str:
        """For staff, who pay to it: the IBAN in groups of four, or the account number."""
        if self.iban:
            return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))
        return self.account_number
