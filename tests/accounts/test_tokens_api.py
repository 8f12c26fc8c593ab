import pytest
import time_machine
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import AccessToken, Membership
from apps.core.secrets import has_valid_checksum, hash_secret
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


def test_me_with_a_bearer_token_reports_the_tokens_organization(owner, org):
    client, _ = bearer_client(owner, org)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == owner.email
    assert body["active_organization"]["id"] == org.public_id
    assert body["role"] == "owner"


def test_me_without_credentials_is_a_401_problem(api_client):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and body["code"] == "not_authenticated"
    assert set(body) >= {"type", "title", "status", "detail", "code"}


def test_a_revoked_token_stops_working_at_once(owner, org):
    client, secret = bearer_client(owner, org)
    token = AccessToken.objects.get(token_hash=hash_secret(secret))
    services.access_token_revoke(actor=owner, token=token)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_an_expired_token_is_refused(owner, org):
    _, secret = services.access_token_create(
        actor=owner, organization=org, name="ci", expires_at=timezone.now() + timezone.timedelta(1)
    )
    with time_machine.travel(timezone.now() + timezone.timedelta(days=2)):
        assert services.access_token_authenticate(secret) is None


def test_a_token_stops_when_its_creator_leaves(owner, member, org):
    client, _ = bearer_client(member, org)
    Membership.objects.filter(user=member).delete()
    assert client.get("/api/v1/me/").status_code == 401


def test_tokens_are_stored_as_hashes_only(owner, org):
    token, secret = services.access_token_create(actor=owner, organization=org, name="ci")
    assert secret.startswith("tgp_") and has_valid_checksum(secret, "tgp")
    stored = AccessToken.objects.filter(pk=token.pk).values_list(flat=False).get()
    assert all(secret not in str(value) for value in stored)
    assert token.prefix == secret[:12]


def test_creating_a_token_through_the_api_shows_the_secret_once(owner_api):
    response = owner_api.post("/api/v1/tokens/", {"name": "deploy"}, format="json")
    assert response.status_code == 201
    secret = response.json()["token"]
    assert secret.startswith("tgp_")
    listing = owner_api.get("/api/v1/tokens/").json()
    assert listing["count"] == 2
    assert all("token" not in row for row in listing["results"])


def test_token_create_validation_is_a_problem_with_field_errors(owner_api):
    response = owner_api.post("/api/v1/tokens/", {"name": ""}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "name" in body["errors"]


def test_another_organizations_token_is_404(owner, org, outsider_api):
    token, _ = services.access_token_create(actor=owner, organization=org, name="mine")
    assert outsider_api.get(f"/api/v1/tokens/{token.public_id}/").status_code == 404
    assert outsider_api.delete(f"/api/v1/tokens/{token.public_id}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoking_through_the_api(owner, org, owner_api):
    token, _ = services.access_token_create(actor=owner, organization=org, name="old")
    assert owner_api.delete(f"/api/v1/tokens/{token.public_id}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_last_used_is_written_at_most_once_a_minute(owner, org, django_assert_num_queries):
    token, secret = services.access_token_create(actor=owner, organization=org, name="ci")
    services.access_token_authenticate(secret)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # the lookup only, no write
        services.access_token_authenticate(secret)
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=2)):
        services.access_token_authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at > first


def test_token_page_shows_a_new_secret_once(owner_client):
    response = owner_client.post(
        "/console/organization/tokens/", {"name": "laptop", "expires_in_days": "30"}
    )
    assert b"Copy your new token now" in response.content
    secret = AccessToken.objects.get(name="laptop")
    assert secret.expires_at is not None
    again = owner_client.get("/console/organization/tokens/")
    assert b"Copy your new token now" not in again.content
