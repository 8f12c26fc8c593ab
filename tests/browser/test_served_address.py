"""`make run PORT=8301`: the site served on a port other than SITE_URL's shows its own address
in every snippet, the Base URL box, a new key's curl and the provider's "Consumers call"
line, and Try it reaches the gateway (the Content-Security-Policy lets it)."""

import json

import pytest
from django.core.management import call_command

from tests.browser.fixtures import login, shoot

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(live_site, settings, capsys):
    """The demo, seeded as `make run` does (SITE_URL = where it serves); then SITE_URL goes
    back to its :8000 default, which pages must not lean on."""
    call_command("seed_demo", "--json")
    demo = json.loads(capsys.readouterr().out)
    settings.SITE_URL = "http://127.0.0.1:8000"
    return demo


def _no_toasts(page):
    page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")


def test_pages_show_the_served_address_and_try_it_works(browser, page, live_site, seeded):
    gateway = f"{live_site.url}/gw/finance-validators"
    consumer = seeded["consumer"]
    login(page, consumer["email"], consumer["password"])

    page.goto("/apis/finance-validators/")
    assert page.input_value("#base-url") == gateway
    assert f"curl {gateway}/" in page.inner_text("#quickstart")
    assert f"curl {live_site.url}/gw/finance-validators/iban/" in page.inner_text("#tab-overview")
    assert ":8000" not in page.content()

    page.click("#t-try")
    page.fill("#try-key", seeded["api_key"])
    assert page.inner_text("#try-url").startswith(f"GET {gateway}/")
    page.click("#try-send")
    page.wait_for_selector("#try-result:not([hidden])")
    assert page.inner_text("#try-status") == "200", page.inner_text("#try-response")
    assert '"valid": true' in page.inner_text("#try-response")
    _no_toasts(page)
    shoot(page, "served-address-try-it")

    page.goto("/console/keys/")
    page.fill("input[name=name]", "Port check")
    page.click("#create-key button[type=submit]")
    page.wait_for_selector("#new-key-curl")
    assert page.inner_text("#new-key-curl").startswith(f'curl "{live_site.url}/gw/')
    _no_toasts(page)
    shoot(page, "served-address-new-key")

    page.context.clear_cookies()
    provider = seeded["provider"]
    login(page, provider["email"], provider["password"])
    page.goto("/console/apis/finance-validators/")
    assert f"{gateway}/…" in page.inner_text("main")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "served-address-provider-phone")
