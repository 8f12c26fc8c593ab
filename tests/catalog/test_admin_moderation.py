import pytest

from apps.catalog.models import ApiStatus
from tests.catalog.factories import ApiFactory

pytestmark = pytest.mark.django_db


def test_the_review_queue_lists_pending_listings(client, staff, org):
    pending = ApiFactory(organization=org, status=ApiStatus.PENDING_REVIEW, name="Waiting")
    ApiFactory(organization=org, name="Live")
    client.force_login(staff)
    html = client.get("/admin/catalog/pendingreview/").content.decode()
    assert "Waiting" in html and "Live" not in html
    assert f"/apis/{pending.slug}/" in html  # preview link


def test_staff_approve_from_the_admin(client, staff, org):
    api = ApiFactory(organization=org, status=ApiStatus.PENDING_REVIEW)
    client.force_login(staff)
    client.post(
        "/admin/catalog/pendingreview/", {"action": "approve", "_selected_action": [api.pk]}
    )
    api.refresh_from_db()
    assert api.status == ApiStatus.PUBLISHED


def test_rejecting_from_the_admin_asks_for_a_reason(client, staff, org):
    api = ApiFactory(organization=org, status=ApiStatus.PENDING_REVIEW)
    client.force_login(staff)
    response = client.post(
        "/admin/catalog/api/", {"action": "reject", "_selected_action": [api.pk]}
    )
    assert response.status_code == 200 and b"Reason" in response.content
    api.refresh_from_db()
    assert api.status == ApiStatus.PENDING_REVIEW
    client.post(
        "/admin/catalog/api/",
        {"action": "reject", "_selected_action": [api.pk], "reason": "Please document errors"},
    )
    api.refresh_from_db()
    assert api.status == ApiStatus.REJECTED and api.rejection_reason == "Please document errors"


def test_admin_pages_render(client, staff, org):
    api = ApiFactory(organization=org)
    client.force_login(staff)
    for path in [
        "/admin/catalog/api/",
        f"/admin/catalog/api/{api.pk}/change/",
        "/admin/catalog/category/",
        "/admin/catalog/endpoint/",
        "/admin/catalog/specimport/",
        "/admin/accounts/notification/",
    ]:
        assert client.get(path).status_code == 200, path
