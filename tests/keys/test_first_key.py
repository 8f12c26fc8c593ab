"""After subscribing, the next step is one click: a subscriber with no key that can call
the API is offered one on the subscription page; the keys page's own form creates it and
shows the secret once, with a command to try it."""

import re

import pytest

from apps.keys.models import ApiKey
from apps.subscriptions.models import Subscription
from tests.catalog.factories import ApiFactory
from tests.gateway.conftest import make_plan

pytestmark = pytest.mark.django_db


def _offer(html: str) -> str:
    match = re.search(r'<section class="callout[^"]*" id="first-key">.*?</section>', html, re.S)
    return match.group(0) if match else ""


def _fields(form: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


@pytest.fixture
def maps(db):
    api = ApiFactory(name="Maps", slug="maps")
    make_plan(api, name="Free")
    return api


def test_subscribing_leads_to_a_key_in_one_click(owner_client, org, maps):
    plan = maps.plans.get()
    page = owner_client.post("/apis/maps/subscribe/", {"plan": plan.public_id}, follow=True)
    offer = _offer(page.content.decode())
    assert "Next: create a key to call Maps" in offer and "Create a key" in offer
    assert 'action="/console/keys/"' in offer
    created = owner_client.post("/console/keys/", _fields(offer)).content.decode()
    key = ApiKey.objects.get(organization=org)
    assert key.name == "Maps" and list(key.allowed_apis.all()) == [maps]
    assert "Copy your new key now" in created
    assert re.search(r'value="tg_\w+"', created) and "X-Api-Key: tg_" in created
    assert "/maps/" in created  # the command to try it calls this API
    subscription = Subscription.objects.get(organization=org)
    again = owner_client.get(f"/console/subscriptions/{subscription.public_id}/")
    assert _offer(again.content.decode()) == ""


def test_a_key_for_another_api_does_not_count(owner_client, owner, org, maps, make_key):
    from tests.gateway.conftest import subscribe

    other = ApiFactory(name="Weather", slug="weather")
    subscribe(org, make_plan(other))
    make_key("weather only", allowed_apis=[other])
    subscription = subscribe(org, maps.plans.get())
    page = owner_client.get(f"/console/subscriptions/{subscription.public_id}/").content
    assert "Next: create a key to call Maps" in _offer(page.decode())
    make_key("everything")
    page = owner_client.get(f"/console/subscriptions/{subscription.public_id}/").content
    assert _offer(page.decode()) == ""


def test_a_member_who_cannot_create_keys_is_told_who_can(client, billing_member, org, maps):
    from tests.gateway.conftest import subscribe

    subscription = subscribe(org, maps.plans.get())
    client.force_login(billing_member)
    offer = _offer(client.get(f"/console/subscriptions/{subscription.public_id}/").content.decode())
    assert "A developer or admin" in offer and "<button" not in offer
