"""The platform API for keys: GET/POST /api/v1/keys/, POST /api/v1/keys/{id}/rotate/,
DELETE /api/v1/keys/{id}/. The secret appears in create and rotate responses only."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.secrets import has_valid_checksum, hash_secret
from apps.keys import services
from apps.keys.models import ApiKey

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.keys.urls")]

PROBLEM = "application/problem+json"


@pytest.fixture
def key(make_key):
    return make_key("backend")[0]


@pytest.fixture
def billing_api(billing_member):
    client = APIClient()
    client.force_login(billing_member)
    return client


def _problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status
    if code:
        assert body["code"] == code
    return body


def test_creating_a_key_returns_its_secret_once(owner_api, org):
    response = owner_api.post("/api/v1/keys/", {"name": "backend"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("key_") and body["status"] == "active"
    assert body["apis"] is None and body["created_by"] == "owner@acme.test"
    assert has_valid_checksum(body["key"], "tg") and body["key"].startswith(body["prefix"])
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(public_id=body["id"])
    assert key.key_hash == hash_secret(body["key"]) and key.organization == org

    listing = owner_api.get("/api/v1/keys/").json()
    assert listing["count"] == 1
    assert "key" not in listing["results"][0]
    detail = owner_api.get(f"/api/v1/keys/{body['id']}/").json()
    assert "key" not in detail and body["key"] not in str(detail)


def test_a_key_can_be_created_restricted_and_expiring(owner_api, weather, ocr):
    expires_at = (timezone.now() + timedelta(days=3)).isoformat()
    response = owner_api.post(
        "/api/v1/keys/",
        {"name": "cron", "apis": ["weather", "ocr", "weather"], "expires_at": expires_at},
        format="json",
    )
    body = response.json()
    assert response.status_code == 201
    assert sorted(body["apis"]) == ["ocr", "weather"]
    assert body["status"] == "expiring" and body["expires_at"]


def test_an_unknown_or_unpublished_api_is_a_400_problem_on_its_field(owner_api, draft_of_others):
    from apps.catalog.models import Visibility
    from tests.catalog.factories import ApiFactory

    ApiFactory(slug="unlisted-one", visibility=Visibility.UNLISTED)
    ApiFactory(slug="not-subscribed")
    for slugs in (["no-such-api"], ["secret-project"], ["unlisted-one"], ["not-subscribed"]):
        response = owner_api.post("/api/v1/keys/", {"name": "x", "apis": slugs}, format="json")
        body = _problem(response, 400, "invalid")
        assert slugs[0] in body["errors"]["apis"][0]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "x", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "apis": "weather"}, "apis"),
    ],
)
def test_bad_input_is_a_400_problem_naming_the_field(owner_api, payload, field):
    body = _problem(owner_api.post("/api/v1/keys/", payload, format="json"), 400)
    assert field in body["errors"]
    assert not ApiKey.objects.exists()


def test_rotating_returns_the_new_secret_and_keeps_the_old_key_in_grace(owner_api, key):
    response = owner_api.post(f"/api/v1/keys/{key.public_id}/rotate/", {"grace": "7d"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "backend" and has_valid_checksum(body["key"], "tg")
    old = owner_api.get(f"/api/v1/keys/{key.public_id}/").json()
    assert old["status"] == "grace" and old["rotated_to"] == body["id"]
    assert old["grace_until"] is not None


def test_rotating_with_no_grace_stops_the_old_key(owner_api, key):
    owner_api.post(f"/api/v1/keys/{key.public_id}/rotate/", {"grace": "none"}, format="json")
    old = owner_api.get(f"/api/v1/keys/{key.public_id}/").json()
    assert old["status"] == "revoked" and old["revoked_at"] is not None


@pytest.mark.parametrize("payload", [{}, {"grace": "2h"}, {"grace": 3600}])
def test_rotating_needs_one_of_the_offered_grace_periods(owner_api, key, payload):
    response = owner_api.post(f"/api/v1/keys/{key.public_id}/rotate/", payload, format="json")
    assert "grace" in _problem(response, 400)["errors"]
    assert ApiKey.objects.count() == 1


def test_rotating_twice_is_a_409_problem(owner_api, key):
    url = f"/api/v1/keys/{key.public_id}/rotate/"
    owner_api.post(url, {"grace": "1h"}, format="json")
    _problem(owner_api.post(url, {"grace": "1h"}, format="json"), 409, "conflict")


def test_deleting_a_key_revokes_it_at_once(owner_api, key):
    response = owner_api.delete(f"/api/v1/keys/{key.public_id}/")
    assert response.status_code == 204
    key.refresh_from_db()
    assert not key.is_valid
    assert owner_api.get(f"/api/v1/keys/{key.public_id}/").json()["status"] == "revoked"
    assert owner_api.delete(f"/api/v1/keys/{key.public_id}/").status_code == 204


def test_the_cap_is_a_409_problem(owner_api, make_key):
    for n in range(services.MAX_LIVE_KEYS):
        make_key(f"k{n}")
    response = owner_api.post("/api/v1/keys/", {"name": "one more"}, format="json")
    assert "50" in _problem(response, 409, "too_many_keys")["detail"]


def test_the_list_is_paginated_newest_first(owner_api, make_key):
    for n in range(30):
        make_key(f"k{n}")
    body = owner_api.get("/api/v1/keys/").json()
    assert body["count"] == 30 and len(body["results"]) == 25 and body["next"]
    assert body["results"][0]["name"] == "k29"


# --- Tenant isolation and roles -----------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [("get", "", None), ("delete", "", None), ("post", "rotate/", {"grace": "none"})],
)
def test_another_organizations_key_is_a_404_problem(outsider_api, key, method, suffix, payload):
    response = getattr(outsider_api, method)(
        f"/api/v1/keys/{key.public_id}/{suffix}", payload, format="json"
    )
    _problem(response, 404, "not_found")
    key.refresh_from_db()
    assert key.is_valid and key.rotated_to is None


def test_an_outsider_lists_only_their_own_keys(outsider_api, key):
    assert outsider_api.get("/api/v1/keys/").json()["count"] == 0


def test_a_billing_member_reads_keys_but_gets_403_on_changes(billing_api, key):
    assert billing_api.get("/api/v1/keys/").json()["count"] == 1
    assert billing_api.get(f"/api/v1/keys/{key.public_id}/").status_code == 200
    _problem(billing_api.post("/api/v1/keys/", {"name": "x"}, format="json"), 403, "forbidden")
    _problem(billing_api.delete(f"/api/v1/keys/{key.public_id}/"), 403)
    response = billing_api.post(
        f"/api/v1/keys/{key.public_id}/rotate/", {"grace": "none"}, format="json"
    )
    _problem(response, 403)
    key.refresh_from_db()
    assert key.is_valid and ApiKey.objects.count() == 1


def test_without_credentials_it_is_a_401_problem(api_client, key):
    _problem(api_client.get("/api/v1/keys/"), 401)
    _problem(api_client.post("/api/v1/keys/", {"name": "x"}, format="json"), 401)
