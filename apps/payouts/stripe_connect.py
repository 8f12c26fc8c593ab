"""The Stripe Connect calls payouts make: nothing else here talks to Stripe. Every call runs
outside database transactions (services call these after commit or before they lock), and
every call that creates something carries an idempotency key."""

from django.conf import settings

from apps.core.money import to_minor_units


def client():
    import stripe

    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        max_network_retries=getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2),
    )


def create_account(organization) -> dict:
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
        "metadata": {"organization": organization.public_id},
    }
    if organization.billing_email:
        params["email"] = organization.billing_email
    return client().v1.accounts.create(
        params, {"idempotency_key": f"tg-connect-{organization.public_id}"}
    )


def create_account_link(account_id: str, *, refresh_url: str, return_url: str) -> dict:
    return client().v1.account_links.create(
        {
            "account": account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        }
    )


def retrieve_account(account_id: str) -> dict:
    return client().v1.accounts.retrieve(account_id)


def create_transfer(payout) -> dict:
    """Move a payout to the provider's connected account. Stripe answers a repeated key with
    the first transfer, so a retried or re-run payout never pays twice."""
    return client().v1.transfers.create(
        {
            "amount": to_minor_units(payout.amount, payout.currency),
            "currency": payout.currency.lower(),
            "destination": payout.stripe_account_id,
            "transfer_group": payout.public_id,
            "description": f"Tollgate payout {payout.period}",
            "metadata": {
                "payout": payout.public_id,
                "organization": payout.organization.public_id,
                "period": payout.period,
            },
        },
        {"idempotency_key": payout.idempotency_key},
    )


def is_transient(error) -> bool:
    """Errors worth retrying with the same idempotency key: the network, Stripe's own
    trouble, rate limits, a concurrent request with the key, our credentials. Anything
    else (an account that cannot receive transfers, too little platform balance) fails the
    payout, whose amount goes back to the provider's balance for the next run."""
    import stripe

    return isinstance(
        error,
        stripe.APIConnectionError
        | stripe.APIError
        | stripe.RateLimitError
        | stripe.IdempotencyError
        | stripe.AuthenticationError,
    )


def error_message(error) -> str:
    message = getattr(error, "user_message", None) or str(error) or type(error).__name__
    return message[:300]
