"""Writes to the provider ledger and payouts: earnings when invoices are paid, reversals
when they are refunded, the monthly payout run, Stripe Connect onboarding and transfers.

Every amount is split by `apps.subscriptions.rating.split_provider_share`. Every ledger write
locks the provider's `ProviderAccount` row first, so a payout run never pays a balance that
a concurrent refund is changing; unique constraints make every entry enterable once."""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.accounts.notifications import OWNERS, notify, notify_staff
from apps.accounts.services import require_capability
from apps.billing.models import Dispute, DisputeStatus, Invoice, InvoiceLine, InvoiceStatus, Refund
from apps.core.audit import audit_record
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.core.money import ZERO, format_money, from_steps, round_money, to_steps
from apps.subscriptions.rating import split_provider_share

from . import bank, selectors, stripe_connect
from .allocation import apportion, refunded_per_line
from .checks import currency_conflicts, refusal
from .models import (
    LedgerEntry,
    LedgerKind,
    Payout,
    PayoutDetails,
    PayoutMethod,
    PayoutStatus,
    ProviderAccount,
)
from .periods import month_of, parse_month

logger = logging.getLogger(__name__)
RESEND_AFTER = dt.timedelta(hours=1)  # a pending transfer older than this is stuck


# Higher apps (webhooks) listen to payouts here: fn(kind, payout), kind "payout.<status>",
# called after the change commits. A listener's failure is logged, never raised.
payout_listeners: list[Callable[[str, Payout], None]] = []


def console_url(name: str = "payouts:overview") -> str:
    """The Payouts page (or another of the app's), for notifications. A link must never
    fail a money operation, so an unrouted page (the app's URLs not mounted) gives a notice
    without a link."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def _announce(payout: Payout) -> None:
    kind = f"payout.{payout.status}"

    def call_listeners():
        for listener in list(payout_listeners):
            try:
                listener(kind, payout)
            except Exception:
                logger.exception("payout listener %r failed on %s", listener, kind)

    transaction.on_commit(call_listeners)


class TransientStripeError(Exception):
    """Stripe could not be reached or asked us to retry; the payout stays pending."""


# --- Provider accounts ------------------------------------------------------------------
def provider_account_for(organization) -> ProviderAccount:
    account, _ = ProviderAccount.objects.get_or_create(organization=organization)
    return account


def _lock_accounts(organization_ids) -> dict[int, ProviderAccount]:
    """Lock the providers' account rows, in a fixed order (no deadlocks between runs)."""
    ids = sorted(set(organization_ids))
    for organization_id in ids:
        ProviderAccount.objects.get_or_create(organization_id=organization_id)
    accounts = ProviderAccount.objects.select_for_update().filter(organization_id__in=ids)
    return {account.organization_id: account for account in accounts.order_by("pk")}


def provider_fee_set(*, actor, organization, fee_percent: Decimal | None) -> ProviderAccount:
    """Staff set (or clear, with None) a provider's platform fee. It applies to invoices
    paid from now on; entries already made keep the fee they were split with."""
    if not actor.is_staff:
        raise Forbidden("Only staff change a provider's fee.")
    if fee_percent is not None and not Decimal(0) <= Decimal(fee_percent) <= Decimal(100):
        raise ServiceError("The fee is a percentage between 0 and 100.", field="fee_percent")
    with transaction.atomic():
        account = _lock_accounts([organization.pk])[organization.pk]
        before = account.fee_percent_override
        account.fee_percent_override = fee_percent
        account.save(update_fields=["fee_percent_override", "updated_at"])
        audit_record(
            action="payouts.fee_changed",
            actor=actor,
            organization=organization,
            target=account,
            data={"from": _text(before), "to": _text(fee_percent)},
        )
    return account


def _text(value) -> str | None:
    return None if value is None else str(value)


# --- Earnings ---------------------------------------------------------------------------
def ledger_enter_invoice(*, invoice_id: int) -> list[LedgerEntry]:
    """Enter each line of a paid invoice on its provider's ledger: the provider's share as
    `amount`, the platform's fee beside it. Idempotent: a line's earning is entered once
    (unique constraint), so a repeated signal, or reconcile racing it, enters nothing twice.
    Credit lines (negative) enter negative earnings: credits reverse what they credit."""
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status != InvoiceStatus.PAID:
        return []
    lines = list(invoice.lines.exclude(amount=0).order_by("position", "id"))
    if not lines:
        return []
    with transaction.atomic():
        accounts = _lock_accounts(line.provider_id for line in lines)
        entered = set(
            LedgerEntry.objects.filter(kind=LedgerKind.EARNING, invoice_line__in=lines).values_list(
                "invoice_line_id", flat=True
            )
        )
        entries = [
            _earning(invoice, line, accounts[line.provider_id])
            for line in lines
            if line.pk not in entered
        ]
        return _insert(entries)


def payable_from(paid_at: dt.datetime | None) -> dt.datetime:
    """When an earning of a payment that cleared at `paid_at` becomes payable."""
    return (paid_at or timezone.now()) + dt.timedelta(days=settings.PAYOUT_HOLD_DAYS)


def _earning(invoice: Invoice, line: InvoiceLine, account: ProviderAccount) -> LedgerEntry:
    fee_percent = selectors.fee_percent_for(account)
    share, fee = split_provider_share(line.amount, fee_percent, invoice.currency)
    return LedgerEntry(
        available_at=payable_from(invoice.paid_at),
        organization_id=line.provider_id,
        kind=LedgerKind.EARNING,
        amount=share,
        gross=line.amount,
        platform_fee=fee,
        fee_percent=fee_percent,
        currency=invoice.currency,
        description=f"{invoice.number} · {line.description}"[:300],
        invoice_line=line,
    )


