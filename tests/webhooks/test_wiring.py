"""The lower apps' hooks, end to end: real services of subscriptions and payouts reaching a
real receiver. Skipped (visibly) until the hook lines are added to those apps."""

import json
from decimal import Decimal

import pytest
from django.apps import apps

from apps.subscriptions import services as subscription_services

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.webhooks.urls")]

subscriptions_wired = pytest.mark.skipif(
    not hasattr(subscription_services, "subscription_listeners"),
    reason="apps.subscriptions.services has no subscription_listeners yet",
)


def _payouts_wired() -> bool:
    if not apps.is_installed("apps.payouts"):
        return False
    from apps.payouts import services as payout_services

    return hasattr(payout_services, "payout_listeners")


def _types(receiver) -> list[str]:
    return [json.loads(request["body"])["type"] for request in receiver.received]


@subscriptions_wired
def test_subscription_services_emit_their_events(
    endpoint, receiver, committed, consumer, consumer_org, free_plan, pro_plan
):
    with committed():
        subscription = subscription_services.subscription_create(
            actor=consumer, organization=consumer_org, plan=free_plan
        ).subscription
    with committed():
        subscription = subscription_services.subscription_change_plan(
            actor=consumer, subscription=subscription, plan=pro_plan
        )
    with committed():
        subscription_services.subscription_cancel(actor=consumer, subscription=subscription)
    assert _types(receiver) == [
        "subscription.created",
        "subscription.changed",
        "subscription.canceled",
    ]
    first = json.loads(receiver.received[0]["body"])
    assert first["data"]["subscription"]["id"] == subscription.public_id


@pytest.mark.skipif(not _payouts_wired(), reason="apps.payouts has no payout_listeners yet")
def test_a_paid_payout_emits_payout_sent(org, endpoint, receiver, committed, staff):
    from apps.payouts import services as payout_services
    from apps.payouts.models import Payout

    payout = Payout.objects.create(
        organization=org,
        period="2026-11",
        amount=Decimal("42.00"),
        currency="USD",
        method="manual",
    )
    with committed():
        payout_services.payout_mark_paid(payout=payout, actor=staff, reference="SEPA-1")
    assert _types(receiver) == ["payout.sent"]
    data = json.loads(receiver.received[0]["body"])["data"]["payout"]
    assert data["id"] == payout.public_id and data["amount"] == "42.00"
    assert "SEPA-1" not in receiver.received[0]["body"].decode()
