"""Billing jobs run on demand (management commands, admin buttons, beat): each wraps a
service and reports the real work done (periods closed, invoices issued, invoices sent to
Stripe), not the attempts. Running one twice does nothing more the second time."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from apps.core.money import format_money
from apps.metering import selectors as metering_selectors
from apps.subscriptions.models import Subscription

from . import services
from .collection import collector
from .models import CollectionMethod, Invoice, InvoiceStatus

logger = logging.getLogger(__name__)
# a subscription months behind closes one period per round; beyond this it waits for the
# next run (and says so) rather than looping on something unexpected
MAX_PERIODS_PER_RUN = 36
CLOSE_FAILURES = Counter(
    "tollgate_billing_close_failures", "Period closes that raised (retried on the next run)"
)
CLOSE_DEFERRED = Counter(
    "tollgate_billing_close_deferred",
    "Ended periods a close run left for later because their usage was not all flushed",
)
NOTHING_IN = datetime.min.replace(tzinfo=UTC)  # no usage source known drained: close nothing


@dataclass
class CloseReport:
    periods_closed: int = 0
    invoices: list[Invoice] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # subscriptions' public ids
    still_due: list[str] = field(default_factory=list)
    # ended, but usage up to their end is not all in the aggregates yet: closed by a later run
    waiting_for_usage: list[str] = field(default_factory=list)
    usage_in_through: datetime | None = None
    usage_unreachable: str = ""  # why the usage sources could not be asked (Redis down)

    @property
    def invoiced_total(self):
        return sum((invoice.total for invoice in self.invoices), start=0)

    def summary(self, *, dry_run: bool = False) -> str:
        verb, issued = ("Would close", "would be issued") if dry_run else ("Closed", "issued")
        text = (
            f"{verb} {self.periods_closed} billing period(s); {len(self.invoices)} invoice(s) "
            f"{issued}, {format_money(self.invoiced_total)} in all."
        )
        if self.waiting_for_usage:
            text += f"\n{len(self.waiting_for_usage)} ended period(s) wait for usage: {self._why()}"
        return text

    def _why(self) -> str:
        if self.usage_unreachable:
            return f"the usage store cannot be read ({self.usage_unreachable})."
        if self.usage_in_through in (None, NOTHING_IN):
            return "a usage source was never flushed."
        return f"usage is flushed up to {self.usage_in_through:%Y-%m-%d %H:%M:%S} UTC only."


def _period_of(subscription_id: int, *, lock: bool = False) -> tuple | None:
    rows = Subscription.objects.filter(pk=subscription_id)
    if lock:
        rows = rows.select_for_update()
    return rows.values_list("current_period_start", "status").first()


def close_due_periods(
    *, subscription_ids: list[int] | None = None, now: datetime | None = None
) -> CloseReport:
    """Close every ended period (of the given subscriptions, or all), catching up a
    subscription several periods behind one period at a time. One failing subscription
    does not stop the others; it is reported and retried by the next run."""
    report = CloseReport()
    started = timezone.now()
    stuck: set[int] = set()
    usage_in = _usage_in_through(report)

    def due(**only_usage_in) -> list[int]:
        return [
            pk
            for pk in services.due_subscription_ids(now, **only_usage_in)
            if pk not in stuck and (subscription_ids is None or pk in subscription_ids)
        ]

    for _ in range(MAX_PERIODS_PER_RUN):
        closable = due(usage_in_through=usage_in)
        if not closable:
            break
        for subscription_id in closable:
            _close_one(subscription_id, now, started, report, stuck)
    else:
        report.still_due = _public_ids(due(usage_in_through=usage_in))
    report.waiting_for_usage = _public_ids(set(due()) - set(due(usage_in_through=usage_in)))
    if report.waiting_for_usage:
        CLOSE_DEFERRED.inc(len(report.waiting_for_usage))
        logger.warning("period close deferred: %s", report.summary())
    return report


def _usage_in_through(report: CloseReport) -> datetime:
    """Up to when every usage source is in the aggregates: periods ending later wait, so
    none is invoiced short (docs/ARCHITECTURE.md "Closing a period")."""
    try:
        mark = metering_selectors.usage_flushed_through()
    except metering_selectors.UsageSourceUnreachable as error:
        report.usage_unreachable = str(error) or "unreachable"
        mark = None
    report.usage_in_through = mark
    return mark or NOTHING_IN


def _public_ids(subscription_ids) -> list[str]:
    rows = Subscription.objects.filter(pk__in=list(subscription_ids))
    return sorted(rows.values_list("public_id", flat=True))


def _close_one(subscription_id, now, started, report: CloseReport, stuck: set[int]) -> None:
    try:
        # the row lock makes "before" and "after" this run's own: a run racing this one
        # waits, then finds the period closed and counts nothing
        with transaction.atomic():
            before = _period_of(subscription_id, lock=True)
            invoice = services.close_period(subscription_id, now=now)
            after = _period_of(subscription_id)
    except Exception:
        CLOSE_FAILURES.inc()  # the scrape-time tollgate_billing_periods_overdue alerts on it
        logger.exception("closing the period of subscription %s failed", subscription_id)
        stuck.add(subscription_id)
        report.failed.append(
            Subscription.objects.values_list("public_id", flat=True).get(pk=subscription_id)
        )
        return
    if after == before:
        stuck.add(subscription_id)  # close_period declined it: nothing to retry this run
        return
    report.periods_closed += 1
    if invoice is not None and invoice.created_at >= started:
        report.invoices.append(invoice)


# --- Collection ---------------------------------------------------------------------------
@dataclass
class CollectionReport:
    sent: list[Invoice] = field(default_factory=list)  # pushed to Stripe now
    failed: list[str] = field(default_factory=list)  # invoice numbers
    waiting_for_stripe: int = 0  # Stripe-collected, not in Stripe, Stripe not configured
    in_stripe: int = 0  # in Stripe already: Stripe charges and retries them itself
    manual: int = 0  # bank transfer: staff mark them paid

    def summary(self, *, dry_run: bool = False) -> str:
        sent = "Would send" if dry_run else "Sent"
        lines = [f"{sent} {len(self.sent)} open invoice(s) to Stripe for collection."]
        if self.waiting_for_stripe:
            lines.append(
                f"{self.waiting_for_stripe} card invoice(s) wait for Stripe, which is not "
                "configured here (set STRIPE_SECRET_KEY)."
            )
        if self.in_stripe:
            lines.append(f"{self.in_stripe} open invoice(s) are in Stripe, which retries them.")
        if self.manual:
            lines.append(
                f"{self.manual} open invoice(s) are paid by bank transfer: mark them paid "
                "when the money arrives."
            )
        return "\n".join(lines)


def collectable(invoices=None):
    """Open card invoices that never reached Stripe (its calls failed until the task gave
    up): the ones a retry can still collect."""
    invoices = Invoice.objects.all() if invoices is None else invoices
    return invoices.filter(
        status=InvoiceStatus.OPEN, collection_method=CollectionMethod.STRIPE, stripe_invoice_id=""
    ).order_by("issued_at", "pk")


def retry_collection(invoices=None, *, dry_run: bool = False) -> CollectionReport:
    """Collect open invoices again: each card invoice that never reached Stripe is pushed
    now (`collect_invoice`, idempotency keys included, so nothing is charged twice)."""
    invoices = Invoice.objects.all() if invoices is None else invoices
    open_invoices = invoices.filter(status=InvoiceStatus.OPEN)
    report = CollectionReport(
        manual=open_invoices.filter(collection_method=CollectionMethod.MANUAL).count(),
        in_stripe=open_invoices.exclude(stripe_invoice_id="").count(),
    )
    candidates = list(collectable(invoices))
    if collector().method != "stripe":
        report.waiting_for_stripe = len(candidates)
        return report
    if dry_run:
        report.sent = candidates
        return report
    from .tasks import collect_invoice

    for invoice in candidates:
        try:
            collect_invoice(invoice.pk)
        except Exception:
            logger.exception("collecting invoice %s failed", invoice.number)
            report.failed.append(invoice.number)
            continue
        invoice.refresh_from_db()
        if invoice.stripe_invoice_id:
            report.sent.append(invoice)
    return report
