"""Reviewing a listing is a page a reviewer can decide from: what is approved (plans, prices
in words, endpoints), Approve / Reject with a reason the provider receives; staff hear of
submissions; the admin index leaves out what an operator does not use."""

from decimal import Decimal

import pytest
from django.core import mail

from apps.accounts.models import Notification
from apps.catalog import services
from apps.catalog.models import ApiStatus
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(org):
    api = ApiFactory(organization=org, name="Invoice OCR", status=ApiStatus.PENDING_REVIEW)
    EndpointFactory(api=api, method="POST", path="/extract", summary="Read an invoice")
    PlanFactory(
        api=api,
        name="Pro",
        monthly_fee=Decimal("29"),
        included_units=1000,
        unit_price=Decimal("0.02"),
        hard_limit=False,
        unit="page",
    )
    return api


def _review_page(client, api):
    return client.get(f"/admin/catalog/pendingreview/{api.pk}/change/").content.decode()


def test_the_reviewer_sees_the_plans_prices_and_endpoints_being_approved(client, staff, pending):
    client.force_login(staff)
    page = _review_page(client, pending)
    assert 'id="review-plans"' in page and "Pro" in page
    assert "$29 / month" in page  # the price in words, as consumers will read it
    assert "1,000 pages/month included, then $0.02 per page" in page
    assert "/extract" in page and "Read an invoice" in page
    assert 'id="approve-form"' in page and 'id="reject-form"' in page


def test_approving_from_the_review_page_publishes_and_tells_the_provider(
    client, staff, pending, django_capture_on_commit_callbacks
):
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/catalog/pendingreview/{pending.pk}/decide/", {"decision": "approve"}
        )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == ApiStatus.PUBLISHED
    notice = Notification.objects.get(organization=pending.organization, kind="api.approve")
    assert notice.title == "Invoice OCR is published"


def test_rejecting_needs_a_reason_and_sends_it_to_the_provider(
    client, staff, pending, django_capture_on_commit_callbacks
):
    client.force_login(staff)
    url = f"/admin/catalog/pendingreview/{pending.pk}/decide/"
    client.post(url, {"decision": "reject", "reason": "   "})
    pending.refresh_from_db()
    assert pending.status == ApiStatus.PENDING_REVIEW  # no reason: nothing decided
    assert not Notification.objects.filter(kind="api.reject").exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"decision": "reject", "reason": "Document the 429 answers."})
    pending.refresh_from_db()
    assert pending.status == ApiStatus.REJECTED
    assert pending.rejection_reason == "Document the 429 answers."
    notice = Notification.objects.get(organization=pending.organization, kind="api.reject")
    assert "Document the 429 answers." in notice.body


def test_only_staff_decide(client, owner, pending):
    client.force_login(owner)
    response = client.post(
        f"/admin/catalog/pendingreview/{pending.pk}/decide/", {"decision": "approve"}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    pending.refresh_from_db()
    assert pending.status == ApiStatus.PENDING_REVIEW


def test_a_decided_listing_offers_no_buttons(client, staff, pending):
    services.api_approve(actor=staff, api=pending)
    client.force_login(staff)
    page = client.get(f"/admin/catalog/api/{pending.pk}/change/").content.decode()
    assert 'id="review-plans"' in page and 'id="approve-form"' not in page


def test_staff_are_told_when_a_listing_is_submitted(
    staff, org, owner, django_capture_on_commit_callbacks
):
    api = ApiFactory(organization=org, name="Weather\nNow", status=ApiStatus.DRAFT)
    EndpointFactory(api=api)
    with django_capture_on_commit_callbacks(execute=True):
        services.api_submit(actor=owner, api=api)
    staff_mail = [m for m in mail.outbox if staff.email in m.to]
    assert len(staff_mail) == 1
    assert staff_mail[0].subject == "[Tollgate staff] A listing waits for review"
    assert "Weather Now by Acme was submitted" in staff_mail[0].body
    assert f"/admin/catalog/pendingreview/{api.pk}/change/" in staff_mail[0].body


def test_the_admin_index_counts_listings_waiting(client, staff, pending):
    client.force_login(staff)
    page = client.get("/admin/").content.decode()
    assert "1 listing waits for review" in page


def test_the_admin_index_hides_stripe_tables_while_stripe_is_off(client, staff, settings):
    client.force_login(staff)
    settings.STRIPE_SECRET_KEY = ""
    assert "/admin/djstripe/" not in client.get("/admin/").content.decode()
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    assert "/admin/djstripe/" in client.get("/admin/").content.decode()


def test_a_member_of_the_provider_sees_no_admin(client, org):
    member = MembershipFactory(organization=org).user
    client.force_login(member)
    assert client.get("/admin/").status_code == 302
