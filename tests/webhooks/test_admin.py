"""Staff read events and deliveries in the admin and can disable an endpoint; nobody edits
the record of what was sent, and the signing secret never shows."""

import pytest

from apps.core.models import AuditLog
from apps.webhooks import services

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.webhooks.urls")]


@pytest.fixture
def delivered(endpoint, owner, committed):
    with committed():
        return services.endpoint_send_test(actor=owner, endpoint=endpoint)


def test_staff_read_every_webhook_model(client, staff, endpoint, delivered):
    client.force_login(staff)
    pages = {
        "/admin/webhooks/webhookendpoint/": endpoint.url,
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/": endpoint.public_id,
        "/admin/webhooks/webhookevent/": delivered.event.public_id,
        f"/admin/webhooks/webhookevent/{delivered.event.pk}/change/": "webhook.test",
        "/admin/webhooks/webhookdelivery/": delivered.public_id,
        f"/admin/webhooks/webhookdelivery/{delivered.pk}/change/": delivered.public_id,
    }
    for url, expected in pages.items():
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert expected in html, url
        assert endpoint.secret not in html, url


def test_events_and_deliveries_are_read_only(client, staff, delivered):
    client.force_login(staff)
    assert client.get("/admin/webhooks/webhookevent/add/").status_code == 403
    assert client.get("/admin/webhooks/webhookdelivery/add/").status_code == 403
    assert client.get("/admin/webhooks/webhookendpoint/add/").status_code == 403
    url = f"/admin/webhooks/webhookdelivery/{delivered.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 403


def test_staff_can_disable_an_endpoint_but_not_change_its_url(client, staff, endpoint):
    client.force_login(staff)
    url = f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/"
    response = client.post(url, {"description": "abusive", "url": "http://10.0.0.1/"})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled is False and endpoint.description == "abusive"
    assert endpoint.url.startswith("http://127.0.0.1:")
    entry = AuditLog.objects.get(action="webhook_endpoint.changed_by_staff")
    assert entry.actor == staff and entry.data == {"description": "abusive", "enabled": "False"}


def test_people_who_are_not_staff_are_sent_to_the_admin_login(client, owner):
    client.force_login(owner)
    response = client.get("/admin/webhooks/webhookdelivery/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
