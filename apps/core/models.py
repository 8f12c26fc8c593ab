from django.conf import settings
from django.db import models

from .ids import make_public_id


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class PublicIdField(models.CharField):
    """A unique opaque id with a readable prefix (`org_…`, `sub_…`), set on creation."""

    def __init__(self, *args, prefix: str = "obj", **kwargs):
        self.prefix = prefix
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        for key, default in (("max_length", 32), ("unique", True), ("editable", False)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if not value:
            value = make_public_id(self.prefix)
            setattr(model_instance, self.attname, value)
        return value


class AuditLog(models.Model):
    """Who did what to which object, in which organization. Written by services only."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"{self.action} {self.target_repr}".strip()


class CacheVersion(models.Model):
    """One row whose number grows on every invalidation: the embedded store's (and Redis'
    fallback) way to tell gateway processes their caches may be stale."""

    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"cache version {self.version}"

    @classmethod
    def bump(cls) -> None:
        updated = cls.objects.filter(pk=1).update(version=models.F("version") + 1)
        if not updated:
            cls.objects.get_or_create(pk=1, defaults={"version": 1})

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=1).values_list("version", flat=True).first() or 0


class IdempotencyRecord(models.Model):
    """The first answer to a platform API request that carried an `Idempotency-Key`, kept
    24 hours: the same key with the same request replays it without acting again; with a
    different request it is refused (see apps/core/idempotency.py). `scope` is a hash of
    who asked, the method, the path and the key; `fingerprint` a hash of the request."""

    scope = models.CharField(max_length=64, unique=True)
    fingerprint = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self):
        return f"Idempotent request {self.scope[:12]} ({self.status_code or 'in progress'})"
