"""After subscribing, a key is one click away: the subscription's page offers one (the keys
page's own form, pre-filled), and the keys page shows its secret once with a call to this
API."""

import re

import pytest

from apps.accounts.roles import Role
from apps.keys import services
from apps.keys.models import ApiKey
from apps.subscriptions.models import Subscription
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import MembershipFactory
from tests.gateway.conftest import make_plan, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(other_org):
    api = ApiFactory(organization=other_org, name="Rates", slug="rates")
    EndpointFactory(api=api, method="GET", path="/latest")
    make_plan(api, name="Free")
    return api


def _subscribe(client, org, api) -> str:
    response = client.post(f"/apis/{api.slug}/subscribe/", {"plan": api.plans.get().public_id})
    assert response.status_code == 302
    return client.get(response.url).content.decode()


def _one_click_form(html: str) -> dict:
    form = re.search(
        r'<form method="post" action="/console/keys/" class="row mt-3">.*?</form>', html, re.S
    )
    assert form, "no one-click key form on the page"
    return dict(re.findall(r'name="(name|apis)" value="([^"]*)"', form.group(0)))


def test_a_new_subscriber_without_a_key_gets_one_in_one_click(owner_client, org, rates):
    html = _subscribe(owner_client, org, rates)
    assert "Create a key to call it" not in html
    assert "Next: a key to call Rates" in html
    fields = _one_click_form(html)
    assert fields == {"name": "Rates", "apis": str(rates.pk)}

    response = owner_client.post("/console/keys/", fields)
    page = response.content.decode()
    key = ApiKey.objects.get(organization=org)
    assert key.name == "Rates" and [a.slug for a in key.allowed_apis.all()] == ["rates"]
    assert "Copy your new key now" in page
    shown = re.search(r'value="(tg_[A-Za-z0-9_-]+)"', page).group(1)
    assert shown.startswith(key.prefix)
    assert f'/rates/latest" -H "X-Api-Key: {shown}"' in page


def test_unchecking_only_for_this_api_makes_a_key_for_every_api_tried_on_this_one(
    owner_client, org, rates
):
    older = ApiFactory(name="Alphabet first", slug="aaa")
    EndpointFactory(api=older, method="GET", path="/first")
    subscribe(org, make_plan(older))
    html = _subscribe(owner_client, org, rates)
    page = owner_client.post("/console/keys/", {"name": _one_click_form(html)["name"]})
    key = ApiKey.objects.get(organization=org)
    assert not key.restricted
    # the example call is for the API just subscribed to, not the first by name
    assert "/rates/latest" in page.content.decode()


def test_a_subscriber_with_a_working_key_sees_it_and_the_call(owner_client, owner, org, rates):
    other = ApiFactory(name="Other", slug="other")
    subscribe(org, make_plan(other))
    services.api_key_create(actor=owner, organization=org, name="for other", allowed_apis=[other])
    html = _subscribe(owner_client, org, rates)
    assert "Next: a key to call Rates" in html  # a key restricted elsewhere does not count
    working, _ = services.api_key_create(actor=owner, organization=org, name="backend")
    subscription = Subscription.objects.get(organization=org, api=rates)
    html = owner_client.get(f"/console/subscriptions/{subscription.public_id}/").content.decode()
    assert "Next: a key to call Rates" not in html
    assert "Call Rates" in html and f"{working.prefix}…" in html and "“backend”" in html
    assert "for other" not in html
    assert '/rates/" -H "X-Api-Key: $TOLLGATE_API_KEY"' in html
    assert "New key for this API" in html


def test_a_member_who_cannot_create_keys_is_told_whom_to_ask(client, org, owner, rates):
    viewer = MembershipFactory(organization=org, role=Role.BILLING, user__email="b@acme.test")
    client.force_login(owner)
    _subscribe(client, org, rates)
    client.force_login(viewer.user)
    subscription = Subscription.objects.get(organization=org)
    html = client.get(f"/console/subscriptions/{subscription.public_id}/").content.decode()
    assert "Ask a developer or an admin of Acme" in html
    assert 'action="/console/keys/"' not in html


def test_a_subscription_waiting_for_payment_offers_no_key_yet(owner_client, org, rates):
    subscription = subscribe(org, rates.plans.get(), status="pending_payment")
    html = owner_client.get(f"/console/subscriptions/{subscription.public_id}/").content.decode()
    assert "a key to call" not in html and 'id="call-it"' not in html
