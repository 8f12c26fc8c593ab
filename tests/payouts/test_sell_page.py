"""The public "Sell your API" page: what a provider gets, every figure from the settings,
and a call to action that fits who is looking."""

import re
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_anonymous_visitor_reads_what_providers_get_and_is_asked_to_sign_up(client):
    response = client.get("/sell/")
    html = response.content.decode()
    text = _text(response)
    assert response.status_code == 200
    for model in ("Per call", "Per second", "Per unit you report", "Free tiers", "Monthly plans"):
        assert model in text
    assert "staff check the listing, its endpoints, plans and prices" in text
    assert 'href="/accounts/signup/?next=/console/apis/new/"' in html
    assert "Create a provider account" in text and "List an API" not in text


def test_the_figures_are_the_settings(client, settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("12.5")
    settings.PAYOUT_MINIMUM = Decimal("25.00")
    settings.PAYOUT_HOLD_DAYS = 7
    settings.PRICE_CHANGE_NOTICE_DAYS = 45
    settings.CURRENCY = "EUR"
    text = _text(client.get("/sell/"))
    assert "You keep 87.5 %" in text and "the platform fee is 12.5 %" in text
    assert "once your balance reaches €25.00" in text
    assert "Holdback 7 days" in text and "payable 7 days after the payment clears" in text
    assert "Price changes 45 days" in text
    # the example line, split as the ledger splits it
    assert "Your consumer pays €100.00" in text
    assert "Platform fee (12.5 %) -€12.50" in text and "Your share €87.50" in text
    assert "20 %" not in text and "$" not in text


def test_the_defaults_read_as_the_docs_say(client, settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("20")
    settings.PAYOUT_MINIMUM = Decimal("10.00")
    settings.PAYOUT_HOLD_DAYS = 14
    text = _text(client.get("/sell/"))
    assert "You keep 80 %" in text and "$10.00" in text and "Holdback 14 days" in text


def test_payouts_say_how_they_arrive(client, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert "by bank transfer to the account you enter" in _text(client.get("/sell/"))
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    assert "through Stripe Connect" in _text(client.get("/sell/"))


def test_a_signed_in_member_goes_on_to_the_provider_console(owner_client):
    response = owner_client.get("/sell/")
    html = response.content.decode()
    assert 'href="/console/apis/new/">List an API' in html
    assert 'href="/console/apis/">Your APIs' in html
    assert "Create a provider account" not in html


def test_the_header_sends_sell_your_api_to_the_page(client):
    html = client.get("/").content.decode()
    assert 'href="/sell/">Sell your API' in html
