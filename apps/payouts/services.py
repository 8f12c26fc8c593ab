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
from django.db.models import Exists, OuterRef, Sum
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.accounts.notifications import notify
from apps.accounts.services import require_capability
from apps.billing.models import Invoice, InvoiceLine, InvoiceStatus, Refund
from apps.core.audit import audit_record
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.core.money import ZERO, format_money, from_minor_units, round_money, to_minor_units
from apps.subscriptions.rating import split_provider_share

from . import selectors, stripe_connect
from .allocation import refunded_per_line
from .models import LedgerEntry, LedgerKind, Payout, PayoutMethod, PayoutStatus, ProviderAccount
from .periods import month_of, parse_month

logger = logging.getLogger(__name__)
RESEND_AFTER = dt.timedelta(hours=1)  # a pending transfer older than this is stuck


# Higher apps (webhooks) listen to payouts here: fn(kind, payout), kind "payout.<status>",
# called after the change commits. A listener's failure is logged, never raised.
payout_listeners: list[Callable[[str, Payout], None]] = []


def console_url() -> str:
    """The Payouts page, for notifications. A link must never fail a money operation, so an
    unrouted page (the app's URLs not mounted) gives a notice without a link."""
    try:
        return reverse("payouts:overview")
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


def _earning(invoice: Invoice, line: InvoiceLine, account: ProviderAccount) -> LedgerEntry:
    fee_percent = selectors.fee_percent_for(account)
    share, fee = split_provider_share(line.amount, fee_percent, invoice.currency)
    return LedgerEntry(
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
    amounts = [to_minor_units(line.amount, currency) for line in lines]
    refunded_before = round_money(  # SQLite adds decimals as floats
        Refund.objects.filter(invoice=invoice, pk__lt=refund.pk).aggregate(t=Sum("amount"))["t"]
        or ZERO,
        currency,
    )
    before = refunded_per_line(amounts, to_minor_units(refunded_before, currency))
    after = refunded_per_line(amounts, to_minor_units(refunded_before + refund.amount, currency))
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
                from_minor_units(was, currency),
                from_minor_units(now, currency),
            )
            for line, was, now in zip(lines, before, after, strict=True)
            if now != was
        ]
        return _insert(entries)


def _reversal(
    refund: Refund, line: InvoiceLine, earning: LedgerEntry, was: Decimal, now: Decimal
) -> LedgerEntry:
    currency = earning.currency
    share_now, fee_now = split_provider_share(now, earning.fee_percent, currency)
    share_was, fee_was = split_provider_share(was, earning.fee_percent, currency)
    return LedgerEntry(
        organization_id=line.provider_id,
        kind=LedgerKind.REFUND_REVERSAL,
        amount=share_was - share_now,
        gross=was - now,
        platform_fee=fee_was - fee_now,
        fee_percent=earning.fee_percent,
        currency=currency,
        description=f"Refund of {refund.invoice.number} · {line.description}"[:300],
        invoice_line=line,
        refund=refund,
    )


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
    if entered:
        logger.warning("reconcile entered %s ledger entries a signal had missed", entered)
    return entered


# --- The payout run ---------------------------------------------------------------------
@dataclass
class RunReport:
    period: str
    created: list[Payout] = field(default_factory=list)
    resent: list[Payout] = field(default_factory=list)
    failed_organization_ids: list[int] = field(default_factory=list)


def run_payouts(period: str | None = None, *, now: dt.datetime | None = None) -> RunReport:
    """The monthly run: a payout for each provider whose balance reaches PAYOUT_MINIMUM.

    Idempotent per period: a provider gets at most one payout per period however often it
    runs (row lock + unique constraint). A re-run also re-sends Stripe payouts stuck
    pending for over RESEND_AFTER (their task gave up), with their original idempotency
    key; younger ones are left to their own task, so runs at the same moment send one
    transfer. Each provider is its own transaction: one failure does not stop the others."""
    now = now or timezone.now()
    period = parse_month(period, field="period") if period else month_of(now)
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
            payout, created = payout_create(organization_id=organization_id, period=period)
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
    return report


def _awaits_transfer(payout: Payout) -> bool:
    return (
        payout.status == PayoutStatus.PENDING
        and payout.method == PayoutMethod.STRIPE
        and not payout.stripe_transfer_id
    )


def payout_create(*, organization_id: int, period: str) -> tuple[Payout | None, bool]:
    """(payout, created): the provider's payout for `period`, made now if its balance
    reaches the minimum and it can be paid (see `selectors.payout_method_for`). The whole
    balance is paid, and a `payout` entry takes it off the ledger in the same transaction."""
    with transaction.atomic():
        account = _lock_accounts([organization_id])[organization_id]
        existing = Payout.objects.filter(organization_id=organization_id, period=period).first()
        if existing is not None:
            return existing, False
        balance = selectors.balance_of(organization_id)
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
        )
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
    return (
        f"Payout of {amount} scheduled",
        "Tollgate staff pay it by bank transfer; it shows as paid once they have.",
    )


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
def payout_send_transfer(*, payout_id: int) -> Payout:
    """Send a pending Stripe payout (after commit, from a task). Transient Stripe trouble
    raises TransientStripeError for the task to retry with the same idempotency key; any
    other Stripe error fails the payout and returns its amount to the balance."""
    payout = Payout.objects.select_related("organization").get(pk=payout_id)
    if not _awaits_transfer(payout):
        return payout
    if not selectors.stripe_configured():
        logger.warning("payout %s waits: Stripe is not configured", payout.public_id)
        return payout
    import stripe

    Payout.objects.filter(pk=payout.pk).update(transfer_attempted_at=timezone.now())

    try:
        transfer = stripe_connect.create_transfer(payout)
    except stripe.StripeError as error:
        if stripe_connect.is_transient(error):
            raise TransientStripeError(stripe_connect.error_message(error)) from error
        return payout_fail(payout=payout, reason=stripe_connect.error_message(error))
    return payout_mark_transferred(payout=payout, transfer_id=transfer["id"])


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


def payout_fail(*, payout: Payout, reason: str) -> Payout:
    """A payout that did not reach the provider (transfer refused or reversed): its amount
    goes back to the balance, so the next run pays it. Idempotent."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().select_related("organization").get(pk=payout.pk)
        if payout.status in (PayoutStatus.FAILED, PayoutStatus.CANCELED):
            return payout
        payout.status, payout.failure_reason = PayoutStatus.FAILED, reason[:300]
        payout.save(update_fields=["status", "failure_reason", "updated_at"])
        _return_to_balance(payout, f"Payout {payout.period} failed: {reason}")
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
