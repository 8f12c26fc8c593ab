import pytest

from apps.catalog.models import Api, ApiStatus
from tests.catalog.factories import ApiFactory, CategoryFactory, EndpointFactory
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Ping", "version": "1"},
    "paths": {"/ping": {"get": {"summary": "Ping", "responses": {"200": {"description": "ok"}}}}},
}


def test_anyone_lists_the_published_catalog_with_search_and_category(api_client, org):
    finance = CategoryFactory(slug="finance")
    ApiFactory(organization=org, name="Rates", slug="rates", category=finance)
    ApiFactory(organization=org, name="Draft", slug="draft", status=ApiStatus.DRAFT)
    body = api_client.get("/api/v1/apis/").json()
    assert [a["slug"] for a in body["results"]] == ["rates"]
    assert api_client.get("/api/v1/apis/", {"category": "other"}).json()["count"] == 0
    assert api_client.get("/api/v1/apis/", {"search": "rat"}).json()["count"] == 1


def test_a_provider_publishes_from_ci(owner, org, staff):
    client, _ = bearer_client(owner, org)
    response = client.post(
        "/api/v1/apis/",
        {
            "name": "Ping",
            "slug": "ping",
            "summary": "Pong",
            "description": "Answers pings.",
            "upstream_url": "http://127.0.0.1:9000",
            "openapi": SPEC,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["endpoints"][0]["path"] == "/ping"
    assert body["id"].startswith("api_") and "upstream_url" in body
    assert client.post("/api/v1/apis/ping/submit/").json()["status"] == "pending_review"
    assert client.post("/api/v1/apis/ping/approve/").status_code == 403
    staff_client, _ = bearer_client(staff, _staff_org(staff))
    assert staff_client.post("/api/v1/apis/ping/approve/").json()["status"] == "published"


def _staff_org(staff):
    from apps.accounts.services import organization_create

    return organization_create(owner=staff, name="Staff")


def test_reject_needs_a_reason_and_the_provider_sees_it(owner, org, staff):
    api = ApiFactory(organization=org, status=ApiStatus.PENDING_REVIEW)
    staff_client, _ = bearer_client(staff, _staff_org(staff))
    response = staff_client.post(f"/api/v1/apis/{api.slug}/reject/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    staff_client.post(f"/api/v1/apis/{api.slug}/reject/", {"reason": "No docs"}, format="json")
    owner_client, _ = bearer_client(owner, org)
    assert owner_client.get(f"/api/v1/apis/{api.slug}/").json()["rejection_reason"] == "No docs"


def test_suspend_takes_a_published_api_out_of_the_catalog(api_client, org, staff):
    api = ApiFactory(organization=org)
    staff_client, _ = bearer_client(staff, _staff_org(staff))
    assert (
        staff_client.post(
            f"/api/v1/apis/{api.slug}/suspend/", {"reason": "abuse"}, format="json"
        ).json()["status"]
        == "suspended"
    )
    assert api_client.get(f"/api/v1/apis/{api.slug}/").status_code == 404


def test_bad_input_gets_field_errors_and_saves_nothing(owner, org, settings):
    settings.UPSTREAM_ALLOW_PRIVATE = False
    client, _ = bearer_client(owner, org)
    response = client.post("/api/v1/apis/", {"name": "X", "upstream_url": "ftp://x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"upstream_url": ["Use an http:// or https:// URL."]}
    response = client.post(
        "/api/v1/apis/",
        {"name": "X", "upstream_url": "https://1.1.1.1", "openapi": {"openapi": "3.0.3"}},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_spec"
    assert not Api.objects.exists()


def test_other_organizations_cannot_edit_or_see_drafts(org, outsider, other_org):
    api = ApiFactory(organization=org, status=ApiStatus.DRAFT)
    client, _ = bearer_client(outsider, other_org)
    assert client.get(f"/api/v1/apis/{api.slug}/").status_code == 404
    assert (
        client.patch(f"/api/v1/apis/{api.slug}/", {"name": "Mine"}, format="json").status_code
        == 404
    )
    assert client.post(f"/api/v1/apis/{api.slug}/submit/").status_code == 404
    api.refresh_from_db()
    assert api.name != "Mine"


def test_public_detail_hides_upstream_and_secrets(api_client, org):
    api = ApiFactory(organization=org)
    EndpointFactory(api=api)
    body = api_client.get(f"/api/v1/apis/{api.slug}/").json()
    assert "upstream_url" not in body and "proxy_secret" not in str(body)
    assert body["gateway_url"].endswith(f"/gw/{api.slug}") and len(body["endpoints"]) == 1


def test_patch_updates_fields(owner, org):
    api = ApiFactory(organization=org)
    client, _ = bearer_client(owner, org)
    response = client.patch(
        f"/api/v1/apis/{api.slug}/", {"summary": "New summary", "tags": ["A b", "c"]}, format="json"
    )
    assert response.json()["summary"] == "New summary" and response.json()["tags"] == ["a-b", "c"]
