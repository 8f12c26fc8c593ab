"""Collection through Stripe: each consumer organization is a Stripe Customer, a card is
saved with Checkout (setup mode) before a paid subscription starts, and every invoice the
rating engine issued is pushed to Stripe as an invoice with one item per line, which Stripe
charges automatically. Outcomes come back through webhooks (`stripe_webhooks.py`).

Every call that creates something carries an idempotency key derived from our own ids, so a
retried task or two workers at once create each Stripe object once."""

import logging

import stripe
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from apps.accounts.notifications import notify
from apps.core.money import format_money, from_minor_units, to_minor_units

from .collection import Collector
from .models import BillingAccount, CollectionMethod, Invoice, InvoiceStatus, Refund
from .services import billing_account
from .stripe_client import request_options, retry_on_transient_errors, stripe_id

logger = logging.getLogger(__name__)


class StripeCollector(Collector):
    method = "stripe"

    def card_required(self, subscription) -> bool:
        return not billing_account(subscription.organization).has_card

    # --- Customers and cards --------------------------------------------------------------
    def ensure_customer(self, organization) -> str:
        """The organization's Stripe Customer id, created on first use. The idempotency key
        is the organization's, so two requests racing here get the same customer back."""
        account = billing_account(organization)
        if account.stripe_customer_id:
            return account.stripe_customer_id
        params = {"name": organization.name, "metadata": {"tollgate_org": organization.public_id}}
        if organization.billing_email:
            params["email"] = organization.billing_email
        with retry_on_transient_errors():
            customer = stripe.Customer.create(
                **params, **request_options(idempotency_key=f"tg-customer-{organization.public_id}")
            )
        BillingAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(
            stripe_customer_id=customer.id, updated_at=timezone.now()
        )
        account.refresh_from_db(fields=["stripe_customer_id"])
        return account.stripe_customer_id

    def checkout_url(self, subscription) -> str:
        """A Stripe Checkout page (setup mode) that saves a card for the organization; its
        `checkout.session.completed` webhook starts the subscription. No idempotency key of
        ours: a session lives 24 hours, so a key pinned to the subscription would keep
        handing back a dead page; a second open session is harmless (each start is
        idempotent)."""
        customer = self.ensure_customer(subscription.organization)
        page = settings.SITE_URL + reverse("subscriptions:detail", args=[subscription.public_id])
        metadata = {
            "tollgate_subscription": subscription.public_id,
            "tollgate_org": subscription.organization.public_id,
        }
        with retry_on_transient_errors():
            session = stripe.checkout.Session.create(
                mode="setup",
                customer=customer,
                # required in setup mode unless payment_method_types is given: the methods
                # offered are the ones enabled in the Stripe dashboard for this currency
                currency=settings.CURRENCY.lower(),
                client_reference_id=subscription.public_id,
                success_url=f"{page}?checkout=success",
                cancel_url=f"{page}?checkout=cancel",
                metadata=metadata,
                setup_intent_data={"metadata": metadata},
                **request_options(),
            )
        return session.url

    def portal_url(self, organization, return_url: str) -> str:
        """Stripe's customer portal, where the organization changes its card (the change
        comes back as `customer.updated`)."""
        customer = self.ensure_customer(organization)
        with retry_on_transient_errors():
            session = stripe.billing_portal.Session.create(
                customer=customer, return_url=return_url, **request_options()
            )
        return session.url

    # --- Invoices -------------------------------------------------------------------------
    def collect(self, invoice) -> None:
        """Push an issued invoice to Stripe and finalize it; Stripe then charges the
        customer's default card and reports back with `invoice.paid` or
        `invoice.payment_failed`. A no-op for manual invoices and for invoices already
        pushed. The Stripe ids are stored only once the invoice is finalized; a task retried
        before that replays the same idempotency keys and gets the same objects back."""
        invoice = Invoice.objects.select_related("organization").get(pk=invoice.pk)
        if invoice.collection_method != CollectionMethod.STRIPE or invoice.stripe_invoice_id:
            return
        if invoice.status != InvoiceStatus.OPEN:
            logger.info("invoice %s is %s: not pushed to Stripe", invoice.number, invoice.status)
            return
        customer = self.ensure_customer(invoice.organization)
        with retry_on_transient_errors():
            draft = self._create_draft(invoice, customer)
            for line in invoice.lines.all():
                self._push_line(invoice, line, customer, draft.id)
            final = stripe.Invoice.finalize_invoice(
                draft.id,
                auto_advance=True,  # from here Stripe charges the card, and retries on failure
                **request_options(idempotency_key=f"tg-finalize-{invoice.public_id}"),
            )
        Invoice.objects.filter(pk=invoice.pk, stripe_invoice_id="").update(
            stripe_invoice_id=final.id,
            hosted_invoice_url=final.hosted_invoice_url or "",
            updated_at=timezone.now(),
        )
        invoice.refresh_from_db(fields=["status", "stripe_invoice_id"])
        if invoice.status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE):
            # staff closed it while we were pushing it: the sync task found no Stripe id then
            self.sync_status(invoice)

    def sync_status(self, invoice) -> None:
        """Void, or mark uncollectible, the Stripe copy of an invoice staff closed here.
        Idempotent: nothing is sent when Stripe already agrees, and the call carries a key
        of its own. An invoice Stripe was paid for meanwhile is left for staff to refund."""
        invoice = Invoice.objects.get(pk=invoice.pk)
        action = _STATUS_CALLS.get(invoice.status)
        if action is None or not invoice.stripe_invoice_id:
            return
        target, call = action
        with retry_on_transient_errors():
            remote = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **request_options())
            if remote.status == target or remote.status == "void":
                return
            if remote.status == "paid":
                logger.error(
                    "invoice %s is %s here but Stripe collected it; refund it by hand",
                    invoice.number,
                    invoice.status,
                )
                return
            getattr(stripe.Invoice, call)(
                invoice.stripe_invoice_id,
                **request_options(idempotency_key=f"tg-{target}-{invoice.public_id}"),
            )

    def retry(self, invoice, attempt: int) -> bool:
        """Dunning's retry `attempt`: Tollgate drives the schedule, so the first retry turns
        Stripe's automatic collection of the invoice off (no Smart Retries on top of ours),
        then each retry asks Stripe to charge the default card now. The keys are per
        invoice and attempt: a rerun replays Stripe's answer instead of charging again."""
        if not invoice.stripe_invoice_id:
            return False
        with retry_on_transient_errors():
            stripe.Invoice.modify(
                invoice.stripe_invoice_id,
                auto_advance=False,
                **request_options(idempotency_key=f"tg-dunning-{invoice.public_id}"),
            )
            try:
                paid = stripe.Invoice.pay(
                    invoice.stripe_invoice_id,
                    **request_options(idempotency_key=f"tg-retry-{invoice.public_id}-{attempt}"),
                )
            except stripe.CardError as error:
                logger.info("retry %s of invoice %s declined: %s", attempt, invoice.number, error)
                return False
            except stripe.InvalidRequestError as error:
                # no longer payable: paid or voided at Stripe meanwhile (its webhook follows)
                logger.info("retry %s of invoice %s refused: %s", attempt, invoice.number, error)
                paid = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **request_options())
        return paid.status == "paid"

    def _create_draft(self, invoice: Invoice, customer: str):
        return stripe.Invoice.create(
            customer=customer,
            currency=invoice.currency.lower(),
            collection_method="charge_automatically",
            # False until our lines are on it: a draft with auto_advance finalizes itself
            # after an hour, even if a crash left it half-filled
            auto_advance=False,
            # lines are attached explicitly (`invoice=` on each item); never sweep in
            # pending items someone else left on the customer
            pending_invoice_items_behavior="exclude",
            description=f"Tollgate invoice {invoice.number}",
            metadata={"tollgate_invoice": invoice.public_id, "number": invoice.number or ""},
            **request_options(idempotency_key=f"tg-invoice-{invoice.public_id}"),
        )

    def _push_line(self, invoice: Invoice, line, customer: str, stripe_invoice_id: str):
        params = {
            "customer": customer,
            "invoice": stripe_invoice_id,
            # credits are negative lines and go as negative amounts
            "amount": to_minor_units(line.amount, invoice.currency),
            "currency": invoice.currency.lower(),
            "description": line.description,
            "metadata": {"tollgate_invoice": invoice.public_id, "tollgate_line": str(line.pk)},
        }
        if line.period_start and line.period_end:
            params["period"] = {
                "start": int(line.period_start.timestamp()),
                "end": int(line.period_end.timestamp()),
            }
        return stripe.InvoiceItem.create(
            **params, **request_options(idempotency_key=f"tg-line-{line.pk}")
        )

    # --- Refunds --------------------------------------------------------------------------
    def refund(self, invoice, refund) -> None:
        """Refund (part of) what Stripe collected for the invoice. Our Refund row exists
        already (staff made it); this sends it once and records Stripe's ids.

        What a card paid goes back to the card. What Stripe settled from the customer's
        balance (an invoice paid by credit, with no charge) cannot: that part is credited
        back to the balance, where it pays the next invoices, and the consumer is told so."""
        refund = Refund.objects.select_related("invoice").get(pk=refund.pk)
        invoice = refund.invoice
        if refund.sent_at or refund.stripe_refund_id:
            return
        if not invoice.stripe_invoice_id:
            logger.info(
                "refund %s: invoice %s was not collected by Stripe; pay it back by hand",
                refund.public_id,
                invoice.number,
            )
            return
        currency = invoice.currency
        wanted = to_minor_units(refund.amount, currency)
        with retry_on_transient_errors():
            remote, payment, paid_by_card = self._payment_of(invoice)
            to_card = min(wanted, max(paid_by_card - self._refunded_to_card(refund), 0))
            sent = self._refund_card(refund, payment, to_card) if to_card else None
            credited = (
                self._credit_balance(refund, remote, wanted - to_card) if wanted > to_card else None
            )
        Refund.objects.filter(pk=refund.pk, sent_at=None).update(
            stripe_refund_id=sent.id if sent else "",
            stripe_balance_transaction_id=credited.id if credited else "",
            amount_to_balance=from_minor_units(wanted - to_card, currency),
            sent_at=timezone.now(),
            updated_at=timezone.now(),
        )
        refund.refresh_from_db()
        _tell_refunded(refund)

    @staticmethod
    def _refunded_to_card(refund: Refund) -> int:
        """Minor units earlier refunds of the invoice sent to its card."""
        earlier = Refund.objects.filter(invoice=refund.invoice, pk__lt=refund.pk)
        currency = refund.invoice.currency
        return sum(
            to_minor_units(r.amount - r.amount_to_balance, currency)
            for r in earlier.exclude(sent_at=None, stripe_refund_id="")
        )

    def _refund_card(self, refund: Refund, payment: dict, amount: int):
        return stripe.Refund.create(
            **payment,
            amount=amount,
            reason="requested_by_customer",
            metadata={
                "tollgate_refund": refund.public_id,
                "tollgate_invoice": refund.invoice.public_id,
            },
            **request_options(idempotency_key=f"tg-refund-{refund.public_id}"),
        )

    def _credit_balance(self, refund: Refund, remote, amount: int):
        """A negative customer balance transaction is a credit Stripe applies to the
        customer's next invoices."""
        invoice = refund.invoice
        return stripe.Customer.create_balance_transaction(
            stripe_id(remote.customer),
            amount=-amount,
            currency=invoice.currency.lower(),
            description=f"Refund of Tollgate invoice {invoice.number}",
            metadata={"tollgate_refund": refund.public_id, "tollgate_invoice": invoice.public_id},
            **request_options(idempotency_key=f"tg-refund-credit-{refund.public_id}"),
        )

    def _payment_of(self, invoice: Invoice) -> tuple:
        """(Stripe invoice, what a card paid it with, how much that paid in minor units).
        Since API version 2025-03-31 an invoice no longer names its charge or payment
        intent; its `payments` (expanded) do. A paid invoice without a paid payment was
        settled from the customer's balance: nothing can go back to a card."""
        remote = stripe.Invoice.retrieve(
            invoice.stripe_invoice_id, expand=["payments"], **request_options()
        )
        payments = getattr(remote, "payments", None)
        for payment in payments.data if payments else []:
            if payment.status != "paid":
                continue
            details = payment.payment
            if details.type == "payment_intent":
                return (
                    remote,
                    {"payment_intent": stripe_id(details.payment_intent)},
                    (payment.amount_paid),
                )
            if details.type == "charge":
                return remote, {"charge": stripe_id(details.charge)}, payment.amount_paid
        if remote.status == "paid":
            return remote, {}, 0
        raise LookupError(f"Stripe invoice {invoice.stripe_invoice_id} has no paid payment")


_STATUS_CALLS = {
    InvoiceStatus.VOID: ("void", "void_invoice"),
    InvoiceStatus.UNCOLLECTIBLE: ("uncollectible", "mark_uncollectible"),
}


def _tell_refunded(refund: Refund) -> None:
    invoice = refund.invoice
    currency = invoice.currency
    to_balance = refund.amount_to_balance
    to_card = refund.amount - to_balance
    parts = []
    if to_card:
        parts.append(f"{format_money(to_card, currency)} goes back to your card within days")
    if to_balance:
        parts.append(
            f"{format_money(to_balance, currency)} is credited to your account balance "
            "(the invoice was paid from it), which pays your next invoices"
        )
    notify(
        organization=invoice.organization,
        kind="invoice.refunded",
        title=f"Refund of {format_money(refund.amount, currency)} for invoice {invoice.number}",
        body="; ".join(parts) + ".",
        url=reverse("billing:invoice", args=[invoice.public_id]),
        email_capability="billing",
    )
