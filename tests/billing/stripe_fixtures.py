"""Stripe, faked at the HTTP layer.

- Factories return JSON shaped like Stripe's objects (ids with Stripe's prefixes, `object`,
  `livemode: false`), one per object type.
- `StripeStub` sits behind `responses`: it answers the calls our code makes (creating
  objects from what was sent, remembering them, replaying a response for a repeated
  Idempotency-Key as Stripe does), serves every GET from what it holds (dj-stripe re-fetches
  each webhook's object and asks for `/v1/account`), and records each request so tests can
  assert what was SENT: form fields, Idempotency-Key, Stripe-Version.
- `WebhookSender` signs events the way Stripe does and posts them to dj-stripe's endpoint.
- The Tollgate side: a provider's paid plan, a consumer organization with a billing email,
  its subscription (waiting for a card), and `issue()` for invoices with given lines.

A test module takes the fixtures with `from tests.billing.stripe_fixtures import *` (there is
no conftest for them, so the billing suite does not depend on this file).
"""

import hashlib
import hmac
import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
import stripe
from django.urls import reverse
from djstripe.models import WebhookEndpoint
from djstripe.settings import djstripe_settings

from apps.billing import services
from apps.billing.models import Invoice
from apps.subscriptions import rating
from apps.subscriptions import services as subscription_services
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

# what `from tests.billing.stripe_fixtures import *` brings: the fixtures (helpers are
# imported by name)
__all__ = [
    "consumer",
    "paid_plan",
    "pending_subscription",
    "stripe_api",
    "stripe_settings",
    "webhook",
]

API = "https://api.stripe.com"
SECRET_KEY = "sk_test_51TollgateOfflineTestKey0000000000"
WEBHOOK_SECRET = "whsec_tollgate_offline_secret"
ACCOUNT_ID = "acct_1TollgateOffline"
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 14) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _now() -> int:
    return int(time.time())


# --- Factories ------------------------------------------------------------------------------
def list_of(items: list, url: str) -> dict:
    return {"object": "list", "data": items, "has_more": False, "url": url}


def account(**overrides) -> dict:
    return {
        "id": ACCOUNT_ID,
        "object": "account",
        "type": "standard",
        "country": "US",
        "email": "ops@tollgate.test",
        "default_currency": "usd",
        "created": _now(),
        "charges_enabled": True,
        "payouts_enabled": True,
        "details_submitted": True,
        "business_profile": {"name": "Tollgate Test", "url": None, "support_email": None},
        "settings": {
            "dashboard": {"display_name": "Tollgate", "timezone": "Etc/UTC"},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
        },
        "capabilities": {},
        "metadata": {},
        "livemode": False,
        **overrides,
    }


def customer(
    id=None, *, name="Acme", email=None, metadata=None, default_payment_method=None, **overrides
) -> dict:
    return {
        "id": id or new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": _now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "invoice_prefix": "TG0A1B2C",
        "invoice_settings": {
            "custom_fields": None,
            "footer": None,
            "rendering_options": None,
            "default_payment_method": default_payment_method,
        },
        "livemode": False,
        "metadata": metadata or {},
        "name": name,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
        **overrides,
    }


