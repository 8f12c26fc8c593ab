import secrets
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.catalog.models import Api
from apps.core.models import PublicIdField, TimeStampedModel
from apps.core.money import MoneyField, UnitPriceField

UNIT_CALL = "call"
UNIT_SECOND = "second"
# The most units one call may bill when a plan does not say (max_units_per_call empty).
DEFAULT_MAX_SECONDS_PER_CALL = Decimal(60)
DEFAULT_MAX_CUSTOM_UNITS_PER_CALL = Decimal(1000)
# What a call whose X-Tollgate-Units breaks the units rule is billed (or the maximum, if lower).
FALLBACK_UNITS = Decimal(1)


class PlanVisibility(models.TextChoices):
    PUBLIC = "public", "Public — on the pricing table"
    PRIVATE = "private", "Private — by invite link only"


class Plan(TimeStampedModel):
    """What a provider sells. Amounts are computed only by the rating engine (billing)."""

    public_id = PublicIdField(prefix="plan")
    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=300, blank=True)
    monthly_fee = MoneyField(default=Decimal("0"))
    included_units = models.BigIntegerField(default=0)
    unit_price = UnitPriceField(default=Decimal("0"))
    tiers = models.JSONField(
        default=list,
        blank=True,
        help_text='Graduated: [{"up_to": 100000, "unit_price": "0.001"}, '
        '{"up_to": null, "unit_price": "0.0005"}]',
    )
    unit = models.CharField(
        max_length=30,
        default=UNIT_CALL,
        help_text='"call", "second" of upstream time, or a custom unit the '
        "upstream reports (page, token, image).",
    )
    hard_limit = models.BooleanField(default=True)
    rate_limit_per_second = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    bill_server_errors = models.BooleanField(default=False)
    max_units_per_call = models.DecimalField(
        max_digits=19,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Per-second and custom-unit plans: the most units one call may bill. "
        "Admission reserves it, so spend caps and hard quotas hold. Empty: 60 seconds, "
        "or 1,000 custom units.",
    )
    trial_days = models.PositiveSmallIntegerField(default=0)
    prorated_refunds = models.BooleanField(
        default=False,
        help_text="Refund the unused part of the fee when a subscriber cancels or moves to a "
        "cheaper plan at once. Off: the fee already paid is kept.",
    )
    visibility = models.CharField(
        max_length=10, choices=PlanVisibility.choices, default=PlanVisibility.PUBLIC
    )
    invite_token = models.CharField(max_length=43, unique=True, default=secrets.token_urlsafe)
    recommended = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["api", "position", "monthly_fee", "id"]

    def __str__(self):
        return f"{self.api.name} · {self.name}"

    @property
    def is_free(self) -> bool:
        return self.monthly_fee == 0 and self.unit_price == 0 and not self.tiers

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def is_custom_unit(self) -> bool:
        return self.unit not in {UNIT_CALL, UNIT_SECOND}

    @property
    def units_per_call_limit(self) -> Decimal:
        """The most units one call bills: 1 for calls, else max_units_per_call or a default."""
        if self.unit == UNIT_CALL:
            return Decimal(1)
        if self.max_units_per_call is not None:
            return self.max_units_per_call
        if self.unit == UNIT_SECOND:
            return DEFAULT_MAX_SECONDS_PER_CALL
        return DEFAULT_MAX_CUSTOM_UNITS_PER_CALL

    @property
    def fallback_units(self) -> Decimal:
        """What a call is billed when its X-Tollgate-Units breaks the units rule."""
        return min(FALLBACK_UNITS, self.units_per_call_limit)


# The plan fields that are prices: changing any of them makes a new price version.
PRICE_FIELDS = ("monthly_fee", "included_units", "unit_price", "tiers", "hard_limit")


