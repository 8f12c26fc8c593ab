import pytest

from apps.subscriptions.models import Plan, Subscription, SubscriptionStatus
from tests.catalog.factories import ApiFactory
from tests.conftest import bearer_client
from tests.factories import MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(other_org):
    return MembershipFactory(organization=other_org, role="owner").user


@pytest.fixture
def api(other_org):
    return ApiFactory(organization=other_org, slug="rates")


@pytest.fixture
def plans(api):
    return {
        "free": PlanFactory(api=api, name="Free", included_units=10_000),
        "pro": PlanFactory(
            api=api,
            name="Pro",
            monthly_fee="29",
            included_units=100_000,
            unit_price="0.0004",
            hard_limit=False,
            recommended=True,
            rate_limit_per_second=5,
        ),
        "secret": PlanFactory(api=api, name="Secret", visibility="private"),
    }


def test_the_pricing_table_shows_public_plans_as_people_read_them(client, plans):
    html = client.get("/apis/rates/").content.decode()
    assert "Free" in html and "Pro" in html and "Secret" not in html
    assert "$29 / month" in html
    assert "100,000 calls/month included, then $0.40 per 1,000 calls" in html
    assert "5 requests/second" in html
    assert "Recommended" in html


def test_subscribing_from_the_pricing_table(owner_client, org, plans):
    response = owner_client.post("/apis/rates/subscribe/", {"plan": plans["free"].public_id})
    subscription = Subscription.objects.get(organization=org)
    assert response.url == f"/console/subscriptions/{subscription.public_id}/"
    page = owner_client.get(response.url).content.decode()
    assert "Active" in page and "10,000 calls/month included" in page


def test_a_private_plan_opens_by_invite_link_only(owner_client, org, plans):
    secret = plans["secret"]
    assert owner_client.get(f"/apis/rates/plans/{secret.invite_token}/").status_code == 200
    assert owner_client.get("/apis/rates/plans/wrong-token/").status_code == 404
    owner_client.post("/apis/rates/subscribe/", {"plan": secret.public_id})
    assert not Subscription.objects.filter(organization=org).exists()
    owner_client.post(
        "/apis/rates/subscribe/", {"plan": secret.public_id, "invite": secret.invite_token}
    )
    assert Subscription.objects.get(organization=org).plan == secret


def test_consumer_pages_change_and_cancel(owner_client, org, plans):
    owner_client.post("/apis/rates/subscribe/", {"plan": plans["free"].public_id})
    subscription = Subscription.objects.get(organization=org)
    base = f"/console/subscriptions/{subscription.public_id}"
    assert owner_client.get("/console/subscriptions/").status_code == 200
    owner_client.post(f"{base}/change/", {"plan": plans["pro"].pk, "confirm": "1"})
    subscription.refresh_from_db()
    assert subscription.plan == plans["pro"]
    owner_client.post(f"{base}/cap/", {"spend_cap": "50.00"})
    subscription.refresh_from_db()
    assert str(subscription.spend_cap) == "50.00"
    owner_client.post(f"{base}/cancel/")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end


def test_other_organizations_subscriptions_are_404(outsider_client, owner, org, plans):
    from apps.subscriptions.services import subscription_create

    subscription = subscription_create(
        actor=owner, organization=org, plan=plans["free"]
    ).subscription
    base = f"/console/subscriptions/{subscription.public_id}"
    assert outsider_client.get(f"{base}/").status_code == 404
    assert outsider_client.post(f"{base}/cancel/").status_code == 404
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_the_provider_edits_plans_with_errors_per_field(client, provider, api, plans):
    client.force_login(provider)
    response = client.post(
        "/console/apis/rates/plans/",
        {
            "name": "Broken",
            "monthly_fee": "-5",
            "included_units": "10",
            "unit_price": "0",
            "unit_kind": "call",
            "visibility": "public",
            "hard_limit": "on",
            "trial_days": "0",
        },
    )
    assert response.status_code == 200
    assert b"negative" in response.content.lower()
    assert not Plan.objects.filter(name="Broken").exists()
    response = client.post(
        "/console/apis/rates/plans/",
        {
            "name": "Per page",
            "monthly_fee": "0",
            "included_units": "0",
            "unit_price": "0.01",
            "unit_kind": "custom",
            "custom_unit": "page",
            "visibility": "public",
            "trial_days": "0",
            "tiers_text": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Plan.objects.get(name="Per page").unit == "page"
    assert client.get("/console/apis/rates/subscribers/").status_code == 200


def test_the_provider_cannot_delete_a_plan_with_subscribers(client, provider, owner, org, plans):
    from apps.subscriptions.services import subscription_create

    subscription_create(actor=owner, organization=org, plan=plans["free"])
    client.force_login(provider)
    client.post(f"/console/apis/rates/plans/{plans['free'].public_id}/delete/")
    assert Plan.objects.filter(pk=plans["free"].pk).exists()


def test_plans_and_subscriptions_through_the_api(owner, org, provider, other_org, plans):
    provider_api, _ = bearer_client(provider, other_org)
    created = provider_api.post(
        "/api/v1/apis/rates/plans/",
        {
            "name": "Tiered",
            "included_units": 0,
            "hard_limit": False,
            "tiers": [
                {"up_to": 1000, "unit_price": "0.01"},
                {"up_to": None, "unit_price": "0.005"},
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["price"]["headline"]
    bad = provider_api.post(
        "/api/v1/apis/rates/plans/", {"name": "X", "monthly_fee": "-1"}, format="json"
    )
    assert bad.status_code == 400 and "monthly_fee" in bad.json()["errors"]
    consumer_api, _ = bearer_client(owner, org)
    listing = consumer_api.get("/api/v1/apis/rates/plans/").json()
    assert {p["name"] for p in listing} == {"Free", "Pro", "Tiered"}
    subscribed = consumer_api.post(
        "/api/v1/subscriptions/", {"plan": plans["free"].public_id}, format="json"
    )
    assert subscribed.status_code == 201
    body = subscribed.json()
    assert body["status"] == "active" and body["checkout_url"] is None
    changed = consumer_api.post(
        f"/api/v1/subscriptions/{body['id']}/change-plan/",
        {"plan": plans["pro"].public_id},
        format="json",
    )
    assert changed.json()["plan"]["name"] == "Pro"
    canceled = consumer_api.post(f"/api/v1/subscriptions/{body['id']}/cancel/", {}, format="json")
    assert canceled.json()["cancel_at_period_end"] is True
    outsider_api, _ = bearer_client(provider, other_org)
    assert outsider_api.get(f"/api/v1/subscriptions/{body['id']}/").status_code == 404
