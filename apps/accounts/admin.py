from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.core.admin import ReadOnlyAdmin

from . import services
from .forms import OrganizationAdminForm
from .models import AccessToken, Invitation, Membership, Notification, Organization, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "name", "public_id"]
    readonly_fields = ["public_id", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["public_id", "email", "name", "password"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationAdminForm
    list_display = [
        "name",
        "slug",
        "public_id",
        "is_personal",
        "member_count",
        "suspended_at",
        "created_at",
    ]
    list_filter = ["is_personal", ("suspended_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "public_id", "memberships__user__email"]
    readonly_fields = ["public_id", "suspended_at", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["suspend", "restore"]

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.memberships.count()

    @admin.action(description="Suspend selected organizations (their gateway traffic stops)")
    def suspend(self, request, queryset):
        for organization in queryset:
            services.organization_suspend(
                actor=request.user, organization=organization, reason="Suspended by staff"
            )
        messages.success(request, f"Suspended {queryset.count()} organization(s).")

    @admin.action(description="Restore selected organizations")
    def restore(self, request, queryset):
        for organization in queryset:
            services.organization_restore(actor=request.user, organization=organization)
        messages.success(request, f"Restored {queryset.count()} organization(s).")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = [
        "email",
        "organization",
        "role",
        "invited_by",
        "expires_at",
        "accepted_at",
        "canceled_at",
    ]
    list_filter = ["role", ("accepted_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "organization__name"]
    list_select_related = ["organization", "invited_by"]
    exclude = ["token_hash"]


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "prefix",
        "organization",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "organization__name", "created_by__email"]
    list_select_related = ["organization", "created_by"]
    exclude = ["token_hash"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "organization", "kind", "title", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "organization__name"]
    list_select_related = ["organization"]
