"""What Tollgate does with Stripe's webhooks.

dj-stripe receives them (`stripe/webhook/<uuid>/`), checks the signature with the
endpoint's secret, stores each delivery, drops an event id it has already processed,
re-fetches the event's object and syncs its own copy, then sends its per-type signal. We
listen to those signals through a small registry, so other apps add handlers the same way:

    from apps.billing.stripe_webhooks import handles

    @handles("account.updated")
    def on_account_updated(event): ...

    @handles("transfer.*", "payout.*")   # a family: every type dj-stripe knows under it
    def on_transfer_or_payout(event): ...

A handler takes dj-stripe's `Event` (`event.type`, `event.id`, `event_object(event)` for the
object as Stripe sent it, `event_account(event)` for a Connect account's id) and runs inside
dj-stripe's transaction: raising rolls everything back and answers 500, so Stripe delivers
the event again later; returning acknowledges it. Handlers must be idempotent and tolerate
any order: Stripe may deliver the same thing twice (under two event ids) and out of order.
Register at start-up (an AppConfig.ready) so the web process has every handler.
"""

import logging
from collections.abc import Callable
from urllib.parse import urljoin
from uuid import uuid4

import stripe
from django.db import transaction
from django.urls import reverse
from djstripe.models import Event, WebhookEndpoint
from djstripe.settings import djstripe_settings
from djstripe.signals import WEBHOOK_SIGNALS

from apps.accounts.notifications import notify
from apps.core.audit import audit_record
from apps.core.errors import Conflict
from apps.core.money import format_money, from_minor_units, round_money
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import Subscription

from . import signals
from .disputes import dispute_record
from .models import BillingAccount, DisputeStatus, Invoice, InvoiceStatus, Refund
from .services import (
    billing_account,
    invoice_mark_paid,
    invoice_mark_uncollectible,
    invoice_payment_failed,
    invoice_void,
)
from .stripe_client import from_timestamp, request_options, stripe_id

logger = logging.getLogger(__name__)

Handler = Callable[[Event], None]
_handlers: dict[str, list[Handler]] = {}
_DISPATCH_UID = "tollgate.stripe_webhooks"


# --- Registry -----------------------------------------------------------------------------
def event_types(pattern: str) -> list[str]:
    """`invoice.paid` → [it]; `transfer.*` → every transfer event dj-stripe has a signal
    for. Unknown names fail loudly, at start-up rather than when Stripe calls."""
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        found = sorted(name for name in WEBHOOK_SIGNALS if name.startswith(prefix))
    else:
        found = [pattern] if pattern in WEBHOOK_SIGNALS else []
    if not found:
        raise ValueError(f"dj-stripe sends no webhook signal for {pattern!r}")
    return found


def register(pattern: str, handler: Handler) -> None:
    """Call `handler(event)` for each event of the type (or family) `pattern`. Registering
    the same handler again changes nothing."""
    for event_type in event_types(pattern):
        registered = _handlers.setdefault(event_type, [])
        if handler not in registered:
            registered.append(handler)
        WEBHOOK_SIGNALS[event_type].connect(
            _dispatch, sender=Event, weak=False, dispatch_uid=_DISPATCH_UID
        )


def handles(*patterns: str) -> Callable[[Handler], Handler]:
    """Decorator form of `register`."""

    def decorate(handler: Handler) -> Handler:
        for pattern in patterns:
            register(pattern, handler)
        return handler

    return decorate


def handlers_for(event_type: str) -> list[Handler]:
    return list(_handlers.get(event_type, []))


def _dispatch(sender, event: Event, **kwargs) -> None:
    for handler in handlers_for(event.type):
        handler(event)


def subscribed_event_types() -> list[str]:
    """Every event type some handler is registered for: what an endpoint should enable."""
    return sorted(event_type for event_type, handlers in _handlers.items() if handlers)


def webhook_endpoint_create(
    *, base_url: str, events: list[str] | None = None, connect: bool = False
) -> WebhookEndpoint:
    """Create a webhook endpoint at Stripe pointing at dj-stripe's view, and store it (with
    its signing secret, which Stripe shows only now), as dj-stripe's admin "Add webhook
    endpoint" form does. `connect=True` makes an endpoint for events of connected accounts
    (Connect). For scripts: `manage.py shell -c "from apps.billing.stripe_webhooks import
    webhook_endpoint_create as c; print(c(base_url='https://market.example.com').url)"`."""
    endpoint_uuid = uuid4()
    path = reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})
    data = WebhookEndpoint._api_create(
        url=urljoin(base_url, path),
        api_version=djstripe_settings.STRIPE_API_VERSION,
        enabled_events=events or subscribed_event_types(),
        metadata={"djstripe_uuid": str(endpoint_uuid)},
        connect=connect,
    )
    return WebhookEndpoint.sync_from_stripe_data(data)


