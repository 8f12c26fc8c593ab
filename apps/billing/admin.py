from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from apps.core.errors import ServiceError
from apps.core.templatetags.money import money, money_exact
from apps.subscriptions.admin import SubscriptionAdmin
from apps.subscriptions.models import Subscription

from . import runs, services
from .models import (
    BillingAccount,
    Dispute,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    Refund,
    UsageAlert,
)
from .templatetags.invoices import quantity


class InvoiceLineInline(admin.TabularInline):
    """The lines as the invoice shows them ($0.0002, not 0.000200)."""

    model = InvoiceLine
    fk_name = "invoice"
    extra = 0
    can_delete = False
    fields = [
        "subscription",
        "description",
        "line_quantity",
        "line_unit_price",
        "line_amount",
        "provider",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Quantity")
    def line_quantity(self, line) -> str:
        return quantity(line.quantity)

    @admin.display(description="Unit price")
    def line_unit_price(self, line) -> str:
        return money_exact(line.unit_price, line.invoice.currency)

    @admin.display(description="Amount")
    def line_amount(self, line) -> str:
        return money(line.amount, line.invoice.currency)


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    readonly_fields = [
        "amount",
        "amount_to_balance",
        "reason",
        "created_by",
        "stripe_refund_id",
        "created_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


class RefundForm(forms.Form):
    amount = forms.CharField(required=False, help_text="Empty: refund what is left.")
    reason = forms.CharField(max_length=300)


def _each(request, queryset, action, done: str, **kwargs) -> None:
    count = 0
    for invoice in queryset:
        try:
            action(invoice=invoice, actor=request.user, **kwargs)
            count += 1
        except ServiceError as error:
            messages.error(request, f"{invoice}: {error.message}")
    if count:
        messages.success(request, f"{done} {count} invoice(s).")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "organization",
        "subscription",
        "status",
        "collection_method",
        "total",
        "amount_refunded",
        "issued_at",
        "due_at",
        "paid_at",
    ]
    list_filter = ["status", "collection_method", ("payment_failed_at", admin.EmptyFieldListFilter)]
    search_fields = ["number", "public_id", "organization__name", "stripe_invoice_id"]
    list_select_related = ["organization", "subscription__api"]
    date_hierarchy = "issued_at"
    readonly_fields = [f.name for f in Invoice._meta.fields]
    inlines = [InvoiceLineInline, RefundInline]
    actions = ["mark_paid", "refund", "void", "uncollectible", "retry_collection"]
    change_list_template = "billing/admin/invoice_change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Mark paid (bank transfer received)")
    def mark_paid(self, request, queryset):
        _each(request, queryset, services.invoice_mark_paid, "Marked paid")

    @admin.action(description="Retry collection (send card invoices Stripe never got)")
    def retry_collection(self, request, queryset):
        report = runs.retry_collection(queryset)
        text = report.summary().replace("\n", " ")
        level = messages.SUCCESS if report.sent else messages.INFO
        if report.failed:
            text += f" Failed: {', '.join(report.failed)} (see the log)."
            level = messages.WARNING
        self.message_user(request, text, level)

    # "Close ended periods now" needs no selection: a button (change list template)
    def get_urls(self):
        close = self.admin_site.admin_view(self.close_periods_view)
        return [path("close-periods/", close, name="billing_invoice_close"), *super().get_urls()]

    def close_periods_view(self, request):
        if request.method != "POST" or not request.user.is_staff:
            raise PermissionDenied
        close_periods_and_tell(self, request)
        return HttpResponseRedirect(reverse("admin:billing_invoice_changelist"))

    @admin.action(description="Void selected open invoices")
    def void(self, request, queryset):
        _each(request, queryset, services.invoice_void, "Voided")

    @admin.action(description="Write off as uncollectible")
    def uncollectible(self, request, queryset):
        _each(request, queryset, services.invoice_mark_uncollectible, "Wrote off")

    @admin.action(description="Refund selected paid invoices (asks amount and reason)…")
    def refund(self, request, queryset):
        form = RefundForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            return render(
                request,
                "admin/billing/refund.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Refund invoices",
                    "queryset": queryset,
                    "form": form,
                    "opts": self.model._meta,
                },
            )
        try:
            amount = Decimal(form.cleaned_data["amount"]) if form.cleaned_data["amount"] else None
        except InvalidOperation:
            messages.error(request, "The amount is not a number.")
            return None
        _each(
            request,
            queryset,
            services.invoice_refund,
            "Refunded",
            amount=amount,
            reason=form.cleaned_data["reason"],
        )
        return None


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["organization", "stripe_customer_id", "card_brand", "card_last4"]
    search_fields = ["organization__name", "stripe_customer_id"]
    readonly_fields = ["organization", "stripe_customer_id", "default_payment_method"]


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ["public_id", "invoice", "amount", "reason", "created_by", "created_at"]
    search_fields = ["invoice__number", "public_id"]
    readonly_fields = [f.name for f in Refund._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    """Disputes come from Stripe (`charge.dispute.*`); staff answer them in Stripe's
    dashboard and watch them here. `fee` is what Stripe charged for the dispute."""

    list_display = ["stripe_dispute_id", "invoice", "status", "amount", "fee", "reason"]
    list_filter = ["status", "reason"]
    search_fields = ["stripe_dispute_id", "invoice__number", "invoice__organization__name"]
    list_select_related = ["invoice"]
    readonly_fields = [f.name for f in Dispute._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(admin.ModelAdmin):
    list_display = ["year", "last_number"]
    readonly_fields = ["year", "last_number"]


@admin.register(UsageAlert)
class UsageAlertAdmin(admin.ModelAdmin):
    list_display = ["subscription", "basis", "percent", "last_fired_period"]
    list_filter = ["basis"]


def close_periods_and_tell(modeladmin, request, subscription_ids=None) -> None:
    """Flush usage, close the ended periods (all, or these subscriptions'), say what was
    done: the same work as `manage.py close_periods` and beat's `close_due_periods`."""
    from apps.metering.tasks import flush_usage

    flush_usage()
    report = runs.close_due_periods(subscription_ids=subscription_ids)
    text = report.summary()
    level = messages.SUCCESS if report.periods_closed else messages.INFO
    if report.failed:
        text += f" Failed (see the log): {', '.join(report.failed)}."
        level = messages.WARNING
    modeladmin.message_user(request, text, level)


# Billing adds its period close to the subscriptions' admin (subscriptions cannot import
# billing), where staff look for a subscription's period.
admin.site.unregister(Subscription)


@admin.register(Subscription)
class BillingSubscriptionAdmin(SubscriptionAdmin):
    actions = ["close_period"]

    @admin.action(description="Close the ended period now (issues its invoice)")
    def close_period(self, request, queryset):
        close_periods_and_tell(self, request, list(queryset.values_list("pk", flat=True)))


# --- dj-stripe's ~45 admin pages only when Stripe is configured ------------------------------
def _shown_only_with_stripe(model_admin) -> None:
    """Without STRIPE_SECRET_KEY the marketplace invoices by bank transfer and dj-stripe's
    tables stay empty: keep them off the admin index (read at each request, so configuring
    Stripe brings them back)."""
    allowed = model_admin.has_module_permission

    def has_module_permission(request):
        return bool(settings.STRIPE_SECRET_KEY) and allowed(request)

    model_admin.has_module_permission = has_module_permission


for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label == "djstripe":  # registered before ours (INSTALLED_APPS order)
        _shown_only_with_stripe(_model_admin)
