"""Details seen in screenshots, in Chromium at 1280 and 390 px: the slug follows the name
until it is edited, toasts leave the page's buttons clickable, cards keep a gap, and the
admin asks for no missing icon."""

import pytest

from apps.billing.models import Invoice
from apps.catalog.models import ApiStatus
from tests.billing.test_invoicing import plan, subscription  # noqa: F401
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import ApiFactory, CategoryFactory, EndpointFactory
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def _box(page, selector):
    return page.locator(selector).first.bounding_box()


def _overlap(a, b) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_the_slug_follows_the_name_until_edited(page, live_site, owner):
    CategoryFactory(name="Text", slug="text")
    login(page, owner.email, PASSWORD)
    page.goto("/console/apis/new/")
    assert page.inner_text("#id_slug_help").startswith("Your API's address: /gw/your-api/…")
    page.fill("#id_name", "Crème Brûlée Search")
    assert page.input_value("#id_slug") == "creme-brulee-search"
    assert "/gw/creme-brulee-search/…" in page.inner_text("#id_slug_help")
    shoot(page, "slug-suggested")
    page.fill("#id_slug", "brulee")
    page.fill("#id_name", "Crème Brûlée Search v2")
    assert page.input_value("#id_slug") == "brulee"
    assert "/gw/brulee/…" in page.inner_text("#id_slug_help")


@pytest.mark.parametrize("width", [1280, 390])
def test_toasts_leave_the_header_buttons_free_and_cards_keep_a_gap(page, live_site, owner, width):
    api = ApiFactory(organization=owner.memberships.get().organization, status=ApiStatus.DRAFT)
    EndpointFactory(api=api)
    page.set_viewport_size({"width": width, "height": 860})
    login(page, owner.email, PASSWORD)
    page.goto(f"/console/apis/{api.slug}/")
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_load_state()
    toast = page.locator(".toast").first
    toast.wait_for()
    button = page.get_by_role("link", name="View as consumer")
    assert not _overlap(toast.bounding_box(), button.bounding_box())
    grid, secrets = _box(page, ".console-main .grid"), _box(page, "#secrets")
    assert secrets["y"] - (grid["y"] + grid["height"]) >= 12
    shoot(page, f"provider-overview-toast-{width}")


def test_admin_pages_load_without_a_missing_icon(page, live_site, staff):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    login(page, staff.email, PASSWORD)
    page.goto("/admin/")
    page.goto("/admin/catalog/api/")
    page.wait_for_load_state("networkidle")
    assert missing == []
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(icon).status == 200


def test_an_invoice_on_a_phone_shows_every_amount_and_a_full_width_total(
    phone_page,
    live_site,
    owner,
    subscription,  # noqa: F811
):
    invoice = Invoice.objects.get(subscription=subscription)
    login(phone_page, owner.email, PASSWORD)
    phone_page.goto(f"/console/invoices/{invoice.public_id}/")
    table = _box(phone_page, "table.invoice-lines")
    for label in ("Quantity", "Unit price", "Amount"):
        cell = _box(phone_page, f"td[data-label='{label}']")
        assert cell["x"] >= 0 and cell["x"] + cell["width"] <= 390, label
    total_row = _box(phone_page, "table.invoice-lines tfoot tr")
    assert total_row["width"] >= table["width"] - 2
    amount = _box(phone_page, "table.invoice-lines tfoot th.num:last-child")
    assert amount["x"] + amount["width"] >= table["x"] + table["width"] - 24  # at the right
    shoot(phone_page, "invoice-phone")
