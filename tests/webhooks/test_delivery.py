"""Delivery against a real receiver on loopback: success, failures with backoff, giving up,
timeouts, redirects, replays, and concurrent retry runs that never send an attempt twice."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from apps.accounts.models import Notification
from apps.core.errors import ServiceError
from apps.webhooks import services, tasks
from apps.webhooks.models import WebhookDelivery, WebhookEvent
from apps.webhooks.services import MAX_ATTEMPTS, RETRY_DELAYS

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.webhooks.urls")]


def _emit(org, committed, type="subscription.created") -> WebhookDelivery:
    with committed():
        event = services.emit(organization=org, type=type, data={"hello": "world"})
    return WebhookDelivery.objects.get(event=event)


def _fresh(delivery) -> WebhookDelivery:
    return WebhookDelivery.objects.get(pk=delivery.pk)


def test_a_2xx_answer_marks_the_delivery_succeeded(org, endpoint, receiver, committed):
    receiver.answer(202, "é" * 800)
    delivery = _fresh(_emit(org, committed))
    assert delivery.status == "succeeded" and delivery.attempt_count == 1
    assert delivery.last_status_code == 202 and delivery.last_error == ""
    assert delivery.last_response_body == "é" * 500
    assert delivery.duration_ms is not None and delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    assert tasks.retry_due_deliveries() == 0
    assert len(receiver.received) == 1


def test_failures_are_retried_on_the_backoff_schedule(org, endpoint, receiver, committed):
    receiver.answer(500, "database down")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        delivery = _fresh(_emit(org, committed))
        for attempt, delay in enumerate(RETRY_DELAYS, start=1):
            assert delivery.status == "pending" and delivery.attempt_count == attempt
            assert delivery.last_status_code == 500
            assert delivery.last_response_body == "database down"
            assert delivery.last_error == "The endpoint answered 500, not 2xx."
            assert delivery.next_attempt_at == timezone.now() + delay
            clock.shift(delay - timedelta(seconds=1))
            assert tasks.retry_due_deliveries() == 0  # not due yet
            clock.shift(timedelta(seconds=1))
            assert tasks.retry_due_deliveries() == 1
            delivery = _fresh(delivery)
    assert len(receiver.received) == MAX_ATTEMPTS == 7
    assert delivery.status == "failed" and delivery.next_attempt_at is None


def test_it_gives_up_after_seven_attempts_and_tells_the_provider_once(
    org, endpoint, receiver, committed
):
    receiver.answer(503)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first, second = _emit(org, committed), _emit(org, committed)
        for delay in RETRY_DELAYS:
            clock.shift(delay)
            assert tasks.retry_due_deliveries() == 2
    assert {_fresh(first).status, _fresh(second).status} == {"failed"}
    assert _fresh(first).attempt_count == MAX_ATTEMPTS
    notices = Notification.objects.filter(kind="webhook.delivery_failed")
    assert notices.count() == 1
    (notice,) = notices
    assert notice.organization == org and endpoint.url in notice.title
    assert notice.url == f"/console/webhooks/{endpoint.public_id}/"
    assert "503" in notice.body
    clock_after = timezone.now() + timedelta(days=3)
    with time_machine.travel(clock_after, tick=False):
        assert tasks.retry_due_deliveries() == 0
    assert len(receiver.received) == 2 * MAX_ATTEMPTS


def test_a_recovered_endpoint_succeeds_on_the_next_retry(org, endpoint, receiver, committed):
    receiver.answer(500)
    delivery = _emit(org, committed)
    receiver.answer(200)
    with time_machine.travel(timezone.now() + RETRY_DELAYS[0], tick=False):
        tasks.retry_due_deliveries()
    delivery = _fresh(delivery)
    assert delivery.status == "succeeded" and delivery.attempt_count == 2
    assert delivery.last_status_code == 200 and delivery.last_error == ""


def test_an_endpoint_that_hangs_times_out(org, endpoint, receiver, committed, settings):
    receiver.hang(seconds=3)
    delivery = _fresh(_emit(org, committed))
    assert delivery.status == "pending" and delivery.attempt_count == 1
    assert delivery.last_status_code is None
    assert delivery.last_error == "No answer within 0.5 s."
    assert 400 <= delivery.duration_ms < 2500


def test_an_unreachable_endpoint_is_a_failed_attempt(owner, org, committed):
    from tests.servers import free_port

    services.endpoint_create(
        actor=owner, organization=org, url=f"http://127.0.0.1:{free_port()}/hook"
    )
    delivery = _fresh(_emit(org, committed))
    assert delivery.status == "pending" and delivery.attempt_count == 1
    assert delivery.last_error == "Could not connect: the connection was refused."


def test_redirects_are_not_followed(org, endpoint, receiver, committed):
    receiver.answer(301)
    delivery = _fresh(_emit(org, committed))
    assert len(receiver.received) == 1
    assert delivery.status == "pending" and delivery.last_status_code == 301
    assert "Redirects are not followed" in delivery.last_error


def test_replay_sends_the_same_event_as_a_new_delivery(owner, org, endpoint, receiver, committed):
    original = _fresh(_emit(org, committed))
    with committed():
        replay = services.delivery_replay(actor=owner, delivery=original)
    replay = _fresh(replay)
    assert replay.pk != original.pk and replay.replay_of == original
    assert replay.event == original.event and replay.status == "succeeded"
    first, second = receiver.received
    assert first["body"] == second["body"]
    assert first["headers"]["Tollgate-Event-Id"] == second["headers"]["Tollgate-Event-Id"]
    assert first["headers"]["Tollgate-Delivery-Id"] != second["headers"]["Tollgate-Delivery-Id"]
    assert WebhookEvent.objects.count() == 1


def test_a_failed_delivery_can_be_replayed_after_the_fix(owner, org, endpoint, receiver, committed):
    receiver.answer(500)
    original = _emit(org, committed)
    WebhookDelivery.objects.filter(pk=original.pk).update(status="failed", next_attempt_at=None)
    receiver.answer(200)
    with committed():
        replay = services.delivery_replay(actor=owner, delivery=_fresh(original))
    assert _fresh(replay).status == "succeeded" and _fresh(original).status == "failed"


def test_test_events_and_replays_are_capped_per_minute(owner, org, endpoint, committed):
    original = _emit(org, committed)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(services.MANUAL_SENDS_PER_MINUTE - 1):
            services.endpoint_send_test(actor=owner, endpoint=endpoint)
        services.delivery_replay(actor=owner, delivery=original)
        with pytest.raises(ServiceError) as caught:
            services.delivery_replay(actor=owner, delivery=original)
        assert caught.value.status == 429 and caught.value.code == "rate_limited"
        with pytest.raises(ServiceError):
            services.endpoint_send_test(actor=owner, endpoint=endpoint)
        services.emit(organization=org, type="subscription.created", data={})  # not capped
        clock.shift(timedelta(minutes=1, seconds=1))
        services.endpoint_send_test(actor=owner, endpoint=endpoint)


def test_a_disabled_endpoint_gives_up_its_waiting_retries(
    owner, org, endpoint, receiver, committed
):
    receiver.answer(500)
    delivery = _emit(org, committed)
    services.endpoint_set_enabled(actor=owner, endpoint=endpoint, enabled=False)
    with time_machine.travel(timezone.now() + RETRY_DELAYS[0], tick=False):
        tasks.retry_due_deliveries()
    delivery = _fresh(delivery)
    assert delivery.status == "failed" and delivery.attempt_count == 1
    assert delivery.last_error == "Not sent: the endpoint is disabled."
    assert len(receiver.received) == 1


def test_a_lost_first_attempt_is_sent_by_the_beat(org, endpoint, receiver):
    # no commit callbacks run: as if the broker lost the task
    event = services.emit(organization=org, type="subscription.created", data={})
    delivery = WebhookDelivery.objects.get(event=event)
    assert receiver.received == [] and delivery.attempt_count == 0
    assert tasks.retry_due_deliveries() == 1
    assert _fresh(delivery).status == "succeeded" and len(receiver.received) == 1


def test_a_delivery_that_is_not_due_is_left_alone(org, endpoint, receiver, committed):
    receiver.answer(500)
    delivery = _emit(org, committed)
    tasks.deliver(delivery.pk)  # a duplicate task, a minute early
    tasks.deliver(delivery.pk + 1000)  # and one for a deleted delivery
    assert _fresh(delivery).attempt_count == 1 and len(receiver.received) == 1


def test_a_crashed_attempt_is_retried_after_its_lease(org, endpoint, receiver):
    event = services.emit(organization=org, type="subscription.created", data={})
    delivery = WebhookDelivery.objects.get(event=event)
    now = timezone.now()
    assert services._claim(delivery, 1, now)  # a worker claimed attempt 1, then died
    assert not services._claim(delivery, 1, now)  # nobody else can take attempt 1
    assert tasks.retry_due_deliveries() == 0
    with time_machine.travel(now + services.CLAIM_LEASE + timedelta(seconds=1), tick=False):
        assert tasks.retry_due_deliveries() == 1
    delivery = _fresh(delivery)
    assert delivery.status == "succeeded" and delivery.attempt_count == 2
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retry_runs_send_each_attempt_once(owner, org, receiver):
    services.endpoint_create(actor=owner, organization=org, url=receiver.url)
    receiver.answer(500)
    for _ in range(3):  # autocommit: each first attempt runs (and fails) at once
        services.emit(organization=org, type="subscription.created", data={})
    assert len(receiver.received) == 3
    receiver.answer(200, delay_s=0.3)  # slow enough for the four runs to overlap
    start = threading.Barrier(4)
    counts, errors = [], []

    def run():
        try:
            start.wait()
            counts.append(tasks.retry_due_deliveries())
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    with time_machine.travel(timezone.now() + RETRY_DELAYS[0], tick=True):
        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == [] and len(counts) == 4 and sum(counts) >= 3
    retries = receiver.received[3:]
    assert len(retries) == 3
    assert len({r["headers"]["Tollgate-Delivery-Id"] for r in retries}) == 3
    assert set(WebhookDelivery.objects.values_list("status", "attempt_count")) == {("succeeded", 2)}


def test_old_events_are_purged_with_their_deliveries(org, endpoint, receiver, committed):
    receiver.answer(500)
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        old_failed = _emit(org, committed)
        WebhookDelivery.objects.filter(pk=old_failed.pk).update(status="failed")
        old_pending = _emit(org, committed)  # still retrying: kept
    recent = _emit(org, committed)
    assert tasks.purge_old_webhook_events() == 1
    assert tasks.purge_old_webhook_events() == 0
    remaining = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert remaining == {old_pending.pk, recent.pk}
