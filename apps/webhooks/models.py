"""Outgoing webhooks: a provider's endpoints, the events of its organization, and one
delivery per (event, endpoint) with its retry state."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts.models import Organization
from apps.core.models import PublicIdField, TimeStampedModel
from apps.core.secrets import generate_secret

SECRET_PREFIX = "whsec"


def new_signing_secret() -> str:
    return generate_secret(SECRET_PREFIX)


class EventType(models.TextChoices):
    SUBSCRIPTION_CREATED = "subscription.created", "A consumer subscribed"
    SUBSCRIPTION_CANCELED = "subscription.canceled", "A consumer canceled"
    SUBSCRIPTION_CHANGED = "subscription.changed", "A consumer changed plans"
    SUBSCRIPTION_PRICE_CHANGE_SCHEDULED = (
        "subscription.price_change_scheduled",
        "A subscriber was told of your price change",
    )
    USAGE_THRESHOLD_REACHED = "usage.threshold_reached", "A consumer reached a quota threshold"
    PAYOUT_SENT = "payout.sent", "A payout was sent to you"
    WEBHOOK_TEST = "webhook.test", "Test event"


# What an endpoint can subscribe to; `webhook.test` goes only where someone sends it.
SUBSCRIBABLE_EVENT_TYPES = [choice for choice in EventType if choice != EventType.WEBHOOK_TEST]


class WebhookEndpoint(TimeStampedModel):
    """An HTTPS URL of a provider organization that receives signed events."""

    public_id = PublicIdField(prefix="whe")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types sent here; empty means all of them."
    )
    secret = models.CharField(max_length=64, default=new_signing_secret)
    previous_secret = models.CharField(
        max_length=64, blank=True, help_text="Still signs, next to the new one, until it expires."
    )
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "url"], name="webhooks_one_url_per_org")
        ]

    def __str__(self):
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    @property
    def previous_secret_until(self):
        """When the previous secret stops signing, while it still does."""
        if len(self.signing_secrets()) > 1:
            return self.previous_secret_expires_at
        return None

    def signing_secrets(self, now=None) -> list[str]:
        """The current secret, and the previous one during its rotation grace."""
        now = now or timezone.now()
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires and expires > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


class WebhookEvent(models.Model):
    """Something that happened to an organization, as its endpoints receive it. `payload`
    is the exact JSON object sent: {"id", "type", "created", "data"}."""

    public_id = PublicIdField(prefix="evt")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=60, choices=EventType.choices, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.type} {self.public_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent to one endpoint: attempts, the last answer, and when to try again.
    `pending` with attempts is a delivery waiting for its next retry."""

    public_id = PublicIdField(prefix="whd")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True, help_text="The first 500 characters.")
    last_error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhooks_due_idx"),
            models.Index(fields=["endpoint", "-created_at"], name="webhooks_log_idx"),
        ]

    def __str__(self):
        return f"{self.public_id} ({self.status})"

    @property
    def is_retrying(self) -> bool:
        return self.status == DeliveryStatus.PENDING and self.attempt_count > 0

    @property
    def badge(self) -> tuple[str, str]:
        """(css status, label) for the delivery log's badge."""
        if self.is_retrying:
            return "warning", "retrying"
        return {
            DeliveryStatus.PENDING: ("pending", "sending"),
            DeliveryStatus.SUCCEEDED: ("success", "succeeded"),
            DeliveryStatus.FAILED: ("failed", "failed"),
        }[self.status]
