"""The newcomer's path in a browser: a key one click after subscribing, a plan change
confirmed with its amounts before it happens, and a page for people who want to sell."""

import re
from decimal import Decimal

import pytest
import requests

from apps.catalog.models import ApiStatus
from apps.keys.models import ApiKey
from tests.browser.fixtures import login, shoot
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
