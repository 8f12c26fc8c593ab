"""Disputes (chargebacks): the consumer's bank takes a payment back until the dispute is
decided. Billing records the dispute against the invoice and tells staff; payouts hears of
every change through `signals.dispute_changed` and freezes, releases or reverses the
providers' earnings (see apps/payouts/services.py, `ledger_enter_dispute`).

Stripe reports a dispute with `charge.dispute.created` and `charge.dispute.closed`; both
may arrive twice and in any order, so each call says what Stripe says the dispute is now,
and only moves it forward: open → won or lost, never back."""

import logging
from decimal import Decimal

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.accounts.notifications import notify_staff
from apps.core.audit import audit_record
from apps.core.money import format_money

from . import signals
from .models import Dispute, DisputeStatus, Invoice, InvoiceStatus

logger = logging.getLogger(__name__)


def dispute_record(
    *,
    invoice: Invoice,
    stripe_dispute_id: str,
    status: str,
    amount: Decimal,
    fee: Decimal = Decimal(0),
    reason: str = "",
) -> Dispute | None:
    """Record what Stripe says of a dispute now (`open`, `won` or `lost`). Idempotent: a
    repeated or older event changes nothing. A dispute of an invoice that is not paid here
    is logged for staff and not recorded."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        dispute = Dispute.objects.filter(stripe_dispute_id=stripe_dispute_id).first()
        if dispute is None:
            if invoice.status != InvoiceStatus.PAID:
                logger.error(
                    "dispute %s of invoice %s, which is %s here: staff, look at it",
                    stripe_dispute_id,
                    invoice.number,
                    invoice.status,
                )
                return None
            dispute = Dispute.objects.create(
                invoice=invoice,
                stripe_dispute_id=stripe_dispute_id,
                amount=min(amount, invoice.total - invoice.amount_refunded),
                fee=fee,
                reason=reason[:60],
            )
            _announce(dispute, "opened")
        if status != DisputeStatus.OPEN and dispute.status == DisputeStatus.OPEN:
            dispute.status, dispute.closed_at = status, timezone.now()
            dispute.fee = max(dispute.fee, fee)
            dispute.save(update_fields=["status", "closed_at", "fee", "updated_at"])
            _announce(dispute, status)
    return dispute


def _announce(dispute: Dispute, what: str) -> None:
    invoice = dispute.invoice
    amount = format_money(dispute.amount, invoice.currency)
    audit_record(
        action=f"dispute.{what}",
        organization=invoice.organization,
        target=invoice,
        data={"dispute": dispute.stripe_dispute_id, "amount": str(dispute.amount)},
    )
    reason = dispute.reason or "no reason given"
    fee = f"; Stripe's fee was {format_money(dispute.fee, invoice.currency)}" if dispute.fee else ""
    texts = {
        "opened": (
            f"Dispute opened on invoice {invoice.number} ({amount})",
            f"{invoice.organization.name}'s bank disputes {amount} ({reason}). The providers' "
            "earnings from the invoice are frozen until it closes. Answer it with evidence in "
            "the Stripe dashboard.",
        ),
        DisputeStatus.WON: (
            f"Dispute won on invoice {invoice.number}",
            f"The bank decided for us: {amount} stays collected and the providers' earnings "
            "are released.",
        ),
        DisputeStatus.LOST: (
            f"Dispute lost on invoice {invoice.number}",
            f"The bank returned {amount} to {invoice.organization.name}. The providers' share "
            f"and the platform fee are reversed{fee}.",
        ),
    }
    subject, body = texts[what]
    notify_staff(subject=subject, body=body, url=_admin_url(dispute))
    transaction.on_commit(
        lambda: signals.dispute_changed.send(sender=Dispute, dispute=dispute, change=what)
    )


def _admin_url(dispute: Dispute) -> str:
    try:
        return reverse("admin:billing_dispute_change", args=[dispute.pk])
    except NoReverseMatch:
        return ""


def refund_blocked_by_dispute(invoice: Invoice) -> str | None:
    """Why an invoice cannot be refunded because of a dispute, or None."""
    states = set(invoice.disputes.values_list("status", flat=True))
    if DisputeStatus.OPEN in states:
        return "This invoice is under dispute: the bank decides, a refund would pay twice."
    if DisputeStatus.LOST in states:
        return "The bank already returned this payment (dispute lost): nothing is left to refund."
    return None
