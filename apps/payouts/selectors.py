"""Reads of the provider ledger: balances, the next payout, history, statements."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Round, TruncMonth
from django.utils import timezone

from apps.billing.models import Dispute, DisputeStatus
from apps.core.models import AuditLog
from apps.core.money import ZERO, MoneyField, format_money, round_money

from .bank import DETAILS_CHANGED
from .models import (
    PAID_KINDS,
    REVERSED_KINDS,
    LedgerEntry,
    LedgerKind,
    Payout,
    PayoutDetails,
    PayoutMethod,
    PayoutStatus,
    ProviderAccount,
)
from .periods import first_of_next_month, month_bounds, month_of


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def provider_account(organization) -> ProviderAccount | None:
    return ProviderAccount.objects.filter(organization=organization).first()


def payout_details(organization) -> PayoutDetails | None:
    return PayoutDetails.objects.filter(organization=organization).first()


def payout_details_history(organization, limit: int = 20):
    """The audit log's record of changes to the payout details, newest first."""
    return AuditLog.objects.filter(
        organization=organization, action=DETAILS_CHANGED
    ).select_related("actor")[:limit]


def fee_percent_for(account: ProviderAccount | None) -> Decimal:
    """The platform's cut for a provider: staff's override, or the marketplace's setting."""
    if account is not None and account.fee_percent_override is not None:
        return account.fee_percent_override
    return Decimal(settings.PLATFORM_FEE_PERCENT)


def _money(total) -> Decimal:
    """A sum from the database, to the cent: SQLite adds decimals as floats."""
    return round_money(total or ZERO)


@dataclass(frozen=True)
class Balances:
    """A provider's balance by state, now. `pending` is within its holdback, `held` frozen
    by an open dispute, `payable` the rest (negative when refunds or lost disputes took
    back more than is left: later earnings cover it first). `earned` is the provider's
    share of everything collected, `reversed` (negative) what refunds, lost disputes and
    dispute fees took back, `paid` what payouts sent less what came back. Always:
    payable + pending + held + paid - reversed == earned."""

    payable: Decimal
    pending: Decimal
    held: Decimal
    paid: Decimal
    reversed: Decimal
    earned: Decimal

    @property
    def balance(self) -> Decimal:
        return self.payable + self.pending + self.held

    @property
    def recoverable(self) -> Decimal:
        """What is the provider's without waiting for the holdback: payable, and what a
        dispute may still give back. Below zero, the provider owes it."""
        return self.payable + self.held


def _frozen():
    """Entries of an invoice with an open dispute."""
    return Exists(
        Dispute.objects.filter(invoice=OuterRef("invoice_line__invoice"), status=DisputeStatus.OPEN)
    )


def balances_of(organization_id: int, now: dt.datetime | None = None) -> Balances:
    now = now or timezone.now()
    totals = (
        LedgerEntry.objects.filter(organization_id=organization_id)
        .annotate(frozen=_frozen())
        .aggregate(
            balance=Sum("amount"),
            held=Sum("amount", filter=Q(frozen=True)),
            pending=Sum("amount", filter=Q(frozen=False, available_at__gt=now)),
            paid=Sum("amount", filter=Q(kind__in=PAID_KINDS)),
            reversed=Sum("amount", filter=Q(kind__in=REVERSED_KINDS)),
            earned=Sum("amount", filter=Q(kind=LedgerKind.EARNING)),
        )
    )
    balance, held, pending = (_money(totals[k]) for k in ("balance", "held", "pending"))
    return Balances(
        payable=balance - held - pending,
        pending=pending,
        held=held,
        paid=-_money(totals["paid"]),
        reversed=_money(totals["reversed"]),
        earned=_money(totals["earned"]),
    )


