"""The platform API for webhooks: GET/POST /api/v1/webhooks/endpoints/,
DELETE /api/v1/webhooks/endpoints/{id}/, GET /api/v1/webhooks/deliveries/?endpoint=,
POST /api/v1/webhooks/deliveries/{id}/replay/. Other organizations' objects are 404."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.webhooks.urls")]

PROBLEM = "application/problem+json"
BASE = "/api/v1/webhooks"


@pytest.fixture
def delivered(endpoint, owner, committed):
    with committed():
        return services.endpoint_send_test(actor=owner, endpoint=endpoint)


def _problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    if code:
        assert body["code"] == code
    return body


def test_adding_an_endpoint_returns_its_secret_once(owner_api, org, receiver):
    response = owner_api.post(
        f"{BASE}/endpoints/",
        {"url": receiver.url, "event_types": ["payout.sent"], "description": "books"},
        format="json",
    )
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["id"] == endpoint.public_id and body["id"].startswith("whe_")
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert body["event_types"] == ["payout.sent"] and body["enabled"] is True
    listing = owner_api.get(f"{BASE}/endpoints/").json()
    assert listing["count"] == 1 and "secret" not in listing["results"][0]


def test_bad_input_is_a_problem_with_the_field(owner_api, receiver, settings):
    body = _problem(
        owner_api.post(
            f"{BASE}/endpoints/", {"url": receiver.url, "event_types": ["nope"]}, format="json"
        ),
        400,
    )
    assert body["errors"] == {"event_types": ["Unknown event type: nope."]}
    settings.UPSTREAM_ALLOW_PRIVATE = False
    body = _problem(
        owner_api.post(f"{BASE}/endpoints/", {"url": "http://example.com/"}, format="json"), 400
    )
    assert body["errors"] == {"url": ["Use an https:// URL."]}
    body = _problem(
        owner_api.post(f"{BASE}/endpoints/", {"url": "https://169.254.169.254/"}, format="json"),
        400,
    )
    assert "private or reserved address" in body["errors"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_duplicate_endpoints_are_a_conflict(owner_api, endpoint):
    _problem(owner_api.post(f"{BASE}/endpoints/", {"url": endpoint.url}, format="json"), 409)


def test_deleting_an_endpoint(owner_api, endpoint):
    assert owner_api.delete(f"{BASE}/endpoints/{endpoint.public_id}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_listing_deliveries_with_their_payload_and_answer(owner_api, endpoint, delivered):
    body = owner_api.get(f"{BASE}/deliveries/", {"endpoint": endpoint.public_id}).json()
    assert body["count"] == 1
    (item,) = body["results"]
    assert item["id"] == delivered.public_id and item["endpoint"] == endpoint.public_id
    assert item["event_type"] == "webhook.test" and item["payload"]["type"] == "webhook.test"
    assert item["status"] == "succeeded" and item["attempts"] == 1
    assert item["response_status_code"] == 200 and item["response_body"] == "ok"
    assert item["replay_of"] is None


def test_replaying_a_delivery(owner_api, delivered, receiver, committed):
    with committed():
        response = owner_api.post(f"{BASE}/deliveries/{delivered.public_id}/replay/")
    assert response.status_code == 201
    body = response.json()
    assert body["replay_of"] == delivered.public_id and body["event"] == delivered.event.public_id
    assert len(receiver.received) == 2


def test_replays_past_the_cap_are_429(owner_api, delivered, owner, endpoint):
    for _ in range(services.MANUAL_SENDS_PER_MINUTE - 1):
        services.endpoint_send_test(actor=owner, endpoint=endpoint)
    response = owner_api.post(f"{BASE}/deliveries/{delivered.public_id}/replay/")
    _problem(response, 429, "rate_limited")


def test_billing_members_can_read_but_not_change(client, billing_member, endpoint, delivered):
    api = APIClient()
    api.force_login(billing_member)
    assert api.get(f"{BASE}/endpoints/").json()["count"] == 1
    _problem(api.post(f"{BASE}/endpoints/", {"url": "https://x.test/"}, format="json"), 403)
    _problem(api.post(f"{BASE}/deliveries/{delivered.public_id}/replay/"), 403)
    _problem(api.delete(f"{BASE}/endpoints/{endpoint.public_id}/"), 403)


def test_other_organizations_see_nothing(outsider_api, endpoint, delivered):
    assert outsider_api.get(f"{BASE}/endpoints/").json()["count"] == 0
    assert outsider_api.get(f"{BASE}/deliveries/").json()["count"] == 0
    _problem(outsider_api.get(f"{BASE}/deliveries/", {"endpoint": endpoint.public_id}), 404)
    _problem(outsider_api.delete(f"{BASE}/endpoints/{endpoint.public_id}/"), 404)
    _problem(outsider_api.post(f"{BASE}/deliveries/{delivered.public_id}/replay/"), 404)
    assert WebhookEndpoint.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_anonymous_requests_are_refused(api_client):
    _problem(api_client.get(f"{BASE}/endpoints/"), 401)


def test_the_openapi_schema_stays_clean(settings):
    settings.ROOT_URLCONF = "tests.webhooks.urls"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        "/dev/null",
        "--urlconf",
        "tests.webhooks.urls",
    )
