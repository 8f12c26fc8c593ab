"""The Payouts page in headless Chromium, at desktop and phone widths (screenshots land in
.run/test-shots/ for people to look at)."""

import pytest

from apps.payouts import services
from apps.payouts.models import ProviderAccount
from tests.browser.fixtures import login, shoot
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.payouts.urls")]


@pytest.fixture
def history(pay, refund, ocr, staff):
    first = pay(ocr, "49.00", "12.34")
    refund(first, "10.00")
    payout = services.run_payouts("2026-10").created[0]
    services.payout_mark_paid(payout=payout, actor=staff, reference="BANK-2026-10-ACME")
    for amount in ("29.00", "4.60", "118.25") * 8:
        pay(ocr, amount)


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_page_with_manual_payouts(page, phone_page, owner, history):
    for view, name in ((page, "payouts-manual-1280"), (phone_page, "payouts-manual-390")):
        login(view, owner.email, PASSWORD)
        view.goto("/console/payouts/")
        assert view.get_by_role("heading", name="Payouts", exact=True).is_visible()
        assert view.get_by_text("How you are paid").is_visible()
        assert no_sideways_scroll(view)
        shoot(view, name)
    page.get_by_role("link", name="Older").click()
    page.wait_for_url("**page=2")
    assert page.get_by_text("Page 2 of 2").is_visible()


def test_the_page_with_stripe(page, phone_page, owner, org, history, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_offline"
    login(phone_page, owner.email, PASSWORD)
    phone_page.goto("/console/payouts/")
    assert phone_page.get_by_role("button", name="Connect with Stripe").is_visible()
    assert no_sideways_scroll(phone_page)
    shoot(phone_page, "payouts-stripe-unconnected-390")
    ProviderAccount.objects.filter(organization=org).update(
        stripe_account_id="acct_1ProviderAcme0001", details_submitted=True, payouts_enabled=True
    )
    login(page, owner.email, PASSWORD)
    page.goto("/console/payouts/")
    assert page.get_by_text("Payouts enabled").first.is_visible()
    shoot(page, "payouts-stripe-1280")


def test_a_developer_sees_no_money_and_a_billing_member_does(
    page, phone_page, member, billing_member, history
):
    for view, width in ((page, 1280), (phone_page, 390)):
        login(view, member.email, PASSWORD)
        view.goto("/console/")
        assert view.locator("nav.sidebar a", has_text="Payouts").count() == 0
        assert view.locator("nav.sidebar a", has_text="Invoices").count() == 0
        response = view.goto("/console/payouts/")
        assert response.status == 403
        assert view.get_by_text("Your role (Developer) does not allow this").is_visible()
        assert view.get_by_text("$").count() == 0
        assert no_sideways_scroll(view)
        shoot(view, f"roles-developer-payouts-{width}")
    page.context.clear_cookies()
    login(page, billing_member.email, PASSWORD)
    page.goto("/console/")
    page.locator("nav.sidebar a", has_text="Payouts").click()
    assert page.get_by_role("heading", name="Payouts", exact=True).is_visible()
    shoot(page, "roles-billing-payouts-1280")
