from django.db import models

from apps.accounts.models import Organization, User
from apps.catalog.models import Api
from apps.core.models import PublicIdField, TimeStampedModel
from apps.core.money import MoneyField, UnitPriceField
from apps.subscriptions.models import Plan, Subscription


class BillingAccount(TimeStampedModel):
    """A consumer organization's payment setup: its Stripe customer and whether a card is
    saved. Without Stripe, every organization is invoiced manually."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="billing_account"
    )
    stripe_customer_id = models.CharField(max_length=64, blank=True, db_index=True)
    default_payment_method = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)

    def __str__(self):
        return f"Billing for {self.organization}"

    @property
    def has_card(self) -> bool:
        return bool(self.default_payment_method)


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"
    # below the minimum charge: nothing collected, its lines carried to the next invoice
    CARRIED = "carried", "Carried forward"


class CollectionMethod(models.TextChoices):
    STRIPE = "stripe", "Card (Stripe)"
    MANUAL = "manual", "Bank transfer"


class Invoice(TimeStampedModel):
    """What a consumer organization owes: at a billing date, one section per subscription
    (a period's usage and the next fee); between them, a first fee, an upgrade's proration
    or a final invoice of one subscription. `key` makes issuing idempotent: one invoice per
    billing date (or event), however many workers run the job. `subscription` is the first
    section's; `sections()` gives them all (apps/billing/assembly.py)."""

    public_id = PublicIdField(prefix="in")
    key = models.CharField(max_length=120, unique=True)
    number = models.CharField(max_length=30, unique=True, null=True, blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="invoices"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(
        max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT, db_index=True
    )
    collection_method = models.CharField(max_length=10, choices=CollectionMethod.choices)
    currency = models.CharField(max_length=3)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    total = MoneyField(default=0)
    amount_refunded = MoneyField(default=0)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    # dunning (dunning.py): scheduled retries done since the first failure, and when the
    # next one is due (None: none scheduled, or the schedule is over)
    payment_retries = models.PositiveSmallIntegerField(default=0)
    next_payment_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    stripe_invoice_id = models.CharField(max_length=64, blank=True, db_index=True)
    hosted_invoice_url = models.URLField(max_length=500, blank=True)
    # the last Stripe payment attempt that asked the consumer to authenticate (3-D Secure),
    # so a repeated `invoice.payment_action_required` emails the link once per attempt
    action_required_attempt = models.PositiveSmallIntegerField(default=0)
    memo = models.CharField(max_length=300, blank=True)
    # a carried invoice (below the minimum charge) points at the invoice that collects it
    carried_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="carried_from"
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["organization", "-issued_at"])]

    def __str__(self):
        return self.number or f"Draft {self.public_id}"

    @property
    def amount_due(self):
        return self.total if self.status == InvoiceStatus.OPEN else 0


class InvoiceLine(models.Model):
    """One line as the rating engine computed it (rounded once), with the provider it pays."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=30)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=26, decimal_places=6)  # custom units: to 1e-6
    unit_price = UnitPriceField(null=True, blank=True)
    amount = MoneyField()
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    api = models.ForeignKey(Api, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(Plan, null=True, on_delete=models.SET_NULL, related_name="+")
    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    # the section the line belongs to: the subscription it bills
    subscription = models.ForeignKey(
        Subscription, null=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    # a "Carried from TG-…" line: the carried invoice whose lines it collects
    carried_invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["invoice", "position", "id"]

    def __str__(self):
        return f"{self.description}: {self.amount}"


class InvoiceSequence(models.Model):
    """Gapless invoice numbers per year: the row is locked while a number is taken, in the
    same transaction that issues the invoice."""

    year = models.PositiveIntegerField(unique=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"


class Refund(TimeStampedModel):
    public_id = PublicIdField(prefix="re")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    amount = MoneyField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    stripe_refund_id = models.CharField(max_length=64, blank=True)
    # the part Stripe could not send back to a card (an invoice settled from the customer's
    # balance): credited to that balance instead, where it pays the next invoices
    amount_to_balance = MoneyField(default=0)
    stripe_balance_transaction_id = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Refund {self.amount} of {self.invoice}"


class UsageAlert(TimeStampedModel):
    """A threshold the consumer wants to hear about, fired once per period."""

    class Basis(models.TextChoices):
        INCLUDED_UNITS = "included_units", "% of the included units"
        SPEND_CAP = "spend_cap", "% of the spend cap"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="alerts")
    basis = models.CharField(max_length=20, choices=Basis.choices)
    percent = models.PositiveSmallIntegerField()
    last_fired_period = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "basis", "percent"], name="one_alert_per_threshold"
            )
        ]
        ordering = ["basis", "percent"]

    def __str__(self):
        return f"{self.percent}% of {self.get_basis_display()}"


class RatedUsage(models.Model):
    """How many units of one segment (a subscription's term inside one billing period)
    have been invoiced. Usage of it that reaches the aggregates later is late usage: the
    next invoice bills the difference."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    term_id = models.BigIntegerField(null=True, blank=True)
    period_start = models.DateTimeField()
    units = models.DecimalField(max_digits=26, decimal_places=6, default=0)
    first_invoiced_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "term_id", "period_start"],
                name="one_rated_usage_per_segment",
                nulls_distinct=False,
            )
        ]

    def __str__(self):
        return f"{self.subscription_id}/{self.term_id}@{self.period_start:%Y-%m-%d}: {self.units}"


class CreditBalance(models.Model):
    """Credit a subscription is owed: what credits (unused fees) beyond an invoice's charges
    carried forward. The next invoice uses it up; at the subscription's end what is left is
    refunded against its paid invoices."""

    subscription = models.OneToOneField(
        Subscription, on_delete=models.CASCADE, related_name="credit_balance"
    )
    amount = MoneyField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Credit {self.amount} for {self.subscription_id}"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Dispute(TimeStampedModel):
    """A consumer's bank disputing the payment of an invoice (a chargeback). While it is
    open the providers' earnings from the invoice are frozen; won releases them, lost
    reverses them with the platform fee. `fee` is what Stripe charged for the dispute."""

    public_id = PublicIdField(prefix="dp")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=10, choices=DisputeStatus.choices, default=DisputeStatus.OPEN, db_index=True
    )
    amount = MoneyField()
    fee = MoneyField(default=0)
    reason = models.CharField(max_length=60, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Dispute {self.stripe_dispute_id} of {self.invoice} ({self.status})"
