"""Stripe's webhooks, signed and posted to dj-stripe's endpoint as Stripe would, reach our
handlers once: duplicates and late, out-of-order events change nothing twice."""

import logging
from decimal import Decimal

import pytest
from djstripe.models import WebhookEndpoint, WebhookEventTrigger

from apps.billing import signals
from apps.billing import stripe_webhooks as billing_webhooks
from apps.billing.models import BillingAccount, Invoice, InvoiceStatus, Refund
from apps.billing.stripe_collection import StripeCollector
from apps.core.models import AuditLog
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SubscriptionStatus
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import (
    account,
    charge,
    checkout_session,
    event,
    invoice_payment,
    issue,
    line,
    list_of,
    new_id,
    payment_method,
    refund,
    setup_intent,
    stripe_error,
    webhook_endpoint,
)
from tests.billing.stripe_fixtures import customer as stripe_customer
from tests.billing.stripe_fixtures import invoice as stripe_invoice

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.billing.stripe_urls")]
S = SubscriptionStatus


def _customer_id(organization) -> str:
    return BillingAccount.objects.get(organization=organization).stripe_customer_id


@pytest.fixture
def completed_checkout(pending_subscription, stripe_api):
    """The Checkout session the subscription opened, now completed with a Mastercard."""
    customer = _customer_id(pending_subscription.organization)
    (session,) = stripe_api.of_type("checkout.session")
    card = stripe_api.put(payment_method(customer=customer, brand="mastercard", last4="4444"))
    intent = stripe_api.put(
        setup_intent(customer=customer, payment_method=card["id"], metadata=session["metadata"])
    )
    session.update(status="complete", setup_intent=intent["id"], url=None)
    return session


@pytest.fixture
def subscription(pending_subscription):
    """Started as the checkout webhook would start it (its first invoice left aside)."""
    return subscription_services.subscription_payment_confirmed(subscription=pending_subscription)


@pytest.fixture
def pushed(subscription, stripe_api) -> Invoice:
    """An invoice pushed to Stripe and finalized there."""
    invoice = issue(subscription, line("fee", "OCR Pro", "29.00"))
    StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    return invoice


def _remote(stripe_api, invoice: Invoice, **changes) -> dict:
    remote = stripe_api.objects[invoice.stripe_invoice_id]
    remote.update(changes)
    return remote


def _paid(stripe_api, invoice: Invoice) -> dict:
    remote = _remote(stripe_api, invoice, status="paid", amount_paid=2900, amount_remaining=0)
    remote["status_transitions"]["paid_at"] = 1_774_000_000
    return remote


def _failed(stripe_api, invoice: Invoice) -> dict:
    return _remote(stripe_api, invoice, attempted=True, attempt_count=1)


def _received(signal):
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    signal.connect(receiver, weak=False)
    return calls, lambda: signal.disconnect(receiver)


# --- Signatures -----------------------------------------------------------------------------
def test_an_event_signed_with_another_secret_is_refused(pushed, stripe_api, webhook):
    response = webhook.post(
        event("invoice.paid", _paid(stripe_api, pushed)), secret="whsec_someone_else"
    )
    assert response.status_code == 400
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.OPEN
    assert WebhookEventTrigger.objects.get().valid is False


def test_an_unsigned_event_is_refused_and_not_stored(webhook, client):
    response = client.post(webhook.url, data="{}", content_type="application/json")
    assert response.status_code == 400 and not WebhookEventTrigger.objects.exists()