def event_object(event: Event) -> dict:
    """The event's object as Stripe sent it (the signature vouches for it)."""
    return event.data.get("object") or {}


def event_account(event: Event) -> str | None:
    """For events from a Connect account (`account.updated`, a connected account's
    `payout.*`), that account's id; None for the platform's own events."""
    return stripe_id((event.stripe_data or {}).get("account"))


# --- Cards: Checkout and the customer portal ------------------------------------------------
def on_checkout_completed(event: Event) -> None:
    """A card was saved through Checkout (setup mode): make it the customer's default for
    invoices, remember it, and start the subscription that asked for it."""
    session = event_object(event)
    if session.get("mode") != "setup":
        return
    public_id = (session.get("metadata") or {}).get("tollgate_subscription")
    subscription = (
        Subscription.objects.select_related("organization").filter(public_id=public_id).first()
        if public_id
        else None
    )
    if subscription is None:
        logger.warning("Checkout session %s names no subscription of ours", session.get("id"))
        return
    account = billing_account(subscription.organization)
    customer = stripe_id(session.get("customer"))
    if account.stripe_customer_id and customer != account.stripe_customer_id:
        logger.error(
            "Checkout session %s is for customer %s, not %s's %s",
            session.get("id"),
            customer,
            subscription.organization,
            account.stripe_customer_id,
        )
        return
    setup_intent_id = stripe_id(session.get("setup_intent"))
    if not setup_intent_id:
        logger.warning("Checkout session %s saved no payment method", session.get("id"))
        return
    setup_intent = stripe.SetupIntent.retrieve(
        setup_intent_id, expand=["payment_method"], **request_options()
    )
    if setup_intent.status != "succeeded":
        logger.info(
            "Checkout session %s: setup intent is %s; waiting",
            session.get("id"),
            setup_intent.status,
        )
        return
    payment_method = setup_intent.payment_method
    # Network calls inside dj-stripe's transaction, on purpose: if Stripe fails here, the
    # webhook answers 500 and Stripe retries it, instead of a half-done card setup.
    stripe.Customer.modify(
        customer,
        invoice_settings={"default_payment_method": payment_method.id},
        **request_options(idempotency_key=f"tg-default-card-{session['id']}"),
    )
    _remember_card(account, payment_method, customer=customer)
    subscription_services.subscription_payment_confirmed(subscription=subscription)


def on_customer_updated(event: Event) -> None:
    """The customer changed its default card (e.g. in the portal): keep our copy current
    and retry invoices that failed. Events may come out of order, so the current default is
    asked from Stripe."""
    customer = event_object(event)
    account = BillingAccount.objects.filter(stripe_customer_id=customer.get("id")).first()
    if account is None:
        return
    sent = stripe_id((customer.get("invoice_settings") or {}).get("default_payment_method"))
    if sent and sent == account.default_payment_method:
        return
    current = stripe.Customer.retrieve(
        customer["id"], expand=["invoice_settings.default_payment_method"], **request_options()
    )
    card = current.invoice_settings.default_payment_method
    _remember_card(account, card)
    if card is not None:
        _retry_failed_invoices(account, card.id)


def _retry_failed_invoices(account: BillingAccount, card_id: str) -> None:
    """A new card does not make Stripe retry a failed invoice until its next scheduled
    attempt, possibly days away and past our grace period: ask for the charge now. A
    decline is reported by `invoice.payment_failed` as usual."""
    failed = Invoice.objects.filter(
        organization_id=account.organization_id,
        status=InvoiceStatus.OPEN,
        payment_failed_at__isnull=False,
    ).exclude(stripe_invoice_id="")
    for invoice in failed:
        try:
            paid = stripe.Invoice.pay(
                invoice.stripe_invoice_id,
                **request_options(idempotency_key=f"tg-pay-{invoice.public_id}-{card_id}"),
            )
        except (stripe.CardError, stripe.InvalidRequestError) as error:
            # declined (Stripe sends invoice.payment_failed) or no longer payable
            logger.info("retrying invoice %s with the new card: %s", invoice.number, error)
            continue
        if paid.status == "paid":  # active at once; Stripe's invoice.paid then changes nothing
            invoice_mark_paid(invoice=invoice)


def _remember_card(account: BillingAccount, payment_method, *, customer: str = "") -> None:
    """Store the default payment method and what the consumer recognises it by ("visa"
    ending 4242); a method without a card shows its type ("sepa_debit"). None clears it."""
    details = getattr(payment_method, payment_method.type, None) if payment_method else None
    account.default_payment_method = payment_method.id if payment_method else ""
    brand = getattr(details, "brand", None) or getattr(payment_method, "type", "")
    account.card_brand = brand[:20]
    account.card_last4 = getattr(details, "last4", None) or ""
    fields = ["default_payment_method", "card_brand", "card_last4", "updated_at"]
    if customer and not account.stripe_customer_id:
        account.stripe_customer_id = customer
        fields.append("stripe_customer_id")
    account.save(update_fields=fields)