def invoices_paid_out_by(payout: Payout, now: dt.datetime | None = None) -> list[int]:
    """The invoices a new payout pays out: those whose earnings are payable now (past the
    holdback, not frozen) and that no earlier payout of the provider covered."""
    now = now or timezone.now()
    covered = Payout.invoices.through.objects.filter(
        payout__organization_id=payout.organization_id
    ).exclude(payout=payout)
    return list(
        LedgerEntry.objects.filter(organization_id=payout.organization_id, kind=LedgerKind.EARNING)
        .annotate(frozen=_frozen())
        .filter(frozen=False)
        .filter(Q(available_at__isnull=True) | Q(available_at__lte=now))
        .exclude(invoice_line__invoice__in=covered.values("invoice"))
        .values_list("invoice_line__invoice", flat=True)
        .distinct()
    )


def balance_of(organization_id: int) -> Decimal:
    total = LedgerEntry.objects.filter(organization_id=organization_id).aggregate(
        total=Sum("amount")
    )["total"]
    return _money(total)


def payable_organization_ids(minimum: Decimal) -> list[int]:
    """Providers whose balance reaches the payout minimum (and is positive)."""
    floor = max(minimum, Decimal("0.01"))
    # Half a cent of slack for SQLite's float sums; payout_create checks the exact balance.
    return list(
        LedgerEntry.objects.values("organization")
        .annotate(balance=Sum("amount"))
        .filter(balance__gte=floor - Decimal("0.005"))
        .order_by("organization")
        .values_list("organization", flat=True)
    )


def payout_method_for(account: ProviderAccount | None) -> str | None:
    """How a provider's payout would be made now. Without Stripe, every payout is a manual
    statement staff pay by bank transfer. With Stripe, only connected accounts that Stripe
    lets receive payouts are paid; the others keep their balance until they finish
    onboarding (a marketplace on Stripe does not hand-pay providers who never connected)."""
    if not stripe_configured():
        return PayoutMethod.MANUAL
    if account is not None and account.stripe_account_id and account.payouts_enabled:
        return PayoutMethod.STRIPE
    return None


# --- The provider's page and API ------------------------------------------------------
@dataclass(frozen=True)
class BalanceSummary:
    balance: Decimal
    currency: str
    earned: Decimal  # net earnings after refunds, all time
    gross: Decimal  # what consumers paid for the provider's APIs, after refunds
    platform_fees: Decimal
    paid_out: Decimal
    in_transit: Decimal  # payouts made by a run and not yet paid
    fee_percent: Decimal
    payable: Decimal = ZERO  # see Balances
    pending: Decimal = ZERO
    held: Decimal = ZERO
    reversed: Decimal = ZERO
    hold_days: int = 0

    @property
    def not_yet_payable(self) -> Decimal:
        return self.pending + self.held


def balance_summary(organization, account: ProviderAccount | None = None) -> BalanceSummary:
    sales = Q(kind__in=[LedgerKind.EARNING, LedgerKind.REFUND_REVERSAL])
    totals = LedgerEntry.objects.filter(organization=organization).aggregate(
        balance=Coalesce(Sum("amount"), ZERO, output_field=MoneyField()),
        earned=Coalesce(Sum("amount", filter=sales), ZERO, output_field=MoneyField()),
        gross=Coalesce(Sum("gross"), ZERO, output_field=MoneyField()),
        fees=Coalesce(Sum("platform_fee"), ZERO, output_field=MoneyField()),
    )
    payouts = Payout.objects.filter(organization=organization).aggregate(
        paid=Coalesce(
            Sum("amount", filter=Q(status=PayoutStatus.PAID)), ZERO, output_field=MoneyField()
        ),
        pending=Coalesce(
            Sum("amount", filter=Q(status=PayoutStatus.PENDING)), ZERO, output_field=MoneyField()
        ),
    )
    buckets = balances_of(organization.pk)
    return BalanceSummary(
        balance=_money(totals["balance"]),
        currency=settings.CURRENCY,
        earned=_money(totals["earned"]),
        gross=_money(totals["gross"]),
        platform_fees=_money(totals["fees"]),
        paid_out=_money(payouts["paid"]),
        in_transit=_money(payouts["pending"]),
        fee_percent=fee_percent_for(account),
        payable=buckets.payable,
        pending=buckets.pending,
        held=buckets.held,
        reversed=buckets.reversed,
        hold_days=settings.PAYOUT_HOLD_DAYS,
    )


