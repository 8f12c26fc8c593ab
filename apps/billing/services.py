"""Invoices: issue (idempotently), collect, mark paid or failed, refund, and close periods.
Every amount comes from the rating engine (`rating.py`)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.notifications import notify
from apps.core.audit import audit_record
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.core.money import format_money, money_step, round_money
from apps.subscriptions import rating
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SERVING_STATUSES, Subscription, SubscriptionStatus
from apps.subscriptions.terms import subscription_terms
from apps.subscriptions.trials import in_trial

from . import charges, signals
from .collection import collector
from .currency import invoices_in_other_currencies
from .disputes import refund_blocked_by_dispute
from .models import (
    BillingAccount,
    CollectionMethod,
    CreditBalance,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Refund,
)
from .numbering import next_invoice_number

logger = logging.getLogger(__name__)
MANUAL_DUE_DAYS = 14
CLOSE_MARGIN = timedelta(minutes=1)  # lets in-flight calls be recorded and flushed first
# how long after a cancellation late usage is still looked for (streams, a flush catching up)
LATE_USAGE_WINDOW = timedelta(days=35)
MAX_CATCH_UP_PERIODS = 36


def billing_account(organization) -> BillingAccount:
    account, _ = BillingAccount.objects.get_or_create(organization=organization)
    return account


# --- Issuing ----------------------------------------------------------------------------
def _method(subscription: Subscription) -> str:
    if subscription.manual_invoicing or collector().method == "manual":
        return CollectionMethod.MANUAL
    return CollectionMethod.STRIPE


def invoice_issue(
    *,
    subscription: Subscription,
    key: str,
    lines: list[rating.Line],
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    now: datetime | None = None,
    rated: dict | None = None,
) -> Invoice | None:
    """Issue one invoice for `key`, unique per event (`period:<sub>:<start>`,
    `change:<sub>:<term>`, …). Idempotent: a second run, or a second worker, returns the
    first invoice and changes nothing. `rated` (segment usage the lines invoice) is
    recorded in the same transaction, also when the lines cost nothing.

    Credits: the subscription's credit balance is used up against a positive total (a
    "Credit applied" line); lines that sum below zero issue an invoice brought to zero by a
    "Credit carried forward" line, and the balance keeps it. Zero-amount lines are not
    printed; an invoice with no amount at all issues nothing, one that nets to zero is
    paid at once."""
    existing = Invoice.objects.filter(key=key).first()
    if existing is not None:
        return existing
    if any(line.amount for line in lines):
        in_flight = invoices_in_other_currencies(settings.CURRENCY)
        if in_flight:  # CURRENCY changed under open invoices: see apps/payouts/checks.py
            raise Conflict(
                f"CURRENCY is {settings.CURRENCY}, but there are {'; '.join(in_flight)}: "
                "settle them or set CURRENCY back before invoicing in a new currency.",
                code="currency_changed",
            )
    now = now or timezone.now()
    with transaction.atomic():
        # the sequence row lock also serialises racing issuers of the same key
        if Invoice.objects.filter(key=key).exists():
            return Invoice.objects.get(key=key)
        charges.record_rated(subscription, rated or {})
        lines = _with_credit(subscription, [line for line in lines if line.amount])
        if not lines:
            return None
        number = next_invoice_number(now.year)
        if Invoice.objects.filter(key=key).exists():
            transaction.set_rollback(True)
            return Invoice.objects.get(key=key)
        total = rating.total(lines, settings.CURRENCY)
        invoice = _create(subscription, key, lines, total, number, now, period_start, period_end)
    return invoice


def _with_credit(subscription: Subscription, lines: list[rating.Line]) -> list[rating.Line]:
    """Apply the credit balance to the lines, or carry their negative total into it."""
    if not lines:
        return lines
    balance, _ = CreditBalance.objects.select_for_update().get_or_create(subscription=subscription)
    total = rating.total(lines, settings.CURRENCY)
    if total < 0:
        balance.amount += -total
        lines = [*lines, _credit_line(rating.CREDIT_CARRIED, "Credit carried forward", -total)]
    elif total > 0 and balance.amount > 0:
        applied = min(balance.amount, total)
        balance.amount -= applied
        lines = [
            *lines,
            _credit_line(rating.CREDIT_APPLIED, "Credit from earlier invoices", -applied),
        ]
    else:
        return lines
    balance.save()
    return lines


def _credit_line(kind: str, description: str, amount: Decimal) -> rating.Line:
    return rating.Line(
        kind=kind,
        description=description,
        quantity=Decimal(1),
        unit_price=amount,
        amount=amount,
        period_start=None,
        period_end=None,
    )


def _create(subscription, key, lines, total, number, now, period_start, period_end) -> Invoice:
    method = _method(subscription)
    settled = total == 0  # credits covered it: nothing to collect
    invoice = Invoice.objects.create(
        key=key,
        number=number,
        organization=subscription.organization,
        subscription=subscription,
        status=InvoiceStatus.PAID if settled else InvoiceStatus.OPEN,
        paid_at=now if settled else None,
        collection_method=method,
        currency=settings.CURRENCY,
        period_start=period_start,
        period_end=period_end,
        total=total,
        issued_at=now,
        due_at=now + timedelta(days=MANUAL_DUE_DAYS) if method == CollectionMethod.MANUAL else now,
    )
    plan, api = subscription.plan, subscription.api
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                kind=line.kind,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                period_start=line.period_start,
                period_end=line.period_end,
                api=api,
                plan=plan,
                provider_id=api.organization_id,
                position=position,
            )
            for position, line in enumerate(lines)
        ]
    )
    audit_record(
        action="invoice.issued",
        organization=invoice.organization,
        target=invoice,
        data={"total": str(total), "key": key},
    )
    # robust: the invoice is issued whatever happens after the commit (a broker that is down
    # leaves it open and collectable: the collection retry job sends it)
    transaction.on_commit(lambda: _after_issue(invoice.pk), robust=True)
    return invoice


def _after_issue(invoice_id: int) -> None:
    from .tasks import collect_invoice

    invoice = Invoice.objects.select_related("organization").get(pk=invoice_id)
    notify(
        organization=invoice.organization,
        kind="invoice.issued",
        title=f"Invoice {invoice.number}: {format_money(invoice.total, invoice.currency)}",
        body=_issue_text(invoice),
        url=reverse("billing:invoice", args=[invoice.public_id]),
        email_capability="billing",
    )
    signals.invoice_issued.send(sender=Invoice, invoice=invoice)
    if invoice.status == InvoiceStatus.PAID:
        signals.invoice_paid.send(sender=Invoice, invoice=invoice)
    if invoice.status == InvoiceStatus.OPEN:
        # last: if the broker is down this raises (logged), and the invoice waits for the
        # collection retry job (tasks.retry_collection) instead
        collect_invoice.delay(invoice_id)


def _issue_text(invoice: Invoice) -> str:
    if invoice.status == InvoiceStatus.PAID:
        return "Credits cover it: there is nothing to pay."
    if invoice.collection_method == CollectionMethod.MANUAL:
        return f"Due by {invoice.due_at:%b %-d, %Y}. {settings.MANUAL_PAYMENT_INSTRUCTIONS}"
    return "Your card on file will be charged automatically."


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def invoice_first_period(subscription: Subscription) -> Invoice | None:
    """The fee in advance when a paid subscription starts (none in a trial)."""
    lines = rating.first_period_lines(
        subscription_terms(subscription),
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        in_trial=in_trial(subscription, subscription.current_period_start),
    )
    return invoice_issue(
        subscription=subscription,
        key=f"start:{subscription.pk}",
        lines=lines,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
    )


# --- Plan changes and cancellations, billed at once -----------------------------------------
def plan_change_charges(
    subscription: Subscription,
    *,
    old_terms: rating.PlanTerms,
    new_terms: rating.PlanTerms | None,
    at: datetime,
    credit_old: bool,
) -> charges.Charges:
    """What a change of terms at `at` bills at once: the usage of the segment it ends (and
    any late usage), and the fee's proration for the rest of the period (none in a trial;
    the old fee's unused share is credited only when `credit_old`)."""
    rater = charges.SubscriptionRater(subscription)
    due = rater.usage_due(until=at)
    if in_trial(subscription, at):
        return due
    return due + charges.Charges(
        lines=rating.change_fee_lines(
            old_terms,
            new_terms,
            at=at,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            credit_old=credit_old,
        )
    )