def payment_method(id=None, *, customer=None, brand="visa", last4="4242", **overrides) -> dict:
    return {
        "id": id or new_id("pm", 24),
        "object": "payment_method",
        "type": "card",
        "allow_redisplay": "unspecified",
        "created": _now(),
        "customer": customer,
        "billing_details": {
            "address": {
                "city": None,
                "country": "US",
                "line1": None,
                "line2": None,
                "postal_code": "94107",
                "state": None,
            },
            "email": None,
            "name": None,
            "phone": None,
        },
        "card": {
            "brand": brand,
            "display_brand": brand,
            "country": "US",
            "exp_month": 12,
            "exp_year": 2030,
            "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "credit",
            "last4": last4,
            "generated_from": None,
            "wallet": None,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": "pass",
                "cvc_check": "pass",
            },
            "networks": {"available": [brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
        },
        "livemode": False,
        "metadata": {},
        **overrides,
    }


def setup_intent(
    id=None, *, customer, payment_method, status="succeeded", metadata=None, **overrides
) -> dict:
    id = id or new_id("seti", 24)
    return {
        "id": id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
        "cancellation_reason": None,
        "client_secret": f"{id}_secret_{new_id('x')[2:]}",
        "created": _now(),
        "customer": customer,
        "description": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": new_id("setatt"),
        "livemode": False,
        "mandate": None,
        "metadata": metadata or {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": status,
        "usage": "off_session",
        **overrides,
    }


def checkout_session(
    id=None,
    *,
    customer,
    metadata=None,
    setup_intent=None,
    status="open",
    success_url="https://tollgate.test/ok",
    cancel_url="https://tollgate.test/no",
    **overrides,
) -> dict:
    id = id or new_id("cs_test", 58)
    return {
        "id": id,
        "object": "checkout.session",
        "mode": "setup",
        "status": status,
        "payment_status": "no_payment_required",
        "currency": "usd",
        "customer": customer,
        "customer_details": None,
        "client_reference_id": None,
        "created": _now(),
        "expires_at": _now() + 86_400,
        "livemode": False,
        "metadata": metadata or {},
        "payment_intent": None,
        "setup_intent": setup_intent,
        "subscription": None,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "ui_mode": "hosted_page",
        "url": f"https://checkout.stripe.com/c/pay/{id}" if status == "open" else None,
        **overrides,
    }


def portal_session(*, customer, return_url) -> dict:
    return {
        "id": new_id("bps", 24),
        "object": "billing_portal.session",
        "configuration": new_id("bpc", 24),
        "created": _now(),
        "customer": customer,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": f"https://billing.stripe.com/p/session/test_{new_id('x', 40)[2:]}",
    }


def invoice(
    id=None, *, customer, metadata=None, status="draft", currency="usd", lines=(), **overrides
) -> dict:
    id = id or new_id("in", 24)
    total = sum(line["amount"] for line in lines)
    paid = status == "paid"
    return {
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Tollgate",
        "amount_due": total,
        "amount_paid": total if paid else 0,
        "amount_overpaid": 0,
        "amount_remaining": 0 if paid else total,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_reason": "manual",
        "collection_method": "charge_automatically",
        "created": _now(),
        "currency": currency,
        "customer": customer,
        "customer_email": None,
        "customer_name": None,
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "lines": list_of(list(lines), f"/v1/invoices/{id}/lines"),
        "livemode": False,
        "metadata": metadata or {},
        "next_payment_attempt": None,
        "number": None,
        "parent": None,
        "period_end": _now(),
        "period_start": _now(),
        "status": status,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": _now() if paid else None,
            "voided_at": None,
        },
        "subtotal": total,
        "total": total,
        "total_discount_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
        **overrides,
    }


def invoice_item(
    id=None,
    *,
    customer,
    invoice,
    amount,
    currency="usd",
    description="",
    metadata=None,
    period=None,
    **overrides,
) -> dict:
    return {
        "id": id or new_id("ii", 24),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "date": _now(),
        "description": description,
        "discountable": amount > 0,
        "discounts": [],
        "invoice": invoice,
        "livemode": False,
        "metadata": metadata or {},
        "parent": None,
        "period": period or {"start": _now(), "end": _now()},
        "proration": False,
        "quantity": 1,
        "tax_rates": [],
        "test_clock": None,
        **overrides,
    }


def invoice_payment(*, invoice, payment_intent, amount, currency="usd") -> dict:
    return {
        "id": new_id("inpay", 24),
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": _now(),
        "currency": currency,
        "invoice": invoice,
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": payment_intent},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": _now()},
    }


