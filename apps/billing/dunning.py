"""Dunning: what happens after a payment fails, until it is paid or the subscription ends.

1. The first failure (Stripe's `invoice.payment_failed`) makes the invoice's subscriptions
   past due: the gateway serves for PAYMENT_GRACE_DAYS, then answers 402
   `payment_required`.
2. Tollgate charges the invoice again DUNNING_RETRY_DAYS after that first failure (default
   days 1, 3, 7 and 14, as Stripe's Smart Retries: a few tries over two weeks). Each failed
   try emails the billing contacts when the next one is and how to fix it.
3. When the last try fails the subscriptions are `unpaid`: the gateway answers 402
   `subscription_unpaid` and their periods are not closed, so no fee is invoiced.
4. UNPAID_CANCEL_DAYS later they are cancelled, with a final invoice of the usage not
   invoiced yet (no fee, no credit).

Paying the invoice at any point (a retry, a new card, Stripe's `invoice.paid`, staff marking
a bank transfer paid) makes its subscriptions active at once (`services.invoice_mark_paid`),
and an unpaid one moves on to the current period without a fee for the skipped ones.

Tollgate drives the schedule, not Stripe: its first retry turns Stripe's automatic
collection of the invoice off, so the emails name the real date of the next try and the
unpaid state follows the same days with or without Stripe (docs/stripe.md)."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.notifications import notify
from apps.core.audit import audit_record
from apps.core.money import format_money
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import Subscription, SubscriptionStatus

from . import assembly
from .collection import collector
from .models import Invoice, InvoiceStatus

logger = logging.getLogger(__name__)


# --- The schedule ---------------------------------------------------------------------------
def retry_at(invoice: Invoice, retries_done: int) -> datetime | None:
    """When the retry after `retries_done` retries is due (None: that was the last)."""
    days = sorted(settings.DUNNING_RETRY_DAYS)
    if retries_done >= len(days):
        return None
    return invoice.payment_failed_at + timedelta(days=days[retries_done])


def unpaid_cancel_at(subscription: Subscription) -> datetime:
    return subscription.unpaid_since + timedelta(days=settings.UNPAID_CANCEL_DAYS)


def subscriptions_of(invoice: Invoice) -> list[Subscription]:
    """The subscriptions of the invoice's sections: they share its payment, so its failure
    puts them all into dunning and paying it brings them all back."""
    ids = assembly.subscription_ids(invoice)
    found = Subscription.objects.select_related("api").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


# --- Failures -------------------------------------------------------------------------------
def start(invoice: Invoice, *, now: datetime | None = None) -> None:
    """The first failure of an open invoice (locked by the caller): schedule the retries
    and tell the billing contacts."""
    invoice.payment_failed_at = now or timezone.now()
    invoice.next_payment_attempt_at = retry_at(invoice, 0)
    invoice.save(update_fields=["payment_failed_at", "next_payment_attempt_at", "updated_at"])
    audit_record(action="invoice.payment_failed", organization=invoice.organization, target=invoice)
    if invoice.next_payment_attempt_at is None:  # DUNNING_RETRY_DAYS empty: no retries
        exhausted(invoice)
    else:
        _tell_failed(invoice)


def retry_invoice(invoice_id: int, *, now: datetime | None = None) -> str:
    """One scheduled retry: charge the invoice again, then record the outcome once. Two
    workers, or a rerun after a crash, send Stripe the same idempotency key (one charge)
    and record nothing twice. Returns "paid", "failed" or "skipped"."""
    from .services import invoice_mark_paid

    now = now or timezone.now()
    invoice = Invoice.objects.select_related("organization").get(pk=invoice_id)
    due = invoice.next_payment_attempt_at
    if invoice.status != InvoiceStatus.OPEN or due is None or due > now:
        return "skipped"
    attempt = invoice.payment_retries + 1
    if collector().retry(invoice, attempt):
        invoice_mark_paid(invoice=invoice)
        return "paid"
    record_failed_retry(invoice_id, attempt=attempt)
    return "failed"


@transaction.atomic
def record_failed_retry(invoice_id: int, *, attempt: int) -> Invoice:
    """Retry `attempt` failed: schedule the next, or make the subscriptions unpaid after the
    last. A payment that got in first (the invoice is paid) wins: nothing changes."""
    invoice = (
        Invoice.objects.select_for_update()
        .select_related("organization", "subscription")
        .get(pk=invoice_id)
    )
    if invoice.status != InvoiceStatus.OPEN or invoice.payment_retries != attempt - 1:
        return invoice
    invoice.payment_retries = attempt
    invoice.next_payment_attempt_at = retry_at(invoice, attempt)
    invoice.save(update_fields=["payment_retries", "next_payment_attempt_at", "updated_at"])
    audit_record(
        action="invoice.retry_failed",
        organization=invoice.organization,
        target=invoice,
        data={"retry": attempt},
    )
    if invoice.next_payment_attempt_at is None:
        exhausted(invoice)
    else:
        _tell_failed(invoice)
    return invoice


def exhausted(invoice: Invoice) -> None:
    """The last try failed (or staff wrote the failed invoice off): the invoice's
    subscriptions are unpaid."""
    unpaid = [
        subscription_services.subscription_payment_exhausted(subscription=subscription)
        for subscription in subscriptions_of(invoice)
    ]
    unpaid = [s for s in unpaid if s.status == SubscriptionStatus.UNPAID]
    if unpaid:
        _tell_unpaid(invoice, unpaid)


# --- Unpaid subscriptions end ---------------------------------------------------------------
def unpaid_to_cancel_ids(now: datetime | None = None) -> list[int]:
    cutoff = (now or timezone.now()) - timedelta(days=settings.UNPAID_CANCEL_DAYS)
    return list(
        Subscription.objects.filter(
            status=SubscriptionStatus.UNPAID, unpaid_since__lte=cutoff
        ).values_list("pk", flat=True)
    )


def cancel_unpaid(subscription_id: int) -> Subscription:
    """Cancel a subscription unpaid for UNPAID_CANCEL_DAYS (its final usage invoice is
    issued by `subscription_end_unpaid` through the billing hooks)."""
    with transaction.atomic():
        subscription = subscription_services.subscription_end_unpaid(
            subscription=Subscription.objects.select_related("api").get(pk=subscription_id)
        )
        if subscription.status == SubscriptionStatus.CANCELED:
            notify(
                organization=subscription.organization,
                kind="subscription.canceled_unpaid",
                title=f"{subscription.api.name}: subscription cancelled, unpaid",
                body=f"Your subscription to {subscription.api.name} was unpaid for "
                f"{settings.UNPAID_CANCEL_DAYS} days and is cancelled. Its open invoices are "
                "still due; the usage not invoiced yet is on a final invoice.",
                url=reverse("billing:invoices"),
                email_capability="billing",
            )
    return subscription


# --- The job --------------------------------------------------------------------------------
@dataclass
class DunningReport:
    retried: dict[str, int] = field(default_factory=dict)  # outcome → invoices
    canceled: int = 0
    failed: list[int] = field(default_factory=list)  # ids that raised (retried next run)


def run(now: datetime | None = None) -> DunningReport:
    """Beat, hourly: the retries that are due, then the unpaid subscriptions to cancel.
    One failing invoice does not stop the others."""
    now = now or timezone.now()
    report = DunningReport()
    due = Invoice.objects.filter(status=InvoiceStatus.OPEN, next_payment_attempt_at__lte=now)
    for invoice_id in due.values_list("pk", flat=True):
        try:
            outcome = retry_invoice(invoice_id, now=now)
        except Exception:
            logger.exception("dunning: retrying invoice %s failed", invoice_id)
            report.failed.append(invoice_id)
            continue
        report.retried[outcome] = report.retried.get(outcome, 0) + 1
    for subscription_id in unpaid_to_cancel_ids(now):
        cancel_unpaid(subscription_id)
        report.canceled += 1
    return report


# --- What the consumer is told --------------------------------------------------------------
def _tell_failed(invoice: Invoice) -> None:
    tries = len(settings.DUNNING_RETRY_DAYS) + 1
    attempt = invoice.payment_retries + 1
    names = ", ".join(s.api.name for s in subscriptions_of(invoice))
    last = retry_at(invoice, len(settings.DUNNING_RETRY_DAYS) - 1)
    notify(
        organization=invoice.organization,
        kind="invoice.payment_failed",
        title=f"Payment failed for invoice {invoice.number} (try {attempt} of {tries})",
        body=f"We could not collect {format_money(invoice.total, invoice.currency)}. "
        f"We will try again on {invoice.next_payment_attempt_at:%b %-d, %Y}. "
        f"To fix it, update your card at {_fix_url()} (we charge the invoice again at "
        f"once) or pay the invoice. Calls to {names} stop "
        f"{settings.PAYMENT_GRACE_DAYS} days after the first failure, and if the last try "
        f"on {last:%b %-d, %Y} fails the subscription becomes unpaid.",
        url=reverse("billing:invoice", args=[invoice.public_id]),
        email_capability="billing",
    )


def _tell_unpaid(invoice: Invoice, subscriptions: list[Subscription]) -> None:
    names = ", ".join(s.api.name for s in subscriptions)
    cancel_on = min(unpaid_cancel_at(s) for s in subscriptions)
    notify(
        organization=invoice.organization,
        kind="subscription.unpaid",
        title=f"Invoice {invoice.number} is unpaid: calls to {names} are refused",
        body=f"We could not collect {format_money(invoice.total, invoice.currency)} for "
        f"invoice {invoice.number}. Your subscription to {names} is unpaid: the gateway "
        "refuses its calls (402 subscription_unpaid) and no fee is invoiced. Pay the "
        f"invoice or update your card at {_fix_url()} and calls work again at once. Unpaid on "
        f"{cancel_on:%b %-d, %Y}, the subscription is cancelled.",
        url=reverse("billing:invoice", args=[invoice.public_id]),
        email_capability="billing",
    )


def _fix_url() -> str:
    return settings.SITE_URL + reverse("billing:settings")


# --- The console banner ---------------------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    invoice: Invoice
    unpaid: bool
    next_try: datetime | None
    cancel_on: datetime | None


def notice_for(organization) -> Notice | None:
    """What the console banner says: the oldest failed open invoice, and whether it has
    made a subscription unpaid (None: nothing is failing)."""
    if organization is None:
        return None
    invoice = (
        Invoice.objects.filter(
            organization=organization,
            status=InvoiceStatus.OPEN,
            payment_failed_at__isnull=False,
        )
        .order_by("payment_failed_at", "pk")
        .first()
    )
    if invoice is None:
        return None
    unpaid = [s for s in subscriptions_of(invoice) if s.status == SubscriptionStatus.UNPAID]
    return Notice(
        invoice=invoice,
        unpaid=bool(unpaid),
        next_try=invoice.next_payment_attempt_at,
        cancel_on=min((unpaid_cancel_at(s) for s in unpaid), default=None),
    )
