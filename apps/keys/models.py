from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.catalog.models import Api
from apps.core.models import PublicIdField

KEY_PREFIX = "tg"
EXPIRES_SOON = timedelta(days=7)

# How long a rotated key keeps working, as the console and the API offer it.
GRACE_PERIODS: dict[str, timedelta] = {
    "none": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
GRACE_CHOICES = [
    ("none", "No grace — the old key stops now"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
]
MAX_GRACE = max(GRACE_PERIODS.values())


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "active"
    EXPIRING = "expiring", "expires soon"
    GRACE = "grace", "in grace"
    REVOKED = "revoked", "revoked"
    EXPIRED = "expired", "expired"


class ApiKey(models.Model):
    """A gateway key of a consumer organization. Only the SHA-256 of the secret is stored,
    plus a short prefix so people can tell their keys apart."""

    public_id = PublicIdField(prefix="key")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=80)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prefix = models.CharField(max_length=20, help_text="The key's first characters, for display.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="Updated by the metering flush, not per request."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_from"
    )
    grace_until = models.DateTimeField(
        null=True, blank=True, help_text="A rotated key keeps working until then."
    )
    # Kept apart from allowed_apis so that deleting the only allowed API leaves a key that
    # calls nothing, instead of one that silently calls everything.
    restricted = models.BooleanField(
        default=False, help_text="Only the allowed APIs may be called with this key."
    )
    allowed_apis = models.ManyToManyField(Api, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_valid_at(self, now: datetime) -> bool:
        """Whether the gateway accepts the key at `now`: not revoked, not expired, and not
        past the grace period of a rotation."""
        return not any(
            moment is not None and moment <= now
            for moment in (self.revoked_at, self.expires_at, self.grace_until)
        )

    def status_at(self, now: datetime) -> str:
        if self.revoked_at is not None and self.revoked_at <= now:
            return KeyStatus.REVOKED
        if self.grace_until is not None and self.grace_until <= now:
            return KeyStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyStatus.EXPIRED
        if self.grace_until is not None:
            return KeyStatus.GRACE
        if self.expires_at is not None and self.expires_at - now <= EXPIRES_SOON:
            return KeyStatus.EXPIRING
        return KeyStatus.ACTIVE

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())

    @property
    def status_label(self) -> str:
        return KeyStatus(self.status).label

    @property
    def is_valid(self) -> bool:
        return self.is_valid_at(timezone.now())

    @property
    def allowed_api_ids(self) -> frozenset[int] | None:
        """None means every API; otherwise only these (possibly none). Uses the prefetched
        allowed_apis when there are some."""
        if not self.restricted:
            return None
        return frozenset(api.pk for api in self.allowed_apis.all())