def charge(
    id=None, *, customer, payment_intent, amount, amount_refunded=0, currency="usd", **overrides
) -> dict:
    return {
        "id": id or new_id("ch", 24),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "balance_transaction": None,
        "captured": True,
        "created": _now(),
        "currency": currency,
        "customer": customer,
        "description": None,
        "disputed": False,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "outcome": {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": payment_intent,
        "payment_method": None,
        "payment_method_details": None,
        "receipt_url": None,
        "refunded": amount_refunded >= amount,
        "status": "succeeded",
        **overrides,
    }


def refund(
    id=None, *, charge, payment_intent, amount, currency="usd", metadata=None, **overrides
) -> dict:
    return {
        "id": id or new_id("re", 24),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge,
        "created": _now(),
        "currency": currency,
        "metadata": metadata or {},
        "payment_intent": payment_intent,
        "reason": "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
        **overrides,
    }


def dispute(
    id=None, *, charge, payment_intent, amount, status="needs_response", fee=1500, **overrides
) -> dict:
    """A dispute as Stripe sends it: the withdrawal's balance transaction carries the fee."""
    return {
        "id": id or new_id("dp", 24),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [
            {
                "id": new_id("txn", 24),
                "object": "balance_transaction",
                "amount": -amount - fee,
                "currency": "usd",
                "fee": fee,
                "net": -amount - fee,
                "type": "adjustment",
                "reporting_category": "dispute",
                "status": "available",
                "created": _now(),
                "available_on": _now(),
                "description": f"Chargeback withdrawal for {charge}",
                "fee_details": [
                    {
                        "amount": fee,
                        "currency": "usd",
                        "description": "Dispute fee",
                        "type": "stripe_fee",
                        "application": None,
                    }
                ],
                "source": id,
            }
        ]
        if fee
        else [],
        "charge": charge,
        "created": _now(),
        "currency": "usd",
        "enhanced_eligibility_types": [],
        "evidence": {"customer_name": None, "uncategorized_text": None},
        "evidence_details": {
            "due_by": _now() + 7 * 86_400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent,
        "payment_method_details": {
            "card": {"brand": "visa", "network_reason_code": "10.4"},
            "type": "card",
        },
        "reason": "fraudulent",
        "status": status,
        **overrides,
    }


def customer_balance_transaction(
    *, customer, amount, currency="usd", ending_balance=0, metadata=None, **overrides
) -> dict:
    return {
        "id": new_id("cbtxn", 24),
        "object": "customer_balance_transaction",
        "amount": amount,
        "checkout_session": None,
        "created": _now(),
        "credit_note": None,
        "currency": currency,
        "customer": customer,
        "description": None,
        "ending_balance": ending_balance,
        "invoice": None,
        "livemode": False,
        "metadata": metadata or {},
        "type": "adjustment",
        **overrides,
    }


def webhook_endpoint(
    *, url, enabled_events, metadata=None, api_version=None, application=None
) -> dict:
    """As Stripe answers the create call: the only time it includes the `secret`."""
    return {
        "id": new_id("we", 24),
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": application,
        "created": _now(),
        "description": None,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata or {},
        "secret": "whsec_" + new_id("x", 32)[2:],
        "status": "enabled",
        "url": url,
    }


def event(type: str, obj: dict, *, id=None, created=None, **overrides) -> dict:
    return {
        "id": id or new_id("evt", 24),
        "object": "event",
        "api_version": djstripe_settings.STRIPE_API_VERSION,
        "created": created or _now(),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
        **overrides,
    }


def stripe_error(status: int, type: str, message: str, code=None) -> tuple[int, dict]:
    return status, {"error": {"type": type, "message": message, "code": code}}


# --- The stub -------------------------------------------------------------------------------
@dataclass
class Sent:
    """One request our code (or dj-stripe) made."""

    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("Stripe-Version")


@dataclass
class StripeStub:
    requests: list[Sent] = field(default_factory=list)
    objects: dict[str, dict] = field(default_factory=dict)
    account: dict = field(default_factory=account)
    _routes: list = field(default_factory=list)
    _replays: dict = field(default_factory=dict)

    def __post_init__(self):
        for method, pattern, responder in [
            ("POST", r"/v1/customers", self._create_customer),
            ("POST", r"/v1/customers/(?P<id>cus_\w+)", self._modify_customer),
            ("POST", r"/v1/checkout/sessions", self._create_checkout_session),
            ("POST", r"/v1/billing_portal/sessions", self._create_portal_session),
            ("POST", r"/v1/invoices", self._create_invoice),
            ("POST", r"/v1/invoiceitems", self._create_invoice_item),
            ("POST", r"/v1/invoices/(?P<id>in_\w+)/finalize", self._finalize_invoice),
            ("POST", r"/v1/invoices/(?P<id>in_\w+)", self._modify_invoice),
            ("POST", r"/v1/invoices/(?P<id>in_\w+)/void", self._void_invoice),
            (
                "POST",
                r"/v1/invoices/(?P<id>in_\w+)/mark_uncollectible",
                self._mark_uncollectible,
            ),
            (
                "POST",
                r"/v1/customers/(?P<id>cus_\w+)/balance_transactions",
                self._create_balance_transaction,
            ),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/account", lambda sent, match: self.account),
            ("GET", r"/v1/refunds", self._list_refunds),
            ("GET", r"/v1/invoice_payments", self._list_invoice_payments),
            ("GET", r"/v1/(?:[a-z_]+/)+(?P<id>[A-Za-z0-9_]+)", self._retrieve),
        ]:
            self.on(method, pattern, responder, first=False)

    # the fake's API for tests
    def on(
        self, method: str, pattern: str, responder, *, times: int | None = None, first: bool = True
    ) -> None:
        """Answer `method pattern` (a regex on the path) with `responder`: a dict, a
        `(status, dict)` pair, or `callable(sent, match)` returning either. Routes added by
        tests win over the defaults; `times` limits how often this one answers."""
        route = [method, re.compile(pattern + r"$"), responder, times]
        self._routes.insert(0, route) if first else self._routes.append(route)

    def put(self, *objects: dict) -> dict:
        for obj in objects:
            self.objects[obj["id"]] = obj
        return objects[0]

    def of_type(self, object_name: str) -> list[dict]:
        """What the fake Stripe holds of one type (`"invoice"`, `"refund"`…)."""
        return [obj for obj in self.objects.values() if obj["object"] == object_name]

    def sent(self, method: str, pattern: str) -> list[Sent]:
        regex = re.compile(pattern + r"$")
        return [s for s in self.requests if s.method == method and regex.match(s.path)]

    def posts(self, pattern: str) -> list[Sent]:
        return self.sent("POST", pattern)

    # plumbing
    def install(self, mock: responses.RequestsMock) -> None:
        for method in ("GET", "POST", "DELETE"):
            mock.add_callback(method, re.compile(re.escape(API) + r"/.*"), self._answer)

    def _answer(self, request):
        url = urlsplit(request.url)
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        form = dict(
            parse_qsl(url.query if request.method == "GET" else body or "", keep_blank_values=True)
        )
        sent = Sent(request.method, url.path, form, dict(request.headers))
        self.requests.append(sent)
        replay_key = (sent.path, sent.idempotency_key)
        if request.method == "POST" and replay_key in self._replays:
            return self._replays[replay_key]
        answer = self._route(sent)
        if request.method == "POST" and answer[0] < 400:
            self._replays[replay_key] = answer
        return answer

    def _route(self, sent: Sent):
        for route in self._routes:
            method, regex, responder, times = route
            match = regex.match(sent.path)
            if method != sent.method or match is None or times == 0:
                continue
            if times is not None:
                route[3] -= 1
            result = responder(sent, match) if callable(responder) else responder
            status, body = result if isinstance(result, tuple) else (200, result)
            return status, {"Request-Id": new_id("req")}, json.dumps(body)
        status, body = stripe_error(
            404,
            "invalid_request_error",
            f"Unexpected {sent.method} {sent.path}",
            "resource_missing",
        )
        return status, {}, json.dumps(body)

    def _retrieve(self, sent, match):
        obj = self.objects.get(match["id"])
        if obj is None:
            return stripe_error(
                404, "invalid_request_error", f"No such object: '{match['id']}'", "resource_missing"
            )
        obj = self._expanded(obj, sent.form)
        if obj["object"] == "invoice" and "payments" in sent.form.values():
            # an includable property: the invoice's payments, as Stripe lists them
            paid_by = [o for o in self.of_type("invoice_payment") if o["invoice"] == obj["id"]]
            obj["payments"] = list_of(paid_by, f"/v1/invoice_payments?invoice={obj['id']}")
        return obj

    def _expanded(self, obj: dict, form: dict) -> dict:
        """Apply `expand[]=a.b` for ids the stub holds (lists are walked item by item)."""
        obj = json.loads(json.dumps(obj))
        for key, value in form.items():
            if key.startswith("expand["):
                self._expand(obj, value.split("."))
        return obj

    def _expand(self, holder, path: list[str]) -> None:
        if isinstance(holder, list):
            for item in holder:
                self._expand(item, path)
            return
        if not isinstance(holder, dict) or path[0] not in holder:
            return
        if len(path) > 1:
            self._expand(holder[path[0]], path[1:])
        elif isinstance(holder[path[0]], str) and holder[path[0]] in self.objects:
            holder[path[0]] = self.objects[holder[path[0]]]

    @staticmethod
    def _metadata(form: dict, prefix: str = "metadata") -> dict:
        start = f"{prefix}["
        return {
            k[len(start) : -1]: v
            for k, v in form.items()
            if k.startswith(start) and k.count("[") == prefix.count("[") + 1
        }

    def _create_customer(self, sent, match):
        return self.put(
            customer(
                name=sent.form.get("name"),
                email=sent.form.get("email"),
                metadata=self._metadata(sent.form),
            )
        )

    def _modify_customer(self, sent, match):
        obj = self.objects[match["id"]]
        default = sent.form.get("invoice_settings[default_payment_method]")
        if default is not None:
            obj["invoice_settings"]["default_payment_method"] = default
        return obj

    def _create_checkout_session(self, sent, match):
        return self.put(
            checkout_session(
                customer=sent.form["customer"],
                metadata=self._metadata(sent.form),
                success_url=sent.form["success_url"],
                cancel_url=sent.form["cancel_url"],
                client_reference_id=sent.form.get("client_reference_id"),
            )
        )

    def _create_portal_session(self, sent, match):
        return portal_session(customer=sent.form["customer"], return_url=sent.form["return_url"])

    def _create_invoice(self, sent, match):
        return self.put(
            invoice(
                customer=sent.form["customer"],
                currency=sent.form.get("currency", "usd"),
                description=sent.form.get("description"),
                metadata=self._metadata(sent.form),
            )
        )

    def _create_invoice_item(self, sent, match):
        parent = self.objects[sent.form["invoice"]]
        if parent["status"] != "draft":
            return stripe_error(
                400, "invalid_request_error", "You can only add invoice items to draft invoices."
            )
        item = invoice_item(
            customer=sent.form["customer"],
            invoice=parent["id"],
            amount=int(sent.form["amount"]),
            currency=sent.form["currency"],
            description=sent.form.get("description", ""),
            metadata=self._metadata(sent.form),
        )
        parent["lines"]["data"].append({**item, "object": "line_item", "id": new_id("il", 24)})
        for total in ("amount_due", "amount_remaining", "subtotal", "total"):
            parent[total] += item["amount"]
        return self.put(item)

    def _modify_invoice(self, sent, match):
        obj = self.objects[match["id"]]
        if "auto_advance" in sent.form:
            obj["auto_advance"] = sent.form["auto_advance"] == "true"
        return obj

    def _finalize_invoice(self, sent, match):
        obj = self.objects[match["id"]]
        obj.update(
            status="open",
            auto_advance=sent.form.get("auto_advance") == "true",
            number=obj["number"] or f"TGSTRIPE-{len(self.objects):04d}",
            hosted_invoice_url=f"https://invoice.stripe.com/i/acct_test/{obj['id']}",
        )
        obj["status_transitions"]["finalized_at"] = _now()
        return obj

    def _void_invoice(self, sent, match):
        obj = self.objects[match["id"]]
        if obj["status"] not in ("open", "uncollectible"):
            return stripe_error(
                400, "invalid_request_error", f"You can only void open invoices ({obj['status']})."
            )
        obj["status"] = "void"
        obj["status_transitions"]["voided_at"] = _now()
        return obj

    def _mark_uncollectible(self, sent, match):
        obj = self.objects[match["id"]]
        if obj["status"] != "open":
            return stripe_error(
                400, "invalid_request_error", "You can only mark open invoices uncollectible."
            )
        obj["status"] = "uncollectible"
        obj["status_transitions"]["marked_uncollectible_at"] = _now()
        return obj

    def _create_balance_transaction(self, sent, match):
        owner = self.objects[match["id"]]
        owner["balance"] += int(sent.form["amount"])
        return self.put(
            customer_balance_transaction(
                customer=match["id"],
                amount=int(sent.form["amount"]),
                currency=sent.form["currency"],
                description=sent.form.get("description"),
                metadata=self._metadata(sent.form),
                ending_balance=owner["balance"],
            )
        )

    def _create_refund(self, sent, match):
        return self.put(
            refund(
                charge=sent.form.get("charge"),
                payment_intent=sent.form.get("payment_intent"),
                amount=int(sent.form["amount"]),
                metadata=self._metadata(sent.form),
            )
        )

    def _list_refunds(self, sent, match):
        charge_id = sent.form.get("charge")
        found = [
            o for o in self.objects.values() if o["object"] == "refund" and o["charge"] == charge_id
        ]
        return list_of(found, "/v1/refunds")

    def _list_invoice_payments(self, sent, match):
        intent = sent.form.get("payment[payment_intent]")
        found = [
            o
            for o in self.objects.values()
            if o["object"] == "invoice_payment" and o["payment"]["payment_intent"] == intent
        ]
        return list_of(found, "/v1/invoice_payments")


# --- Webhooks -------------------------------------------------------------------------------
def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: `t=<ts>,v1=<HMAC-SHA256 of "<ts>.<payload>">`."""
    timestamp = timestamp or _now()
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass
class WebhookSender:
    client: object
    endpoint: WebhookEndpoint

    @property
    def url(self) -> str:
        return reverse(
            "djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": self.endpoint.djstripe_uuid}
        )

    def post(self, payload: dict, *, secret: str = WEBHOOK_SECRET):
        body = json.dumps(payload)
        return self.client.post(
            self.url,
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign(body, secret),
        )


# --- Fixtures -------------------------------------------------------------------------------
@pytest.fixture
def stripe_settings(settings, monkeypatch):
    """Stripe configured in test mode: the collector becomes StripeCollector and dj-stripe
    finds its key. stripe-python is pinned to its requests client (which `responses`
    intercepts) and told not to retry or sleep."""
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_TEST_SECRET_KEY = SECRET_KEY
    settings.STRIPE_LIVE_SECRET_KEY = ""
    settings.STRIPE_LIVE_MODE = False
    settings.SITE_URL = "https://tollgate.test"
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient())
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    return settings


@pytest.fixture
def stripe_api(stripe_settings):
    stub = StripeStub()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stub.install(mock)
        yield stub


@pytest.fixture
def webhook(client, stripe_api, db):
    """dj-stripe's webhook endpoint with a known secret, and billing's handlers connected
    (as BillingConfig.ready does)."""
    from apps.billing.stripe_webhooks import connect

    connect()
    endpoint = WebhookEndpoint.objects.create(
        id=new_id("we", 24),
        url="https://tollgate.test/stripe/webhook/",
        livemode=False,
        api_version=djstripe_settings.STRIPE_API_VERSION,
        enabled_events=["*"],
        secret=WEBHOOK_SECRET,
        status="enabled",
    )
    endpoint.url = f"https://tollgate.test{WebhookSender(client, endpoint).url}"
    endpoint.save(update_fields=["url"])
    return WebhookSender(client, endpoint)


# --- The Tollgate side ----------------------------------------------------------------------
PERIOD_START = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def paid_plan(other_org):
    """A provider's (Initech's) paid plan: $29 a month, 10,000 calls, $0.0004 beyond."""
    return PlanFactory(
        api=ApiFactory(organization=other_org, name="OCR"),
        name="Pro",
        monthly_fee=Decimal("29.00"),
        included_units=10_000,
        unit_price=Decimal("0.0004"),
        hard_limit=False,
    )


@pytest.fixture
def consumer(org):
    org.billing_email = "billing@acme.test"
    org.save(update_fields=["billing_email"])
    return org


@pytest.fixture
def pending_subscription(owner, consumer, paid_plan, stripe_api):
    """Acme subscribed to the paid plan: a customer and a Checkout session exist at the
    fake Stripe, the subscription waits for the card."""
    return subscription_services.subscription_create(
        actor=owner, organization=consumer, plan=paid_plan
    ).subscription


def line(kind: str, description: str, amount: str) -> rating.Line:
    return rating.Line(
        kind=kind,
        description=description,
        quantity=Decimal(1),
        unit_price=None,
        amount=Decimal(amount),
        period_start=PERIOD_START,
        period_end=PERIOD_END,
    )


def issue(subscription, *lines: rating.Line, key: str = "test:1") -> Invoice:
    return services.invoice_issue(
        subscription=subscription,
        key=key,
        lines=list(lines),
        period_start=PERIOD_START,
        period_end=PERIOD_END,
    )