# --- Checkout -------------------------------------------------------------------------------
def test_a_completed_checkout_saves_the_card_and_starts_the_subscription(
    pending_subscription,
    completed_checkout,
    stripe_api,
    webhook,
    django_capture_on_commit_callbacks,
):
    customer = _customer_id(pending_subscription.organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = webhook.post(event("checkout.session.completed", completed_checkout))
    assert response.status_code == 200

    lookups = stripe_api.sent("GET", f"/v1/setup_intents/{completed_checkout['setup_intent']}")
    assert {"expand[0]": "payment_method"} in [sent.form for sent in lookups]  # ours: the card
    card = stripe_api.of_type("payment_method")[0]
    (default,) = stripe_api.posts(f"/v1/customers/{customer}")
    assert default.form == {"invoice_settings[default_payment_method]": card["id"]}
    assert default.idempotency_key == f"tg-default-card-{completed_checkout['id']}"

    account = BillingAccount.objects.get(organization=pending_subscription.organization)
    assert (account.default_payment_method, account.card_brand, account.card_last4) == (
        card["id"],
        "mastercard",
        "4444",
    )
    pending_subscription.refresh_from_db()
    assert pending_subscription.status == S.ACTIVE
    first = Invoice.objects.get(subscription=pending_subscription)  # the first fee, pushed
    assert first.total == Decimal("29.00") and first.stripe_invoice_id.startswith("in_")


def test_a_repeated_checkout_event_starts_the_subscription_once(
    pending_subscription,
    completed_checkout,
    stripe_api,
    webhook,
    django_capture_on_commit_callbacks,
):
    payload = event("checkout.session.completed", completed_checkout)
    with django_capture_on_commit_callbacks(execute=True):
        webhook.post(payload)
        webhook.post(payload)  # the same delivery again: dj-stripe drops it
        # the same outcome under another event id reaches us, and changes nothing
        webhook.post(event("checkout.session.async_payment_succeeded", completed_checkout))
    assert AuditLog.objects.filter(action="subscription.payment_confirmed").count() == 1
    assert Invoice.objects.filter(subscription=pending_subscription).count() == 1
    assert len(stripe_api.posts("/v1/invoices")) == 1
    keys = {s.idempotency_key for s in stripe_api.posts(r"/v1/customers/cus_\w+")}
    assert keys == {f"tg-default-card-{completed_checkout['id']}"}


def test_a_checkout_for_no_subscription_of_ours_is_acknowledged(
    consumer, stripe_api, webhook, caplog
):
    someone = stripe_api.put(stripe_customer(name="Someone else"))
    session = stripe_api.put(
        checkout_session(
            customer=someone["id"],
            status="complete",
            metadata={"tollgate_subscription": "sub_gone"},
        )
    )
    with caplog.at_level(logging.WARNING, logger="apps.billing.stripe_webhooks"):
        response = webhook.post(event("checkout.session.completed", session))
    assert response.status_code == 200
    assert "names no subscription of ours" in caplog.text
    assert stripe_api.posts(r"/v1/customers/cus_\w+") == []


# --- Invoices -------------------------------------------------------------------------------
def test_a_paid_invoice_is_marked_paid_once(
    pushed, stripe_api, webhook, django_capture_on_commit_callbacks
):
    calls, disconnect = _received(signals.invoice_paid)
    payload = event("invoice.paid", _paid(stripe_api, pushed))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook.post(payload).status_code == 200
            assert webhook.post(payload).status_code == 200
            webhook.post(event("invoice.paid", _paid(stripe_api, pushed)))  # new id
    finally:
        disconnect()
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.PAID
    assert int(pushed.paid_at.timestamp()) == 1_774_000_000
    assert AuditLog.objects.filter(action="invoice.paid").count() == 1
    assert len(calls) == 1  # payouts hear of it once


def test_a_failed_payment_makes_the_subscription_past_due_until_it_is_paid(
    subscription, pushed, stripe_api, webhook
):
    webhook.post(event("invoice.payment_failed", _failed(stripe_api, pushed)))
    webhook.post(event("invoice.payment_failed", _failed(stripe_api, pushed)))  # retry 2
    subscription.refresh_from_db()
    pushed.refresh_from_db()
    assert subscription.status == S.PAST_DUE and pushed.payment_failed_at is not None
    assert AuditLog.objects.filter(action="invoice.payment_failed").count() == 1

    webhook.post(event("invoice.paid", _paid(stripe_api, pushed)))
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE and subscription.past_due_since is None


def test_a_late_failure_after_payment_reopens_nothing(subscription, pushed, stripe_api, webhook):
    failed = event("invoice.payment_failed", _failed(stripe_api, pushed), created=1_773_990_000)
    webhook.post(event("invoice.paid", _paid(stripe_api, pushed), created=1_774_000_000))
    webhook.post(failed)  # delivered after the newer event
    pushed.refresh_from_db()
    subscription.refresh_from_db()
    assert pushed.status == InvoiceStatus.PAID and pushed.payment_failed_at is None
    assert subscription.status == S.ACTIVE


def test_an_invoice_that_is_not_ours_is_logged_and_ignored(
    subscription, stripe_api, webhook, caplog
):
    customer = _customer_id(subscription.organization)
    stranger = stripe_api.put(stripe_invoice(customer=customer, status="paid"))
    with caplog.at_level(logging.INFO, logger="apps.billing.stripe_webhooks"):
        response = webhook.post(event("invoice.paid", stranger))
        webhook.post(event("invoice.payment_failed", stranger))
    assert response.status_code == 200
    assert f"Stripe invoice {stranger['id']} is not one of ours" in caplog.text
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE


def test_a_payment_reported_before_collect_stored_the_id_is_matched_by_metadata(
    subscription, stripe_api, webhook
):
    ours = issue(subscription, line("fee", "OCR Pro", "29.00"))
    remote = stripe_api.put(
        stripe_invoice(
            customer=_customer_id(subscription.organization),
            status="paid",
            metadata={"tollgate_invoice": ours.public_id, "number": ours.number},
            hosted_invoice_url="https://invoice.stripe.com/i/acct_test/early",
        )
    )
    webhook.post(event("invoice.paid", remote))
    ours.refresh_from_db()
    assert ours.status == InvoiceStatus.PAID and ours.stripe_invoice_id == remote["id"]
    assert ours.hosted_invoice_url == "https://invoice.stripe.com/i/acct_test/early"


def test_money_taken_for_a_voided_invoice_is_left_to_staff(
    pushed, staff, stripe_api, webhook, caplog
):
    from apps.billing import services

    services.invoice_void(invoice=pushed, actor=staff)
    with caplog.at_level(logging.ERROR, logger="apps.billing.stripe_webhooks"):
        response = webhook.post(event("invoice.paid", _paid(stripe_api, pushed)))
    assert response.status_code == 200  # a retry would not help: acknowledged, logged
    pushed.refresh_from_db()
    assert pushed.status == InvoiceStatus.VOID
    assert f"Stripe collected invoice {pushed.number}, which is void here" in caplog.text


# --- Refunds --------------------------------------------------------------------------------
@pytest.fixture
def paid_charge(subscription, pushed, stripe_api, webhook):
    """The pushed invoice, paid through a payment intent and its charge."""
    remote = _paid(stripe_api, pushed)
    stripe_api.put(
        invoice_payment(invoice=remote["id"], payment_intent="pi_3AcmePaid000001", amount=2900)
    )
    webhook.post(event("invoice.paid", remote))
    return stripe_api.put(
        charge(customer=remote["customer"], payment_intent="pi_3AcmePaid000001", amount=2900)
    )


def test_our_own_refund_is_not_recorded_again(pushed, paid_charge, staff, stripe_api, webhook):
    ours = Refund.objects.create(invoice=pushed, amount=Decimal("10.00"))
    Invoice.objects.filter(pk=pushed.pk).update(amount_refunded=Decimal("10.00"))
    StripeCollector().refund(pushed, ours)
    paid_charge.update(amount_refunded=1000)
    webhook.post(event("charge.refunded", paid_charge))
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("10.00")]


