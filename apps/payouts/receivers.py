"""Payouts listen to billing's news (signals sent after billing's transaction commits).

The ledger is written right here, in the receiver's own transaction, not through a Celery
task: it is a few rows and no network I/O, the signal already arrives after billing's
commit (so nothing can see an invoice that is not there yet), and the provider's balance is
right the moment the invoice is paid. A receiver that fails must not break billing's
caller (a webhook, a staff action): it logs, and `ledger_reconcile` (hourly and before
every payout run) enters what it missed. Unique constraints make a repeat enter nothing."""

import logging

from apps.billing.signals import dispute_changed, invoice_paid, invoice_refunded

from . import services

logger = logging.getLogger(__name__)


def connect() -> None:
    invoice_paid.connect(on_invoice_paid, dispatch_uid="payouts.on_invoice_paid")
    invoice_refunded.connect(on_invoice_refunded, dispatch_uid="payouts.on_invoice_refunded")
    dispute_changed.connect(on_dispute_changed, dispatch_uid="payouts.on_dispute_changed")


def on_invoice_paid(sender, invoice, **kwargs) -> None:
    try:
        services.ledger_enter_invoice(invoice_id=invoice.pk)
    except Exception:
        logger.exception("entering invoice %s on the ledger failed; reconcile retries", invoice.pk)


def on_invoice_refunded(sender, invoice, refund, **kwargs) -> None:
    try:
        services.ledger_reverse_refund(refund_id=refund.pk)
    except Exception:
        logger.exception("reversing refund %s on the ledger failed; reconcile retries", refund.pk)


def on_dispute_changed(sender, dispute, **kwargs) -> None:
    try:
        services.ledger_enter_dispute(dispute_id=dispute.pk)
    except Exception:
        logger.exception("entering dispute %s on the ledger failed; reconcile retries", dispute.pk)
