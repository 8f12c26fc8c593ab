"""Calls refused with a key the gateway knows (401 revoked, 402, 403, 429) are counted per
key, subscription and error code, and shown in the request log — never billed, never
counted against a quota. Unknown keys are not counted. Both counter stores."""

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from django.db import transaction
from django.db.models import Sum

from apps.catalog.models import ApiStatus
from apps.core.invalidation import publish_invalidation
from apps.keys.services import api_key_create, api_key_revoke
from apps.metering.events import REFUSED, CallEvent, merge_refusals
from apps.metering.flush import apply_events, claim
from apps.metering.models import MeteredCall, RefusedCalls, UsageAggregate
from apps.subscriptions.models import Plan
from tests.catalog.factories import ApiFactory
from tests.gateway.conftest import flush_all, make_plan, subscribe
from tests.gateway.faults import invoiced_units

pytestmark = pytest.mark.django_db(transaction=True)


def _refused(**filters) -> dict[str, int]:
    rows = RefusedCalls.objects.filter(**filters).values("code").annotate(n=Sum("calls"))
    return {row["code"]: row["n"] for row in rows}


def _flush_until_refused(total: int, timeout: float = 5.0) -> None:
    """Refusals are recorded just after the answer went out: flush until they arrived."""
    deadline = time.monotonic() + timeout
    while True:
        flush_all()
        done = RefusedCalls.objects.aggregate(n=Sum("calls"))["n"] or 0
        if done >= total or time.monotonic() > deadline:
            assert done == total, f"{done} refusals counted, expected {total}"
            return
        time.sleep(0.1)


def test_refused_calls_are_counted_by_key_and_code_and_never_billed(world):
    Plan.objects.filter(pk=world.plan.pk).update(
        monthly_fee=Decimal("10.00"),
        included_units=2,
        unit_price=Decimal("1.00"),
        hard_limit=False,
        rate_limit_per_minute=3,
    )
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: world.call("/echo"), range(12)))
    statuses = [r.status_code for r in responses]
    admitted = statuses.count(200)
    limited = [r for r in responses if r.status_code == 429]
    assert admitted + len(limited) == 12 and 3 <= admitted <= 6  # a minute may turn over
    assert {r.json()["code"] for r in limited} == {"rate_limited"}

    _flush_until_refused(len(limited))
    assert _refused(subscription=world.subscription) == {"rate_limited": len(limited)}
    row = RefusedCalls.objects.filter(code="rate_limited").first()
    assert (row.api_key_id, row.status, row.api_id) == (world.key_row.pk, 429, world.api.pk)
    assert row.period_start == world.subscription.current_period_start
    # not billed: the aggregates hold the admitted calls only, and the invoice bills them
    usage = UsageAggregate.objects.aggregate(calls=Sum("calls"), units=Sum("billable_units"))
    assert usage == {"calls": admitted, "units": Decimal(admitted)}
    assert invoiced_units(world.subscription) == admitted - 2
    invoice = world.subscription.invoices.order_by("-id").first()
    assert invoice.total == Decimal("10.00") + (admitted - 2) * Decimal("1.00")


def test_refusals_do_not_consume_the_quota(world):
    Plan.objects.filter(pk=world.plan.pk).update(included_units=2, hard_limit=True)
    assert [world.call("/echo").status_code for _ in range(5)] == [200, 200, 429, 429, 429]
    refused = world.call("/echo")
    assert refused.json()["code"] == "quota_exceeded"
    assert refused.headers["X-Quota-Remaining"] == "0"
    _flush_until_refused(4)
    assert _refused(api_key_id=world.key_row.pk) == {"quota_exceeded": 4}
    # raising the quota by one admits exactly one more call: the refusals used none of it
    Plan.objects.filter(pk=world.plan.pk).update(included_units=3)
    publish_invalidation("plan", world.plan.pk)
    time.sleep(1.1)  # a change reaches every gateway within a second
    assert world.call("/echo").status_code == 200
    assert world.call("/echo").json()["code"] == "quota_exceeded"