def test_a_refund_made_in_the_stripe_dashboard_is_recorded_once(
    pushed, paid_charge, stripe_api, webhook, django_capture_on_commit_callbacks
):
    calls, disconnect = _received(signals.invoice_refunded)
    outside = stripe_api.put(
        refund(charge=paid_charge["id"], amount=1250, payment_intent=paid_charge["payment_intent"])
    )
    paid_charge.update(amount_refunded=1250)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            webhook.post(event("charge.refunded", paid_charge))
            webhook.post(event("charge.refunded", paid_charge))  # another delivery
    finally:
        disconnect()
    (recorded,) = Refund.objects.all()
    assert (recorded.amount, recorded.stripe_refund_id) == (Decimal("12.50"), outside["id"])
    pushed.refresh_from_db()
    assert pushed.amount_refunded == Decimal("12.50") and pushed.status == InvoiceStatus.PAID
    assert [c["refund"] for c in calls] == [recorded]  # the provider ledger gives back its share


# --- Cards changed in the portal ------------------------------------------------------------
def test_a_new_default_card_from_the_portal_is_remembered(subscription, stripe_api, webhook):
    customer = stripe_api.objects[_customer_id(subscription.organization)]
    card = stripe_api.put(payment_method(customer=customer["id"], brand="amex", last4="0005"))
    customer["invoice_settings"]["default_payment_method"] = card["id"]
    webhook.post(event("customer.updated", customer))
    account = BillingAccount.objects.get(organization=subscription.organization)
    assert (account.default_payment_method, account.card_brand, account.card_last4) == (
        card["id"],
        "amex",
        "0005",
    )
    (asked,) = stripe_api.sent("GET", f"/v1/customers/{customer['id']}")[-1:]
    assert asked.form == {"expand[0]": "invoice_settings.default_payment_method"}


def test_a_new_card_retries_the_invoices_that_failed_at_once(
    subscription, pushed, stripe_api, webhook
):
    webhook.post(event("invoice.payment_failed", _failed(stripe_api, pushed)))
    customer = stripe_api.objects[_customer_id(subscription.organization)]
    card = stripe_api.put(payment_method(customer=customer["id"], last4="1881"))
    customer["invoice_settings"]["default_payment_method"] = card["id"]
    stripe_api.on(
        "POST", r"/v1/invoices/(?P<id>in_\w+)/pay", lambda sent, match: _paid(stripe_api, pushed)
    )

    webhook.post(event("customer.updated", customer))
    webhook.post(event("customer.updated", customer))  # nothing new: no second attempt

    (paid,) = stripe_api.posts(r"/v1/invoices/in_\w+/pay")
    assert paid.path == f"/v1/invoices/{pushed.stripe_invoice_id}/pay"
    assert paid.idempotency_key == f"tg-pay-{pushed.public_id}-{card['id']}"
    webhook.post(event("invoice.paid", _paid(stripe_api, pushed)))  # as Stripe then reports
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE


