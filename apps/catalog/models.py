import secrets
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.accounts.models import Organization, User
from apps.core.models import PublicIdField, TimeStampedModel


def new_proxy_secret() -> str:
    return "tgps_" + secrets.token_urlsafe(32)


def new_signing_secret() -> str:
    return "tgss_" + secrets.token_urlsafe(32)


class Category(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.CharField(max_length=200, blank=True)
    icon = models.CharField(max_length=30, blank=True, help_text="An icon name from the UI set.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class ApiStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_REVIEW = "pending_review", "Pending review"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public — listed in the catalog"
    UNLISTED = "unlisted", "Unlisted — reachable by link only"


class Api(TimeStampedModel):
    """A listing: an upstream HTTP service offered through the gateway at /gw/<slug>/."""

    public_id = PublicIdField(prefix="api")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="apis")
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=60, unique=True)
    summary = models.CharField(max_length=160, blank=True)
    description = models.TextField(blank=True, help_text="Markdown.")
    description_html = models.TextField(blank=True, editable=False)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="apis"
    )
    tags = models.JSONField(default=list, blank=True)
    logo = models.ImageField(upload_to="logos/", blank=True)
    website_url = models.URLField(blank=True)
    terms_url = models.URLField(blank=True)
    support_email = models.EmailField(blank=True)
    support_url = models.URLField(blank=True)

    upstream_url = models.URLField(max_length=500)
    upstream_timeout_s = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        default=Decimal("30"),
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("300"))],
        help_text="How long the gateway waits for your response (read timeout).",
    )
    upstream_connect_timeout_s = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal("5"),
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("30"))],
    )
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    status = models.CharField(
        max_length=20, choices=ApiStatus.choices, default=ApiStatus.DRAFT, db_index=True
    )
    rejection_reason = models.TextField(blank=True)
    suspension_reason = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    featured = models.BooleanField(default=False)

    proxy_secret = models.CharField(max_length=64, default=new_proxy_secret)
    signing_secret = models.CharField(max_length=64, default=new_signing_secret)

    openapi_document = models.JSONField(null=True, blank=True, editable=False)
    openapi_version = models.CharField(max_length=10, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["status", "visibility"])]

    def __str__(self):
        return self.name

    @property
    def is_published(self) -> bool:
        return self.status == ApiStatus.PUBLISHED

    @property
    def is_listed(self) -> bool:
        return self.is_published and self.visibility == Visibility.PUBLIC


class EndpointSource(models.TextChoices):
    IMPORT = "import", "Imported from OpenAPI"
    MANUAL = "manual", "Added by hand"


class Endpoint(TimeStampedModel):
    public_id = PublicIdField(prefix="ep")
    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="endpoints")
    method = models.CharField(max_length=7)
    path = models.CharField(max_length=300, help_text="A path template, e.g. /users/{id}")
    operation_id = models.CharField(max_length=120, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    parameters = models.JSONField(default=list, blank=True)
    request_body = models.JSONField(null=True, blank=True)
    responses = models.JSONField(default=dict, blank=True)
    deprecated = models.BooleanField(default=False)
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="Gone from the spec but kept because usage refers to it."
    )
    source = models.CharField(
        max_length=10, choices=EndpointSource.choices, default=EndpointSource.MANUAL
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "path", "method"]
        constraints = [
            models.UniqueConstraint(fields=["api", "method", "path"], name="one_endpoint_per_route")
        ]

    def __str__(self):
        return f"{self.method} {self.path}"

    @property
    def primary_tag(self) -> str:
        return self.tags[0] if self.tags else ""


class SpecImport(TimeStampedModel):
    """A parsed OpenAPI document waiting for the provider to confirm its diff, so what gets
    applied is exactly what was previewed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        DISCARDED = "discarded", "Discarded"

    public_id = PublicIdField(prefix="imp")
    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="spec_imports")
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    document = models.JSONField()
    version = models.CharField(max_length=10)
    endpoints = models.JSONField(help_text="Extracted endpoints, as EndpointSpec dicts.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import for {self.api} ({self.status})"


class PendingReview(Api):
    """The admin's review queue: listings waiting for a decision."""

    class Meta:
        proxy = True
        verbose_name = "listing awaiting review"
        verbose_name_plural = "review queue"
