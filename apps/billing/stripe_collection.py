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

from apps.core.money import to_minor_units

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
        already (staff made it); this sends it once and records Stripe's id."""
        refund = Refund.objects.select_related("invoice").get(pk=refund.pk)
        invoice = refund.invoice
        if refund.stripe_refund_id:
            return
        if not invoice.stripe_invoice_id:
            logger.info(
                "refund %s: invoice %s was not collected by Stripe; pay it back by hand",
                refund.public_id,
                invoice.number,
            )
            return
        with retry_on_transient_errors():
            target = self._payment_of(invoice)
            sent = stripe.Refund.create(
                **target,
                amount=to_minor_units(refund.amount, invoice.currency),
                reason="requested_by_customer",
                metadata={
                    "tollgate_refund": refund.public_id,
                    "tollgate_invoice": invoice.public_id,
                },
                **request_options(idempotency_key=f"tg-refund-{refund.public_id}"),
            )
        Refund.objects.filter(pk=refund.pk, stripe_refund_id="").update(
            stripe_refund_id=sent.id, updated_at=timezone.now()
        )

    def _payment_of(self, invoice: Invoice) -> dict:
        """What paid the Stripe invoice: since API version 2025-03-31 an invoice no longer
        names its charge or payment intent; its `payments` (expanded) do."""
        remote = stripe.Invoice.retrieve(
            invoice.stripe_invoice_id, expand=["payments"], **request_options()
        )
        payments = getattr(remote, "payments", None)
        payments = payments.data if payments else []
        for payment in payments:
            if payment.status != "paid":
                continue
            details = payment.payment
            if details.type == "payment_intent":
                return {"payment_intent": stripe_id(details.payment_intent)}
            if details.type == "charge":
                return {"charge": stripe_id(details.charge)}
        raise LookupError(f"Stripe invoice {invoice.stripe_invoice_id} has no paid payment")