def test_a_declined_retry_with_the_new_card_waits_for_stripe(
    subscription, pushed, stripe_api, webhook
):
    webhook.post(event("invoice.payment_failed", _failed(stripe_api, pushed)))
    customer = stripe_api.objects[_customer_id(subscription.organization)]
    card = stripe_api.put(payment_method(customer=customer["id"], last4="0341"))
    customer["invoice_settings"]["default_payment_method"] = card["id"]
    stripe_api.on(
        "POST",
        r"/v1/invoices/in_\w+/pay",
        stripe_error(402, "card_error", "Your card was declined.", "card_declined"),
    )
    assert webhook.post(event("customer.updated", customer)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == S.PAST_DUE
    assert BillingAccount.objects.get(organization=subscription.organization).card_last4 == "0341"


# --- The registry other apps use ------------------------------------------------------------
@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(billing_webhooks, "_handlers", {})
    return billing_webhooks


def test_other_apps_register_handlers_for_a_family_of_events(registry, stripe_api, webhook):
    seen = []

    @registry.handles("transfer.*")
    def on_transfer(event):
        seen.append((event.type, registry.event_object(event)["destination"]))

    registry.register("transfer.created", on_transfer)  # again: still once
    destination = stripe_api.put(
        {
            "id": "acct_1Provider000001",
            "object": "account",
            "type": "express",
            "livemode": False,
            "metadata": {},
            "settings": {},
            "business_profile": {},
        }
    )
    transfer = stripe_api.put(
        {
            "id": new_id("tr", 24),
            "object": "transfer",
            "amount": 2320,
            "currency": "usd",
            "amount_reversed": 0,
            "balance_transaction": None,
            "created": 1_774_000_000,
            "description": None,
            "destination": destination["id"],
            "destination_payment": None,
            "livemode": False,
            "metadata": {"tollgate_payout": "po_1"},
            "reversals": list_of([], "/v1/transfers/tr_x/reversals"),
            "reversed": False,
            "source_transaction": None,
            "source_type": "card",
            "transfer_group": None,
        }
    )
    assert webhook.post(event("transfer.created", transfer)).status_code == 200
    assert seen == [("transfer.created", "acct_1Provider000001")]
    assert on_transfer in registry.handlers_for("transfer.reversed")


def test_registering_an_event_dj_stripe_does_not_know_fails_at_start_up(registry):
    with pytest.raises(ValueError, match="no webhook signal"):
        registry.register("tranfser.created", lambda event: None)


def test_connect_events_name_the_connected_account(registry, stripe_api, webhook):
    seen = []
    registry.register(
        "account.updated",
        lambda event: seen.append(
            (registry.event_account(event), registry.event_object(event)["payouts_enabled"])
        ),
    )
    provider = stripe_api.put(
        account(id="acct_1Provider000001", type="express", payouts_enabled=True)
    )
    webhook.post(event("account.updated", provider, account=provider["id"]))
    assert seen == [("acct_1Provider000001", True)]


# --- Endpoint set-up --------------------------------------------------------------------------
def test_an_endpoint_is_created_at_stripe_for_the_handled_events_and_stored(stripe_api):
    billing_webhooks.connect()
    stripe_api.on(
        "POST",
        "/v1/webhook_endpoints",
        lambda sent, match: webhook_endpoint(
            url=sent.form["url"],
            metadata={"djstripe_uuid": sent.form["metadata[djstripe_uuid]"]},
            enabled_events=[v for k, v in sent.form.items() if k.startswith("enabled_events")],
            api_version=sent.form["api_version"],
        ),
    )

    endpoint = billing_webhooks.webhook_endpoint_create(base_url="https://market.example.com")

    (sent,) = stripe_api.posts("/v1/webhook_endpoints")
    assert (
        sent.form["url"] == f"https://market.example.com/stripe/webhook/{endpoint.djstripe_uuid}/"
    )
    enabled = {v for k, v in sent.form.items() if k.startswith("enabled_events")}
    assert {
        "checkout.session.completed",
        "invoice.paid",
        "invoice.payment_failed",
        "charge.refunded",
        "customer.updated",
    } <= enabled
    assert sent.form["connect"] == "false"
    stored = WebhookEndpoint.objects.get(djstripe_uuid=endpoint.djstripe_uuid)
    assert stored.secret.startswith("whsec_") and stored.url == sent.form["url"]
