"""A provider adds a webhook endpoint, copies its secret, sends a test event and reads the
delivery in the log, in headless Chromium at 1280 and 390 px."""

import json

import pytest

from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.browser.fixtures import login, shoot
from tests.factories import PASSWORD
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_signing import _docs_verifier

pytestmark = pytest.mark.browser


def _clean_shot(page, name: str) -> None:
    """Toasts cover the top of full-page shots; scroll back so the sticky header sits once."""
    page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, name)


def test_add_an_endpoint_and_send_a_test_event(page, phone_page, live_site, settings, owner):
    settings.ROOT_URLCONF = "tests.webhooks.urls"  # until config/urls.py mounts the app
    with Receiver() as receiver:
        login(page, owner.email, PASSWORD)
        page.goto("/console/webhooks/")
        page.wait_for_selector("text=No webhook endpoints yet")
        _clean_shot(page, "webhooks-empty-1280")

        page.fill("input[name=url]", receiver.url)
        page.fill("input[name=description]", "Billing service (production)")
        page.check("input[value='subscription.created']")
        page.check("input[value='usage.threshold_reached']")
        page.click("#add-endpoint button[type=submit]")
        page.wait_for_url(lambda url: "/console/webhooks/whe_" in url)
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.event_types == ["subscription.created", "usage.threshold_reached"]
        secret = page.locator("#webhook-secret").input_value()
        assert secret == endpoint.secret
        page.wait_for_selector("text=No deliveries yet")
        _clean_shot(page, "webhooks-new-endpoint-1280")

        page.click(".page-header button:has-text('Send test event')")
        page.wait_for_selector("#delivery-log .badge:has-text('succeeded')")
        (request,) = receiver.received
        verify = _docs_verifier()
        assert verify(secret, request["headers"]["Tollgate-Signature"], request["body"])
        assert json.loads(request["body"])["type"] == "webhook.test"

        delivery = WebhookDelivery.objects.get()
        page.click(f"#whd-{delivery.public_id} a:has-text('Details')")
        page.wait_for_selector(f"#whd-{delivery.public_id} pre:has-text('webhook.test')")
        assert "Tollgate-Signature" not in page.inner_text(f"#whd-{delivery.public_id}")
        _clean_shot(page, "webhooks-endpoint-1280")

        page.goto("/console/webhooks/")
        assert "1 delivery" in page.inner_text("main")
        _clean_shot(page, "webhooks-list-1280")

        login(phone_page, owner.email, PASSWORD)
        phone_page.goto(f"/console/webhooks/{endpoint.public_id}/")
        phone_page.click(f"#whd-{delivery.public_id} a:has-text('Details')")
        phone_page.wait_for_selector(f"#whd-{delivery.public_id} pre")
        _clean_shot(phone_page, "webhooks-endpoint-390")
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        phone_page.goto("/console/webhooks/")
        _clean_shot(phone_page, "webhooks-list-390")
