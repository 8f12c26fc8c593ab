"""Invoices: issue (idempotently), collect, mark paid or failed, refund, and close periods.
Every amount comes from the rating engine (`rating.py`)."""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.notifications import notify
from apps.core.audit import audit_record
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.core.money import format_money
from apps.metering.selectors import period_units
from apps.subscriptions import rating
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SERVING_STATUSES, Plan, Subscription
from apps.subscriptions.trials import in_trial

from . import signals
from .collection import collector
from .models import BillingAccount, CollectionMethod, Invoice, InvoiceLine, InvoiceStatus, Refund
from .numbering import next_invoice_number

logger = logging.getLogger(__name__)
MANUAL_DUE_DAYS = 14
CLOSE_MARGIN = timedelta(minutes=1)  # lets in-flight calls be recorded and flushed first


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
) -> Invoice | None:
    """Issue one invoice for `key` (e.g. `period:<sub>:<start>`). Idempotent: the key is
    unique, so a second run, or a second worker, returns the first invoice. Lines that sum
    to nothing issue nothing."""
    existing = Invoice.objects.filter(key=key).first()
    if existing is not None:
        return existing
    total = rating.total(lines, settings.CURRENCY)
    if not lines or total <= 0:
        return None
    now = now or timezone.now()
    with transaction.atomic():
        # the sequence row lock also serialises racing issuers of the same key
        number = next_invoice_number(now.year)
        if Invoice.objects.filter(key=key).exists():
            transaction.set_rollback(True)
            return Invoice.objects.get(key=key)
        invoice = _create(subscription, key, lines, total, number, now, period_start, period_end)
    return invoice


def _create(subscription, key, lines, total, number, now, period_start, period_end) -> Invoice:
    method = _method(subscription)
    invoice = Invoice.objects.create(
        key=key,
        number=number,
        organization=subscription.organization,
        subscription=subscription,
        status=InvoiceStatus.OPEN,
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
    transaction.on_commit(lambda: _after_issue(invoice.pk))
    return invoice


def _after_issue(invoice_id: int) -> None:
    from .tasks import collect_invoice

    collect_invoice.delay(invoice_id)
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


def _issue_text(invoice: Invoice) -> str:
    if invoice.collection_method == CollectionMethod.MANUAL:
        return f"Due by {invoice.due_at:%b %-d, %Y}. {settings.MANUAL_PAYMENT_INSTRUCTIONS}"
    return "Your card on file will be charged automatically."


def _terms(plan: Plan) -> rating.PlanTerms:
    return rating.PlanTerms.from_plan(plan)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def invoice_first_period(subscription: Subscription) -> Invoice | None:
    """The fee in advance when a paid subscription starts (none in a trial)."""
    lines = rating.first_period_lines(
        _terms(subscription.plan),
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


def invoice_upgrade(subscription: Subscription, old_plan: Plan, at: datetime) -> Invoice | None:
    lines = rating.upgrade_lines(
        _terms(old_plan),
        _terms(subscription.plan),
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        changed_at=at,
        in_trial=in_trial(subscription, at),
    )
    return invoice_issue(
        subscription=subscription,
        key=f"upgrade:{subscription.pk}:{_stamp(at)}",
        lines=lines,
        period_start=at,
        period_end=subscription.current_period_end,
    )


# --- Closing periods ----------------------------------------------------------------------
def period_close_lines(subscription: Subscription) -> list[rating.Line]:
    """Usage of the closed period in arrears (under the plan in force), then the next
    period's fee in advance (under the plan that follows), unless the subscription ends."""
    start, end = subscription.current_period_start, subscription.current_period_end
    units = period_units(subscription.pk, start)
    lines = list(
        rating.rate_usage(_terms(subscription.plan), units, period_start=start, period_end=end)
    )
    if subscription.cancel_at_period_end:
        return lines
    next_start, next_end = subscription_services.following_period(subscription)
    next_plan = subscription.scheduled_plan or subscription.plan
    lines += rating.fee_lines(
        _terms(next_plan),
        period_start=next_start,
        period_end=next_end,
        in_trial=in_trial(subscription, next_start),
    )
    return lines


def close_period(subscription_id: int, *, now: datetime | None = None) -> Invoice | None:
    """Rate the ended period, invoice it and roll the subscription on. Safe to repeat and
    to run in two workers: the subscription row is locked and the invoice key is unique."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan", "scheduled_plan", "api", "organization")
            .get(pk=subscription_id)
        )
        if (
            subscription.status not in SERVING_STATUSES
            or subscription.current_period_end > now - CLOSE_MARGIN
        ):
            return None
        key = f"period:{subscription.pk}:{_stamp(subscription.current_period_start)}"
        invoice = invoice_issue(
            subscription=subscription,
            key=key,
            lines=period_close_lines(subscription),
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            now=now,
        )
        subscription_services.subscription_renew(subscription=subscription)
    return invoice


def due_subscription_ids(now: datetime | None = None) -> list[int]:
    cutoff = (now or timezone.now()) - CLOSE_MARGIN
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
        if invoice.status != InvoiceStatus.OPEN:
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


@transaction.atomic
def invoice_void(*, invoice: Invoice, actor) -> Invoice:
    if not actor.is_staff:
        raise Forbidden("Only staff void invoices.")
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.OPEN:
        raise Conflict("Only open invoices can be voided.")
    invoice.status = InvoiceStatus.VOID
    invoice.save(update_fields=["status", "updated_at"])
    audit_record(
        action="invoice.voided", actor=actor, organization=invoice.organization, target=invoice
    )
    return invoice


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice, actor) -> Invoice:
    if not actor.is_staff:
        raise Forbidden("Only staff write invoices off.")
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.OPEN:
        raise Conflict("Only open invoices can be written off.")
    invoice.status = InvoiceStatus.UNCOLLECTIBLE
    invoice.save(update_fields=["status", "updated_at"])
    audit_record(
        action="invoice.uncollectible",
        actor=actor,
        organization=invoice.organization,
        target=invoice,
    )
    return invoice


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
        refundable = invoice.total - invoice.amount_refunded
        amount = refundable if amount is None else Decimal(amount)
        if amount <= 0 or amount > refundable or amount != amount.quantize(Decimal("0.01")):
            raise ServiceError(
                f"Refund between 0.01 and {refundable} (whole cents).", field="amount"
            )
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
