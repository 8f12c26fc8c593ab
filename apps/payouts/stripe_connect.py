"""The Stripe Connect calls payouts make: nothing else in payouts talks to Stripe. Calls
carry billing's request options (our key, dj-stripe's API version), run outside database
transactions, and every call that creates something carries an idempotency key."""

import stripe

from apps.billing.stripe_client import is_transient as billing_is_transient
from apps.billing.stripe_client import request_options
from apps.core.money import to_minor_units


def create_account(organization) -> stripe.Account:
    """An Express-style connected account: Stripe collects the provider's details and runs
    their dashboard; the platform pays Stripe's fees and carries losses (controller
    properties). The idempotency key makes a double click create one account."""
    params = {
        "controller": {
            "fees": {"payer": "application"},
            "losses": {"payments": "application"},
            "stripe_dashboard": {"type": "express"},
        },
        "capabilities": {"transfers": {"requested": True}},
        "business_profile": {"name": organization.name},
        "metadata": {"tollgate_organization": organization.public_id},
    }
    if organization.billing_email:
        params["email"] = organization.billing_email
    return stripe.Account.create(
        **params, **request_options(idempotency_key=f"tg-connect-{organization.public_id}")
    )


def create_account_link(account_id: str, *, refresh_url: str, return_url: str):
    return stripe.AccountLink.create(
        account=account_id,
        refresh_url=refresh_url,
        return_url=return_url,
        type="account_onboarding",
        **request_options(),
    )


def retrieve_account(account_id: str) -> stripe.Account:
    return stripe.Account.retrieve(account_id, **request_options())


def create_transfer(payout) -> stripe.Transfer:
    """Move a payout to the provider's connected account. Stripe answers a repeated key with
    the first transfer, so a retried or re-run payout never pays twice."""
    return stripe.Transfer.create(
        amount=to_minor_units(payout.amount, payout.currency),
        currency=payout.currency.lower(),
        destination=payout.stripe_account_id,
        # groups the transfer with what it pays out: our payout, whose `invoices` are the
        # invoices it covers (also in the metadata, as far as Stripe's 500 characters go)
        transfer_group=payout.public_id,
        description=f"Tollgate payout {payout.period}",
        metadata={
            "tollgate_payout": payout.public_id,
            "tollgate_organization": payout.organization.public_id,
            "period": payout.period,
            "invoices": _invoice_numbers(payout),
        },
        **request_options(idempotency_key=payout.idempotency_key),
    )


def reverse_transfer(payout, amount, *, idempotency_key: str) -> stripe.Reversal:
    """Take `amount` of a payout's transfer back from the provider's Stripe balance."""
    return stripe.Transfer.create_reversal(
        payout.stripe_transfer_id,
        amount=to_minor_units(amount, payout.currency),
        description="Refunds and disputes after this payout",
        metadata={"tollgate_payout": payout.public_id},
        **request_options(idempotency_key=idempotency_key),
    )


def _invoice_numbers(payout) -> str:
    numbers = sorted(payout.invoices.values_list("number", flat=True))
    text = ",".join(numbers)
    return text if len(text) <= 500 else text[:480].rsplit(",", 1)[0] + ",…"


# Stripe refused for a reason that passes without the provider doing anything: the
# platform's Stripe balance is too low to fund the transfer (payments still settling)
WAIT_CODES = {"balance_insufficient", "insufficient_funds"}
# ...or because the provider's account cannot receive transfers: they must act
ACCOUNT_CODES = {
    "insufficient_capabilities_for_transfer",
    "account_invalid",
    "transfers_not_allowed",
    "account_closed",
}


def failure_kind(error: stripe.StripeError) -> str:
    """ "transient" (retry soon, same key), "wait" (retry in hours or days), "account" (the
    provider must fix their Stripe account) or "refused" (anything else)."""
    if is_transient(error):
        return "transient"
    code = getattr(error, "code", None)
    if code in WAIT_CODES:
        return "wait"
    if code in ACCOUNT_CODES:
        return "account"
    return "refused"


def is_transient(error: stripe.StripeError) -> bool:
    """Worth retrying with the same idempotency key: billing's transient errors (network,
    rate limits, Stripe's 5xx, a concurrent request with the key), and our own credentials
    (a key being rotated should not fail every payout). Anything else (an account that
    cannot receive transfers, too little platform balance) fails the payout, whose amount
    goes back to the provider's balance for the next run."""
    return billing_is_transient(error) or isinstance(error, stripe.AuthenticationError)


def error_message(error: stripe.StripeError) -> str:
    message = getattr(error, "user_message", None) or str(error) or type(error).__name__
    return message[:300]
