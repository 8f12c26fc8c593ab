from django.contrib import admin

from .models import Plan, Subscription


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "api",
        "monthly_fee",
        "included_units",
        "unit_price",
        "unit",
        "hard_limit",
        "visibility",
        "archived_at",
    ]
    list_filter = ["visibility", "hard_limit", "unit"]
    search_fields = ["name", "api__name", "public_id"]
    list_select_related = ["api"]
    readonly_fields = ["public_id", "invite_token"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "organization",
        "api",
        "plan",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "manual_invoicing",
        "created_at",
    ]
    list_filter = ["status", "manual_invoicing", "cancel_at_period_end"]
    search_fields = ["public_id", "organization__name", "api__name"]
    list_select_related = ["organization", "api", "plan"]
    readonly_fields = [
        "public_id",
        "organization",
        "api",
        "plan",
        "status",
        "period_anchor",
        "current_period_start",
        "current_period_end",
        "trial_ends_at",
        "canceled_at",
        "past_due_since",
        "created_by",
    ]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # subscriptions start through the consumer's flow and its rules
