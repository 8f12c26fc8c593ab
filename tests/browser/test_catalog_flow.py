"""A provider lists an API from its OpenAPI file and submits it; staff approve it in the
admin; a visitor finds it in search and reads its endpoint reference."""

import pytest

from apps.catalog.models import Api, ApiStatus
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import CategoryFactory
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser

SPEC = """openapi: 3.0.3
info: {title: Currency Rates, version: "1.0"}
tags: [{name: Rates}]
paths:
  /rates/{base}:
    get:
      tags: [Rates]
      summary: Latest exchange rates
      operationId: latestRates
      parameters:
        - {name: base, in: path, required: true, schema: {type: string, example: EUR},
           description: Base currency}
        - {name: symbols, in: query, schema: {type: string, example: "USD,GBP"}}
      responses:
        "200":
          description: Rates for the base currency
          content:
            application/json:
              schema:
                type: object
                properties:
                  base: {type: string, description: The base currency}
                  rates: {type: object, description: Rate per currency}
              example: {base: EUR, rates: {USD: 1.08}}
"""


def test_list_import_submit_approve_and_find(browser, page, live_site, tmp_path):
    provider = MembershipFactory(organization__name="Rates Inc", user__email="p@rates.test").user
    staff = UserFactory(email="mod@tollgate.test", is_staff=True, is_superuser=True)
    CategoryFactory(name="Finance", slug="finance")

    login(page, provider.email, PASSWORD)
    page.goto("/console/apis/new/")
    page.fill("input[name=name]", "Currency Rates")
    page.fill("input[name=summary]", "Daily exchange rates for 30 currencies")
    page.select_option("select[name=category]", label="Finance")
    page.fill("textarea[name=description]", "Rates from **central banks**, updated daily.")
    page.fill("input[name=upstream_url]", "https://93.184.216.34/v1")
    page.click("#content form button[type=submit]")
    page.wait_for_url("**/openapi/")
    spec_file = tmp_path / "openapi.yaml"
    spec_file.write_text(SPEC)
    page.set_input_files("input[name=file]", str(spec_file))
    page.click("text=Preview changes")
    page.wait_for_selector("text=What this import changes")
    shoot(page, "catalog-import-preview")
    page.click("text=Apply import")
    page.wait_for_url("**/endpoints/")
    assert "/rates/{base}" in page.inner_text("table")
    page.click("nav.tabs >> text=Overview")
    page.click("text=Submit for review")
    page.wait_for_selector("text=Waiting for review")
    assert Api.objects.get(slug="currency-rates").status == ApiStatus.PENDING_REVIEW

    page.context.clear_cookies()
    login(page, staff.email, PASSWORD)
    page.goto("/admin/")
    page.click("#review-waiting >> text=1 listing waits for review")
    page.click("#result_list >> text=Currency Rates")
    assert "/rates/{base}" in page.inner_text("#review-endpoints")
    assert page.is_visible("text=No plans: consumers could not subscribe")
    shoot(page, "admin-review-page")
    page.click("#approve-form input[type=submit]")
    page.wait_for_selector("text=Currency Rates published")
    assert Api.objects.get(slug="currency-rates").status == ApiStatus.PUBLISHED

    page.context.clear_cookies()
    page.goto("/apis/")
    page.fill("#catalog-search", "exchange")
    page.wait_for_selector("#results >> text=Currency Rates")
    page.click("#results >> text=Currency Rates")
    page.click("#t-endpoints")
    assert page.is_visible("text=Latest exchange rates")
    assert "X-Api-Key" in page.inner_text("#tab-endpoints")
    shoot(page, "catalog-api-page-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "catalog-api-page-phone")