@dataclass(frozen=True)
class NextPayout:
    date: dt.date
    period: str
    amount: Decimal
    will_be_paid: bool
    method: str | None
    headline: str  # a few words for a stat tile
    reason: str  # the sentence that explains it


def next_payout(
    organization,
    *,
    balance: Decimal,
    account: ProviderAccount | None,
    now: dt.datetime | None = None,
) -> NextPayout:
    """The monthly run on the 1st of next month, and whether it will pay this provider."""
    run_at = first_of_next_month(now or timezone.now())
    minimum = Decimal(settings.PAYOUT_MINIMUM)
    method = payout_method_for(account)
    day, amount = f"{run_at:%b} {run_at.day}", format_money(balance)
    if organization.is_suspended:
        method = None
        headline = "On hold"
        reason = "Payouts are on hold while the organization is suspended; contact Tollgate."
    elif balance <= 0 or balance < minimum:
        method = None
        headline = f"Below the {format_money(minimum)} minimum"
        reason = (
            f"Payouts start at {format_money(minimum)}; your balance carries over "
            "until it gets there."
        )
    elif method == PayoutMethod.STRIPE:
        headline = f"{amount} to your Stripe account"
        reason = f"{amount} goes to your Stripe account on {day}."
    elif method == PayoutMethod.MANUAL:
        headline = f"{amount} by bank transfer"
        reason = f"Tollgate staff pay {amount} by bank transfer after the run on {day}."
    elif account is None or not account.stripe_account_id:
        headline = "Connect Stripe to be paid"
        reason = "Connect a Stripe account to receive it; the balance waits until you do."
    else:
        headline = "Waiting for Stripe"
        reason = "Stripe has not enabled payouts on your account yet: finish onboarding."
    return NextPayout(
        date=run_at.date(),
        period=month_of(run_at),
        amount=max(balance, ZERO),
        will_be_paid=method is not None,
        method=method,
        headline=headline,
        reason=reason,
    )


# --- For analytics dashboards -----------------------------------------------------------
def ledger_summary(organization, start: dt.datetime, end: dt.datetime) -> dict:
    """A provider's money in [start, end): `earned`, its share of what was paid after the
    fee and refunds (ledger entries made in the range), and `paid_out`, payouts paid in it."""
    sales = LedgerEntry.objects.filter(
        organization=organization,
        kind__in=[LedgerKind.EARNING, LedgerKind.REFUND_REVERSAL],
        created_at__gte=start,
        created_at__lt=end,
    )
    paid = Payout.objects.filter(
        organization=organization, status=PayoutStatus.PAID, paid_at__gte=start, paid_at__lt=end
    )
    return {
        "earned": _money(sales.aggregate(total=Sum("amount"))["total"]),
        "paid_out": _money(paid.aggregate(total=Sum("amount"))["total"]),
    }


def marketplace_summary(start: dt.datetime, end: dt.datetime) -> dict:
    """Staff's view: `platform_fee`, the platform's cut of what was paid in [start, end)
    (net of refunds), and `payouts_due`, what the marketplace owes providers right now:
    positive balances plus payouts made and not yet paid."""
    fee = LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        total=Sum("platform_fee")
    )["total"]
    balances = (
        LedgerEntry.objects.values("organization")
        .annotate(balance=Sum("amount"))
        .values_list("balance", flat=True)
    )
    pending = Payout.objects.filter(status=PayoutStatus.PENDING).aggregate(total=Sum("amount"))
    owed = sum((_money(balance) for balance in balances if _money(balance) > 0), ZERO)
    return {
        "platform_fee": _money(fee),
        "payouts_due": owed + _money(pending["total"]),
    }


def payouts_for(organization) -> QuerySet[Payout]:
    return Payout.objects.filter(organization=organization).order_by("-created_at", "-id")


def payout_for(organization, public_id: str) -> Payout | None:
    return payouts_for(organization).filter(public_id=public_id).first()


