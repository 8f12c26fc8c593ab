"""Reads of the provider ledger: balances, the next payout, history, statements."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from apps.core.money import ZERO, MoneyField, format_money

from .models import LedgerEntry, LedgerKind, Payout, PayoutMethod, PayoutStatus, ProviderAccount
from .periods import first_of_next_month, month_bounds, month_of


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def provider_account(organization) -> ProviderAccount | None:
    return ProviderAccount.objects.filter(organization=organization).first()


def fee_percent_for(account: ProviderAccount | None) -> Decimal:
    """The platform's cut for a provider: staff's override, or the marketplace's setting."""
    if account is not None and account.fee_percent_override is not None:
        return account.fee_percent_override
    return Decimal(settings.PLATFORM_FEE_PERCENT)


def balance_of(organization_id: int) -> Decimal:
    total = LedgerEntry.objects.filter(organization_id=organization_id).aggregate(
        total=Sum("amount")
    )["total"]
    return total or ZERO


def payable_organization_ids(minimum: Decimal) -> list[int]:
    """Providers whose balance reaches the payout minimum (and is positive)."""
    floor = max(minimum, Decimal("0.01"))
    return list(
        LedgerEntry.objects.values("organization")
        .annotate(balance=Sum("amount"))
        .filter(balance__gte=floor)
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


def balance_summary(organization, account: ProviderAccount | None = None) -> BalanceSummary:
    sales = Q(kind__in=[LedgerKind.EARNING, LedgerKind.REFUND_REVERSAL])
    totals = LedgerEntry.objects.filter(organization=organization).aggregate(
        balance=Coalesce(Sum("amount"), ZERO, output_field=MoneyField()),
        earned=Coalesce(Sum("amount", filter=sales), ZERO, output_field=MoneyField()),
        gross=Coalesce(Sum("gross"), ZERO, output_field=MoneyField()),
        fees=Coalesce(Sum("platform_fee"), ZERO, output_field=MoneyField()),
    )
    payouts = Payout.objects.filter(organization=organization).aggregate(
        paid=Coalesce(Sum("amount", filter=Q(status=PayoutStatus.PAID)), ZERO,
                      output_field=MoneyField()),
        pending=Coalesce(Sum("amount", filter=Q(status=PayoutStatus.PENDING)), ZERO,
                         output_field=MoneyField()),
    )
    return BalanceSummary(
        balance=totals["balance"],
        currency=settings.CURRENCY,
        earned=totals["earned"],
        gross=totals["gross"],
        platform_fees=totals["fees"],
        paid_out=payouts["paid"],
        in_transit=payouts["pending"],
        fee_percent=fee_percent_for(account),
    )


@dataclass(frozen=True)
class NextPayout:
    date: dt.date
    period: str
    amount: Decimal
    will_be_paid: bool
    method: str | None
    reason: str


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
    day = f"{run_at:%b} {run_at.day}"
    if balance <= 0 or balance < minimum:
        reason = (
            f"Payouts start at {format_money(minimum)}; your balance carries over "
            "until it gets there."
        )
        method = None
    elif method == PayoutMethod.STRIPE:
        reason = f"Sent to your Stripe account on {day}."
    elif method == PayoutMethod.MANUAL:
        reason = f"Tollgate staff pay it by bank transfer after the run on {day}."
    elif account is None or not account.stripe_account_id:
        reason = "Connect a Stripe account to receive it; the balance waits until you do."
    else:
        reason = "Stripe has not enabled payouts on your account yet: finish onboarding."
    return NextPayout(
        date=run_at.date(),
        period=month_of(run_at),
        amount=max(balance, ZERO),
        will_be_paid=method is not None,
        method=method,
        reason=reason,
    )


def payouts_for(organization) -> QuerySet[Payout]:
    return Payout.objects.filter(organization=organization).order_by("-created_at", "-id")


def payout_for(organization, public_id: str) -> Payout | None:
    return payouts_for(organization).filter(public_id=public_id).first()


def earnings_for(organization) -> QuerySet[LedgerEntry]:
    """One row per invoice line the provider earned from, newest first, with what refunds
    took back (`refunded`, `refunded_gross`: negative or zero)."""
    reversals = LedgerEntry.objects.filter(
        kind=LedgerKind.REFUND_REVERSAL, invoice_line=OuterRef("invoice_line")
    ).values("invoice_line")
    return (
        LedgerEntry.objects.filter(organization=organization, kind=LedgerKind.EARNING)
        .select_related("invoice_line__invoice", "invoice_line__api")
        .annotate(
            refunded=Coalesce(
                Subquery(reversals.annotate(total=Sum("amount")).values("total")),
                ZERO,
                output_field=MoneyField(),
            ),
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
    Amounts are plain decimals (what spreadsheets sum); text cells are defused."""
    yield STATEMENT_HEADER
    for entry in entries_for(organization, month).order_by("created_at", "id"):
        line = entry.invoice_line
        yield [
            entry.created_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            entry.public_id,
            entry.kind,
            _cell(entry.description),
            _cell(line.invoice.number or "") if line else "",
            _cell(line.api.slug) if line else "",
            str(entry.gross),
            "" if entry.fee_percent is None else str(entry.fee_percent),
            str(entry.platform_fee),
            str(entry.amount),
            entry.currency,
            entry.payout.public_id if entry.payout else "",
        ]


def _cell(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; provider-chosen names
    (plan and API names are in descriptions) must not."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
