"""How Tollgate talks to Stripe, in one place: the key and API version every call carries
(read when the call is made, so settings overrides apply), and which failures are worth a
retry. Billing's collector and webhooks use it; payouts can use it for Connect calls too:

    with retry_on_transient_errors():
        stripe.Transfer.create(destination=account_id, amount=..., currency=...,
                               **request_options(idempotency_key=f"tg-payout-{payout.public_id}"))
"""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import stripe
from django.conf import settings
from djstripe.settings import djstripe_settings


def request_options(
    *, idempotency_key: str | None = None, stripe_account: str | None = None
) -> dict:
    """Options for a stripe-python call: our secret key and the API version dj-stripe also
    uses, so the objects we create and the webhooks dj-stripe re-fetches have one shape.
    Without an explicit `idempotency_key` stripe-python adds a random one to every POST,
    which makes its own network retries safe but not a second call of ours."""
    options = {
        "api_key": settings.STRIPE_SECRET_KEY,
        "stripe_version": djstripe_settings.STRIPE_API_VERSION,
    }
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    if stripe_account:
        options["stripe_account"] = stripe_account
    return options


def is_transient(error: stripe.StripeError) -> bool:
    """Network trouble, rate limits, Stripe's own 5xx, or a concurrent request holding the
    same idempotency key: the same call may well succeed later."""
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    if isinstance(error, stripe.IdempotencyError):
        return error.http_status == 409
    return isinstance(error, stripe.APIError)


@contextlib.contextmanager
def retry_on_transient_errors() -> Iterator[None]:
    """Re-raise transient Stripe errors as ConnectionError, which the billing (and payouts)
    Celery tasks retry with backoff; stripe-python has already retried them
    `stripe.max_network_retries` times. Card and request errors pass through unchanged."""
    try:
        yield
    except stripe.StripeError as error:
        if is_transient(error):
            raise ConnectionError(f"Stripe is unavailable: {error}") from error
        raise


def stripe_id(value) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value["id"]


def from_timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None