# --- Invoices -------------------------------------------------------------------------------
def our_invoice(stripe_invoice: dict) -> Invoice | None:
    """Our invoice for a Stripe invoice: by the id `collect()` stored, or by the metadata it
    sent, for a webhook that beats the storing of that id."""
    invoice = Invoice.objects.filter(stripe_invoice_id=stripe_invoice.get("id")).first()
    if invoice is not None:
        return invoice
    public_id = (stripe_invoice.get("metadata") or {}).get("tollgate_invoice")
    if not public_id:
        return None
    invoice = Invoice.objects.filter(public_id=public_id, stripe_invoice_id="").first()
    if invoice is not None:
        invoice.stripe_invoice_id = stripe_invoice["id"]
        invoice.hosted_invoice_url = stripe_invoice.get("hosted_invoice_url") or ""
        invoice.save(update_fields=["stripe_invoice_id", "hosted_invoice_url", "updated_at"])
    return invoice


def on_invoice_paid(event: Event) -> None:
    stripe_invoice = event_object(event)
    invoice = our_invoice(stripe_invoice)
    if invoice is None:
        logger.info("Stripe invoice %s is not one of ours; ignored", stripe_invoice.get("id"))
        return
    paid_at = from_timestamp((stripe_invoice.get("status_transitions") or {}).get("paid_at"))
    try:
        invoice_mark_paid(invoice=invoice, paid_at=paid_at)
    except Conflict:
        # Stripe took the money for an invoice staff voided or wrote off meanwhile: nothing
        # a retry would fix; a person must refund or reinstate it
        logger.error(
            "Stripe collected invoice %s, which is %s here; reconcile it by hand",
            invoice.number,
            invoice.status,
        )


def on_invoice_payment_failed(event: Event) -> None:
    stripe_invoice = event_object(event)
    invoice = our_invoice(stripe_invoice)
    if invoice is None:
        logger.info("Stripe invoice %s is not one of ours; ignored", stripe_invoice.get("id"))
        return
    # a failure reported after the invoice was paid (or voided) changes nothing
    invoice_payment_failed(invoice=invoice)


def on_invoice_voided(event: Event) -> None:
    """Voided in Stripe (the dashboard, or our own sync coming back): void it here too."""
    _closed_in_stripe(event, invoice_void)


def on_invoice_marked_uncollectible(event: Event) -> None:
    _closed_in_stripe(event, invoice_mark_uncollectible)


def _closed_in_stripe(event: Event, close) -> None:
    stripe_invoice = event_object(event)
    invoice = our_invoice(stripe_invoice)
    if invoice is None:
        logger.info("Stripe invoice %s is not one of ours; ignored", stripe_invoice.get("id"))
        return
    try:
        close(invoice=invoice, from_stripe=True)
    except Conflict:
        # e.g. paid here (a bank transfer staff marked) and voided in Stripe: a person decides
        logger.error(
            "Stripe says invoice %s is %s, but it is %s here; reconcile it by hand",
            invoice.number,
            stripe_invoice.get("status"),
            invoice.status,
        )


def on_invoice_payment_action_required(event: Event) -> None:
    """The bank asks the consumer to authenticate the payment (3-D Secure): Stripe cannot
    charge the card off-session, so the consumer must open the hosted invoice page and
    confirm. Email them the link, once per payment attempt."""
    stripe_invoice = event_object(event)
    invoice = our_invoice(stripe_invoice)
    if invoice is None:
        return
    attempt = int(stripe_invoice.get("attempt_count") or 1)
    link = stripe_invoice.get("hosted_invoice_url") or invoice.hosted_invoice_url
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.OPEN or attempt <= invoice.action_required_attempt:
            return
        invoice.action_required_attempt = attempt
        invoice.hosted_invoice_url = link or ""
        invoice.save(update_fields=["action_required_attempt", "hosted_invoice_url", "updated_at"])
        audit_record(
            action="invoice.payment_action_required",
            organization=invoice.organization,
            target=invoice,
            data={"attempt": attempt},
        )
        notify(
            organization=invoice.organization,
            kind="invoice.payment_action_required",
            title=f"Confirm the payment of invoice {invoice.number}",
            body=f"Your bank asks you to confirm the payment of "
            f"{format_money(invoice.total, invoice.currency)}. Open {link} and follow the "
            "steps; until then the invoice stays open.",
            url=link or reverse("billing:invoice", args=[invoice.public_id]),
            email_capability="billing",
        )


