"""What providers receive: the envelope, each event type's data (opaque ids only), which
endpoints get which events, and that the lower apps' news reaches `emit`."""

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import transaction

from apps.billing import alerts
from apps.metering.events import CallEvent
from apps.metering.models import UsageAggregate
from apps.subscriptions import services as subscription_services
from apps.webhooks import handlers, services
from apps.webhooks.models import WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


def _bodies(receiver) -> list[dict]:
    return [json.loads(request["body"]) for request in receiver.received]


def _announce(kind: str, subscription) -> None:
    """What apps.subscriptions' hook does; by hand until that hook is wired (test_wiring.py
    covers the wired path)."""
    if not hasattr(subscription_services, "subscription_listeners"):
        handlers.on_subscription_event(kind, subscription)


def test_a_test_event_has_the_documented_envelope(owner, endpoint, receiver, committed):
    with committed():
        delivery = services.endpoint_send_test(actor=owner, endpoint=endpoint)
    (body,) = _bodies(receiver)
    event = WebhookEvent.objects.get()
    assert set(body) == {"id", "type", "created", "data"}
    assert body == event.payload
    assert body["id"] == event.public_id and body["id"].startswith("evt_")
    assert body["type"] == "webhook.test"
    assert body["created"].endswith("Z") and "." not in body["created"]
    assert body["data"]["endpoint"] == endpoint.public_id
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.delivered_at is not None


def test_a_subscription_reaches_the_apis_owner_with_opaque_ids_only(
    endpoint, receiver, committed, consumer, consumer_org, free_plan, org
):
    with committed():
        result = subscription_services.subscription_create(
            actor=consumer, organization=consumer_org, plan=free_plan
        )
        _announce("subscription.created", result.subscription)
    (body,) = _bodies(receiver)
    subscription = result.subscription
    assert body["type"] == "subscription.created"
    assert body["data"] == {
        "subscription": {
            "id": subscription.public_id,
            "status": "active",
            "consumer": consumer_org.public_id,
            "api": "weather",
            "plan": free_plan.public_id,
            "scheduled_plan": None,
            "cancel_at_period_end": False,
            "current_period_start": body["data"]["subscription"]["current_period_start"],
            "current_period_end": body["data"]["subscription"]["current_period_end"],
            "canceled_at": None,
        }
    }
    raw = receiver.received[0]["body"].decode()
    assert consumer.email not in raw and "Globex" not in raw and "@" not in raw
    assert WebhookEvent.objects.get().organization == org  # the provider's, not the consumer's


def test_plan_changes_and_cancellations_carry_the_new_state(
    endpoint, receiver, committed, consumer, consumer_org, free_plan, pro_plan
):
    subscription = subscription_services.subscription_create(
        actor=consumer, organization=consumer_org, plan=free_plan
    ).subscription
    with committed():
        subscription = subscription_services.subscription_change_plan(
            actor=consumer, subscription=subscription, plan=pro_plan
        )
        _announce("subscription.changed", subscription)
        subscription = subscription_services.subscription_cancel(
            actor=consumer, subscription=subscription
        )
        _announce("subscription.canceled", subscription)
    changed, canceled = _bodies(receiver)
    assert changed["type"] == "subscription.changed"
    assert changed["data"]["subscription"]["plan"] == pro_plan.public_id
    assert canceled["type"] == "subscription.canceled"
    assert canceled["data"]["subscription"]["status"] == "canceled"
    assert canceled["data"]["subscription"]["canceled_at"].endswith("Z")


def _use(subscription, units):
    UsageAggregate.objects.update_or_create(
        subscription=subscription,
        api_key_id=1,
        endpoint=None,
        hour=subscription.current_period_start,
        period_start=subscription.current_period_start,
        defaults={"latency_histogram": [0] * 13, "billable_units": Decimal(units)},
    )
    event = CallEvent(
        ts_ms=0,
        subscription_id=subscription.pk,
        api_key_id=1,
        endpoint_id=None,
        period_start=0,
        status=200,
        latency_ms=1,
        units_micro=0,
        gateway_error=False,
        bytes_in=0,
        bytes_out=0,
    )
    alerts.check_after_flush([event])


def test_quota_thresholds_reach_the_provider_through_billing_alert_listeners(
    endpoint, receiver, committed, consumer, consumer_org, free_plan
):
    assert handlers.on_usage_alert in alerts.alert_listeners  # registered by WebhooksConfig
    subscription = subscription_services.subscription_create(
        actor=consumer, organization=consumer_org, plan=free_plan
    ).subscription
    alerts.alerts_set(
        actor=consumer, subscription=subscription, basis="included_units", percents=[80]
    )
    with committed():
        _use(subscription, 85)
        _use(subscription, 90)  # fires once per period
    (body,) = _bodies(receiver)
    assert body["type"] == "usage.threshold_reached"
    assert body["data"]["threshold"] == {"basis": "included_units", "percent": 80}
    assert body["data"]["subscription"]["id"] == subscription.public_id


