"""Stripe's objects as its API returns them (ids with Stripe's prefixes, `object`,
`livemode: false`), one small factory per type, and helpers to read what we sent."""

import json
import secrets
import string
import time
from urllib.parse import parse_qsl

API = "https://api.stripe.com"
SECRET_KEY = "sk_test_51TollgatePayoutsOffline000000000"
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 16) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def connected_account(
    id: str = "acct_1ProviderAcme0001",
    *,
    details_submitted: bool = False,
    payouts_enabled: bool = False,
    **overrides,
) -> dict:
    return {
        "id": id,
        "object": "account",
        "type": "express",
        "country": "US",
        "email": None,
        "default_currency": "usd",
        "created": int(time.time()),
        "business_profile": {"name": "Acme", "url": None, "support_email": None},
        "capabilities": {"transfers": "active" if payouts_enabled else "inactive"},
        "charges_enabled": False,
        "payouts_enabled": payouts_enabled,
        "details_submitted": details_submitted,
        "controller": {
            "type": "application",
            "is_controller": True,
            "fees": {"payer": "application"},
            "losses": {"payments": "application"},
            "stripe_dashboard": {"type": "express"},
            "requirement_collection": "stripe",
        },
        "requirements": {
            "currently_due": [] if details_submitted else ["external_account", "tos_acceptance"],
            "disabled_reason": None if payouts_enabled else "requirements.past_due",
        },
        "metadata": {},
        "livemode": False,
        **overrides,
    }


def account_link(account: str) -> dict:
    return {
        "object": "account_link",
        "created": int(time.time()),
        "expires_at": int(time.time()) + 300,
        "url": f"https://connect.stripe.com/setup/e/{account}/{new_id('x', 24)[2:]}",
    }


def transfer(
    *, amount: int, destination: str, id: str | None = None, metadata=None, **overrides
) -> dict:
    return {
        "id": id or new_id("tr", 24),
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": new_id("txn", 24),
        "created": int(time.time()),
        "currency": "usd",
        "description": None,
        "destination": destination,
        "destination_payment": new_id("py", 24),
        "livemode": False,
        "metadata": metadata or {},
        "reversals": {"object": "list", "data": [], "has_more": False, "url": "/v1/reversals"},
        "reversed": False,
        "source_transaction": None,
        "source_type": "card",
        "transfer_group": None,
        **overrides,
    }


def error(status: int, type: str, message: str, code: str | None = None) -> dict:
    return {"status": status, "json": {"error": {"type": type, "message": message, "code": code}}}


def form(call) -> dict[str, str]:
    """The form fields of a request `responses` recorded."""
    body = call.request.body
    body = body.decode() if isinstance(body, bytes) else body or ""
    return dict(parse_qsl(body, keep_blank_values=True))


def echo_transfer(request):
    """A /v1/transfers responder: the transfer Stripe would make from what was sent."""
    sent = dict(parse_qsl(request.body if isinstance(request.body, str) else request.body.decode()))
    metadata = {k[9:-1]: v for k, v in sent.items() if k.startswith("metadata[")}
    body = transfer(amount=int(sent["amount"]), destination=sent["destination"], metadata=metadata)
    return 200, {"Request-Id": new_id("req")}, json.dumps(body)


# Stripe's answer to a transfer to an account that cannot receive transfers
CANNOT_RECEIVE_TRANSFERS = error(
    400,
    "invalid_request_error",
    "Your destination account needs to have the transfers capability enabled.",
    "insufficient_capabilities_for_transfer",
)
