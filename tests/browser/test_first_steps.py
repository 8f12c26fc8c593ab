"""A newcomer's first steps in a browser, at 1280 px and 390 px: a consumer subscribes and
is one click from a key (the secret and a command to try it show once); an anonymous
visitor reads what selling here gets them, with the settings' numbers, and signs up."""

import re
from decimal import Decimal

import pytest
from django.core import mail

from apps.catalog.models import ApiStatus
from apps.keys.models import ApiKey
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import PASSWORD, MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def maps(live_site):
    provider = MembershipFactory(organization__name="Geo Corp", user__email="p@geo.test")
    api = ApiFactory(
        organization=provider.organization, name="Maps", slug="maps", status=ApiStatus.PUBLISHED
    )
    EndpointFactory(api=api, method="GET", path="/tiles", summary="A map tile")
    PlanFactory(api=api, name="Free", monthly_fee=Decimal("0"), included_units=1000)
    return api


def test_subscribing_then_one_click_to_a_key(page, phone_page, maps):
    consumer = MembershipFactory(organization__name="Acme", user__email="c@acme.test")
    login(page, "c@acme.test", PASSWORD)
    page.goto("/apis/maps/#tab-pricing")
    page.click("form[action$='/subscribe/'] button[type=submit]")
    page.wait_for_selector("#first-key")
    assert "Next: create a key to call Maps" in page.inner_text("#first-key")
    shoot(page, "first-key-offer-1280")
    login(phone_page, "c@acme.test", PASSWORD)
    phone_page.goto(page.url)
    shoot(phone_page, "first-key-offer-390")

    page.click("#first-key button[type=submit]")
    secret = page.input_value("#new-key-secret")
    assert re.fullmatch(r"tg_\w+", secret)
    key = ApiKey.objects.get(organization=consumer.organization)
    assert key.prefix in secret and key.name == "Maps"
    assert f'/maps/tiles" -H "X-Api-Key: {secret}"' in page.inner_text("#new-key-curl")
    shoot(page, "first-key-secret-1280")
    page.go_back()
    page.reload()
    assert page.locator("#first-key").count() == 0


def test_an_anonymous_visitor_reads_the_sell_page_and_signs_up(page, phone_page, settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("15")
    page.goto("/")
    page.click("header >> text=Sell your API")
    page.wait_for_url("**/sell/")
    assert "15 %" in page.inner_text("[data-fee]")
    assert "$100.00 line pays you $85.00" in page.inner_text("[data-example]")
    shoot(page, "sell-1280")
    phone_page.goto("/sell/")
    shoot(phone_page, "sell-390")

    page.click("#sell-cta >> text=Sign up and list your API")
    page.wait_for_url("**/accounts/signup/**")
    page.fill("input[name=email]", "founder@geo.test")
    page.fill("input[name=password1]", "a-long-pass-phrase-9")
    page.fill("input[name=password2]", "a-long-pass-phrase-9")
    page.click("#content form button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    page.goto(link)
    page.click("#content form button[type=submit]")
    page.wait_for_load_state()
    page.goto("/sell/")
    cta = page.inner_text("#sell-cta")
    assert "List an API" in cta and "Go to the provider console" in cta
    page.click("#sell-cta >> text=List an API")
    page.wait_for_url("**/console/apis/new/")
