"""A newcomer's first steps in a browser, at 1280 px and 390 px: a consumer subscribes and
is one click from a key (the secret and a command to try it show once)."""

import re
from decimal import Decimal

import pytest

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
