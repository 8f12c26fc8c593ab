"""The console banner of a failing payment, in a browser at 1280 px and 390 px: past due
says when the next try is; unpaid says calls are refused and when it is cancelled. A
developer (no billing) is told whom to ask instead of a button."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from apps.accounts.roles import Role
from apps.billing import dunning
from apps.billing import services as billing
from apps.subscriptions import services as subscription_services
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import ApiFactory
from tests.factories import PASSWORD, MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def failed_invoice(owner, org, other_org, settings):
    settings.DUNNING_RETRY_DAYS = (1, 3, 7, 14)
    settings.UNPAID_CANCEL_DAYS = 30
    plan = PlanFactory(
        api=ApiFactory(organization=other_org, name="Geocoder"), monthly_fee=Decimal("29")
    )
    subscription = subscription_services.subscription_create(
        actor=owner, organization=org, plan=plan
    ).subscription
    invoice = billing.invoice_first_period(subscription)
    return billing.invoice_payment_failed(invoice=invoice)


def test_a_failed_payment_and_then_unpaid_show_on_every_console_page(
    page, owner, org, failed_invoice
):
    next_try = failed_invoice.payment_failed_at + timedelta(days=1)
    login(page, owner.email, PASSWORD)
    for url in ("/console/", "/console/keys/", "/console/invoices/"):
        page.goto(url)
        notice = page.locator("#dunning-notice")
        assert "A payment failed" in notice.inner_text()
        assert f"Next try on {next_try:%b %-d, %Y}" in notice.inner_text()
    assert notice.locator("a", has_text="Update card").get_attribute("href") == "/console/billing/"
    shoot(page, "dunning-past-due-desktop")

    failed_invoice.refresh_from_db()
    for day in (1, 3, 7, 14):
        with time_machine.travel(failed_invoice.payment_failed_at + timedelta(days=day, hours=1)):
            dunning.run()
    page.goto("/console/")
    notice = page.locator("#dunning-notice")
    assert "Unpaid: calls to Geocoder are refused" in notice.inner_text()
    cancel_on = failed_invoice.payment_failed_at + timedelta(days=14 + 30, hours=1)
    assert f"unpaid on {cancel_on:%b %-d, %Y}" in notice.inner_text()
    shoot(page, "dunning-unpaid-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console/")
    assert page.locator("#dunning-notice").is_visible()
    shoot(page, "dunning-unpaid-phone")


def test_a_developer_is_told_whom_to_ask(page, org, failed_invoice):
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER).user
    login(page, developer.email, PASSWORD)
    page.goto("/console/")
    notice = page.locator("#dunning-notice")
    assert "Ask an owner or a billing member" in notice.inner_text()
    assert notice.locator("a", has_text="Update card").count() == 0
