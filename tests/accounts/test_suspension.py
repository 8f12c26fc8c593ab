"""Suspending an organization bites everywhere, says why, and lifting it restores all.

As a provider: its listings leave the catalog, search and their pages (for everyone but
its members and staff), nobody can subscribe, and its listings and plans cannot be created
or changed. Its members are told why, in the console and by email. (The gateway side, within
a second everywhere, is in tests/gateway/test_invalidation.py.)"""

import pytest
from django.core import mail

from apps.accounts.models import Notification
from apps.accounts.services import organization_restore, organization_suspend
from apps.catalog.models import Api, ApiStatus, Visibility
from apps.subscriptions.models import Plan, Subscription
from tests.catalog.factories import ApiFactory, CategoryFactory
from tests.conftest import bearer_client
from tests.factories import MembershipFactory
from tests.gateway.conftest import make_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def listing(org, owner):
    category = CategoryFactory(slug="text", name="Text")
    api = ApiFactory(organization=org, name="Wordsmith", slug="wordsmith", category=category)
    make_plan(api, name="Free")
    return api


@pytest.fixture
def unlisted(org, owner):
    api = ApiFactory(organization=org, slug="backroom", visibility=Visibility.UNLISTED)
    make_plan(api, name="Quiet")
    return api


@pytest.fixture
def consumer(db):
    return MembershipFactory(organization__name="Buyer", user__email="buyer@example.com")


def _visible(client, listing) -> dict:
    """What a visitor can see of the listing, everywhere it shows."""
    return {
        "catalog page": "Wordsmith" in client.get("/apis/").text,
        "search page": "Wordsmith" in client.get("/apis/", {"q": "wordsmith"}).text,
        "home page": "Wordsmith" in client.get("/").text,
        "catalog API": any(
            a["slug"] == "wordsmith" for a in client.get("/api/v1/apis/").json()["results"]
        ),
        "API page": client.get("/apis/wordsmith/").status_code == 200,
        "API detail": client.get("/api/v1/apis/wordsmith/").status_code == 200,
        "plans": client.get("/api/v1/apis/wordsmith/plans/").status_code == 200,
        "category count": "Text" in client.get("/apis/").text
        and client.get("/apis/", {"category": "text"}).context["page"].paginator.count == 1,
    }


def test_a_suspended_providers_listings_are_hidden_and_come_back_when_lifted(
    client, listing, org, staff
):
    from apps.catalog.models import Api as ApiModel

    ApiModel.objects.filter(pk=listing.pk).update(featured=True)  # on the home page too
    before = _visible(client, listing)
    assert all(before.values()), before
    organization_suspend(actor=staff, organization=org, reason="fraud")
    hidden = _visible(client, listing)
    assert not any(hidden.values()), hidden
    organization_restore(actor=staff, organization=org)
    assert _visible(client, listing) == before


def test_its_members_and_staff_still_see_the_listing_and_members_see_why(
    client, listing, org, owner, staff
):
    organization_suspend(actor=staff, organization=org, reason="fraud reports")
    client.force_login(owner)
    page = client.get("/apis/wordsmith/")
    assert page.status_code == 200
    console = client.get("/console/apis/")
    assert console.status_code == 200
    text = console.content.decode()
    assert 'id="suspended-notice"' in text and "fraud reports" in text
    client.force_login(staff)
    assert client.get("/apis/wordsmith/").status_code == 200


def test_nobody_can_subscribe_to_a_suspended_providers_api(listing, unlisted, org, staff, consumer):
    organization_suspend(actor=staff, organization=org, reason="fraud")
    client, _ = bearer_client(consumer.user, consumer.organization)
    for api in (listing, unlisted):
        plan = api.plans.get()
        response = client.post("/api/v1/subscriptions/", {"plan": plan.public_id}, format="json")
        assert response.status_code == 404, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
    assert not Subscription.objects.exists()
    organization_restore(actor=staff, organization=org)
    plan = listing.plans.get()
    response = client.post("/api/v1/subscriptions/", {"plan": plan.public_id}, format="json")
    assert response.status_code == 201, response.content


def test_the_subscribe_page_of_a_suspended_provider_is_gone(client, listing, org, staff, consumer):
    organization_suspend(actor=staff, organization=org, reason="fraud")
    client.force_login(consumer.user)
    plan = listing.plans.get()
    response = client.post("/apis/wordsmith/subscribe/", {"plan": plan.public_id})
    assert response.status_code == 404
    assert not Subscription.objects.exists()


