"""The newcomer's path in a browser: a key one click after subscribing, a plan change
confirmed with its amounts before it happens, and a page for people who want to sell."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import time_machine
from django.utils import timezone

from apps.billing.models import Invoice
from apps.catalog.models import ApiStatus
from apps.keys.models import ApiKey
from apps.subscriptions.services import subscription_create
from tests.billing.usage import record_usage
from tests.browser.fixtures import login, shoot
from tests.browser.test_onboarding import _signup_and_verify
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import PASSWORD, MembershipFactory
from tests.gateway.upstream import Upstream
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def upstream():
    with Upstream() as server:
        yield server


@pytest.fixture
def rates(upstream, settings):
    settings.COUNTER_STORE, settings.REDIS_URL = "database", ""
    provider = MembershipFactory(organization__name="Rates Inc", user__email="p@rates.test")
    api = ApiFactory(
        organization=provider.organization,
        name="Currency Rates",
        slug="rates",
        upstream_url=upstream.url,
        status=ApiStatus.PUBLISHED,
    )
    EndpointFactory(api=api, method="GET", path="/latest", summary="Latest rates")
    PlanFactory(api=api, name="Free", included_units=1_000)
    PlanFactory(
        api=api,
        name="Pro",
        monthly_fee=Decimal("30.00"),
        included_units=100_000,
        unit_price=Decimal("0.001"),
        hard_limit=False,
        recommended=True,
    )
    return api


@pytest.fixture
def consumer(db):
    return MembershipFactory(organization__name="Paperless Ltd", user__email="dev@paperless.test")


def test_subscribe_then_one_click_to_a_key_that_works(page, phone_page, live_site, rates, consumer):
    login(page, consumer.user.email, PASSWORD)
    page.goto("/apis/rates/#tab-pricing")
    page.click("#tab-pricing >> text=Subscribe for free")
    page.wait_for_url("**/console/subscriptions/**")
    assert "Next: a key to call Currency Rates" in page.inner_text("#call-it")
    shoot(page, "newcomer-subscribed-desktop")

    page.click("#call-it >> text=Create a key")
    page.wait_for_selector("#new-key")
    secret = page.input_value("#new-key-secret")
    key = ApiKey.objects.get(organization=consumer.organization)
    assert secret.startswith(key.prefix) and key.name == "Currency Rates"
    curl = page.inner_text("#new-key-curl")
    assert f'/gw/rates/latest" -H "X-Api-Key: {secret}"' in curl
    shoot(page, "newcomer-key-desktop")

    # the command shown works as printed
    url = re.search(r'curl "([^"]+)"', curl).group(1)
    response = requests.get(url, headers={"X-Api-Key": secret}, timeout=10)
    assert response.status_code == 200 and response.json()["path"] == "/latest"

    login(phone_page, consumer.user.email, PASSWORD)
    phone_page.goto("/console/subscriptions/")
    phone_page.click("text=Currency Rates")
    assert "Call Currency Rates" in phone_page.inner_text("#call-it")
    shoot(phone_page, "newcomer-subscribed-phone")


def _amounts(page, selector: str) -> list[str]:
    return [cell.strip() for cell in page.locator(selector).all_inner_texts()]


def test_a_plan_change_is_confirmed_with_its_amounts_and_invoiced_as_shown(
    page, phone_page, live_site, rates, consumer
):
    basic = PlanFactory(
        api=rates,
        name="Basic",
        monthly_fee=Decimal("10.00"),
        included_units=10_000,
        unit_price=Decimal("0.002"),
        hard_limit=False,
    )
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        subscription = subscription_create(
            actor=consumer.user, organization=consumer.organization, plan=basic
        ).subscription
    record_usage(subscription, 8_000, at=start + timedelta(days=3))
    pro = rates.plans.get(name="Pro")

    # the preview and the change happen at one instant: prorating to the microsecond would
    # otherwise move a cent between looking and confirming
    with time_machine.travel(start + timedelta(days=10), tick=False):
        login(page, consumer.user.email, PASSWORD)
        page.goto(f"/console/subscriptions/{subscription.public_id}/")
        page.select_option("#change-plan-form select[name=plan]", str(pro.pk))
        page.click("#change-plan-form >> text=Review change")
        dialog = page.locator("dialog#change-plan")
        dialog.wait_for(state="visible")
        assert "Upgrade to Pro" in dialog.inner_text()
        shown = _amounts(page, "#charged-now tbody td.num")
        total = page.inner_text("#charged-now-total").strip()
        assert len(shown) == 3 and total.startswith("$")
        assert "$30.00 for the next month of Pro" in dialog.inner_text()
        shoot(page, "newcomer-change-dialog-desktop", full_page=False)
        subscription.refresh_from_db()
        assert subscription.plan == basic  # looking changes nothing

        dialog.locator(f"text=Confirm and pay {total}").click()
        page.wait_for_selector("text=You are now on Pro")
        page.goto("/console/invoices/")
        page.click("table >> a.mono >> nth=0")
        page.wait_for_selector(".invoice-doc")
        invoice = Invoice.objects.get(key__startswith="change:")
        assert invoice.number in page.inner_text("h1")
        lines = _amounts(page, ".invoice-lines tbody tr:not(.section-head) td[data-label=Amount]")
        assert lines == shown
        assert total in page.inner_text(".invoice-lines tfoot")

        # without JavaScript the confirmation is a page of its own; on a phone it fits
        login(phone_page, consumer.user.email, PASSWORD)
        phone_page.goto(
            f"/console/billing/subscriptions/{subscription.public_id}/change-plan/?plan={basic.pk}"
        )
        text = phone_page.inner_text("#change-plan")
        assert "Downgrade to Basic" in text and "Switch now instead" in text
        shoot(phone_page, "newcomer-change-page-phone")
        phone_page.goto(f"/console/subscriptions/{subscription.public_id}/")
        phone_page.select_option("#change-plan-form select[name=plan]", str(basic.pk))
        phone_page.click("#change-plan-form >> text=Review change")
        phone_page.locator("dialog#change-plan").wait_for(state="visible")
        shoot(phone_page, "newcomer-change-dialog-phone", full_page=False)


def test_an_anonymous_visitor_goes_from_sell_your_api_to_listing_one(page, phone_page, settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("15")
    page.goto("/")
    page.click("header >> text=Sell your API")
    page.wait_for_url("**/sell/")
    assert "85 %" in page.inner_text("#sell-figures .stat >> nth=0")
    shoot(page, "newcomer-sell-desktop")
    phone_page.goto("/sell/")
    shoot(phone_page, "newcomer-sell-phone")

    page.click("#sell-cta >> text=Create a provider account")
    page.wait_for_url("**/accounts/signup/?next=/console/apis/new/")
    _signup_and_verify(page, "maker@rates.test", next_path="/console/apis/new/")
    page.wait_for_url("**/console/apis/new/")
    assert page.is_visible("input[name=upstream_url]")