# --- Refunds --------------------------------------------------------------------------------
def on_charge_refunded(event: Event) -> None:
    """Refunds we send carry `tollgate_refund` metadata and are already recorded. A refund
    made in the Stripe dashboard is not: record it against our invoice, so the invoice shows
    it and the provider's ledger gives back its share (`invoice_refunded`)."""
    charge = event_object(event)
    refunds = stripe.Refund.list(charge=charge["id"], limit=100, **request_options())
    outside = [
        refund
        for refund in refunds.auto_paging_iter()
        if refund.status in ("succeeded", "pending")
        and "tollgate_refund" not in (refund.metadata or {})
    ]
    if not outside:
        logger.info("charge %s refunded by Tollgate", charge["id"])
        return
    invoice = _invoice_paid_by(stripe_id(charge.get("payment_intent")))
    if invoice is None:
        logger.warning("charge %s was refunded in Stripe but paid no invoice of ours", charge["id"])
        return
    for refund in outside:
        _record_outside_refund(invoice, refund)


def _invoice_paid_by(payment_intent: str | None) -> Invoice | None:
    if not payment_intent:
        return None
    payments = stripe.InvoicePayment.list(
        payment={"type": "payment_intent", "payment_intent": payment_intent},
        limit=1,
        **request_options(),
    )
    for payment in payments.data:
        found = Invoice.objects.filter(stripe_invoice_id=stripe_id(payment.invoice)).first()
        if found is not None:
            return found
    return None


def _record_outside_refund(invoice: Invoice, stripe_refund) -> None:
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if Refund.objects.filter(stripe_refund_id=stripe_refund.id).exists():
            return
        refundable = invoice.total - invoice.amount_refunded
        amount = min(
            round_money(from_minor_units(stripe_refund.amount, invoice.currency), invoice.currency),
            refundable,
        )
        if invoice.status != InvoiceStatus.PAID or amount <= 0:
            logger.error(
                "Stripe refund %s does not fit invoice %s (%s, %s refundable)",
                stripe_refund.id,
                invoice.number,
                invoice.status,
                refundable,
            )
            return
        refund = Refund.objects.create(
            invoice=invoice,
            amount=amount,
            stripe_refund_id=stripe_refund.id,
            reason=f"Refunded in the Stripe dashboard ({stripe_refund.id})",
        )
        invoice.amount_refunded += amount
        invoice.save(update_fields=["amount_refunded", "updated_at"])
        audit_record(
            action="invoice.refunded",
            organization=invoice.organization,
            target=invoice,
            data={"amount": str(amount), "source": "stripe", "stripe_refund": stripe_refund.id},
        )
        transaction.on_commit(
            lambda: signals.invoice_refunded.send(sender=Invoice, invoice=invoice, refund=refund)
        )


# --- Disputes -------------------------------------------------------------------------------
_DISPUTE_STATUS = {"won": DisputeStatus.WON, "lost": DisputeStatus.LOST, "warning_closed": "won"}


def on_charge_dispute(event: Event) -> None:
    """`charge.dispute.created` / `.closed`: record the dispute against the invoice its
    payment paid (see `disputes.py`). Stripe's status decides, so an old "created" that
    arrives after "closed" changes nothing."""
    stripe_dispute = event_object(event)
    invoice = _invoice_paid_by(stripe_id(stripe_dispute.get("payment_intent")))
    if invoice is None:
        logger.warning("dispute %s is about no invoice of ours", stripe_dispute.get("id"))
        return
    currency = invoice.currency
    fees = sum(
        bt.get("fee") or 0
        for bt in stripe_dispute.get("balance_transactions") or []
        if isinstance(bt, dict)
    )
    dispute_record(
        invoice=invoice,
        stripe_dispute_id=stripe_dispute["id"],
        status=_DISPUTE_STATUS.get(stripe_dispute.get("status"), DisputeStatus.OPEN),
        amount=round_money(from_minor_units(stripe_dispute.get("amount") or 0, currency), currency),
        fee=round_money(from_minor_units(max(fees, 0), currency), currency),
        reason=stripe_dispute.get("reason") or "",
    )


# --- Start-up -------------------------------------------------------------------------------
def connect() -> None:
    """Connect billing's handlers (from BillingConfig.ready; safe to call twice)."""
    register("checkout.session.completed", on_checkout_completed)
    register("checkout.session.async_payment_succeeded", on_checkout_completed)
    register("customer.updated", on_customer_updated)
    register("invoice.paid", on_invoice_paid)
    register("invoice.payment_failed", on_invoice_payment_failed)
    register("invoice.voided", on_invoice_voided)
    register("invoice.marked_uncollectible", on_invoice_marked_uncollectible)
    register("invoice.payment_action_required", on_invoice_payment_action_required)
    register("charge.refunded", on_charge_refunded)
    register("charge.dispute.created", on_charge_dispute)
    register("charge.dispute.closed", on_charge_dispute)