def test_a_suspended_provider_cannot_create_or_change_listings_and_plans(
    listing, org, owner, staff
):
    organization_suspend(actor=staff, organization=org, reason="fraud")
    client, _ = bearer_client(owner, org)
    plan = listing.plans.get()
    attempts = {
        "create listing": client.post(
            "/api/v1/apis/",
            {"name": "Another", "upstream_url": "http://127.0.0.1:9000"},
            format="json",
        ),
        "edit listing": client.patch(
            "/api/v1/apis/wordsmith/", {"summary": "Changed"}, format="json"
        ),
        "submit": client.post("/api/v1/apis/wordsmith/submit/"),
        "create plan": client.post(
            "/api/v1/apis/wordsmith/plans/",
            {"name": "Pro", "monthly_fee": "10.00", "included_units": 10, "unit_price": "0.01"},
            format="json",
        ),
        "edit plan": client.patch(
            f"/api/v1/apis/wordsmith/plans/{plan.public_id}/", {"name": "Renamed"}, format="json"
        ),
        "delete plan": client.delete(f"/api/v1/apis/wordsmith/plans/{plan.public_id}/"),
    }
    for what, response in attempts.items():
        assert response.status_code == 403, (what, response.content)
        body = response.json()
        assert body["code"] == "organization_suspended", (what, body)
        assert "fraud" in body["detail"], (what, body)
    assert list(Api.objects.values_list("slug", "summary")) == [("wordsmith", listing.summary)]
    assert list(Plan.objects.values_list("name", flat=True)) == ["Free"]
    organization_restore(actor=staff, organization=org)
    response = client.patch("/api/v1/apis/wordsmith/", {"summary": "Changed"}, format="json")
    assert response.status_code == 200 and response.json()["summary"] == "Changed"


def test_the_console_refuses_listing_edits_with_the_reason(client, listing, org, owner, staff):
    organization_suspend(actor=staff, organization=org, reason="fraud")
    client.force_login(owner)
    form = {
        "name": "Wordsmith 2",
        "slug": "wordsmith",
        "summary": "Changed",
        "description": listing.description,
        "upstream_url": listing.upstream_url,
        "upstream_timeout_s": "30",
        "upstream_connect_timeout_s": "5",
        "visibility": "public",
    }
    response = client.post("/console/apis/wordsmith/listing/", form)
    assert response.status_code == 200
    assert not response.context["form"].errors.get("name"), response.context["form"].errors
    assert "is suspended (fraud)" in response.content.decode()
    listing.refresh_from_db()
    assert listing.name == "Wordsmith" and listing.summary != "Changed"


def test_members_are_told_why_by_notification_and_email(
    org, owner, member, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        organization_suspend(actor=staff, organization=org, reason="unpaid fees")
    notice = Notification.objects.get(organization=org, kind="organization.suspended")
    assert "unpaid fees" in notice.body
    [email] = mail.outbox
    assert sorted(email.to) == sorted([owner.email, member.email])
    assert email.subject == "[Tollgate] Acme is suspended"
    assert "unpaid fees" in email.body
    with django_capture_on_commit_callbacks(execute=True):
        organization_restore(actor=staff, organization=org)
    assert Notification.objects.filter(organization=org, kind="organization.restored").exists()
    assert mail.outbox[-1].subject == "[Tollgate] Acme is active again"


def test_a_suspended_consumer_cannot_subscribe(listing, staff, consumer):
    organization_suspend(actor=staff, organization=consumer.organization, reason="abuse")
    client, _ = bearer_client(consumer.user, consumer.organization)
    plan = listing.plans.get()
    response = client.post("/api/v1/subscriptions/", {"plan": plan.public_id}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "consumer_suspended"
    assert not Subscription.objects.exists()


def test_the_api_status_of_a_suspended_provider_is_kept(listing, org, staff):
    """Suspending the organization hides its listings without rewriting them, so lifting
    the suspension cannot publish a listing staff had suspended on its own."""
    own = ApiFactory(organization=org, slug="on-hold", status=ApiStatus.SUSPENDED)
    organization_suspend(actor=staff, organization=org, reason="fraud")
    organization_restore(actor=staff, organization=org)
    own.refresh_from_db()
    listing.refresh_from_db()
    assert (own.status, listing.status) == (ApiStatus.SUSPENDED, ApiStatus.PUBLISHED)