def test_refusals_before_a_subscription_are_counted_by_key(world):
    other = ApiFactory(
        organization=world.provider_org,
        slug="other-api",
        upstream_url=world.upstream.url,
        status=ApiStatus.PUBLISHED,
    )
    # 403 not_subscribed: the key's organization does not subscribe to `other`
    url = f"{world.site.url}/gw/{other.slug}/echo"
    not_subscribed = requests.get(url, headers={"X-Api-Key": world.key}, timeout=10)
    assert not_subscribed.json()["code"] == "not_subscribed"
    # 403 key_not_allowed: a key restricted to `other` calls the world's API
    subscribe(world.consumer_org, make_plan(other))
    restricted, secret = api_key_create(
        actor=world.consumer,
        organization=world.consumer_org,
        name="only other",
        allowed_apis=[other],
    )
    assert world.call("/echo", key=secret).json()["code"] == "key_not_allowed"
    # 401 for a revoked key the gateway knows: counted for that key
    revoked, revoked_secret = api_key_create(
        actor=world.consumer, organization=world.consumer_org, name="old"
    )
    api_key_revoke(actor=world.consumer, key=revoked)
    time.sleep(1.1)  # revocations reach every gateway within a second
    assert world.call("/echo", key=revoked_secret).json()["code"] == "invalid_api_key"
    # unknown keys have nobody to show them to: not counted
    assert world.call("/echo", key="tg_" + "x" * 40).json()["code"] == "invalid_api_key"
    _flush_until_refused(3)
    assert _refused(api_key_id=world.key_row.pk) == {"not_subscribed": 1}
    assert _refused(api_key_id=restricted.pk) == {"key_not_allowed": 1}
    assert _refused(api_key_id=revoked.pk) == {"invalid_api_key": 1}
    assert _refused(subscription__isnull=True) == {
        "not_subscribed": 1,
        "key_not_allowed": 1,
        "invalid_api_key": 1,
    }
    assert RefusedCalls.objects.get(code="not_subscribed").api_id == other.pk


def test_the_request_log_shows_refused_calls_with_their_code(world):
    from apps.analytics.request_log import recent_calls

    Plan.objects.filter(pk=world.plan.pk).update(included_units=1, hard_limit=True)
    ok = world.call("/echo?x=1")
    refused = world.call("/echo?x=2")
    assert refused.status_code == 429
    deadline = time.monotonic() + 5
    while len(calls := recent_calls(world.subscription)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    by_id = {call["id"]: call for call in calls}
    ok_line = by_id[ok.headers["X-Tollgate-Request-Id"]]
    refused_line = by_id[refused.headers["X-Tollgate-Request-Id"]]
    assert (ok_line["s"], ok_line.get("c")) == (200, None)
    assert refused_line["s"] == 429
    assert refused_line["c"] == "quota_exceeded"
    assert (refused_line["m"], refused_line["p"], refused_line["u"]) == ("GET", "/echo", "0")


def _refusal(n: int, code: str = "rate_limited", hour_ms: int = 0) -> CallEvent:
    return CallEvent(
        ts_ms=1_800_000_000_000 + hour_ms + n,
        subscription_id=0,
        api_key_id=7,
        endpoint_id=None,
        period_start=0,
        status=429,
        latency_ms=0,
        units_micro=0,
        gateway_error=True,
        bytes_in=0,
        bytes_out=0,
        request_id=f"r{code[:4]}{hour_ms}{n}",
        kind=REFUSED,
        code=code,
    )


def test_a_batch_of_refusals_is_one_event_per_bucket_and_counts_once():
    events = [_refusal(n) for n in range(50)] + [_refusal(0, "quota_exceeded")]
    events.append(_refusal(0, hour_ms=3_600_000))  # the next hour: a bucket of its own
    merged = merge_refusals(events)
    assert [(e.code, e.count, e.request_id) for e in merged] == [
        ("rate_limited", 50, "rrate00"),
        ("quota_exceeded", 1, "rquot00"),
        ("rate_limited", 1, "rrate36000000"),
    ]
    assert CallEvent.decode(merged[0].encode()) == merged[0]
    assert merged[1].encode().count("|") == 15  # a count of 1 keeps the 16-field format
    with transaction.atomic():
        apply_events(claim(merged))
        apply_events(claim([_refusal(99)]))  # the same bucket later: added to its row
    assert _refused(api_key_id=7) == {"rate_limited": 52, "quota_exceeded": 1}
    assert RefusedCalls.objects.count() == 3
    assert not MeteredCall.objects.exists()  # the counted ids are billed calls only


def test_a_flood_of_refusals_is_one_write_per_bucket(counter_store):
    """Held refusals are written together within REFUSAL_BATCH_S: 200 refused calls of one
    key and code are one queued event (one stream entry), and still count 200."""
    import asyncio

    from apps.metering.models import UsageEvent
    from apps.metering.stores import make_store

    async def flood():
        store = make_store()
        for n in range(200):
            store.hold_refusal(_refusal(n), None)
        await asyncio.sleep(0.3)  # past REFUSAL_BATCH_S: written without any completion
        queued = await _queued(store)
        await store.close()
        return queued

    async def _queued(store):
        if counter_store == "redis":
            return await store.client.xlen("tg:usage")
        from asgiref.sync import sync_to_async

        return await sync_to_async(UsageEvent.objects.count)()

    assert asyncio.run(flood()) == 1
    flush_all()
    assert _refused(api_key_id=7) == {"rate_limited": 200}
