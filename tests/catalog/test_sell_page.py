"""The "Sell your API" page: public, says what a provider gets with the settings' numbers,
and leads to sign-up (or, signed in, to the provider console)."""

import re
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db


def _text(html: str, marker: str) -> str:
    return re.sub(r"<[^>]+>", "", html.split(marker, 1)[1].split("</dd>", 1)[0])


def test_anybody_reads_what_providers_get_with_the_settings_numbers(client, settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("12.5")
    settings.PAYOUT_MINIMUM = Decimal("25.00")
    settings.PAYOUT_HOLD_DAYS = 7
    settings.PRICE_CHANGE_NOTICE_DAYS = 45
    settings.STRIPE_SECRET_KEY = ""
    response = client.get("/sell/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "12.5 %" in _text(html, "data-fee")
    # a $100.00 line: the fee rounds half-up to the cent, the provider gets the rest
    assert "$100.00 line pays you $87.50; the platform keeps $12.50" in _text(html, "data-example")
    assert "7 days" in _text(html, "data-hold") and "$25.00" in _text(html, "data-minimum")
    assert "no sooner than 45 days" in html and "by transfer" in html
    for model in ("Per call", "Per second", "Per unit you report", "Free tiers", "Monthly plans"):
        assert f"<h3>{model}</h3>" in html
    assert "Submit for review" in html
    assert 'href="/accounts/signup/?next=/console/apis/new/"' in html


def test_the_header_sends_sellers_to_the_page_not_to_a_login_form(client):
    html = client.get("/").content.decode()
    assert '<a href="/sell/">Sell your API</a>' in html


def test_signed_in_people_go_on_to_the_provider_console(owner_client):
    html = owner_client.get("/sell/").content.decode()
    cta = html.split('id="sell-cta"')[1].split("</div>")[0]
    assert 'href="/console/apis/new/"' in cta and 'href="/console/apis/"' in cta
    assert "/accounts/signup/" not in html
