"""Billing jobs. Each is idempotent: a repeat, or two workers at once, change nothing twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.subscriptions import services as subscription_services

from . import dunning, runs, services
from .collection import collector
from .models import Invoice, Refund

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def close_due_periods() -> int:
    """Beat, every few minutes: flush pending usage, then invoice every ended period."""
    from apps.metering.tasks import flush_usage

    flush_usage()
    subscription_services.apply_due_price_changes()
    closed = runs.close_due_periods().periods_closed
    for subscription_id in services.ended_with_usage_ids():
        try:  # late usage of ended subscriptions: a final adjustment invoice
            services.invoice_late_usage(subscription_id)
        except Exception:  # one bad subscription must not stop the others
            logger.exception("late usage of subscription %s failed", subscription_id)
    return closed


# an invoice issued this recently may still have its own collection task in the queue
COLLECTION_RETRY_AFTER = timedelta(minutes=10)


@shared_task(ignore_result=True)
def retry_collection() -> int:
    """Beat: open card invoices that never reached Stripe (the broker was down when they
    were issued, or the task gave up on Stripe) are sent again; idempotency keys make a
    repeat harmless. Returns how many were sent."""
    older = Invoice.objects.filter(issued_at__lt=timezone.now() - COLLECTION_RETRY_AFTER)
    return len(runs.retry_collection(older).sent)


@shared_task(ignore_result=True)
def run_dunning() -> dict:
    """Beat, hourly: the retries of failed payments that are due, and the cancellation of
    subscriptions unpaid for UNPAID_CANCEL_DAYS (dunning.py)."""
    report = dunning.run()
    return {"retried": report.retried, "canceled": report.canceled, "failed": report.failed}


# calls to the payment provider: retried with backoff when the network fails
PAYMENT_CALL = {
    "bind": True,
    "ignore_result": True,
    "max_retries": 8,
    "retry_backoff": True,
    "autoretry_for": (ConnectionError, TimeoutError),
}


@shared_task(**PAYMENT_CALL)
def collect_invoice(self, invoice_id: int) -> None:
    invoice = Invoice.objects.select_related("organization", "subscription").get(pk=invoice_id)
    collector().collect(invoice)


@shared_task(**PAYMENT_CALL)
def send_refund(self, refund_id: int) -> None:
    refund = Refund.objects.select_related("invoice").get(pk=refund_id)
    collector().refund(refund.invoice, refund)


@shared_task(**PAYMENT_CALL)
def sync_invoice_status(self, invoice_id: int) -> None:
    """Void or write off at Stripe what staff voided or wrote off here."""
    collector().sync_status(Invoice.objects.get(pk=invoice_id))
