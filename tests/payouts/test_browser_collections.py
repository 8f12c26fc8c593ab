"""Collections and payouts as people see them, in headless Chromium at 1280 and 390 px
(screenshots in .run/test-shots/): the provider's Payouts page with earnings pending in the
holdback, frozen by a dispute, reversed, and a payout delayed at Stripe; the consumer's
invoice asking to confirm a 3-D Secure payment and one refunded to the credit balance."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.billing import disputes
from apps.billing.models import Invoice, Refund
from apps.payouts.models import Payout, PayoutMethod, ProviderAccount
from tests.browser.fixtures import login, shoot
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.payouts.urls")]


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def provider_story(org, pay, refund, ocr, settings, django_capture_on_commit_callbacks):
    settings.PAYOUT_HOLD_DAYS = 14
    old = pay(ocr, "120.00")
    Invoice.objects.filter(pk=old.pk).update(paid_at=timezone.now() - timedelta(days=20))
    from apps.payouts.models import LedgerEntry

    LedgerEntry.objects.filter(invoice_line__invoice=old).update(
        available_at=timezone.now() - timedelta(days=6)
    )
    refund(pay(ocr, "49.00"), "9.00")
    disputed = pay(ocr, "29.00")
    with django_capture_on_commit_callbacks(execute=True):
        disputes.dispute_record(
            invoice=disputed,
            stripe_dispute_id="dp_browser",
            status="open",
            amount=Decimal("29.00"),
            reason="fraudulent",
        )
    ProviderAccount.objects.update_or_create(
        organization=org,
        defaults={"stripe_account_id": "acct_1Acme", "payouts_enabled": True},
    )
    Payout.objects.create(
        organization=org,
        period="2026-11",
        amount=Decimal("40.00"),
        currency="USD",
        method=PayoutMethod.STRIPE,
        stripe_account_id="acct_1Acme",
        last_error="You have insufficient available funds in your Stripe account.",
        next_attempt_at=timezone.now() + timedelta(hours=4),
        retry_round=1,
    )


def test_the_provider_sees_pending_frozen_reversed_and_a_delayed_payout(
    page, phone_page, owner, provider_story, settings
):
    settings.STRIPE_SECRET_KEY = "sk_test_offline"
    for view, name in ((page, "collections-payouts-1280"), (phone_page, "collections-payouts-390")):
        login(view, owner.email, PASSWORD)
        view.goto("/console/payouts/")
        text = view.inner_text("#content")
        assert "Payable 14 days after the consumer paid" in text
        assert "frozen by disputes" in text and "frozen: disputed" in text
        assert "Delayed at Stripe; we retry on" in text
        assert no_sideways_scroll(view)
        shoot(view, name)


@pytest.fixture
def consumer_story(consumer_org, pay, ocr, staff):
    member = MembershipFactory(
        organization=consumer_org, role="owner", user__email="owner@globex.test"
    ).user
    waiting = pay(ocr, "29.00")
    Invoice.objects.filter(pk=waiting.pk).update(
        status="open",
        paid_at=None,
        collection_method="stripe",
        action_required_attempt=1,
        hosted_invoice_url="https://invoice.stripe.com/i/acct_test/in_3ds",
    )
    credited = pay(ocr, "49.00")
    Refund.objects.create(
        invoice=credited,
        amount=Decimal("15.00"),
        amount_to_balance=Decimal("15.00"),
        reason="Outage",
        created_by=staff,
    )
    Invoice.objects.filter(pk=credited.pk).update(amount_refunded=Decimal("15.00"))
    return member, waiting, credited


def test_the_consumer_confirms_3d_secure_and_sees_a_refund_to_the_balance(
    page, phone_page, consumer_story
):
    member, waiting, credited = consumer_story
    for view, width in ((page, 1280), (phone_page, 390)):
        login(view, member.email, PASSWORD)
        view.goto(f"/console/invoices/{waiting.public_id}/")
        link = view.get_by_role("link", name="confirm the payment on Stripe’s page")
        assert link.get_attribute("href") == "https://invoice.stripe.com/i/acct_test/in_3ds"
        assert no_sideways_scroll(view)
        shoot(view, f"collections-invoice-3ds-{width}")
        view.goto(f"/console/invoices/{credited.public_id}/")
        assert "$15.00 of the refund of" in view.inner_text(".invoice-doc")
        assert "credited to your account balance" in view.inner_text(".invoice-doc")
        shoot(view, f"collections-invoice-credit-{width}")
