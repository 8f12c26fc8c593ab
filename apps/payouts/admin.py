"""Staff side of payouts: provider fees, the read-only ledger, payouts to pay by hand, and
a "Run payouts now" button. Every change goes through a service (audited)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from apps.core.admin import ReadOnlyAdmin
from apps.core.csv_export import csv_response
from apps.core.errors import ServiceError
from apps.core.money import format_money

from . import bank, services
from .models import LedgerEntry, Payout, PayoutDetails, PayoutMethod, PayoutStatus, ProviderAccount

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


class PayoutDetailsFilter(admin.SimpleListFilter):
    title = "payout details"
    parameter_name = "details"

    def lookups(self, request, model_admin):
        return [("missing", "Missing (manual payouts)"), ("on_file", "On file")]

    def queryset(self, request, queryset):
        if self.value() == "missing":
            return queryset.filter(
                method=PayoutMethod.MANUAL, organization__payout_details__isnull=True
            )
        if self.value() == "on_file":
            return queryset.filter(organization__payout_details__isnull=False)
        return queryset


def details_of(organization) -> PayoutDetails | None:
    try:
        return organization.payout_details
    except PayoutDetails.DoesNotExist:
        return None


MISSING = mark_safe('<strong style="color:#c0262d">No payout details</strong>')


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    """Pending manual payouts are the statements staff pay by bank transfer: download them,
    pay to the provider's payout details (shown whole here), then "Mark paid". Stripe
    payouts pay themselves."""

    change_list_template = "payouts/admin/payout_change_list.html"
    list_display = [
        "public_id",
        "organization",
        "period",
        "amount_display",
        "method",
        "pay_to",
        "status_badge",
        "attempts",
        "next_attempt_at",
        "problem",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status", "method", PayoutDetailsFilter, "period"]
    list_select_related = ["organization__payout_details"]
    search_fields = ["public_id", "organization__name", "stripe_transfer_id", "reference"]
    readonly_fields = ["payout_details", *(f.name for f in Payout._meta.fields)]
    actions = ["mark_paid", "cancel", "download_statements"]

    @admin.display(description="pay to")
    def pay_to(self, payout):
        if payout.method != PayoutMethod.MANUAL:
            return "Stripe"
        details = details_of(payout.organization)
        if details is None:
            return MISSING
        return format_html(
            '<span style="font-family:monospace;white-space:nowrap">{}</span><br>{}',
            details.full_number,
            details.holder_name,
        )

    @admin.display(description="payout details (where to send it)")
    def payout_details(self, payout):
        details = details_of(payout.organization)
        if details is None:
            return format_html(
                "{}<br>The provider has not said where to send it; they are asked to add "
                "them in Console → Payouts → Payout details.",
                MISSING,
            )
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td style='font-family:monospace'>{}</td></tr>",
            bank.staff_rows(details),
        )
        changed = format_html(
            "Last changed {} UTC by {}",
            f"{details.updated_at:%Y-%m-%d %H:%M}",
            details.updated_by.email if details.updated_by else "—",
        )
        if details.updated_at > payout.created_at:
            changed = format_html(
                '<strong style="color:#9a5b00">{} — after this payout was made: check the '
                "change with the provider's owners before paying.</strong>",
                changed,
            )
        return format_html("<table>{}</table><p>{}</p>", rows, changed)

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
        payouts = queryset.select_related("organization__payout_details").order_by(
            "organization__name"
        )
        header = ["payout", "provider", "billing_email", "period", "amount", "currency"]
        header += ["method", "status", *STATEMENT_DETAILS]
        return csv_response(
            "tollgate-payouts.csv",
            header,
            (
                [
                    payout.public_id,
                    payout.organization.name,
                    payout.organization.billing_email,
                    payout.period,
                    payout.amount,
                    payout.currency,
                    payout.method,
                    payout.status,
                    *_statement_details(payout),
                ]
                for payout in payouts
            ),
        )

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
        if report.without_details:
            text += (
                f" {len(report.without_details)} provider(s) have no payout details yet "
                "(flagged below); they were asked to add them."
            )
            level = messages.WARNING
        if report.failed_organization_ids:
            text += f" {len(report.failed_organization_ids)} provider(s) failed; see the logs."
            level = messages.WARNING
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:payouts_payout_changelist"))


# Where to send each payout, in the statements staff pay from (numbers whole)
STATEMENT_DETAILS = ["payout_details", "account_holder", "iban", "bic", "routing_number"]
STATEMENT_DETAILS += ["account_number", "bank", "country", "account_currency"]
STATEMENT_DETAILS += ["details_changed_at"]


def _statement_details(payout) -> list:
    details = details_of(payout.organization)
    if payout.method != PayoutMethod.MANUAL:
        return ["stripe"] + [""] * (len(STATEMENT_DETAILS) - 1)
    if details is None:
        return ["missing"] + [""] * (len(STATEMENT_DETAILS) - 1)
    fields = ["holder_name", "iban", "bic", "routing_number", "account_number", "bank_name"]
    return [
        "on file",
        *(getattr(details, name) for name in fields),
        details.country,
        details.currency,
        details.updated_at.isoformat(timespec="seconds"),
    ]


@admin.register(PayoutDetails)
class PayoutDetailsAdmin(ReadOnlyAdmin):
    """Providers' bank accounts, whole, for staff who pay by hand. Providers change them
    (every change is in the audit log, action payouts.details_changed); staff only read."""

    list_display = [
        "organization",
        "account_type",
        "holder_name",
        "full_number",
        "bic",
        "routing_number",
        "country",
        "currency",
        "updated_at",
        "updated_by",
    ]
    list_filter = ["account_type", "country", "currency"]
    list_select_related = ["organization", "updated_by"]
    search_fields = ["organization__name", "holder_name", "iban", "account_number"]
    readonly_fields = [*(f.name for f in PayoutDetails._meta.fields), "full_number"]
