"""Every forwarded call is billed exactly once, whatever dies: admission leaves a started
record that the completion settles; a started call whose completion never comes is billed
once at the plan's minimum units; a request id that reaches the flush twice, from one source
or two, counts once. On both stores."""

import asyncio
import time

import pytest
from django.db.models import Sum

from apps.gateway.admit import limits_for
from apps.metering import flush
from apps.metering.events import COMPLETED, STARTED, CallEvent
from apps.metering.models import MeteredCall, StartedCall, UsageAggregate, UsageEvent
from apps.metering.stores import make_store
from apps.metering.stores.database_store import DatabaseStore
from tests.gateway.conftest import flush_all, settle

pytestmark = pytest.mark.django_db(transaction=True)


def _totals() -> dict:
    return UsageAggregate.objects.aggregate(
        calls=Sum("calls"), units=Sum("billable_units"), unsettled=Sum("unsettled_calls")
    )


def _event(subscription, request_id: str, *, kind=COMPLETED, units=1000, ts_ms=None):
    return CallEvent(
        ts_ms=ts_ms or int(time.time() * 1000),
        subscription_id=subscription.pk,
        api_key_id=7,
        endpoint_id=None,
        period_start=int(subscription.current_period_start.timestamp()),
        status=0 if kind == STARTED else 200,
        latency_ms=5,
        units_micro=units * 1000,
        gateway_error=False,
        bytes_in=0,
        bytes_out=10,
        request_id=request_id,
        kind=kind,
    )


def _started_records(subscription_id: int) -> int:
    from django.conf import settings

    if settings.COUNTER_STORE == "redis":
        from apps.metering.redis_layout import started_key, sync_client

        client = sync_client()
        try:
            return client.hlen(started_key(subscription_id))
        finally:
            client.close()
    return StartedCall.objects.filter(subscription_id=subscription_id).count()


def _admit_and_die(world, request_id: str) -> None:
    """What a gateway process that dies mid-call leaves behind: the admission and its
    started record, and no completion."""
    from apps.gateway.record import started_event
    from apps.gateway.resolve import Call
    from apps.gateway.snapshots import ApiSnapshot, KeySnapshot, PlanSnapshot

    call = Call(
        request_id=request_id,
        method="GET",
        api=ApiSnapshot(world.api.pk, world.api.slug, True, 1, "", 1, 1, "", "", ()),
        key=KeySnapshot(world.key_row.pk, "tg_x", world.consumer_org.pk, None, None, None, None),
        organization=None,
        subscription=type("S", (), {"id": world.subscription.pk, "cap_milli": None})(),
        plan=PlanSnapshot(world.plan.pk, "p", "call", None, None, 1000, True, False),
        period_start=int(world.subscription.current_period_start.timestamp()),
        period_end=int(world.subscription.current_period_end.timestamp()),
        upstream_path=b"/echo",
        endpoint_id=None,
    )

    async def run():
        store = make_store()
        admission = await store.admit(limits_for(call), time.time(), started_event(call))
        assert admission.allowed
        store.in_flight.clear()  # the process is gone: nobody records, nobody refreshes
        await DatabaseStore.close(store)  # stop its upkeep without flushing anything
        if hasattr(store, "client"):
            await store.client.aclose()

    asyncio.run(run())


def _recorded() -> int:
    """Completions written by the gateway, not flushed yet."""
    from django.conf import settings

    if settings.COUNTER_STORE == "redis":
        from apps.metering.redis_layout import sync_client

        client = sync_client()
        try:
            return client.xlen(flush.STREAM)
        finally:
            client.close()
    return UsageEvent.objects.count()


def test_a_completed_call_leaves_no_started_record(world):
    for _ in range(3):
        assert world.call().status_code == 200
    deadline = time.monotonic() + 5
    while _recorded() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _recorded() == 3
    assert _started_records(world.subscription.pk) == 0  # settled with the completion
    settle(3)
    assert MeteredCall.objects.count() == 3  # each request id counted, once
    request_ids = {r["headers"]["X-Tollgate-Request-Id"] for r in world.upstream.received}
    assert set(MeteredCall.objects.values_list("request_id", flat=True)) == request_ids


def test_a_call_whose_gateway_died_is_billed_once_at_the_minimum(world, settings):
    settings.METERING_ORPHAN_AFTER_S = 0.3
    _admit_and_die(world, "dead0000000000a1")
    assert _started_records(world.subscription.pk) == 1
    flush_all()
    assert _totals()["calls"] is None  # still waiting for its completion
    time.sleep(0.4)
    flush_all()
    assert _totals() == {"calls": 1, "units": 1, "unsettled": 1}
    assert _started_records(world.subscription.pk) == 0
    flush_all()
    assert _totals() == {"calls": 1, "units": 1, "unsettled": 1}  # a repeat changes nothing


def test_a_late_completion_of_an_orphan_is_not_billed_again(world, settings):
    settings.METERING_ORPHAN_AFTER_S = 0.2
    _admit_and_die(world, "dead0000000000b2")
    time.sleep(0.3)
    flush_all()
    assert _totals()["calls"] == 1
    late = _event(world.subscription, "dead0000000000b2", units=5000)

    async def record():
        store = make_store()
        await store.record(late, reserved_milli=1000)
        await store.close()

    asyncio.run(record())
    flush_all()
    assert _totals() == {"calls": 1, "units": 1, "unsettled": 1}


def test_a_call_in_flight_longer_than_the_orphan_timeout_is_not_orphaned(world, settings):
    """Calls in flight refresh their started record: a slow upstream is not a dead gateway."""
    settings.METERING_ORPHAN_AFTER_S = 1.0
    settings.METERING_START_REFRESH_S = 0.4
    import threading

    answer = {}
    thread = threading.Thread(
        target=lambda: answer.setdefault("r", world.call("/slow", params={"seconds": "2.5"}))
    )
    thread.start()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # flush and sweep all along the call
        flush_all()
        assert not _totals()["calls"], "a live call was billed as an orphan"
        time.sleep(0.2)
    thread.join()
    assert answer["r"].status_code == 200
    settle(1)
    assert _totals() == {"calls": 1, "units": 1, "unsettled": 0}


def test_one_request_id_from_two_sources_counts_once(world, settings):
    """A Redis write that timed out but happened, and its database fallback: one call."""
    event = _event(world.subscription, "dup00000000000c3")

    async def record_twice():
        store = make_store()
        await store.record(event, reserved_milli=1000)
        await DatabaseStore().record(event, reserved_milli=1000)
        await store.close()

    asyncio.run(record_twice())
    flush_all()
    assert _totals()["calls"] == 1
    assert UsageEvent.objects.count() == 0


def test_duplicates_in_one_batch_and_across_batches_count_once(world):
    events = [_event(world.subscription, f"batch{n:011d}") for n in range(30)]

    async def record():
        store = DatabaseStore()
        for event in events + events[:10]:
            await store.record(event, reserved_milli=1000)
        for event in events[20:]:
            await store.record(event, reserved_milli=1000)

    asyncio.run(record())
    while flush.flush_database(batch_size=7):
        pass
    assert _totals()["calls"] == 30


def test_old_events_without_request_ids_still_flush(world):
    """Events queued by the previous version (format 1) are counted after an upgrade."""
    now_ms, period = int(time.time() * 1000), world.subscription.current_period_start
    old = f"1|{now_ms}|{world.subscription.pk}|7||{int(period.timestamp())}|200|5|1000|0|0|10"
    UsageEvent.objects.create(data=old)
    flush_all()
    assert _totals()["calls"] == 1
