"""The Redis store alone: admissions of one loop iteration share a pipeline, and each caller
still gets its own exact answer — under a hard quota, after Redis forgot its scripts, and
when Redis cannot be reached."""

import asyncio
import time

import pytest
import redis

from apps.metering.stores.base import Limits, StoreUnavailable
from apps.metering.stores.redis_store import RedisStore, quota_key
from tests.gateway.conftest import redis_test_url

pytestmark = pytest.mark.redis


async def _no_usage(store, subscription_id, period_start):
    return 0


def _limits(**overrides) -> Limits:
    now = int(time.time())
    fields = {
        "subscription_id": 7,
        "period_start": now - 60,
        "period_end": now + 3600,
        "per_second": None,
        "per_minute": None,
        "quota_milli": 20_000,
        "cap_milli": None,
        "reserve_milli": 1000,
    }
    return Limits(**(fields | overrides))


@pytest.fixture
def redis_url():
    url = redis_test_url()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


async def _admit_many(store: RedisStore, limits: Limits, n: int):
    return await asyncio.gather(*(store.admit(limits, time.time()) for _ in range(n)))


def test_concurrent_admissions_share_a_pipeline_and_stay_exact(redis_url):
    async def scenario():
        store = RedisStore(redis_url, quota_loader=_no_usage)
        pipelines = []
        original = store._pipeline_evalsha

        async def counted(calls):
            pipelines.append(len(calls))
            return await original(calls)

        try:
            first = await store.admit(_limits(), time.time())  # builds the quota counter
            store._pipeline_evalsha = counted
            return [first, *await _admit_many(store, _limits(), 49)], pipelines
        finally:
            await store.close()

    admissions, pipelines = asyncio.run(scenario())
    allowed = [a for a in admissions if a.allowed]
    assert len(allowed) == 20
    assert sorted(a.used_milli for a in allowed) == [1000 * i for i in range(1, 21)]
    assert {a.refusal for a in admissions if not a.allowed} == {"quota_exceeded"}
    assert pipelines == [49]  # one round trip for the 49 concurrent admissions


def test_admissions_survive_redis_forgetting_its_scripts(redis_url):
    limits = _limits(quota_milli=None)

    async def scenario():
        store = RedisStore(redis_url, quota_loader=_no_usage)
        try:
            first = await _admit_many(store, limits, 3)
            redis.Redis.from_url(redis_url).script_flush()
            second = await _admit_many(store, limits, 4)
            return first, second
        finally:
            await store.close()

    first, second = asyncio.run(scenario())
    assert all(a.allowed for a in first + second)
    assert sorted(a.used_milli for a in second) == [4000, 5000, 6000, 7000]
    counter = redis.Redis.from_url(redis_url).get(quota_key(7, limits.period_start))
    assert int(counter) == 7000  # each call counted once, none re-run after the reload


def test_unreachable_redis_fails_every_waiting_admission():
    async def scenario():
        store = RedisStore("redis://127.0.0.1:1/0", quota_loader=_no_usage)
        outcomes = await asyncio.gather(
            *(store.admit(_limits(), time.time()) for _ in range(5)), return_exceptions=True
        )
        await store.client.aclose()
        return outcomes

    outcomes = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert len(outcomes) == 5
    assert all(isinstance(o, StoreUnavailable) for o in outcomes)