def _insert(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Insert entries, or none if another worker entered them first (the unique
    constraints decide; the savepoint keeps the surrounding transaction usable)."""
    if not entries:
        return []
    try:
        with transaction.atomic():
            return LedgerEntry.objects.bulk_create(entries)
    except IntegrityError:
        logger.info("ledger entries already entered by a concurrent worker")
        return []


# --- Refunds ----------------------------------------------------------------------------
def ledger_reverse_refund(*, refund_id: int) -> list[LedgerEntry]:
    """Reverse a refund on the providers' ledgers, pro rata across the invoice's lines, each
    line split with the fee its earning was split with. Idempotent per refund.

    Rounding (see `allocation`): refunds are allocated cumulatively, in the order they were
    made: this refund reverses, on each line, the allocation of everything refunded up to
    and including it minus the allocation up to the refund before it; provider share and
    fee are split the same way (split of the cumulative gross minus split of the previous
    cumulative gross). So no line is ever reversed beyond what it earned, and a full refund,
    in one go or in parts, reverses every earning to the cent."""
    refund = Refund.objects.select_related("invoice").get(pk=refund_id)
    invoice = refund.invoice
    ledger_enter_invoice(invoice_id=invoice.pk)  # heals a lost `invoice_paid`
    lines = list(invoice.lines.order_by("position", "id"))
    currency = invoice.currency
    amounts = [to_steps(line.amount, currency) for line in lines]
    refunded_before = round_money(  # SQLite adds decimals as floats
        Refund.objects.filter(invoice=invoice, pk__lt=refund.pk).aggregate(t=Sum("amount"))["t"]
        or ZERO,
        currency,
    )
    before = refunded_per_line(amounts, to_steps(refunded_before, currency))
    after = refunded_per_line(amounts, to_steps(refunded_before + refund.amount, currency))
    earnings = {
        entry.invoice_line_id: entry
        for entry in LedgerEntry.objects.filter(kind=LedgerKind.EARNING, invoice_line__in=lines)
    }
    with transaction.atomic():
        _lock_accounts(line.provider_id for line in lines)
        if LedgerEntry.objects.filter(kind=LedgerKind.REFUND_REVERSAL, refund=refund).exists():
            return []
        entries = [
            _reversal(
                refund,
                line,
                earnings[line.pk],
                from_steps(was, currency),
                from_steps(now, currency),
            )
            for line, was, now in zip(lines, before, after, strict=True)
            if now != was
        ]
        inserted = _insert(entries)
        _recover_later({entry.organization_id for entry in inserted}, refund.public_id)
        return inserted


def _reversal(
    refund: Refund, line: InvoiceLine, earning: LedgerEntry, was: Decimal, now: Decimal
) -> LedgerEntry:
    share, gross, fee = _taken_back(earning, was, now)
    return LedgerEntry(
        organization_id=line.provider_id,
        kind=LedgerKind.REFUND_REVERSAL,
        amount=share,
        gross=gross,
        platform_fee=fee,
        fee_percent=earning.fee_percent,
        currency=earning.currency,
        description=f"Refund of {refund.invoice.number} · {line.description}"[:300],
        invoice_line=line,
        refund=refund,
        available_at=earning.available_at,  # leaves the bucket its earning is in
    )


def _taken_back(earning: LedgerEntry, was: Decimal, now: Decimal) -> tuple:
    """(share, gross, fee) a line gives back when its cumulative reversal grows from `was`
    to `now`, split with the fee its earning was split with (all negative or zero)."""
    currency = earning.currency
    share_now, fee_now = split_provider_share(now, earning.fee_percent, currency)
    share_was, fee_was = split_provider_share(was, earning.fee_percent, currency)
    return share_was - share_now, was - now, fee_was - fee_now


# --- Disputes ---------------------------------------------------------------------------
def ledger_enter_dispute(*, dispute_id: int) -> list[LedgerEntry]:
    """Bring the ledger in line with a dispute: when it opens, each provider of the invoice
    gets an entry saying its earnings from it are frozen (they stay on the balance but
    are not payable while the dispute is open, see `selectors.balances_of`); won, an entry
    says they are released; lost, each line's remaining share is reversed with the
    platform fee (as a refund of what is left would), and with DISPUTE_FEE_PAYER=provider
    Stripe's dispute fee is charged to the providers pro rata. Idempotent: every entry is
    unique per dispute, so repeated or out-of-order news enters nothing twice."""
    dispute = Dispute.objects.select_related("invoice").get(pk=dispute_id)
    invoice = dispute.invoice
    ledger_enter_invoice(invoice_id=invoice.pk)  # heals a lost `invoice_paid`
    lines = list(invoice.lines.order_by("position", "id"))
    earnings = {
        entry.invoice_line_id: entry
        for entry in LedgerEntry.objects.filter(kind=LedgerKind.EARNING, invoice_line__in=lines)
    }
    with transaction.atomic():
        _lock_accounts(line.provider_id for line in lines)
        existing = set(LedgerEntry.objects.filter(dispute=dispute).values_list("kind", flat=True))
        entries = []
        if LedgerKind.DISPUTE_OPENED not in existing:
            entries += _dispute_notes(dispute, lines, earnings, LedgerKind.DISPUTE_OPENED)
        if dispute.status == DisputeStatus.WON and LedgerKind.DISPUTE_WON not in existing:
            entries += _dispute_notes(dispute, lines, earnings, LedgerKind.DISPUTE_WON)
        if dispute.status == DisputeStatus.LOST and LedgerKind.DISPUTE_LOST not in existing:
            entries += _dispute_lost(dispute, lines, earnings)
            if settings.DISPUTE_FEE_PAYER == "provider" and dispute.fee > 0:
                entries += _dispute_fees(dispute, lines)
        inserted = _insert(entries)
        for entry in inserted:
            if entry.invoice_line_id is None and entry.kind != LedgerKind.DISPUTE_FEE:
                _tell_dispute(entry)
        if dispute.status == DisputeStatus.LOST:
            _recover_later({entry.organization_id for entry in inserted}, dispute.public_id)
    return inserted


def _provider_shares(lines, earnings) -> dict[int, Decimal]:
    """Each provider's net share of the invoice: earnings less what refunds took back."""
    shares: dict[int, Decimal] = {}
    taken = dict(
        LedgerEntry.objects.filter(kind=LedgerKind.REFUND_REVERSAL, invoice_line__in=lines)
        .values_list("invoice_line")
        .annotate(total=Sum("amount"))
    )
    for line in lines:
        if line.pk in earnings:
            net = earnings[line.pk].amount + round_money(taken.get(line.pk) or ZERO)
            shares[line.provider_id] = shares.get(line.provider_id, ZERO) + net
    return shares


_DISPUTE_NOTES = {
    LedgerKind.DISPUTE_OPENED: "Dispute opened on {number}: {amount} of your earnings frozen "
    "until the bank decides",
    LedgerKind.DISPUTE_WON: "Dispute won on {number}: {amount} of your earnings released",
}


def _dispute_notes(dispute, lines, earnings, kind) -> list[LedgerEntry]:
    """One entry per provider that explains a step and moves no money (amount 0)."""
    invoice = dispute.invoice
    return [
        LedgerEntry(
            organization_id=provider_id,
            kind=kind,
            amount=ZERO,
            currency=invoice.currency,
            description=_DISPUTE_NOTES[kind].format(
                number=invoice.number, amount=format_money(share, invoice.currency)
            )[:300],
            dispute=dispute,
        )
        for provider_id, share in sorted(_provider_shares(lines, earnings).items())
    ]


def _dispute_lost(dispute, lines, earnings) -> list[LedgerEntry]:
    """Reverse, on each line, what the bank took back: the cumulative allocation of the
    refunds before it plus the disputed amount, minus that of the refunds alone (see
    `ledger_reverse_refund`), split with each earning's fee, so the platform gives back
    its fee too."""
    invoice = dispute.invoice
    currency = invoice.currency
    amounts = [to_steps(line.amount, currency) for line in lines]
    refunded = to_steps(_refunded_total(invoice), currency)
    taken = min(to_steps(dispute.amount, currency), sum(amounts) - refunded)
    before = refunded_per_line(amounts, refunded)
    after = refunded_per_line(amounts, refunded + taken)
    entries = []
    for line, was, now in zip(lines, before, after, strict=True):
        if now == was or line.pk not in earnings:
            continue
        share, gross, fee = _taken_back(
            earnings[line.pk], from_steps(was, currency), from_steps(now, currency)
        )
        entries.append(
            LedgerEntry(
                organization_id=line.provider_id,
                kind=LedgerKind.DISPUTE_LOST,
                amount=share,
                gross=gross,
                platform_fee=fee,
                fee_percent=earnings[line.pk].fee_percent,
                currency=currency,
                description=f"Dispute lost on {invoice.number} · {line.description}"[:300],
                invoice_line=line,
                dispute=dispute,
                available_at=earnings[line.pk].available_at,
            )
        )
    return entries


def _dispute_fees(dispute, lines) -> list[LedgerEntry]:
    """Stripe's dispute fee, shared by the invoice's providers pro rata to their lines."""
    currency = dispute.invoice.currency
    gross: dict[int, int] = {}
    for line in lines:
        if line.amount > 0:
            gross[line.provider_id] = gross.get(line.provider_id, 0) + to_steps(
                line.amount, currency
            )
    providers = sorted(gross)
    fee = to_steps(dispute.fee, currency)
    parts = apportion([gross[p] for p in providers], min(fee, sum(gross.values())))
    return [
        LedgerEntry(
            organization_id=provider_id,
            kind=LedgerKind.DISPUTE_FEE,
            amount=-from_steps(part, currency),
            currency=currency,
            description=f"Dispute fee for {dispute.invoice.number} (Stripe's, lost dispute)",
            dispute=dispute,
        )
        for provider_id, part in zip(providers, parts, strict=True)
        if part
    ]


def _tell_dispute(entry: LedgerEntry) -> None:
    titles = {
        LedgerKind.DISPUTE_OPENED: "A payment of your API is disputed",
        LedgerKind.DISPUTE_WON: "Dispute won: earnings released",
    }
    notify(
        organization=entry.organization,
        kind=f"payouts.{entry.kind}",
        title=titles[entry.kind],
        body=entry.description + ".",
        url=console_url(),
        email_capability="billing",
    )


def _refunded_total(invoice: Invoice) -> Decimal:
    total = Refund.objects.filter(invoice=invoice).aggregate(t=Sum("amount"))["t"]
    return round_money(total or ZERO, invoice.currency)  # SQLite adds decimals as floats


# --- Recovering a negative balance ---------------------------------------------------------
def _recover_later(organization_ids, cause: str) -> None:
    """After a reversal: try to pull what a provider now owes back from its Stripe transfers
    (after the commit, from a task)."""
    if not selectors.stripe_configured():
        return
    from .tasks import recover_negative_balance

    for organization_id in sorted(organization_ids):
        transaction.on_commit(
            lambda org=organization_id: recover_negative_balance.delay(org, cause)
        )


def ledger_recover(*, organization_id: int, cause: str) -> list[LedgerEntry]:
    """A refund or lost dispute after a payout leaves the provider owing money (its balance,
    less what is still pending, below zero). Where Stripe allows, reverse that much of the
    provider's latest transfers; a `transfer_reversal` entry puts it back on the balance.
    What Stripe refuses (the connected account has spent it) stays owed and is recovered
    from later earnings. Idempotent: the Stripe key names the cause and the payout, and a
    reversal is entered once (unique Stripe id)."""
    if not selectors.stripe_configured():
        return []
    import stripe

    entered = []
    owed = -selectors.balances_of(organization_id).recoverable
    payouts = (
        Payout.objects.filter(
            organization_id=organization_id,
            method=PayoutMethod.STRIPE,
            status=PayoutStatus.PAID,
        )
        .exclude(stripe_transfer_id="")
        .order_by("-paid_at", "-id")
    )
    for payout in payouts:
        if owed <= 0:
            break
        recovered = payout.entries.filter(kind=LedgerKind.TRANSFER_REVERSAL).aggregate(
            t=Sum("amount")
        )["t"]
        take = min(owed, payout.amount - round_money(recovered or ZERO, payout.currency))
        if take <= 0:
            continue
        try:
            reversal = stripe_connect.reverse_transfer(
                payout, take, idempotency_key=f"tg-recover-{cause}-{payout.public_id}"
            )
        except stripe.StripeError as error:
            logger.warning(
                "recovering %s from transfer %s failed (%s); later earnings cover it",
                take,
                payout.stripe_transfer_id,
                stripe_connect.error_message(error),
            )
            break
        with transaction.atomic():
            _lock_accounts([organization_id])
            entered += _insert(
                [
                    LedgerEntry(
                        organization_id=organization_id,
                        kind=LedgerKind.TRANSFER_REVERSAL,
                        amount=take,
                        currency=payout.currency,
                        description=f"Recovered from payout {payout.period} (Stripe transfer "
                        f"reversal) to cover refunds and disputes",
                        payout=payout,
                        stripe_reversal_id=reversal["id"],
                    )
                ]
            )
        owed -= take
    return entered


def ledger_reconcile() -> int:
    """Enter what a lost signal left out: earnings of paid invoices and reversals of refunds
    with no entries yet. Idempotent; the payout run calls it first."""
    earned = LedgerEntry.objects.filter(kind=LedgerKind.EARNING, invoice_line=OuterRef("pk"))
    invoice_ids = set(
        InvoiceLine.objects.filter(invoice__status=InvoiceStatus.PAID)
        .exclude(amount=0)
        .filter(~Exists(earned))
        .values_list("invoice_id", flat=True)
    )
    reversed_ = LedgerEntry.objects.filter(kind=LedgerKind.REFUND_REVERSAL, refund=OuterRef("pk"))
    refund_ids = list(
        Refund.objects.filter(~Exists(reversed_)).order_by("pk").values_list("pk", flat=True)
    )
    entered = 0
    for invoice_id in sorted(invoice_ids):
        entered += len(ledger_enter_invoice(invoice_id=invoice_id))
    for refund_id in refund_ids:
        try:
            entered += len(ledger_reverse_refund(refund_id=refund_id))
        except Exception:  # one broken refund must not block the others (or the payout run)
            logger.exception("reversing refund %s failed", refund_id)
    for dispute_id in _disputes_behind():
        try:
            entered += len(ledger_enter_dispute(dispute_id=dispute_id))
        except Exception:
            logger.exception("entering dispute %s failed", dispute_id)
    if entered:
        logger.warning("reconcile entered %s ledger entries a signal had missed", entered)
    return entered


def _disputes_behind() -> list[int]:
    """Disputes whose ledger entries lag their status (a lost signal)."""
    entered = LedgerEntry.objects.filter(dispute=OuterRef("pk"))
    return list(
        Dispute.objects.filter(
            ~Exists(entered.filter(kind=LedgerKind.DISPUTE_OPENED))
            | Q(status=DisputeStatus.WON) & ~Exists(entered.filter(kind=LedgerKind.DISPUTE_WON))
            | Q(status=DisputeStatus.LOST) & ~Exists(entered.filter(kind=LedgerKind.DISPUTE_LOST))
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- The payout run ---------------------------------------------------------------------
@dataclass
class RunReport:
    period: str
    created: list[Payout] = field(default_factory=list)
    resent: list[Payout] = field(default_factory=list)
    failed_organization_ids: list[int] = field(default_factory=list)
    # manual payouts whose provider has not said where to send them: staff are told
    without_details: list[Payout] = field(default_factory=list)


def run_payouts(period: str | None = None, *, now: dt.datetime | None = None) -> RunReport:
    """The monthly run: a payout for each provider whose balance reaches PAYOUT_MINIMUM.

    Idempotent per period: a provider gets at most one payout per period however often it
    runs (row lock + unique constraint). A re-run also re-sends Stripe payouts stuck
    pending for over RESEND_AFTER (their task gave up), with their original idempotency
    key; younger ones are left to their own task, so runs at the same moment send one
    transfer. Each provider is its own transaction: one failure does not stop the others."""
    now = now or timezone.now()
    period = parse_month(period, field="period") if period else month_of(now)
    conflicts = currency_conflicts()
    if conflicts:  # paying out balances of another currency in this one would be wrong
        raise Conflict(refusal(conflicts), code="currency_changed")
    ledger_reconcile()
    report = RunReport(period=period)
    stuck = set(
        Payout.objects.filter(
            period=period,
            status=PayoutStatus.PENDING,
            method=PayoutMethod.STRIPE,
            stripe_transfer_id="",
        )
        .annotate(last_try=Coalesce("transfer_attempted_at", "created_at"))
        .filter(last_try__lt=now - RESEND_AFTER)
        .values_list("organization_id", flat=True)
    )
    minimum = Decimal(settings.PAYOUT_MINIMUM)
    for organization_id in sorted(set(selectors.payable_organization_ids(minimum)) | stuck):
        try:
            payout, created = payout_create(organization_id=organization_id, period=period, now=now)
        except Exception:
            logger.exception("payout for organization %s failed", organization_id)
            report.failed_organization_ids.append(organization_id)
            continue
        if created:
            report.created.append(payout)
        elif organization_id in stuck and payout is not None and _awaits_transfer(payout):
            from .tasks import send_transfer

            send_transfer.delay_on_commit(payout.pk)
            report.resent.append(payout)
    report.without_details = [p for p in report.created if _lacks_details(p)]
    if report.without_details:
        _tell_staff_without_details(report)
    return report


def _lacks_details(payout: Payout) -> bool:
    return (
        payout.method == PayoutMethod.MANUAL
        and not PayoutDetails.objects.filter(organization_id=payout.organization_id).exists()
    )


def _tell_staff_without_details(report: RunReport) -> None:
    lines = [
        f"- {p.organization.name}: {format_money(p.amount, p.currency)} ({p.public_id})"
        for p in report.without_details
    ]
    notify_staff(
        subject=f"{len(lines)} payout(s) of {report.period} have no payout details",
        body="These providers have not said where to send their payout; they were asked "
        "to add their payout details. Pay them once they have:\n\n" + "\n".join(lines),
        url=console_url("admin:payouts_payout_changelist")
        and (console_url("admin:payouts_payout_changelist") + "?details=missing"),
    )


def _awaits_transfer(payout: Payout) -> bool:
    return (
        payout.status == PayoutStatus.PENDING
        and payout.method == PayoutMethod.STRIPE
        and not payout.stripe_transfer_id
    )


def payout_create(
    *, organization_id: int, period: str, now: dt.datetime | None = None
) -> tuple[Payout | None, bool]:
    """(payout, created): the provider's payout for `period`, made now if its balance
    reaches the minimum and it can be paid (see `selectors.payout_method_for`). The whole
    balance is paid, and a `payout` entry takes it off the ledger in the same transaction."""
    with transaction.atomic():
        account = _lock_accounts([organization_id])[organization_id]
        existing = Payout.objects.filter(organization_id=organization_id, period=period).first()
        if existing is not None:
            return existing, False
        # what is payable now: earnings past their holdback, not frozen by a dispute
        balance = selectors.balances_of(organization_id, now).payable
        method = selectors.payout_method_for(account)
        if balance <= 0 or balance < Decimal(settings.PAYOUT_MINIMUM) or method is None:
            return None, False
        if account.organization.is_suspended:  # staff hold a suspended provider's money
            return None, False
        payout = Payout.objects.create(
            organization_id=organization_id,
            period=period,
            amount=balance,
            currency=settings.CURRENCY,
            method=method,
            stripe_account_id=account.stripe_account_id if method == PayoutMethod.STRIPE else "",
            next_attempt_at=timezone.now() if method == PayoutMethod.STRIPE else None,
        )
        payout.invoices.set(selectors.invoices_paid_out_by(payout, now))
        LedgerEntry.objects.create(
            organization_id=organization_id,
            kind=LedgerKind.PAYOUT,
            amount=-balance,
            currency=payout.currency,
            description=f"Payout {period} ({payout.get_method_display().lower()})",
            payout=payout,
        )
        audit_record(
            action="payout.created",
            organization=account.organization,
            target=payout,
            data={"amount": str(balance), "period": period, "method": method},
        )
        _tell(payout, *_created_text(payout))
        _announce(payout)
        if method == PayoutMethod.STRIPE:
            from .tasks import send_transfer

            send_transfer.delay_on_commit(payout.pk)
    return payout, True


def _created_text(payout: Payout) -> tuple[str, str]:
    amount = format_money(payout.amount, payout.currency)
    if payout.method == PayoutMethod.STRIPE:
        return f"Payout of {amount} on its way", "We are sending it to your Stripe account."
    body = "Tollgate staff pay it by bank transfer; it shows as paid once they have."
    if _lacks_details(payout):
        body += (
            " Add your payout details (Console → Payouts → Payout details) first: staff "
            "need to know which bank account to send it to."
        )
    return f"Payout of {amount} scheduled", body


def _tell(payout: Payout, title: str, body: str) -> None:
    notify(
        organization=payout.organization,
        kind=f"payout.{payout.status}",
        title=title,
        body=body,
        url=console_url(),
        email_capability="billing",
    )


# --- Stripe transfers -------------------------------------------------------------------
# A transfer Stripe refused for a passing reason is sent again after each delay in turn
# (about four days in all); then it fails and its amount waits for the next run.
RETRY_DELAYS = [
    dt.timedelta(hours=1),
    dt.timedelta(hours=4),
    dt.timedelta(hours=12),
    dt.timedelta(days=1),
    dt.timedelta(days=2),
]
ACCOUNT_FIX = (
    "Stripe cannot pay your account yet: finish what it asks for in Console → Payouts → "
    "Continue onboarding. Payouts resume once Stripe enables them."
)


def payout_send_transfer(*, payout_id: int) -> Payout:
    """Send a pending Stripe payout (after commit, from a task, or from the retry job).

    - Network trouble, rate limits, Stripe's 5xx raise TransientStripeError: the task
      retries within minutes with the same idempotency key (then `payout_retry_later`).
    - Too little platform balance is retried later, on RETRY_DELAYS (`payout_retry_later`).
    - A provider account that cannot receive transfers fails the payout and tells the
      provider what to fix (payouts pause until Stripe enables them again).
    - Any other refusal fails the payout, for staff to look at.
    A failed payout's amount returns to the balance for the next run."""
    payout = Payout.objects.select_related("organization").get(pk=payout_id)
    if not _awaits_transfer(payout):
        return payout
    if not selectors.stripe_configured():
        logger.warning("payout %s waits: Stripe is not configured", payout.public_id)
        return payout
    import stripe

    Payout.objects.filter(pk=payout.pk).update(
        transfer_attempted_at=timezone.now(), attempts=F("attempts") + 1, next_attempt_at=None
    )
    try:
        transfer = stripe_connect.create_transfer(payout)
    except stripe.StripeError as error:
        message = stripe_connect.error_message(error)
        kind = stripe_connect.failure_kind(error)
        if kind == "transient":
            raise TransientStripeError(message) from error
        if kind == "wait":
            return payout_retry_later(payout=payout, reason=message)
        if kind == "account":
            _pause_payouts(payout.organization_id)
            return payout_fail(payout=payout, reason=f"{ACCOUNT_FIX} (Stripe: {message})")
        return payout_fail(payout=payout, reason=message, tell_staff=True)
    return payout_mark_transferred(payout=payout, transfer_id=transfer["id"])


def payout_retry_later(*, payout: Payout, reason: str, now: dt.datetime | None = None) -> Payout:
    """Schedule the transfer's next attempt on RETRY_DELAYS; past the last one, fail it.
    Staff hear of the first delay (the provider sees "delayed" on their Payouts page)."""
    now = now or timezone.now()
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("organization").get(pk=payout.pk)
        if not _awaits_transfer(payout):
            return payout
        if payout.retry_round >= len(RETRY_DELAYS):
            return payout_fail(
                payout=payout,
                reason=f"Stripe kept refusing the transfer for days: {reason}",
                tell_staff=True,
            )
        payout.next_attempt_at = now + RETRY_DELAYS[payout.retry_round]
        payout.retry_round += 1
        payout.last_error = reason[:300]
        payout.save(update_fields=["next_attempt_at", "retry_round", "last_error", "updated_at"])
        audit_record(
            action="payout.transfer_delayed",
            organization=payout.organization,
            target=payout,
            data={"reason": reason, "next_attempt_at": payout.next_attempt_at.isoformat()},
        )
        if payout.retry_round == 1:
            amount = format_money(payout.amount, payout.currency)
            notify_staff(
                subject=f"Transfer of payout {payout.public_id} delayed",
                body=f"Stripe refused the transfer of {amount} "
                f"to {payout.organization.name}: {reason}. It is retried automatically "
                f"(next at {payout.next_attempt_at:%Y-%m-%d %H:%M} UTC).",
                url=_admin_url(payout),
            )
    return payout


def retry_due_transfers(*, now: dt.datetime | None = None) -> list[int]:
    """Beat, every few minutes: the Stripe payouts whose next attempt is due, and those a
    dead task left pending (no attempt scheduled, last try over RESEND_AFTER ago). Returns
    their ids after queueing a send for each; sending twice is safe (idempotency key)."""
    now = now or timezone.now()
    waiting = Payout.objects.filter(
        status=PayoutStatus.PENDING, method=PayoutMethod.STRIPE, stripe_transfer_id=""
    )
    due = waiting.filter(next_attempt_at__lte=now)
    stuck = (
        waiting.filter(next_attempt_at=None)
        .annotate(last_try=Coalesce("transfer_attempted_at", "created_at"))
        .filter(last_try__lt=now - RESEND_AFTER)
    )
    ids = sorted(set(due.values_list("pk", flat=True)) | set(stuck.values_list("pk", flat=True)))
    from .tasks import send_transfer

    sent = [payout_id for payout_id in ids if _claim_transfer(payout_id, now)]
    for payout_id in sent:
        send_transfer.delay(payout_id)
    return sent


def _claim_transfer(payout_id: int, now: dt.datetime) -> bool:
    """Take a due payout for one send: the update only matches while it is still due, so
    of two jobs that both saw it due, one queues it."""
    due = Q(next_attempt_at__lte=now) | Q(
        next_attempt_at=None, transfer_attempted_at__lt=now - RESEND_AFTER
    )
    never_tried = Q(
        next_attempt_at=None, transfer_attempted_at=None, created_at__lt=now - RESEND_AFTER
    )
    return bool(
        Payout.objects.filter(due | never_tried, pk=payout_id, status=PayoutStatus.PENDING).update(
            next_attempt_at=None, transfer_attempted_at=now
        )
    )


def _pause_payouts(organization_id: int) -> None:
    """Stripe says the account cannot receive transfers: stop choosing it for payouts until
    `account.updated` says payouts are enabled again."""
    ProviderAccount.objects.filter(organization_id=organization_id).update(
        payouts_enabled=False, status_updated_at=timezone.now()
    )


def _admin_url(payout: Payout) -> str:
    try:
        return reverse("admin:payouts_payout_change", args=[payout.pk])
    except NoReverseMatch:
        return ""


def payout_mark_transferred(*, payout: Payout, transfer_id: str) -> Payout:
    """Stripe made the transfer: the money is in the provider's Stripe balance. Idempotent
    (the transfer task and the `transfer.created` webhook both call it)."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("organization").get(pk=payout.pk)
        if payout.status != PayoutStatus.PENDING:
            return payout
        payout.status, payout.stripe_transfer_id = PayoutStatus.PAID, transfer_id
        payout.paid_at = timezone.now()
        payout.save(update_fields=["status", "stripe_transfer_id", "paid_at", "updated_at"])
        audit_record(
            action="payout.paid",
            organization=payout.organization,
            target=payout,
            data={"transfer": transfer_id},
        )
        amount = format_money(payout.amount, payout.currency)
        _tell(
            payout,
            f"Payout of {amount} sent",
            "It is in your Stripe balance; Stripe pays it to your bank on your schedule.",
        )
        _announce(payout)
    return payout


def payout_fail(*, payout: Payout, reason: str, tell_staff: bool = False) -> Payout:
    """A payout that did not reach the provider (transfer refused or reversed): its amount
    goes back to the balance, so the next run pays it. Idempotent."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("organization").get(pk=payout.pk)
        if payout.status in (PayoutStatus.FAILED, PayoutStatus.CANCELED):
            return payout
        payout.status, payout.failure_reason = PayoutStatus.FAILED, reason[:300]
        payout.next_attempt_at = None
        payout.save(update_fields=["status", "failure_reason", "next_attempt_at", "updated_at"])
        _return_to_balance(payout, f"Payout {payout.period} failed: {reason}")
        if tell_staff:
            notify_staff(
                subject=f"Payout {payout.public_id} failed",
                body=f"The transfer of {format_money(payout.amount, payout.currency)} to "
                f"{payout.organization.name} failed: {reason} The amount is back in their "
                "balance for the next run.",
                url=_admin_url(payout),
            )
        audit_record(
            action="payout.failed",
            organization=payout.organization,
            target=payout,
            data={"reason": reason},
        )
        amount = format_money(payout.amount, payout.currency)
        _tell(
            payout,
            f"Payout of {amount} failed",
            f"{reason} The amount is back in your balance for the next payout run.",
        )
        _announce(payout)
    return payout


def _return_to_balance(payout: Payout, description: str) -> None:
    _lock_accounts([payout.organization_id])
    LedgerEntry.objects.create(
        organization_id=payout.organization_id,
        kind=LedgerKind.PAYOUT_REVERSAL,
        amount=payout.amount,
        currency=payout.currency,
        description=description[:300],
        payout=payout,
    )


# --- Manual payouts (staff) -------------------------------------------------------------
def payout_mark_paid(*, payout: Payout, actor, reference: str = "") -> Payout:
    """Staff paid a manual payout by bank transfer. Idempotent for a paid payout."""
    if not actor.is_staff:
        raise Forbidden("Only staff mark payouts paid.")
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("organization").get(pk=payout.pk)
        if payout.status == PayoutStatus.PAID:
            return payout
        if payout.status != PayoutStatus.PENDING or payout.method != PayoutMethod.MANUAL:
            raise Conflict("Only pending manual payouts can be marked paid.")
        payout.status, payout.paid_at, payout.marked_paid_by = (
            PayoutStatus.PAID,
            timezone.now(),
            actor,
        )
        payout.reference = reference[:120]
        payout.save(
            update_fields=["status", "paid_at", "marked_paid_by", "reference", "updated_at"]
        )
        audit_record(
            action="payout.marked_paid",
            actor=actor,
            organization=payout.organization,
            target=payout,
            data={"reference": payout.reference},
        )
        amount = format_money(payout.amount, payout.currency)
        _tell(payout, f"Payout of {amount} paid", "Tollgate sent it by bank transfer.")
        _announce(payout)
    return payout


def payout_cancel(*, payout: Payout, actor, reason: str = "") -> Payout:
    """Staff cancel a pending manual payout; its amount returns to the balance. (A pending
    Stripe payout may already be on its way, so it cannot be canceled here.)"""
    if not actor.is_staff:
        raise Forbidden("Only staff cancel payouts.")
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("organization").get(pk=payout.pk)
        if payout.status != PayoutStatus.PENDING or payout.method != PayoutMethod.MANUAL:
            raise Conflict("Only pending manual payouts can be canceled.")
        payout.status, payout.failure_reason = PayoutStatus.CANCELED, reason[:300]
        payout.save(update_fields=["status", "failure_reason", "updated_at"])
        _return_to_balance(payout, f"Payout {payout.period} canceled")
        _announce(payout)
        audit_record(
            action="payout.canceled",
            actor=actor,
            organization=payout.organization,
            target=payout,
            data={"reason": reason},
        )
    return payout


# --- Stripe Connect onboarding ----------------------------------------------------------
def connect_onboarding_url(provider_org, refresh_url: str, return_url: str, *, actor=None) -> str:
    """A Stripe-hosted onboarding link for the provider. Creates its connected account the
    first time (once: idempotency key + the stored id) and reuses it afterwards."""
    if actor is not None:
        require_capability(actor, provider_org, "billing")
    if not selectors.stripe_configured():
        raise Conflict("Stripe is not configured: payouts are made by bank transfer.")
    account = provider_account_for(provider_org)
    if not account.stripe_account_id:
        created = stripe_connect.create_account(provider_org)
        account = _store_stripe_account(provider_org, created, actor)
    link = stripe_connect.create_account_link(
        account.stripe_account_id, refresh_url=refresh_url, return_url=return_url
    )
    return link["url"]


def _store_stripe_account(organization, stripe_account: dict, actor) -> ProviderAccount:
    with transaction.atomic():
        account = _lock_accounts([organization.pk])[organization.pk]
        if account.stripe_account_id:  # a concurrent request stored it first
            return account
        account.stripe_account_id = stripe_account["id"]
        _apply_status(account, stripe_account)
        account.save()
        audit_record(
            action="payouts.stripe_account_created",
            actor=actor,
            organization=organization,
            target=account,
            data={"stripe_account": account.stripe_account_id},
        )
    return account


def _apply_status(account: ProviderAccount, stripe_account: dict) -> None:
    account.details_submitted = bool(stripe_account.get("details_submitted"))
    account.payouts_enabled = bool(stripe_account.get("payouts_enabled"))
    account.status_updated_at = timezone.now()


def handle_account_updated(stripe_account: dict) -> ProviderAccount | None:
    """`account.updated` (or a fresh retrieve): record whether the provider finished
    onboarding and whether Stripe lets it receive payouts. Unknown accounts are ignored."""
    with transaction.atomic():
        account = (
            ProviderAccount.objects.select_for_update()
            .select_related("organization")
            .filter(stripe_account_id=stripe_account.get("id") or "-")
            .first()
        )
        if account is None:
            logger.info("account.updated for an unknown account %s", stripe_account.get("id"))
            return None
        was_enabled = account.payouts_enabled
        _apply_status(account, stripe_account)
        account.save(
            update_fields=[
                "details_submitted",
                "payouts_enabled",
                "status_updated_at",
                "updated_at",
            ]
        )
        if account.payouts_enabled != was_enabled:
            _status_changed(account)
    return account


def _status_changed(account: ProviderAccount) -> None:
    enabled = account.payouts_enabled
    audit_record(
        action="payouts.stripe_payouts_" + ("enabled" if enabled else "disabled"),
        organization=account.organization,
        target=account,
        data={"stripe_account": account.stripe_account_id},
    )
    notify(
        organization=account.organization,
        kind="payouts.account_updated",
        title="Stripe payouts enabled" if enabled else "Stripe paused payouts to your account",
        body="Your balance is paid to your Stripe account in the monthly payout run."
        if enabled
        else "Stripe needs more information: continue onboarding to get paid.",
        url=console_url(),
        email_capability="billing",
    )


def provider_account_refresh(*, organization) -> ProviderAccount | None:
    """Ask Stripe for the account's status now (when the provider returns from onboarding,
    before the webhook arrives)."""
    account = selectors.provider_account(organization)
    if account is None or not account.stripe_account_id or not selectors.stripe_configured():
        return account
    return handle_account_updated(stripe_connect.retrieve_account(account.stripe_account_id))


# --- Payout details (where manual payouts are sent) -----------------------------------
def payout_details_save(
    *, actor, organization, values: dict, ip: str = ""
) -> tuple[PayoutDetails, list[dict]]:
    """Check and store where the organization's manual payouts go: (details, changes),
    the changes masked as the audit log and the email show them (empty when nothing
    changed, and then nothing is written). Raises ValidationError naming each wrong field.
    The owners are emailed on every change: a changed account is how payouts get stolen."""
    require_capability(actor, organization, "billing")
    cleaned = bank.clean_bank_details(values)
    with transaction.atomic():
        _lock_accounts([organization.pk])  # one change at a time per provider
        details = PayoutDetails.objects.filter(organization=organization).first()
        changes = bank.changes(bank.stored_values(details), cleaned)
        if not changes:
            return details, []
        details = details or PayoutDetails(organization=organization)
        for name, value in cleaned.items():
            setattr(details, name, value)
        details.updated_by = actor
        details.save()
        audit_record(
            action=bank.DETAILS_CHANGED,
            actor=actor,
            organization=organization,
            target=details,
            data={"changes": changes, "ip": ip},
        )
        _tell_owners(details, actor, changes, ip)
    return details, changes


def _tell_owners(details: PayoutDetails, actor, changes: list[dict], ip: str) -> None:
    lines = [f"- {c['label']}: {c['from'] or '(none)'} → {c['to'] or '(none)'}" for c in changes]
    when = details.updated_at.strftime("%Y-%m-%d %H:%M UTC")
    where = f" from IP address {ip}" if ip else ""
    body = (
        f"{actor.email} changed where {details.organization.name}'s payouts are sent, "
        f"on {when}{where}:\n\n" + "\n".join(lines) + "\n\nIf you did not expect this, "
        "check the payout details now and tell Tollgate staff before the next payout run."
    )
    notify(
        organization=details.organization,
        kind=bank.DETAILS_CHANGED,
        title="Payout details changed",
        body=body,
        url=console_url("payouts:details"),
        email_capability=OWNERS,
    )
