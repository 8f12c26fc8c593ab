"""Idempotency-Key on platform API requests that create or change money state: the same key
and body within 24 hours answer the first answer again without acting; a different body is
refused (422 problem+json); the header is in the OpenAPI document."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from apps.billing import services as billing_services
from apps.billing.models import Refund
from apps.core.idempotency import purge_expired
from apps.core.models import AuditLog, IdempotencyRecord
from apps.keys.models import ApiKey
from apps.subscriptions.models import Subscription
from tests.catalog.factories import ApiFactory
from tests.conftest import bearer_client
from tests.payouts.conftest import line, subscribe
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plans(other_org):
    api = ApiFactory(organization=other_org, slug="rates")
    return PlanFactory(api=api, name="Free"), PlanFactory(api=api, name="Other")


@pytest.fixture
def consumer_api(owner, org):
    return bearer_client(owner, org)[0]


def _subscribe(client, plan, key, **extra):
    return client.post(
        "/api/v1/subscriptions/",
        {"plan": plan.public_id, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_retried_subscribe_answers_the_first_answer_and_subscribes_once(consumer_api, plans):
    free, _ = plans
    first = _subscribe(consumer_api, free, "a7f1c9e0-retry")
    again = _subscribe(consumer_api, free, "a7f1c9e0-retry")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Subscription.objects.count() == 1
    assert AuditLog.objects.filter(action="subscription.created").count() <= 1


def test_the_same_key_with_another_body_is_refused_and_does_nothing(consumer_api, plans):
    free, other = plans
    _subscribe(consumer_api, free, "key-1")
    refused = _subscribe(consumer_api, other, "key-1")
    assert refused.status_code == 422
    assert refused["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "idempotency_key_reused" and body["status"] == 422
    assert "different request" in body["detail"]
    assert list(Subscription.objects.values_list("plan", flat=True)) == [free.pk]


def test_json_key_order_and_spacing_do_not_make_another_request(consumer_api, plans):
    free, _ = plans
    body = f'{{"plan": "{free.public_id}", "invite": ""}}'
    reordered = f'{{"invite":"","plan":"{free.public_id}"}}'
    first = consumer_api.post(
        "/api/v1/subscriptions/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    second = consumer_api.post(
        "/api/v1/subscriptions/",
        reordered,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert first.status_code == 201 and second["Idempotent-Replayed"] == "true"


def test_after_24_hours_the_key_acts_again(consumer_api, plans, owner, org):
    free, _ = plans
    first = _subscribe(consumer_api, free, "daily")
    Subscription.objects.all().delete()
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        consumer_api, _ = bearer_client(owner, org, name="later")
        # another token is another client: its key space is its own anyway
        later = _subscribe(consumer_api, free, "daily")
        assert later.status_code == 201 and "Idempotent-Replayed" not in later
        assert purge_expired() == 1  # the first token's answer, older than 24 hours
    assert first.json()["id"] != later.json()["id"]


def test_an_error_answer_is_replayed_too_without_acting(consumer_api, plans):
    free, _ = plans
    subscription_id = _subscribe(consumer_api, free, "sub").json()["id"]
    url = f"/api/v1/subscriptions/{subscription_id}/cancel/"
    consumer_api.post(url, {}, format="json")  # canceled (free: at once), no key
    refused = consumer_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cancel")
    again = consumer_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cancel")
    assert refused.status_code == again.status_code == 409
    assert again.json() == refused.json() and again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/problem+json"


def test_two_clients_may_use_the_same_key(consumer_api, plans):
    from tests.factories import MembershipFactory, OrganizationFactory

    free, _ = plans
    globex = OrganizationFactory(name="Globex")
    outsider_api, _ = bearer_client(MembershipFactory(organization=globex).user, globex)
    _subscribe(consumer_api, free, "shared-key")
    theirs = _subscribe(outsider_api, free, "shared-key")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    assert Subscription.objects.count() == 2


def test_a_key_still_in_progress_answers_409(consumer_api, plans, owner, org):
    free, _ = plans
    _subscribe(consumer_api, free, "slow")
    IdempotencyRecord.objects.update(completed=False)  # as if the first were still running
    busy = _subscribe(consumer_api, free, "slow")
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency_key_in_use"
    assert Subscription.objects.count() == 1


def test_a_bad_key_is_refused(consumer_api, plans):
    free, _ = plans
    refused = _subscribe(consumer_api, free, "x" * 256)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_idempotency_key"
    assert not Subscription.objects.exists()


def test_a_key_is_created_once_and_its_secret_is_never_stored_for_replay(consumer_api):
    ask = {"name": "ci"}
    first = consumer_api.post("/api/v1/keys/", ask, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = consumer_api.post("/api/v1/keys/", ask, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    secret = first.json()["key"]
    assert first.status_code == 201 and secret.startswith("tg_")
    assert again.json()["id"] == first.json()["id"] and again.json()["key"] is None
    assert ApiKey.objects.count() == 1
    assert secret not in IdempotencyRecord.objects.get().body


def test_a_server_error_is_not_remembered_so_the_retry_acts(consumer_api, plans, monkeypatch):
    from apps.subscriptions import services

    free, _ = plans
    real = services.subscription_create

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "subscription_create", broken)
    with pytest.raises(RuntimeError):
        _subscribe(consumer_api, free, "flaky")
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.setattr(services, "subscription_create", real)
    assert _subscribe(consumer_api, free, "flaky").status_code == 201


# --- Staff money actions ----------------------------------------------------------------
def _staff_client(staff):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(staff)  # staff work in the browser session
    return client


@pytest.fixture
def paid_invoice(org, other_org, staff):
    subscription = subscribe(org, ApiFactory(organization=other_org))
    invoice = billing_services.invoice_issue(
        subscription=subscription, key="idem:1", lines=[line("30.00")]
    )
    return billing_services.invoice_mark_paid(invoice=invoice, actor=staff)


def test_a_retried_refund_refunds_once_and_another_amount_is_refused(paid_invoice, staff):
    staff_api = _staff_client(staff)
    url = f"/api/v1/invoices/{paid_invoice.public_id}/refund/"
    first = staff_api.post(url, {"amount": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    again = staff_api.post(url, {"amount": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    other = staff_api.post(url, {"amount": "12.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and first.json()["amount"] == "10.00"
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("10.00")]
    paid_invoice.refresh_from_db()
    assert paid_invoice.amount_refunded == Decimal("10.00")


def test_staff_money_actions_are_staff_only(paid_invoice, owner, org):
    consumer_api, _ = bearer_client(owner, org)
    url = f"/api/v1/invoices/{paid_invoice.public_id}/refund/"
    refused = consumer_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    assert refused.status_code == 403 and not Refund.objects.exists()
    assert consumer_api.post("/api/v1/payouts/run/", {}, format="json").status_code == 403


def test_a_retried_payout_run_reports_the_first_run(paid_invoice, staff, settings):
    settings.PAYOUT_HOLD_DAYS = 0
    staff_api = _staff_client(staff)
    ask = {"period": "2026-11"}
    first = staff_api.post("/api/v1/payouts/run/", ask, format="json", HTTP_IDEMPOTENCY_KEY="p")
    again = staff_api.post("/api/v1/payouts/run/", ask, format="json", HTTP_IDEMPOTENCY_KEY="p")
    assert len(first.json()["created"]) == 1 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_the_openapi_document_lists_the_header_on_money_operations(api_client):
    schema = api_client.get("/api/schema/?format=json").json()

    def headers(path, method):
        operation = schema["paths"][path][method]
        return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}

    for path, method in [
        ("/api/v1/subscriptions/", "post"),
        ("/api/v1/subscriptions/{subscription_id}/cancel/", "post"),
        ("/api/v1/subscriptions/{subscription_id}/change-plan/", "post"),
        ("/api/v1/keys/", "post"),
        ("/api/v1/invoices/{invoice_id}/refund/", "post"),
        ("/api/v1/invoices/{invoice_id}/void/", "post"),
        ("/api/v1/payouts/run/", "post"),
    ]:
        assert "Idempotency-Key" in headers(path, method), (path, method)
    assert "Idempotency-Key" not in headers("/api/v1/subscriptions/", "get")


# --- Two requests at once (row locks and unique constraints: PostgreSQL) -----------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_key_at_once_subscribe_once(owner, org, plans):
    free, _ = plans
    _, secret = bearer_client(owner, org)
    barrier = threading.Barrier(2)
    answers = []

    def call():
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        try:
            barrier.wait()
            answers.append(_subscribe(client, free, "race").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) in ([201, 201], [201, 409])  # replayed, or refused while running
    assert Subscription.objects.count() == 1


def test_a_5xx_answer_is_not_remembered_either(consumer_api, plans, monkeypatch):
    from rest_framework.exceptions import APIException

    from apps.subscriptions import services

    free, _ = plans
    real = services.subscription_create

    def unavailable(**kwargs):
        raise APIException("Stripe is unavailable just now.")  # answered 500, handled

    monkeypatch.setattr(services, "subscription_create", unavailable)
    assert _subscribe(consumer_api, free, "five-hundred").status_code == 500
    monkeypatch.setattr(services, "subscription_create", real)
    retried = _subscribe(consumer_api, free, "five-hundred")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
