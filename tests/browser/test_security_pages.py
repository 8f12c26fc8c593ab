"""What people see of the security refusals, in a browser at 1280 px and 390 px: a custom
range out of range is a form error beside the dates, and a suspended organization's members
see why on every console page."""

import pytest

from apps.accounts.services import organization_suspend
from tests.browser.fixtures import login, shoot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_a_range_out_of_range_is_a_form_error_beside_the_dates(page, owner):
    login(page, owner.email, PASSWORD)
    page.goto("/console/analytics/?range=custom&from=9999-12-01&to=9999-12-31")
    error = page.locator("#range-error")
    assert error.inner_text() == (
        "Pick a date between 1970-01-01 and 9998-12-31. Showing the last 7 days."
    )
    assert page.locator("#range-from").get_attribute("aria-invalid") == "true"
    assert page.locator("#range-from").input_value() == "9999-12-01"
    shoot(page, "range-error-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    assert error.is_visible()
    shoot(page, "range-error-phone")

    # A good range is taken, and the dates shown are its first and last day.
    page.set_viewport_size({"width": 1280, "height": 860})
    page.fill("#range-from", "2026-11-01")
    page.fill("#range-to", "2026-11-30")
    page.click(".range-picker button[type=submit]")
    page.wait_for_url("**from=2026-11-01**")
    assert page.locator("#range-error").count() == 0
    assert page.locator("#range-to").input_value() == "2026-11-30"


def test_members_of_a_suspended_organization_see_why(page, owner, org, staff):
    organization_suspend(actor=staff, organization=org, reason="chargebacks under review")
    login(page, owner.email, PASSWORD)
    for url in ("/console/", "/console/keys/", "/console/apis/"):
        page.goto(url)
        notice = page.locator("#suspended-notice")
        assert "Acme is suspended" in notice.inner_text()
        assert "chargebacks under review" in notice.inner_text()
    shoot(page, "suspended-notice-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console/")
    assert page.locator("#suspended-notice").is_visible()
    shoot(page, "suspended-notice-phone")