class PriceVersion(models.Model):
    """A plan's prices from `created_at` on. Editing a plan's prices creates the next
    version; subscribers keep the version they have until the provider migrates them with
    notice, so their invoices never change under them."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="price_versions")
    number = models.PositiveIntegerField()
    monthly_fee = MoneyField(default=Decimal("0"))
    included_units = models.BigIntegerField(default=0)
    unit_price = UnitPriceField(default=Decimal("0"))
    tiers = models.JSONField(default=list, blank=True)
    hard_limit = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="one_price_version_number")
        ]

    def __str__(self):
        return f"{self.plan} v{self.number}"

    @property
    def unit(self) -> str:
        return self.plan.unit

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def trial_days(self) -> int:
        return self.plan.trial_days


class SubscriptionStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Waiting for payment details"
    TRIALING = "trialing", "Trial"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    # every retry of a failed payment failed: the gateway refuses calls and no fee is
    # invoiced until the invoice is paid (or the subscription is cancelled)
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Canceled"


LIVE_STATUSES = [
    SubscriptionStatus.PENDING_PAYMENT,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
]
SERVING_STATUSES = [
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
]


class Subscription(TimeStampedModel):
    """A consumer organization's subscription to one API. Periods are monthly, anchored at
    `period_anchor` (the start): period n runs anchor + n months → anchor + n+1 months."""

    public_id = PublicIdField(prefix="sub")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="subscriptions"
    )
    api = models.ForeignKey(Api, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices, db_index=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    period_anchor = models.DateTimeField()
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField(db_index=True)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    scheduled_plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A downgrade that starts at the period end.",
    )
    past_due_since = models.DateTimeField(null=True, blank=True)
    unpaid_since = models.DateTimeField(null=True, blank=True)
    price_version = models.ForeignKey(
        PriceVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subscriptions_on",
        help_text="The plan's prices this subscriber pays now (grandfathered until migrated).",
    )
    manual_invoicing = models.BooleanField(
        default=False, help_text="Paid without a card on file: invoices are paid by transfer."
    )
    spend_cap = MoneyField(
        null=True, blank=True, help_text="Stop calls when this period's charges reach this amount."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "api"],
                condition=Q(status__in=LIVE_STATUSES),
                name="one_live_subscription_per_api",
            ),
        ]

    def __str__(self):
        return f"{self.organization} → {self.plan}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class TermReason(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    UPGRADE = "upgrade", "Upgrade"
    DOWNGRADE = "downgrade", "Downgrade"
    PRICE_CHANGE = "price_change", "Price change"


class SubscriptionTerm(models.Model):
    """One stretch of a subscription's timeline under one plan and price version, from
    `starts_at` until `ends_at` (open: until something changes). Plan changes and price
    changes end one term and start the next; a change scheduled for later (a downgrade at
    the period end, a price change with notice) is a term that starts in the future.

    Usage is recorded against the term in force when it happened (the flush decides it
    from the call's time), and a billing period is rated as the terms that overlap it."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="terms")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    price_version = models.ForeignKey(PriceVersion, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=20, choices=TermReason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subscription", "starts_at", "id"]
        indexes = [models.Index(fields=["subscription", "starts_at"])]

    def __str__(self):
        return f"{self.subscription_id}: {self.price_version} from {self.starts_at:%Y-%m-%d %H:%M}"


class PriceChangeStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    APPLIED = "applied", "Applied"
    CANCELED = "canceled", "Canceled"


class PriceChange(models.Model):
    """A provider moving one subscriber to a newer price version, announced at least
    PRICE_CHANGE_NOTICE_DAYS ahead. The subscriber's timeline already holds the new term
    from `effective_at`; `apply_due_price_changes` switches what the gateway and the pages
    show when the day comes."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="price_changes"
    )
    from_version = models.ForeignKey(PriceVersion, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(PriceVersion, on_delete=models.PROTECT, related_name="+")
    effective_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=PriceChangeStatus.choices, default=PriceChangeStatus.SCHEDULED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["effective_at", "id"]

    def __str__(self):
        return f"{self.subscription_id}: {self.from_version} → {self.to_version}"