def earnings_for(organization) -> QuerySet[LedgerEntry]:
    """One row per invoice line the provider earned from, newest first, with what refunds
    and lost disputes took back (`refunded`: negative or zero) and whether an open dispute
    freezes it (`frozen`)."""
    reversals = LedgerEntry.objects.filter(
        kind__in=[LedgerKind.REFUND_REVERSAL, LedgerKind.DISPUTE_LOST],
        invoice_line=OuterRef("invoice_line"),
    ).values("invoice_line")
    return (
        LedgerEntry.objects.filter(organization=organization, kind=LedgerKind.EARNING)
        .select_related("invoice_line__invoice", "invoice_line__api")
        .annotate(
            refunded=Round(
                Coalesce(
                    Subquery(reversals.annotate(total=Sum("amount")).values("total")),
                    ZERO,
                    output_field=MoneyField(),
                ),
                2,
            ),
            frozen=_frozen(),
        )
        .order_by("-created_at", "-id")
    )


def entries_for(organization, month: str | None = None) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(organization=organization)
    if month:
        start, end = month_bounds(month)
        entries = entries.filter(created_at__gte=start, created_at__lt=end)
    return entries.select_related("invoice_line__invoice", "invoice_line__api", "payout")


def statement_months(organization, now: dt.datetime | None = None) -> list[str]:
    """Months with ledger activity, newest first; the current month is always offered."""
    months = {
        month_of(moment)
        for moment in LedgerEntry.objects.filter(organization=organization)
        .annotate(month=TruncMonth("created_at", tzinfo=dt.UTC))
        .order_by("month")
        .values_list("month", flat=True)
        .distinct()
    }
    months.add(month_of(now or timezone.now()))
    return sorted(months, reverse=True)


STATEMENT_HEADER = [
    "date",
    "entry",
    "kind",
    "description",
    "invoice",
    "api",
    "gross",
    "fee_percent",
    "platform_fee",
    "amount",
    "currency",
    "payout",
]


def statement_rows(organization, month: str) -> Iterator[list[str]]:
    """The CSV statement: a header, then one row per ledger entry of the month, oldest first.
    Amounts are plain decimals (what spreadsheets sum); the writer (apps.core.csv_export)
    defuses text cells."""
    yield STATEMENT_HEADER
    for entry in entries_for(organization, month).order_by("created_at", "id"):
        line = entry.invoice_line
        yield [
            entry.created_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            entry.public_id,
            entry.kind,
            entry.description,
            line.invoice.number or "" if line else "",
            line.api.slug if line else "",
            str(entry.gross),
            "" if entry.fee_percent is None else str(entry.fee_percent),
            str(entry.platform_fee),
            str(entry.amount),
            entry.currency,
            entry.payout.public_id if entry.payout else "",
        ]


@dataclass(frozen=True)
class ProviderTerms:
    """What a provider is told before signing up, from the settings that decide it."""

    fee_percent: Decimal
    example_line: Decimal
    example_share: Decimal
    example_fee: Decimal
    payout_minimum: Decimal
    hold_days: int
    by_stripe: bool
    price_notice_days: int

    @property
    def fee_text(self) -> str:
        """The percentage as written, without trailing zeros: 20, 12.5."""
        return format(self.fee_percent.normalize(), "f")


def provider_terms(example_line: Decimal = Decimal("100.00")) -> ProviderTerms:
    """The marketplace's default terms (staff may set another fee for one organization),
    with what a provider keeps of an example invoice line, split as every line is."""
    from apps.subscriptions.rating import split_provider_share

    fee_percent = Decimal(settings.PLATFORM_FEE_PERCENT)
    share, fee = split_provider_share(example_line, fee_percent)
    return ProviderTerms(
        fee_percent=fee_percent,
        example_line=example_line,
        example_share=share,
        example_fee=fee,
        payout_minimum=Decimal(settings.PAYOUT_MINIMUM),
        hold_days=settings.PAYOUT_HOLD_DAYS,
        by_stripe=stripe_configured(),
        price_notice_days=settings.PRICE_CHANGE_NOTICE_DAYS,
    )
