from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceError
from apps.subscriptions.pricing import describe_plan

from . import services
from .forms import ReasonForm
from .models import Api, ApiStatus, Category, Endpoint, PendingReview, SpecImport


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "icon"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


class EndpointInline(admin.TabularInline):
    model = Endpoint
    extra = 0
    fields = ["method", "path", "summary", "deprecated", "removed_at", "source"]
    readonly_fields = ["removed_at", "source"]
    show_change_link = True


def _run(request, queryset, action, done: str, **kwargs) -> None:
    count = 0
    for api in queryset:
        try:
            action(actor=request.user, api=api, **kwargs)
            count += 1
        except ServiceError as error:
            messages.error(request, f"{api.name}: {error.message}")
    if count:
        messages.success(request, f"{done} {count} listing(s).")


def _with_reason(modeladmin, request, queryset, action, verb: str):
    """An intermediate page asking for the reason the provider will read."""
    form = ReasonForm(request.POST if "reason" in request.POST else None)
    if form.is_valid():
        _run(
            request, queryset, action, verb.capitalize() + "ed", reason=form.cleaned_data["reason"]
        )
        return None
    return render(
        request,
        "admin/catalog/reason.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": f"{verb.capitalize()} listings",
            "queryset": queryset,
            "form": form,
            "verb": verb,
            "action": request.POST.get("action"),
            "opts": modeladmin.model._meta,
        },
    )


class ModerationActions:
    actions = ["approve", "reject", "suspend", "restore"]

    @admin.action(description="Approve and publish selected listings")
    def approve(self, request, queryset):
        _run(request, queryset, services.api_approve, "Published")

    @admin.action(description="Reject selected listings (asks for a reason)…")
    def reject(self, request, queryset):
        return _with_reason(self, request, queryset, services.api_reject, "reject")

    @admin.action(description="Suspend selected listings: gateway traffic stops (asks why)…")
    def suspend(self, request, queryset):
        return _with_reason(self, request, queryset, services.api_suspend, "suspend")

    @admin.action(description="Restore selected suspended listings")
    def restore(self, request, queryset):
        _run(request, queryset, services.api_restore, "Restored")

    @admin.display(description="preview")
    def preview(self, obj):
        return format_html(
            '<a href="{}" target="_blank">View listing ↗</a>',
            reverse("catalog:api", args=[obj.slug]),
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return obj.get_status_display()


class ReviewPage:
    """A listing's change page is where a reviewer decides: what is being approved (the
    listing, its plans and prices in words, its endpoints) and Approve / Reject buttons
    (a rejection needs the reason the provider will read)."""

    change_form_template = "admin/catalog/review_form.html"

    def get_urls(self):
        name = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        return [
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(require_POST(self.decide_view)),
                name=f"{name}_decide",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        api = self.get_object(request, object_id)
        extra = {**(extra_context or {}), **(review_context(api) if api else {})}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def decide_view(self, request, object_id):
        api = get_object_or_404(Api, pk=object_id)
        decision, reason = request.POST.get("decision"), request.POST.get("reason", "")
        action = {"approve": services.api_approve, "reject": services.api_reject}.get(decision)
        if action is None:
            messages.error(request, "Choose Approve or Reject.")
        else:
            try:
                kwargs = {"reason": reason} if decision == "reject" else {}
                action(actor=request.user, api=api, **kwargs)
                done = (
                    "published" if decision == "approve" else "rejected; the provider was told why"
                )
                messages.success(request, f"{api.name} {done}.")
                return redirect(f"admin:{self.model._meta.app_label}_pendingreview_changelist")
            except ServiceError as error:
                messages.error(request, error.message)
        change = f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_change"
        return redirect(change, object_id)


def review_context(api: Api) -> dict:
    plans = [
        {"plan": plan, "price": describe_plan(plan)}
        for plan in api.plans.filter(archived_at=None).order_by("position", "monthly_fee")
    ]
    return {
        "review_api": api,
        "review_plans": plans,
        "review_endpoints": api.endpoints.filter(removed_at=None).order_by("path", "method"),
        "review_pending": api.status == ApiStatus.PENDING_REVIEW,
    }


@admin.register(Api)
class ApiAdmin(ReviewPage, ModerationActions, admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "organization",
        "status_badge",
        "visibility",
        "category",
        "featured",
        "submitted_at",
        "published_at",
        "preview",
    ]
    list_filter = ["status", "visibility", "category", "featured"]
    list_select_related = ["organization", "category"]
    search_fields = ["name", "slug", "summary", "organization__name", "public_id"]
    readonly_fields = [
        "public_id",
        "status",
        "submitted_at",
        "published_at",
        "rejection_reason",
        "suspension_reason",
        "openapi_version",
        "created_at",
        "updated_at",
        "preview",
    ]
    exclude = ["proxy_secret", "signing_secret", "openapi_document", "description_html"]
    list_editable = ["featured"]
    inlines = [EndpointInline]
    autocomplete_fields = ["organization"]


@admin.register(PendingReview)
class ReviewQueueAdmin(ReviewPage, ModerationActions, admin.ModelAdmin):
    list_display = ["name", "organization", "summary", "endpoint_count", "submitted_at", "preview"]
    list_select_related = ["organization"]
    search_fields = ["name", "organization__name"]
    ordering = ["submitted_at"]
    readonly_fields = [
        "name",
        "organization",
        "summary",
        "description",
        "upstream_url",
        "category",
        "tags",
        "submitted_at",
        "preview",
    ]
    fields = readonly_fields
    actions = ["approve", "reject"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=ApiStatus.PENDING_REVIEW)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only: the review page decides, with its own buttons

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="endpoints")
    def endpoint_count(self, obj):
        return obj.endpoints.filter(removed_at=None).count()


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["__str__", "api", "summary", "deprecated", "removed_at", "source"]
    list_filter = ["method", "deprecated", "source"]
    search_fields = ["path", "summary", "operation_id", "api__name"]
    list_select_related = ["api"]


@admin.register(SpecImport)
class SpecImportAdmin(admin.ModelAdmin):
    list_display = ["api", "version", "status", "created_by", "created_at"]
    list_filter = ["status", "version"]
    list_select_related = ["api", "created_by"]
    exclude = ["document", "endpoints"]
    readonly_fields = ["api", "version", "status", "created_by"]
