from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdmin
from apps.core.secrets import has_valid_checksum, hash_secret

from .models import KEY_PREFIX, ApiKey, KeyStatus

STATUS_BADGE = {
    KeyStatus.ACTIVE: "#0f7b45",
    KeyStatus.EXPIRING: "#9a5b00",
    KeyStatus.GRACE: "#9a5b00",
    KeyStatus.REVOKED: "#c0262d",
    KeyStatus.EXPIRED: "#c0262d",
}


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("working", "Working"),
            ("grace", "In a rotation grace"),
            ("revoked", "Revoked or rotated"),
            ("expired", "Expired"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        not_expired = Q(expires_at=None) | Q(expires_at__gt=now)
        rotated_out = Q(grace_until__lte=now)
        if self.value() == "working":
            return queryset.filter(not_expired, revoked_at=None).exclude(rotated_out)
        if self.value() == "grace":
            return queryset.filter(not_expired, revoked_at=None, grace_until__gt=now)
        if self.value() == "revoked":
            return queryset.filter(Q(revoked_at__isnull=False) | rotated_out)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Read-only, and the hash is never shown. Staff can find the owner of a leaked key by
    pasting the whole key into the search box (it is hashed, never stored)."""

    list_display = [
        "name",
        "masked_key",
        "organization",
        "status_badge",
        "restricted",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
    ]
    list_filter = [StatusFilter, "restricted", "created_at"]
    list_select_related = ["organization", "created_by"]
    search_fields = ["name", "prefix", "public_id", "organization__name", "created_by__email"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "name",
        "masked_key",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "rotated_to",
        "grace_until",
        "restricted",
        "allowed_apis",
    ]
    readonly_fields = fields

    @admin.display(description="key", ordering="prefix")
    def masked_key(self, key: ApiKey) -> str:
        return format_html("<code>{}…</code>", key.prefix)

    @admin.display(description="status")
    def status_badge(self, key: ApiKey) -> str:
        status = KeyStatus(key.status)
        return format_html(
            '<strong style="color:{}">{}</strong>', STATUS_BADGE[status], status.label
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if has_valid_checksum(term, KEY_PREFIX):
            return queryset.filter(key_hash=hash_secret(term)), False
        return super().get_search_results(request, queryset, search_term)
