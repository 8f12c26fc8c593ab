"""Stripe webhook handlers for payouts: plain functions taking the Stripe object (the
event's `data.object` dict). Billing's webhook registry calls them through the adapters at
the end, which `connect()` registers. All are idempotent: Stripe delivers at least once,
and in any order."""

import logging

from apps.accounts.notifications import notify

from . import services
from .models import LedgerKind, Payout, PayoutStatus, ProviderAccount

logger = logging.getLogger(__name__)

handle_account_updated = services.handle_account_updated


def _payout_of(transfer: dict) -> Payout | None:
    by_id = Payout.objects.filter(stripe_transfer_id=transfer.get("id") or "-").first()
    if by_id is not None:
        return by_id
    public_id = (transfer.get("metadata") or {}).get("tollgate_payout")
    return Payout.objects.filter(public_id=public_id).first() if public_id else None


def handle_transfer_created(transfer: dict) -> None:
    """`transfer.created` / `transfer.updated`: links a transfer to its payout, which heals
    a transfer task that died after Stripe made the transfer but before we saved it."""
    payout = _payout_of(transfer)
    if payout is None:
        logger.info("transfer %s is not one of our payouts", transfer.get("id"))
        return
    if transfer.get("reversed"):
        handle_transfer_reversed(transfer)
    elif payout.status == PayoutStatus.PENDING:
        services.payout_mark_transferred(payout=payout, transfer_id=transfer["id"])


handle_transfer_updated = handle_transfer_created


def handle_transfer_reversed(transfer: dict) -> None:
    """`transfer.reversed`: the money came back from the provider's Stripe account, so the
    payout failed and its amount returns to the balance. Partial reversals are left to
    staff (logged): the ledger cannot tell which part of a payout they undo."""
    payout = _payout_of(transfer)
    if payout is None:
        return
    if payout.entries.filter(kind=LedgerKind.TRANSFER_REVERSAL).exists():
        # our own recovery of refunds and disputes (`ledger_recover`), already on the ledger
        logger.info("transfer %s: reversed by our recovery", transfer.get("id"))
    elif transfer.get("reversed"):
        services.payout_fail(payout=payout, reason="Stripe reversed the transfer.")
    elif transfer.get("amount_reversed"):
        logger.warning(
            "transfer %s of payout %s partly reversed (%s): staff, look at it",
            transfer.get("id"),
            payout.public_id,
            transfer.get("amount_reversed"),
        )


def handle_payout_event(stripe_payout: dict, account: str | None = None) -> None:
    """`payout.failed` / `payout.canceled` on a connected account (`event.account`): Stripe
    could not pay the provider's Stripe balance to their bank. The money is still theirs, in
    Stripe; tell them to fix their bank details."""
    if stripe_payout.get("status") not in ("failed", "canceled") or not account:
        return
    provider = (
        ProviderAccount.objects.select_related("organization")
        .filter(stripe_account_id=account)
        .first()
    )
    if provider is None:
        return
    message = stripe_payout.get("failure_message") or "Check your bank details in Stripe."
    notify(
        organization=provider.organization,
        kind="payouts.bank_payout_failed",
        title="Stripe could not pay out to your bank",
        body=f"{message} Your money is safe in your Stripe balance.",
        url=services.console_url(),
        email_capability="billing",
    )


# --- Registration with billing's webhook registry ---------------------------------------
# Billing's registry calls handlers with dj-stripe's Event, inside dj-stripe's transaction
# (raising answers 500 and Stripe redelivers). These adapters unwrap the Stripe object.
def on_account_updated(event) -> None:
    from apps.billing.stripe_webhooks import event_object

    handle_account_updated(event_object(event))


def on_transfer_event(event) -> None:
    from apps.billing.stripe_webhooks import event_object

    transfer = event_object(event)
    if event.type == "transfer.reversed":
        handle_transfer_reversed(transfer)
    else:
        handle_transfer_created(transfer)


def on_connected_payout(event) -> None:
    from apps.billing.stripe_webhooks import event_account, event_object

    handle_payout_event(event_object(event), account=event_account(event))


def connect() -> None:
    """Register payouts' handlers (from PayoutsConfig.ready; safe to call twice)."""
    from apps.billing.stripe_webhooks import register

    register("account.updated", on_account_updated)
    register("transfer.*", on_transfer_event)
    register("payout.failed", on_connected_payout)
    register("payout.canceled", on_connected_payout)
