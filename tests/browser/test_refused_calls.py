"""Refused calls, as a consumer sees them in a browser at 1280 px and 390 px: real calls
through the gateway (a hard quota of two calls, then 429 quota_exceeded; a revoked key),
flushed, then the subscription's usage panel, the Usage page and the request log."""

import time

import pytest
import requests

from apps.catalog.models import ApiStatus
from apps.keys.services import api_key_create, api_key_revoke
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import PASSWORD, MembershipFactory
from tests.gateway.conftest import flush_all, make_plan, subscribe
from tests.gateway.upstream import Upstream

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def upstream():
    with Upstream() as server:
        yield server


def test_a_consumer_sees_why_calls_were_refused(page, live_site, owner, org, upstream, settings):
    settings.COUNTER_STORE, settings.REDIS_URL = "database", ""
    provider = MembershipFactory(organization__name="Provider").organization
    api = ApiFactory(
        organization=provider,
        name="Echo",
        slug="echo",
        upstream_url=upstream.url,
        status=ApiStatus.PUBLISHED,
    )
    EndpointFactory(api=api, method="GET", path="/echo", summary="Echo")
    subscription = subscribe(org, make_plan(api, included_units=2, hard_limit=True))
    key, secret = api_key_create(actor=owner, organization=org, name="server")
    old, old_secret = api_key_create(actor=owner, organization=org, name="old laptop")
    api_key_revoke(actor=owner, key=old)

    def call(secret):
        url = f"{live_site.url}/gw/echo/echo"
        return requests.get(url, headers={"X-Api-Key": secret}, timeout=10)

    statuses = [call(secret).status_code for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429]
    assert call(old_secret).json()["code"] == "invalid_api_key"
    time.sleep(0.3)  # recorded just after the answers went out
    flush_all()

    login(page, owner.email, PASSWORD)
    page.goto(f"/console/subscriptions/{subscription.public_id}/")
    panel = page.locator("#usage")
    assert "3 refused" in panel.inner_text()
    refused = page.locator("#refused")
    assert "quota_exceeded" in refused.inner_text()
    assert "You used all the units your plan includes" in refused.inner_text()
    refused.scroll_into_view_if_needed()
    shoot(page, "refused-panel-desktop")

    page.goto("/console/usage/")
    table = page.locator("section#refused")
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    texts = [rows.nth(n).inner_text() for n in range(2)]
    assert any(key.prefix in t and "quota_exceeded" in t and "3" in t for t in texts)
    assert any(old.prefix in t and "invalid_api_key" in t for t in texts)
    assert "4 refused" in page.locator(".stat").first.inner_text()
    shoot(page, "refused-usage-desktop")

    page.goto(f"/console/usage/{subscription.public_id}/log/")
    codes = page.locator("tbody tr td[data-label=Status] code").all_inner_texts()
    assert codes == ["quota_exceeded"] * 3
    shoot(page, "refused-log-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console/usage/")
    assert page.locator("section#refused").is_visible()
    shoot(page, "refused-usage-phone")
    page.goto(f"/console/subscriptions/{subscription.public_id}/")
    page.locator("#refused").scroll_into_view_if_needed()
    shoot(page, "refused-panel-phone")
    page.goto(f"/console/usage/{subscription.public_id}/log/")
    shoot(page, "refused-log-phone")
