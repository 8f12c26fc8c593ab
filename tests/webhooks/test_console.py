"""The provider console's webhooks pages: every action without JavaScript (plain posts)
and with htmx (fragments of the same views), for developers, billing members and
outsiders, who must see nothing (404)."""

import html as html_lib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditLog
from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.webhooks.urls")]

HTMX = {"HTTP_HX_REQUEST": "true"}


def _html(response) -> str:
    return html_lib.unescape(response.content.decode())


def _url(endpoint, suffix: str = "") -> str:
    return f"/console/webhooks/{endpoint.public_id}/{suffix}"


@pytest.fixture
def delivered(endpoint, owner, committed):
    with committed():
        return services.endpoint_send_test(actor=owner, endpoint=endpoint)


# --- The list -----------------------------------------------------------------------------
def test_an_empty_webhooks_page_says_what_to_do(owner_client):
    html = _html(owner_client.get("/console/webhooks/"))
    assert "No webhook endpoints yet" in html and 'href="#add-endpoint"' in html
    assert 'id="add-endpoint"' in html and 'name="event_types"' in html
    assert "subscription.created" in html and "payout.sent" in html
    assert "webhook.test" not in html  # not subscribable


def test_adding_an_endpoint_without_javascript(owner_client, org, receiver):
    response = owner_client.post(
        "/console/webhooks/",
        {
            "url": receiver.url,
            "description": "billing service",
            "event_types": ["subscription.created", "payout.sent"],
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url(endpoint) + "?new=1"
    assert endpoint.organization == org and endpoint.secret.startswith("whsec_")
    assert endpoint.event_types == ["subscription.created", "payout.sent"]
    html = _html(owner_client.get(response["Location"]))
    assert endpoint.secret in html and "<details open>" in html
    assert "Endpoint added" in html and "No deliveries yet" in html
    assert AuditLog.objects.filter(action="webhook_endpoint.created").exists()


def test_bad_urls_are_explained_next_to_the_field(owner_client, settings):
    settings.UPSTREAM_ALLOW_PRIVATE = False
    response = owner_client.post("/console/webhooks/", {"url": "http://example.com/hook"})
    html = _html(response)
    assert response.status_code == 200 and "has-error" in html
    assert "Use an https:// URL." in html and 'value="http://example.com/hook"' in html
    assert not WebhookEndpoint.objects.exists()


def test_the_same_url_twice_is_refused(owner_client, endpoint):
    html = _html(owner_client.post("/console/webhooks/", {"url": endpoint.url}))
    assert "An endpoint with this URL already exists." in html
    assert WebhookEndpoint.objects.count() == 1


def test_the_list_shows_each_endpoints_health(
    owner_client, endpoint, delivered, receiver, org, committed
):
    receiver.answer(500)
    with committed():
        services.emit(organization=org, type="subscription.created", data={})
    html = _html(owner_client.get("/console/webhooks/"))
    assert endpoint.url in html and "All events" in html
    assert "2 deliveries" in html and "1 failing" in html and "badge-enabled" in html


def test_the_list_takes_the_same_queries_for_two_endpoints_or_ten(
    owner_client, owner, org, receiver
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert owner_client.get("/console/webhooks/").status_code == 200
        return len(context)

    for n in range(2):
        services.endpoint_create(actor=owner, organization=org, url=f"{receiver.url}?n={n}")
    two = queries()
    for n in range(2, 10):
        services.endpoint_create(actor=owner, organization=org, url=f"{receiver.url}?n={n}")
    assert queries() == two


# --- One endpoint ---------------------------------------------------------------------------
def test_the_endpoint_page_shows_settings_secret_and_log(owner_client, endpoint, delivered):
    response = owner_client.get(_url(endpoint))
    html = _html(response)
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    assert endpoint.url in html and endpoint.secret in html and "<details>" in html
    assert "Rotate secret" in html and "Send test event" in html and "Danger zone" in html
    assert f'id="whd-{delivered.public_id}"' in html and "webhook.test" in html
    assert "badge-success" in html and "status-2" in html


def test_the_log_takes_the_same_queries_for_two_deliveries_or_twenty(
    owner_client, org, endpoint, committed
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert owner_client.get(_url(endpoint)).status_code == 200
        return len(context)

    def emit(times: int) -> None:
        with committed():
            for _ in range(times):
                services.emit(organization=org, type="subscription.created", data={})

    emit(2)
    two = queries()
    emit(18)
    assert queries() == two


def test_billing_members_read_the_log_but_never_the_secret(
    client, billing_member, endpoint, delivered
):
    client.force_login(billing_member)
    html = _html(client.get(_url(endpoint)))
    assert endpoint.secret not in html and "Rotate secret" not in html
    assert delivered.public_id in html and "Send test event" not in html
    assert client.post(_url(endpoint, "test/")).status_code == 403
    assert client.post("/console/webhooks/", {"url": "https://x.test/"}).status_code == 403


@pytest.mark.django_db(transaction=True)  # commits for real: the eager task runs at once
def test_sending_a_test_event_without_javascript(owner_client, endpoint, receiver):
    response = owner_client.post(_url(endpoint, "test/"))
    assert response.status_code == 302 and response["Location"].endswith("#delivery-log")
    assert len(receiver.received) == 1
    html = _html(owner_client.get(response["Location"]))
    assert "Test event delivered: your endpoint answered 200." in html


@pytest.mark.django_db(transaction=True)
def test_sending_a_test_event_with_htmx_swaps_the_log(owner_client, endpoint, receiver):
    receiver.answer(500, "boom")
    response = owner_client.post(_url(endpoint, "test/"), HTTP_HX_TARGET="delivery-log", **HTMX)
    html = _html(response)
    assert html.lstrip().startswith("<section") and 'id="delivery-log"' in html
    assert "<html" not in html and "retrying" in html
    assert "failed: The endpoint answered 500, not 2xx. It will be retried." in html
    assert 'hx-swap-oob="true"' in html


def test_a_queued_delivery_keeps_the_log_polling(owner_client, owner, endpoint):
    response = owner_client.post(_url(endpoint, "test/"))  # the test's transaction never commits
    assert "Test event queued" in _html(owner_client.get(response["Location"]))
    html = _html(owner_client.get(_url(endpoint)))
    assert 'hx-trigger="every 2s"' in html and "sending" in html
    fragment = owner_client.get(_url(endpoint), HTTP_HX_TARGET="delivery-log", **HTMX)
    assert _html(fragment).lstrip().startswith("<section")


def test_a_delivery_opens_in_place_and_on_its_own_page(owner_client, endpoint, delivered):
    url = _url(endpoint, f"deliveries/{delivered.public_id}/")
    fragment = _html(owner_client.get(url, **HTMX))
    assert fragment.lstrip().startswith("<tbody") and '"type": "webhook.test"' in fragment
    assert "Hide" in fragment and "Replay" in fragment and "ok" in fragment
    collapsed = _html(owner_client.get(url + "?row=1", **HTMX))
    assert "Details" in collapsed and '"type"' not in collapsed
    page = _html(owner_client.get(url))
    assert "<html" in page and delivered.event.public_id in page and "Replay" in page


@pytest.mark.django_db(transaction=True)
def test_replaying_a_delivery(owner_client, endpoint, delivered, receiver):
    url = _url(endpoint, f"deliveries/{delivered.public_id}/replay/")
    response = owner_client.post(url)
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=delivered).count() == 1
    assert len(receiver.received) == 2
    fragment = _html(owner_client.post(url, HTTP_HX_TARGET="delivery-log", **HTMX))
    assert "Replay delivered" in fragment and fragment.count("badge-info plain") == 2


def test_rotating_the_secret(owner_client, endpoint):
    old = endpoint.secret
    response = owner_client.post(_url(endpoint, "rotate/"), {"grace": "24h"})
    endpoint.refresh_from_db()
    assert response.status_code == 302 and endpoint.secret != old
    assert endpoint.previous_secret == old
    assert "also signs, as a second" in _html(owner_client.get(_url(endpoint)))
    fragment = _html(owner_client.post(_url(endpoint, "rotate/"), {"grace": "none"}, **HTMX))
    endpoint.refresh_from_db()
    assert fragment.lstrip().startswith('<section class="card" id="secret">')
    assert endpoint.secret in fragment and "<details open>" in fragment
    assert endpoint.previous_secret == "" and "also signs, as a second" not in fragment


def test_editing_an_endpoint(owner_client, endpoint, receiver):
    page = _html(owner_client.get(_url(endpoint, "edit/")))
    assert f'value="{endpoint.url}"' in page
    response = owner_client.post(
        _url(endpoint, "edit/"),
        {"url": receiver.url + "?v=2", "description": "v2", "event_types": ["payout.sent"]},
    )
    endpoint.refresh_from_db()
    assert response.status_code == 302
    assert endpoint.url.endswith("?v=2") and endpoint.event_types == ["payout.sent"]


def test_too_many_test_events_are_refused_with_a_message(owner_client, owner, endpoint):
    for _ in range(services.MANUAL_SENDS_PER_MINUTE):
        services.endpoint_send_test(actor=owner, endpoint=endpoint)
    response = owner_client.post(_url(endpoint, "test/"), follow=True)
    assert "At most 10 test events and replays a minute" in _html(response)
    assert WebhookDelivery.objects.count() == services.MANUAL_SENDS_PER_MINUTE


def test_disabling_enabling_and_deleting(owner_client, endpoint):
    owner_client.post(_url(endpoint, "enabled/"), {"enabled": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    html = _html(owner_client.get(_url(endpoint)))
    assert "This endpoint is disabled" in html and "Send test event" not in html
    owner_client.post(_url(endpoint, "enabled/"), {"enabled": "1"})
    endpoint.refresh_from_db()
    assert endpoint.enabled
    response = owner_client.post(_url(endpoint, "delete/"))
    assert response.status_code == 302 and not WebhookEndpoint.objects.exists()


# --- Other organizations ---------------------------------------------------------------------
def test_outsiders_get_404_for_everything(outsider_client, endpoint, delivered):
    delivery = f"deliveries/{delivered.public_id}/"
    for url in [
        _url(endpoint),
        _url(endpoint, "edit/"),
        _url(endpoint, delivery),
    ]:
        assert outsider_client.get(url).status_code == 404, url
    for url in [
        _url(endpoint, "test/"),
        _url(endpoint, "rotate/"),
        _url(endpoint, "enabled/"),
        _url(endpoint, "delete/"),
        _url(endpoint, "edit/"),
        _url(endpoint, delivery + "replay/"),
    ]:
        assert outsider_client.post(url, {"grace": "none", "enabled": "0"}).status_code == 404
    html = _html(outsider_client.get("/console/webhooks/"))
    assert endpoint.url not in html and "No webhook endpoints yet" in html
    endpoint.refresh_from_db()
    assert endpoint.enabled and WebhookDelivery.objects.count() == 1


def test_a_delivery_of_another_endpoint_is_404_under_this_one(
    owner_client, owner, org, endpoint, delivered, receiver
):
    other = services.endpoint_create(actor=owner, organization=org, url=receiver.url + "?b")
    url = _url(other, f"deliveries/{delivered.public_id}/")
    assert owner_client.get(url).status_code == 404


def test_signed_out_visitors_are_sent_to_log_in(client):
    response = client.get("/console/webhooks/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
