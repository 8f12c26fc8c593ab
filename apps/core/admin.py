from django.contrib import admin

from .models import AuditLog


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records kept for the record: staff read them, nobody edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor", "organization", "target_repr"]
    list_filter = ["action", "created_at"]
    search_fields = ["action", "target_id", "target_repr", "actor__email", "organization__name"]
    list_select_related = ["actor", "organization"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditLog._meta.fields]
