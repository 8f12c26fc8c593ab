"""Entering payout details in headless Chromium, at 1280 px and 390 px: the Payouts page says
what to do, a mistyped IBAN is an error beside the field, the right one is saved and shown
masked, and the change is listed (screenshots in .run/test-shots/)."""

import pytest

from apps.payouts import services
from apps.payouts.models import PayoutDetails
from tests.browser.fixtures import login, shoot
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.payouts.urls")]


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_provider_enters_an_invalid_then_a_valid_iban(page, owner, org):
    login(page, owner.email, PASSWORD)
    page.goto("/console/payouts/")
    assert page.get_by_text("Add your payout details").first.is_visible()
    page.get_by_role("link", name="Add payout details").click()
    page.wait_for_url("**/console/payouts/details/")
    # only the IBAN kind's fields show while IBAN is chosen
    assert page.locator("#id_iban").is_visible()
    assert not page.locator("#id_routing_number").is_visible()
    page.get_by_label("US account").check()
    assert page.locator("#id_routing_number").is_visible()
    assert not page.locator("#id_iban").is_visible()
    page.get_by_label("IBAN (Europe").check()

    page.fill("#id_holder_name", "Acme GmbH")
    page.fill("#id_iban", "DE89 3704 0044 0532 0130 01")  # one digit off
    page.fill("#id_currency", "EUR")
    page.get_by_role("button", name="Save payout details").click()
    error = page.locator("#id_iban ~ .errorlist")
    assert "its check digits do not match" in error.inner_text()
    assert page.locator("#id_iban").is_visible()  # the IBAN kind is still the one shown
    assert not PayoutDetails.objects.exists()
    shoot(page, "payout-details-invalid-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    assert error.is_visible() and no_sideways_scroll(page)
    shoot(page, "payout-details-invalid-390")

    page.set_viewport_size({"width": 1280, "height": 860})
    page.fill("#id_iban", "DE89 3704 0044 0532 0130 00")
    page.get_by_role("button", name="Save payout details").click()
    page.wait_for_load_state()
    masked = page.get_by_test_id("masked-number")
    assert masked.inner_text() == "DE89 •••• •••• •••• 3000"
    assert "Payout details saved" in page.content()
    assert page.locator("#id_iban").input_value() == ""  # never filled in again
    assert "COBADEFFXXX" in page.content() and "0532" not in page.content()
    assert page.get_by_role("cell", name="owner@acme.test").is_visible()
    shoot(page, "payout-details-saved-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    assert masked.is_visible() and no_sideways_scroll(page)
    shoot(page, "payout-details-saved-390")

    page.goto("/console/payouts/")
    assert "DE89 •••• •••• •••• 3000" in page.content()
    shoot(page, "payouts-with-details-390")


def test_staff_pay_from_the_details_and_see_the_missing_flagged(
    page, staff, owner, org, pay, ocr, rival_api
):
    services.payout_details_save(
        actor=owner,
        organization=org,
        values={
            "account_type": "iban",
            "holder_name": "Acme GmbH",
            "currency": "EUR",
            "iban": "DE89370400440532013000",
        },
    )
    pay(ocr, "49.00")
    pay(rival_api, "20.00")
    report = services.run_payouts("2026-11")
    login(page, staff.email, PASSWORD)
    page.goto("/admin/payouts/payout/")
    row = page.locator("tr", has_text="Acme")
    assert "DE89 3704 0044 0532 0130 00" in row.inner_text()
    assert "No payout details" in page.locator("tr", has_text="Initech").inner_text()
    shoot(page, "admin-payouts-pay-to-1280")
    acme = next(p for p in report.created if p.organization == org)
    page.goto(f"/admin/payouts/payout/{acme.pk}/change/")
    assert page.get_by_text("COBADEFFXXX").is_visible()
    shoot(page, "admin-payout-details-1280")