def test_spend_cap_alerts_stay_with_the_consumer(
    endpoint, receiver, committed, consumer, consumer_org, free_plan
):
    subscription = subscription_services.subscription_create(
        actor=consumer, organization=consumer_org, plan=free_plan
    ).subscription
    alert = SimpleNamespace(basis="spend_cap", percent=50)
    with committed():
        handlers.on_usage_alert(alert, subscription)
    assert "usage.threshold_reached" not in [body["type"] for body in _bodies(receiver)]
    assert not WebhookEvent.objects.filter(type="usage.threshold_reached").exists()


def test_a_payout_event_carries_the_amount_as_a_decimal_string(org, endpoint, receiver, committed):
    payout = SimpleNamespace(
        organization=org,
        public_id="payout_0123456789abcdef",
        amount=Decimal("1234.50"),
        currency="USD",
        period="2026-11",
        method="stripe",
        status="paid",
        paid_at=None,
    )
    with committed():
        handlers.on_payout_event("payout.paid", payout)
        handlers.on_payout_event("payout.pending", payout)  # not a webhook event
        handlers.on_payout_event("payout.failed", payout)
    (body,) = _bodies(receiver)
    assert body["type"] == "payout.sent"
    assert body["data"]["payout"]["amount"] == "1234.50"
    assert body["data"]["payout"]["id"] == "payout_0123456789abcdef"


def test_endpoints_receive_only_the_types_they_subscribe_to(owner, org, receiver, committed):
    only_created = services.endpoint_create(
        actor=owner,
        organization=org,
        url=receiver.url + "?only=created",
        event_types=["subscription.created"],
    )
    everything = services.endpoint_create(actor=owner, organization=org, url=receiver.url)
    disabled = services.endpoint_create(
        actor=owner, organization=org, url=receiver.url + "?disabled=1"
    )
    services.endpoint_set_enabled(actor=owner, endpoint=disabled, enabled=False)
    with committed():
        services.emit(organization=org, type="subscription.canceled", data={"n": 1})
        services.emit(organization=org, type="subscription.created", data={"n": 2})
    sent = sorted((r["path"], json.loads(r["body"])["type"]) for r in receiver.received)
    assert sent == [
        ("/hooks/tollgate", "subscription.canceled"),
        ("/hooks/tollgate", "subscription.created"),
        ("/hooks/tollgate?only=created", "subscription.created"),
    ]
    assert not WebhookDelivery.objects.filter(endpoint=disabled).exists()
    assert WebhookDelivery.objects.filter(endpoint=only_created).count() == 1
    assert WebhookDelivery.objects.filter(endpoint=everything).count() == 2


def test_other_organizations_endpoints_never_hear_of_it(
    org, other_org, outsider, endpoint, receiver, committed
):
    services.endpoint_create(actor=outsider, organization=other_org, url=receiver.url + "?theirs=1")
    with committed():
        services.emit(organization=org, type="subscription.created", data={})
    assert [r["path"] for r in receiver.received] == ["/hooks/tollgate"]


def test_without_a_wanting_endpoint_nothing_is_stored(org, owner, receiver):
    assert services.emit(organization=org, type="subscription.created", data={}) is None
    services.endpoint_create(
        actor=owner, organization=org, url=receiver.url, event_types=["payout.sent"]
    )
    assert services.emit(organization=org, type="subscription.created", data={}) is None
    assert not WebhookEvent.objects.exists()


def test_unknown_event_types_are_a_programming_error(org):
    with pytest.raises(ValueError):
        services.emit(organization=org, type="subscription.exploded", data={})


def test_an_event_of_a_rolled_back_change_is_never_sent(org, endpoint, receiver, committed):
    with committed():
        try:
            with transaction.atomic():
                services.emit(organization=org, type="subscription.created", data={})
                raise RuntimeError("the subscription failed")
        except RuntimeError:
            pass
    assert receiver.received == [] and not WebhookEvent.objects.exists()


def test_a_broken_webhook_never_undoes_the_change_it_reports(
    endpoint, monkeypatch, consumer, consumer_org, free_plan, caplog
):
    def broken(**kwargs):
        WebhookEvent.objects.create(organization=None, type="x", payload={})  # IntegrityError

    monkeypatch.setattr(handlers, "emit", broken)
    with transaction.atomic():
        subscription = subscription_services.subscription_create(
            actor=consumer, organization=consumer_org, plan=free_plan
        ).subscription
        handlers.on_subscription_event("subscription.created", subscription)
        subscription.refresh_from_db()  # the transaction is still usable
    assert "could not emit the subscription.created webhook event" in caplog.text
    assert not WebhookEvent.objects.exists()