def invoice_plan_change(
    subscription: Subscription, *, old_terms, new_terms, at: datetime, credit_old: bool, event: str
) -> Invoice | None:
    """Invoice a plan change made now; `event` names it uniquely (the new term's id), so
    two changes in the same second are two invoices."""
    due = plan_change_charges(
        subscription, old_terms=old_terms, new_terms=new_terms, at=at, credit_old=credit_old
    )
    return invoice_issue(
        subscription=subscription,
        key=f"change:{subscription.pk}:{event}",
        lines=due.lines,
        rated=due.rated,
        period_start=at,
        period_end=subscription.current_period_end,
        now=at,
    )


@dataclass(frozen=True)
class ChangePreview:
    """What a plan change would bill at once: the lines of its invoice, exactly."""

    lines: tuple[InvoiceLine, ...]  # unsaved copies: description, quantity, unit price, amount
    total: Decimal
    at_once: bool  # False: a downgrade that waits for the period end (nothing billed now)
    applies_at: datetime


def plan_change_preview(
    *, actor, subscription: Subscription, plan, at_once: bool = False
) -> ChangePreview:
    """Preview a plan change by making it in a transaction that is rolled back: the same
    services, the same rating, so the preview is the invoice line for line, and nothing of
    it stays (no invoice, number, email, webhook or term). Refusals are the change's own."""
    with transaction.atomic():
        since = Invoice.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        changed = subscription_services.subscription_change_plan(
            actor=actor, subscription=subscription, plan=plan, at_once=at_once
        )
        invoice = (
            Invoice.objects.filter(
                subscription=changed, pk__gt=since, key__startswith=f"change:{changed.pk}:"
            )
            .prefetch_related("lines")
            .first()
        )
        lines = tuple(
            InvoiceLine(
                kind=line.kind,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in (invoice.lines.all() if invoice else ())
        )
        scheduled = changed.scheduled_plan_id == plan.pk
        preview = ChangePreview(
            lines=lines,
            total=invoice.total if invoice else Decimal(0),
            at_once=not scheduled,
            applies_at=changed.current_period_end if scheduled else timezone.now(),
        )
        transaction.set_rollback(True)
    return preview


def invoice_cancellation(subscription: Subscription, *, old_terms, at: datetime) -> Invoice | None:
    """The final invoice of a subscription cancelled now: its usage to date, and a credit for
    the fee's unused share when the plan refunds prorated fees. Credit left over is
    refunded against the subscription's paid invoices."""
    due = plan_change_charges(
        subscription,
        old_terms=old_terms,
        new_terms=None,
        at=at,
        credit_old=subscription.plan.prorated_refunds,
    )
    invoice = invoice_issue(
        subscription=subscription,
        key=f"cancel:{subscription.pk}",
        lines=due.lines,
        rated=due.rated,
        period_start=subscription.current_period_start,
        period_end=at,
        now=at,
    )
    refund_leftover_credit(subscription)
    return invoice


def invoice_late_usage(subscription_id: int, *, now: datetime | None = None) -> Invoice | None:
    """A subscription that has ended: its late usage goes on a final adjustment invoice
    (each run issues one for whatever arrived since the last)."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update(of=("self",)).get(pk=subscription_id)
        if subscription.status != SubscriptionStatus.CANCELED:
            return None
        rater = charges.SubscriptionRater(subscription)
        due = rater.usage_due(until=now, after_the_end=True)
        if not due.rated:
            return None
        count = subscription.invoices.filter(key__startswith="adjust:").count()
        invoice = invoice_issue(
            subscription=subscription,
            key=f"adjust:{subscription.pk}:{count + 1}",
            lines=due.lines,
            rated=due.rated,
            now=now,
        )
        refund_leftover_credit(subscription)
    return invoice


def ended_with_usage_ids(now: datetime | None = None) -> list[int]:
    """Cancelled subscriptions (of the last LATE_USAGE_WINDOW) that may have late usage."""
    since = (now or timezone.now()) - LATE_USAGE_WINDOW
    return list(
        Subscription.objects.filter(
            status=SubscriptionStatus.CANCELED, canceled_at__gte=since
        ).values_list("pk", flat=True)
    )


def refund_leftover_credit(subscription: Subscription) -> Decimal:
    """At a subscription's end, refund its credit balance against its paid invoices, newest
    first. What cannot be refunded that way (nothing paid yet) stays on the balance."""
    balance = CreditBalance.objects.select_for_update().filter(subscription=subscription).first()
    if balance is None or balance.amount <= 0:
        return Decimal(0)
    refunded = Decimal(0)
    paid = subscription.invoices.filter(status=InvoiceStatus.PAID).order_by("-issued_at", "-pk")
    for invoice in paid.select_for_update():
        if refund_blocked_by_dispute(invoice):
            continue  # the bank decides that money
        amount = min(invoice.total - invoice.amount_refunded, balance.amount - refunded)
        if amount > 0:
            _refund(invoice, amount, "Unused fee refunded at cancellation", actor=None)
            refunded += amount
    balance.amount -= refunded
    balance.save(update_fields=["amount", "updated_at"])
    return refunded


# --- Closing periods ----------------------------------------------------------------------
def period_close_charges(subscription: Subscription) -> charges.Charges:
    """The close of the current period: the usage of each of its segments under its own
    terms (and late usage of earlier ones), the fee adjustments of price changes inside it,
    then the next period's fee in advance, unless the subscription ends with it."""
    start, end = subscription.current_period_start, subscription.current_period_end
    rater = charges.SubscriptionRater(subscription)
    due = rater.usage_due(until=end) + rater.price_change_fees(start, end)
    if subscription.cancel_at_period_end:
        return due
    return due + rater.next_fee(*subscription_services.following_period(subscription))


def close_period(
    subscription_id: int, *, now: datetime | None = None, margin: timedelta = CLOSE_MARGIN
) -> Invoice | None:
    """Rate the ended period, invoice it and roll the subscription on. Safe to repeat and
    to run in two workers: the subscription row is locked and the invoice key is unique."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan", "scheduled_plan", "api", "organization", "price_version")
            .get(pk=subscription_id)
        )
        if (
            subscription.status not in SERVING_STATUSES
            or subscription.current_period_end > now - margin
        ):
            return None
        due = period_close_charges(subscription)
        invoice = invoice_issue(
            subscription=subscription,
            key=f"period:{subscription.pk}:{_stamp(subscription.current_period_start)}",
            lines=due.lines,
            rated=due.rated,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            now=now,
        )
        subscription = subscription_services.subscription_renew(subscription=subscription)
        if subscription.status == SubscriptionStatus.CANCELED:
            refund_leftover_credit(subscription)
    return invoice


def close_ended_periods(subscription_id: int) -> None:
    """Close every ended period of one subscription now, without the close job's margin:
    a plan change or a cancellation must not straddle a period that is over."""
    for _ in range(MAX_CATCH_UP_PERIODS):
        current = Subscription.objects.values_list("status", "current_period_end").get(
            pk=subscription_id
        )
        if current[0] not in SERVING_STATUSES or current[1] > timezone.now():
            return
        close_period(subscription_id, margin=timedelta(0))


def due_subscription_ids(
    now: datetime | None = None, *, usage_in_through: datetime | None = None
) -> list[int]:
    """Subscriptions whose period has ended (by the close margin); with `usage_in_through`,
    only those whose period ended by then (their usage is all flushed)."""
    cutoff = (now or timezone.now()) - CLOSE_MARGIN
    if usage_in_through is not None:
        cutoff = min(cutoff, usage_in_through)
    return list(
        Subscription.objects.filter(
            status__in=SERVING_STATUSES, current_period_end__lte=cutoff
        ).values_list("pk", flat=True)
    )


# --- Payment outcomes ---------------------------------------------------------------------
def invoice_mark_paid(*, invoice: Invoice, actor=None, paid_at: datetime | None = None) -> Invoice:
    """Idempotent: a repeated or late "paid" changes nothing the second time."""
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update().select_related("subscription").get(pk=invoice.pk)
        )
        if invoice.status == InvoiceStatus.PAID:
            return invoice
        # a written-off invoice can still be paid (Stripe too lets an uncollectible one be paid)
        if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
            raise Conflict(f"A {invoice.get_status_display().lower()} invoice cannot be paid.")
        if actor is not None and not actor.is_staff:
            raise Forbidden("Only staff mark invoices paid.")
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, paid_at or timezone.now()
        invoice.save(update_fields=["status", "paid_at", "updated_at"])
        audit_record(
            action="invoice.paid",
            actor=actor,
            organization=invoice.organization,
            target=invoice,
            data={"total": str(invoice.total)},
        )
        if not _has_failed_open_invoices(invoice.subscription):
            subscription_services.subscription_payment_recovered(subscription=invoice.subscription)
        transaction.on_commit(lambda: signals.invoice_paid.send(sender=Invoice, invoice=invoice))
    return invoice


def _has_failed_open_invoices(subscription: Subscription) -> bool:
    return subscription.invoices.filter(
        status=InvoiceStatus.OPEN, payment_failed_at__isnull=False
    ).exists()


@transaction.atomic
def invoice_payment_failed(*, invoice: Invoice) -> Invoice:
    invoice = Invoice.objects.select_for_update().select_related("subscription").get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.OPEN:
        return invoice  # a late failure after the invoice was paid or voided
    if invoice.payment_failed_at is None:
        invoice.payment_failed_at = timezone.now()
        invoice.save(update_fields=["payment_failed_at", "updated_at"])
        audit_record(
            action="invoice.payment_failed", organization=invoice.organization, target=invoice
        )
        notify(
            organization=invoice.organization,
            kind="invoice.payment_failed",
            title=f"Payment failed for invoice {invoice.number}",
            body=f"Update your card within {settings.PAYMENT_GRACE_DAYS} days to keep "
            "calling the API.",
            url=reverse("billing:invoice", args=[invoice.public_id]),
            email_capability="billing",
        )
    subscription_services.subscription_payment_failed(subscription=invoice.subscription)
    return invoice


# Closing an invoice without payment. Staff do it here and Stripe is told after the commit
# (`sync_invoice_status`); Stripe's own `invoice.voided` / `invoice.marked_uncollectible`
# arrive with `from_stripe=True` and tell Stripe nothing back. Repeats change nothing.
_CLOSED_FROM = {
    InvoiceStatus.VOID: (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
    InvoiceStatus.UNCOLLECTIBLE: (InvoiceStatus.OPEN,),
}


def invoice_void(*, invoice: Invoice, actor=None, from_stripe: bool = False) -> Invoice:
    return _close_unpaid(invoice, InvoiceStatus.VOID, actor=actor, from_stripe=from_stripe)


def invoice_mark_uncollectible(
    *, invoice: Invoice, actor=None, from_stripe: bool = False
) -> Invoice:
    return _close_unpaid(invoice, InvoiceStatus.UNCOLLECTIBLE, actor=actor, from_stripe=from_stripe)


def _close_unpaid(invoice: Invoice, status: str, *, actor, from_stripe: bool) -> Invoice:
    verb = "void" if status == InvoiceStatus.VOID else "write off"
    if not from_stripe and (actor is None or not actor.is_staff):
        raise Forbidden(f"Only staff {verb} invoices.")
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update().select_related("subscription").get(pk=invoice.pk)
        )
        if invoice.status == status:
            return invoice
        if invoice.status not in _CLOSED_FROM[status]:
            raise Conflict(
                f"A {invoice.get_status_display().lower()} invoice cannot be "
                f"{'voided' if status == InvoiceStatus.VOID else 'written off'}.",
                code="invoice_not_open",
            )
        invoice.status = status
        invoice.save(update_fields=["status", "updated_at"])
        audit_record(
            action="invoice.voided" if status == InvoiceStatus.VOID else "invoice.uncollectible",
            actor=actor,
            organization=invoice.organization,
            target=invoice,
            data={"source": "stripe" if from_stripe else "tollgate"},
        )
        # a voided invoice is forgiven: it no longer keeps the gateway at 402
        if status == InvoiceStatus.VOID and not _has_failed_open_invoices(invoice.subscription):
            subscription_services.subscription_payment_recovered(subscription=invoice.subscription)
        if not from_stripe and invoice.collection_method == CollectionMethod.STRIPE:
            transaction.on_commit(lambda: _after_close(invoice.pk))
    return invoice


def _after_close(invoice_id: int) -> None:
    from .tasks import sync_invoice_status

    sync_invoice_status.delay(invoice_id)


def invoice_refund(
    *, invoice: Invoice, actor, amount: Decimal | None = None, reason: str = ""
) -> Refund:
    """Staff refund a paid invoice (all or part). Stripe gets the refund after commit; the
    provider ledger reverses its share through the `invoice_refunded` signal."""
    if not actor.is_staff:
        raise Forbidden("Only staff refund invoices.")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.PAID:
            raise Conflict("Only paid invoices can be refunded.")
        blocked = refund_blocked_by_dispute(invoice)
        if blocked:
            raise Conflict(blocked, code="invoice_disputed")
        refundable = invoice.total - invoice.amount_refunded
        amount = refundable if amount is None else Decimal(amount)
        step = money_step(invoice.currency)  # the currency's minor unit: $0.01, ¥1, KWD 0.010
        if amount <= 0 or amount > refundable or amount != round_money(amount, invoice.currency):
            raise ServiceError(
                f"Refund between {format_money(step, invoice.currency)} and "
                f"{format_money(refundable, invoice.currency)}, in steps of "
                f"{format_money(step, invoice.currency)}.",
                code="invalid_amount",
                field="amount",
            )
        return _refund(invoice, amount, reason, actor=actor)


def _refund(invoice: Invoice, amount: Decimal, reason: str, *, actor) -> Refund:
    """Record a refund of a paid, locked invoice (staff's, or billing's own)."""
    refund = Refund.objects.create(
        invoice=invoice, amount=amount, reason=reason[:300], created_by=actor
    )
    invoice.amount_refunded += amount
    invoice.save(update_fields=["amount_refunded", "updated_at"])
    audit_record(
        action="invoice.refunded",
        actor=actor,
        organization=invoice.organization,
        target=invoice,
        data={"amount": str(amount), "reason": reason},
    )
    transaction.on_commit(lambda: _after_refund(refund.pk))
    return refund


def _after_refund(refund_id: int) -> None:
    from .tasks import send_refund

    send_refund.delay(refund_id)
    refund = Refund.objects.select_related("invoice").get(pk=refund_id)
    signals.invoice_refunded.send(sender=Invoice, invoice=refund.invoice, refund=refund)
