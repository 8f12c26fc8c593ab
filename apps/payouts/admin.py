"""Staff side of payouts: provider fees, the read-only ledger, payouts to pay by hand, and
a "Run payouts now" button. Every change goes through a service (audited)."""

import csv

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdmin
from apps.core.errors import ServiceError
from apps.core.money import format_money

from . import services
from .models import LedgerEntry, Payout, PayoutMethod, PayoutStatus, ProviderAccount

STATUS_COLOURS = {
    PayoutStatus.PENDING: "#9a5b00",
    PayoutStatus.PAID: "#0f7b45",
    PayoutStatus.FAILED: "#c0262d",
    PayoutStatus.CANCELED: "#4b5565",
}


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    """Staff edit one thing here, the provider's fee; Stripe owns the rest. Accounts appear
    with a provider's first earning or Stripe onboarding; staff may add one to set a fee in
    advance."""

    list_display = [
        "organization",
        "stripe_account_id",
        "details_submitted",
        "payouts_enabled",
        "fee_percent_override",
        "balance",
    ]
    list_filter = ["payouts_enabled", "details_submitted"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "organization__slug", "stripe_account_id"]
    fields = [
        "organization",
        "stripe_account_id",
        "details_submitted",
        "payouts_enabled",
        "status_updated_at",
        "fee_percent_override",
    ]
    readonly_fields = [
        "organization",
        "stripe_account_id",
        "details_submitted",
        "payouts_enabled",
        "status_updated_at",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(balance_total=Sum("organization__ledger_entries__amount"))
        )

    @admin.display(description="balance", ordering="balance_total")
    def balance(self, account):
        return format_money(account.balance_total or 0)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:  # adding: staff pick the provider whose fee they set in advance
            return [name for name in self.readonly_fields if name != "organization"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        account = services.provider_fee_set(
            actor=request.user,
            organization=obj.organization,
            fee_percent=form.cleaned_data["fee_percent_override"],
        )
        obj.pk = account.pk  # the admin's redirect and message name the saved row


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "organization",
        "kind",
        "description",
        "gross",
        "platform_fee",
        "amount",
        "payout",
    ]
    list_filter = ["kind", "created_at"]
    list_select_related = ["organization", "payout"]
    search_fields = ["public_id", "description", "organization__name"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in LedgerEntry._meta.fields]


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    """Pending manual payouts are the statements staff pay by bank transfer: download them,
    pay, then "Mark paid". Stripe payouts pay themselves."""

    change_list_template = "payouts/admin/payout_change_list.html"
    list_display = [
        "public_id",
        "organization",
        "period",
        "amount_display",
        "method",
        "status_badge",
        "attempts",
        "next_attempt_at",
        "problem",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status", "method", "period"]
    list_select_related = ["organization"]
    search_fields = ["public_id", "organization__name", "stripe_transfer_id", "reference"]
    readonly_fields = [f.name for f in Payout._meta.fields]
    actions = ["mark_paid", "cancel", "download_statements"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, payout):
        return format_money(payout.amount, payout.currency)

    @admin.display(description="problem")
    def problem(self, payout):
        """Why Stripe refused: the failure (permanent) or the last error of a payout that
        is being retried (transient)."""
        return payout.failure_reason or payout.last_error or "—"

    @admin.display(description="status", ordering="status")
    def status_badge(self, payout):
        return format_html(
            '<strong style="color:{}">{}</strong>',
            STATUS_COLOURS.get(payout.status, "#4b5565"),
            payout.get_status_display(),
        )

    @admin.action(description="Mark paid (manual bank transfer)")
    def mark_paid(self, request, queryset):
        self._each(request, queryset, services.payout_mark_paid, "marked paid")

    @admin.action(description="Cancel (return the amount to the balance)")
    def cancel(self, request, queryset):
        self._each(request, queryset, services.payout_cancel, "canceled")

    def _each(self, request, queryset, service, done: str) -> None:
        count = 0
        for payout in queryset:
            try:
                service(payout=payout, actor=request.user)
            except ServiceError as error:
                self.message_user(request, f"{payout.public_id}: {error.message}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, f"{count} payout(s) {done}.", messages.SUCCESS)

    @admin.action(description="Download statements (CSV) to pay by hand")
    def download_statements(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="tollgate-payouts.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "payout",
                "provider",
                "billing_email",
                "period",
                "amount",
                "currency",
                "method",
                "status",
            ]
        )
        for payout in queryset.select_related("organization").order_by("organization__name"):
            writer.writerow(
                [
                    payout.public_id,
                    payout.organization.name,
                    payout.organization.billing_email,
                    payout.period,
                    payout.amount,
                    payout.currency,
                    payout.method,
                    payout.status,
                ]
            )
        return response

    # "Run payouts now" needs no selection, so it is a button (change list template) that
    # posts here rather than an admin action.
    def get_urls(self):
        run = self.admin_site.admin_view(self.run_now_view)
        return [path("run/", run, name="payouts_payout_run"), *super().get_urls()]

    def run_now_view(self, request):
        if request.method != "POST" or not request.user.is_staff:
            raise PermissionDenied
        report = services.run_payouts()
        manual = sum(1 for p in report.created if p.method == PayoutMethod.MANUAL)
        text = (
            f"Payout run {report.period}: {len(report.created)} payout(s) made "
            f"({manual} to pay by hand), {len(report.resent)} pending transfer(s) re-sent."
        )
        level = messages.SUCCESS
        if report.failed_organization_ids:
            text += f" {len(report.failed_organization_ids)} provider(s) failed; see the logs."
            level = messages.WARNING
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:payouts_payout_changelist"))
