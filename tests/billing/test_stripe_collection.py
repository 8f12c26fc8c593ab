"""StripeCollector: customers, Checkout, the portal, invoices pushed with items, refunds.
Stripe is faked at the HTTP layer; the tests assert what was sent."""

from decimal import Decimal

import pytest
import stripe
from djstripe.settings import djstripe_settings

from apps.billing import services
from apps.billing.collection import collector
from apps.billing.models import BillingAccount, Invoice, InvoiceStatus, Refund
from apps.billing.stripe_collection import StripeCollector
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SubscriptionStatus
from tests.billing.stripe_fixtures import *  # noqa: F403
from tests.billing.stripe_fixtures import (
    PERIOD_START,
    invoice_payment,
    issue,
    line,
    stripe_error,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.billing.stripe_urls")]
S = SubscriptionStatus


@pytest.fixture
def card_on_file(consumer):
    BillingAccount.objects.create(
        organization=consumer,
        stripe_customer_id="cus_Acme0000000001",
        default_payment_method="pm_1AcmeVisa",
        card_brand="visa",
        card_last4="4242",
    )


@pytest.fixture
def subscription(pending_subscription):
    return pending_subscription


# --- Customers, Checkout, portal ------------------------------------------------------------
def test_stripe_is_the_collector_when_a_secret_key_is_set(stripe_settings):
    assert isinstance(collector(), StripeCollector) and collector().method == "stripe"


def test_a_paid_plan_waits_for_a_card_saved_through_checkout(
    owner, consumer, paid_plan, stripe_api
):
    result = subscription_services.subscription_create(
        actor=owner, organization=consumer, plan=paid_plan
    )
    subscription = result.subscription
    assert subscription.status == S.PENDING_PAYMENT

    (created,) = stripe_api.posts("/v1/customers")
    assert created.form == {
        "name": "Acme",
        "email": "billing@acme.test",
        "metadata[tollgate_org]": consumer.public_id,
    }
    assert created.idempotency_key == f"tg-customer-{consumer.public_id}"
    assert created.stripe_version == djstripe_settings.STRIPE_API_VERSION
    customer_id = BillingAccount.objects.get(organization=consumer).stripe_customer_id
    assert customer_id.startswith("cus_")

    (session,) = stripe_api.posts("/v1/checkout/sessions")
    page = f"https://tollgate.test/console/subscriptions/{subscription.public_id}/"
    assert session.form == {
        "mode": "setup",
        "customer": customer_id,
        "currency": "usd",
        "client_reference_id": subscription.public_id,
        "success_url": f"{page}?checkout=success",
        "cancel_url": f"{page}?checkout=cancel",
        "metadata[tollgate_subscription]": subscription.public_id,
        "metadata[tollgate_org]": consumer.public_id,
        "setup_intent_data[metadata][tollgate_subscription]": subscription.public_id,
        "setup_intent_data[metadata][tollgate_org]": consumer.public_id,
    }
    assert session.stripe_version == djstripe_settings.STRIPE_API_VERSION
    assert result.checkout_url.startswith("https://checkout.stripe.com/c/pay/cs_test_")


def test_each_organization_is_one_customer(consumer, other_org, stripe_api):
    first = StripeCollector().ensure_customer(consumer)
    assert StripeCollector().ensure_customer(consumer) == first
    assert StripeCollector().ensure_customer(other_org) != first
    assert len(stripe_api.posts("/v1/customers")) == 2


def test_racing_creators_share_one_idempotency_key_and_get_one_customer(consumer, stripe_api):
    first = StripeCollector().ensure_customer(consumer)
    # a second worker read the account before the first stored the id
    BillingAccount.objects.filter(organization=consumer).update(stripe_customer_id="")
    second = StripeCollector().ensure_customer(consumer)
    keys = {sent.idempotency_key for sent in stripe_api.posts("/v1/customers")}
    assert second == first and keys == {f"tg-customer-{consumer.public_id}"}


def test_a_customer_without_a_billing_email_is_created_without_one(org, stripe_api):
    StripeCollector().ensure_customer(org)
    assert "email" not in stripe_api.posts("/v1/customers")[0].form


def test_no_card_is_asked_for_when_one_is_on_file(
    card_on_file, owner, consumer, paid_plan, stripe_api
):
    result = subscription_services.subscription_create(
        actor=owner, organization=consumer, plan=paid_plan
    )
    assert result.subscription.status == S.ACTIVE and result.checkout_url is None
    assert stripe_api.requests == []


def test_a_subscription_started_with_a_card_on_file_is_charged_by_stripe(
    card_on_file, owner, consumer, paid_plan, stripe_api
):
    subscription = subscription_services.subscription_create(
        actor=owner, organization=consumer, plan=paid_plan
    ).subscription
    assert not subscription.manual_invoicing
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    assert invoice.collection_method == "stripe"


def test_the_portal_opens_for_the_organizations_customer(card_on_file, consumer, stripe_api):
    url = StripeCollector().portal_url(consumer, "https://tollgate.test/console/billing/")
    (sent,) = stripe_api.posts("/v1/billing_portal/sessions")
    assert sent.form == {
        "customer": "cus_Acme0000000001",
        "return_url": "https://tollgate.test/console/billing/",
    }
    assert url.startswith("https://billing.stripe.com/p/session/")


# --- Invoices -------------------------------------------------------------------------------
def test_an_invoice_is_pushed_as_items_on_a_draft_then_finalized(subscription, stripe_api):
    invoice = issue(
        subscription,
        line("fee", "OCR Pro, March", "29.00"),
        line("usage", "2,500 calls over 10,000", "1.00"),
        line("proration_credit", "Unused Basic", "-5.25"),
    )
    StripeCollector().collect(invoice)

    customer_id = BillingAccount.objects.get(
        organization=subscription.organization_id
    ).stripe_customer_id
    (created,) = stripe_api.posts("/v1/invoices")
    assert created.form == {
        "customer": customer_id,
        "currency": "usd",
        "collection_method": "charge_automatically",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
        "description": f"Tollgate invoice {invoice.number}",
        "metadata[tollgate_invoice]": invoice.public_id,
        "metadata[number]": invoice.number,
    }
    assert created.idempotency_key == f"tg-invoice-{invoice.public_id}"
    (remote,) = stripe_api.of_type("invoice")
    stripe_id = remote["id"]

    items = stripe_api.posts("/v1/invoiceitems")
    lines = list(invoice.lines.all())
    assert [(i.form["amount"], i.form["description"]) for i in items] == [
        ("2900", "OCR Pro, March"),
        ("100", "2,500 calls over 10,000"),
        ("-525", "Unused Basic"),
    ]
    assert [i.idempotency_key for i in items] == [f"tg-line-{row.pk}" for row in lines]
    assert {(i.form["customer"], i.form["invoice"], i.form["currency"]) for i in items} == {
        (customer_id, stripe_id, "usd")
    }
    assert items[0].form["period[start]"] == str(int(PERIOD_START.timestamp()))
    assert items[0].form["metadata[tollgate_line]"] == str(lines[0].pk)

    (finalized,) = stripe_api.posts(r"/v1/invoices/in_\w+/finalize")
    assert finalized.path == f"/v1/invoices/{stripe_id}/finalize"
    assert finalized.form == {"auto_advance": "true"}
    assert finalized.idempotency_key == f"tg-finalize-{invoice.public_id}"
    assert {s.stripe_version for s in stripe_api.requests} == {djstripe_settings.STRIPE_API_VERSION}

    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id == stripe_id
    assert invoice.hosted_invoice_url == f"https://invoice.stripe.com/i/acct_test/{stripe_id}"
    assert stripe_api.objects[stripe_id]["total"] == 2900 + 100 - 525


def test_collecting_again_pushes_nothing(subscription, stripe_api):
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    StripeCollector().collect(invoice)
    StripeCollector().collect(invoice)
    assert len(stripe_api.posts("/v1/invoices")) == 1
    assert len(stripe_api.posts("/v1/invoiceitems")) == 1


def test_a_push_that_failed_midway_is_resumed_with_the_same_keys(subscription, stripe_api):
    invoice = issue(subscription, line("fee", "Pro", "29.00"), line("usage", "Calls", "3.10"))
    stripe_api.on(
        "POST",
        r"/v1/invoices/in_\w+/finalize",
        stripe_error(500, "api_error", "Something went wrong on Stripe's end."),
        times=1,
    )
    with pytest.raises(ConnectionError):  # the Celery task retries ConnectionError
        StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    assert invoice.stripe_invoice_id == ""

    StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    remote = stripe_api.objects[invoice.stripe_invoice_id]
    assert remote["status"] == "open" and len(remote["lines"]["data"]) == 2
    assert len(stripe_api.of_type("invoice")) == 1  # replayed for the same key
    keys = [s.idempotency_key for s in stripe_api.posts("/v1/invoices")]
    assert keys == [f"tg-invoice-{invoice.public_id}"] * 2


def test_a_rejected_request_is_not_retried_as_a_network_error(subscription, stripe_api):
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    stripe_api.on(
        "POST",
        "/v1/invoices",
        stripe_error(400, "invalid_request_error", "No such customer", "resource_missing"),
    )
    with pytest.raises(stripe.InvalidRequestError):
        StripeCollector().collect(invoice)


def test_manual_invoices_are_never_pushed(owner, consumer, paid_plan, stripe_api):
    subscription = subscription_services.subscription_create(
        actor=owner, organization=consumer, plan=paid_plan
    ).subscription
    subscription.manual_invoicing = True  # staff arranged bank transfers for this one
    subscription.save(update_fields=["manual_invoicing"])
    before = len(stripe_api.requests)
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    assert invoice.collection_method == "manual"
    StripeCollector().collect(invoice)
    assert len(stripe_api.requests) == before


def test_a_voided_invoice_is_not_pushed(subscription, staff, stripe_api):
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    services.invoice_void(invoice=invoice, actor=staff)
    StripeCollector().collect(invoice)
    assert stripe_api.posts("/v1/invoices") == []


def test_zero_decimal_currencies_are_sent_in_whole_units(subscription, stripe_api, settings):
    settings.CURRENCY = "JPY"
    invoice = issue(subscription, line("fee", "Pro", "1500"))
    StripeCollector().collect(invoice)
    (item,) = stripe_api.posts("/v1/invoiceitems")
    assert (item.form["amount"], item.form["currency"]) == ("1500", "jpy")


def test_three_decimal_currencies_are_sent_in_thousandths(subscription, stripe_api, settings):
    settings.CURRENCY = "KWD"
    invoice = issue(subscription, line("fee", "Pro", "5.12"))
    StripeCollector().collect(invoice)
    (item,) = stripe_api.posts("/v1/invoiceitems")
    assert (item.form["amount"], item.form["currency"]) == ("5120", "kwd")  # not 512


# --- Refunds --------------------------------------------------------------------------------
@pytest.fixture
def paid_invoice(subscription, stripe_api):
    """An invoice pushed to Stripe and paid there with a payment intent."""
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    StripeCollector().collect(invoice)
    invoice.refresh_from_db()
    remote = stripe_api.objects[invoice.stripe_invoice_id]
    remote.update(status="paid")
    stripe_api.put(
        invoice_payment(invoice=remote["id"], payment_intent="pi_3AcmePaid0000001", amount=2900)
    )
    services.invoice_mark_paid(invoice=invoice)
    return invoice


def test_a_refund_is_sent_against_the_payment_that_paid_the_invoice(
    paid_invoice, staff, stripe_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the send_refund task runs
        refund = services.invoice_refund(
            invoice=paid_invoice, actor=staff, amount=Decimal("10.00"), reason="Outage"
        )
    (looked_up,) = stripe_api.sent("GET", f"/v1/invoices/{paid_invoice.stripe_invoice_id}")
    assert looked_up.form == {"expand[0]": "payments"}
    (sent,) = stripe_api.posts("/v1/refunds")
    assert sent.form == {
        "payment_intent": "pi_3AcmePaid0000001",
        "amount": "1000",
        "reason": "requested_by_customer",
        "metadata[tollgate_refund]": refund.public_id,
        "metadata[tollgate_invoice]": paid_invoice.public_id,
    }
    assert sent.idempotency_key == f"tg-refund-{refund.public_id}"
    refund.refresh_from_db()
    assert refund.stripe_refund_id.startswith("re_")


def test_a_refund_is_sent_once(paid_invoice, staff, stripe_api):
    refund = Refund.objects.create(invoice=paid_invoice, amount=Decimal("29.00"))
    StripeCollector().refund(paid_invoice, refund)
    StripeCollector().refund(paid_invoice, refund)
    assert len(stripe_api.posts("/v1/refunds")) == 1


def test_a_refund_of_an_invoice_stripe_did_not_collect_sends_nothing(subscription, stripe_api):
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID)
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("29.00"))
    StripeCollector().refund(invoice, refund)
    assert stripe_api.posts("/v1/refunds") == []


def test_a_refund_of_an_unpaid_stripe_invoice_fails_loudly(subscription, stripe_api):
    invoice = issue(subscription, line("fee", "Pro", "29.00"))
    StripeCollector().collect(invoice)
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("29.00"))
    with pytest.raises(LookupError):
        StripeCollector().refund(invoice, refund)
