"""The counter store's Redis breaks under load — killed -9 and restarted with and without AOF,
stopped (SIGSTOP) for longer than the gateway's timeout — in a redis-server this test owns.
Afterwards, by request id: served by the upstream == metered == invoiced."""

import threading
import time

import pytest
import requests

from tests.gateway.conftest import flush_all, settle
from tests.gateway.faults import (
    RedisProcess,
    bill_per_call,
    invoiced_units,
    metered_calls,
    metered_request_ids,
    needs_redis_server,
    served_request_ids,
)

pytestmark = [pytest.mark.django_db(transaction=True), needs_redis_server]


@pytest.fixture
def owned_redis():
    started = []

    def start(*, aof: bool) -> RedisProcess:
        process = RedisProcess(aof=aof).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def counter_store(settings, owned_redis):
    """The world's gateway counts in a redis-server of the test's own (the cache and broker
    stay off Redis, so breaking it touches only the counters)."""
    redis = owned_redis(aof=True)
    settings.REDIS_URL = ""
    settings.COUNTER_REDIS_URL = redis.url
    settings.COUNTER_STORE = "redis"
    settings.GATEWAY_FAIL_OPEN = False
    settings.COUNTER_STORE_REQUIRE_PERSISTENCE = True
    settings.COUNTER_STORE_TIMEOUT_S = 0.5
    settings.METERING_ORPHAN_AFTER_S = 1.0
    settings.METERING_START_REFRESH_S = 0.4
    return redis


class Load:
    """A few consumers calling the gateway without pause, each answer kept."""

    def __init__(self, world, threads: int = 4):
        self.world, self.stop, self.answers = world, threading.Event(), []
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self):
        session = requests.Session()
        while not self.stop.is_set():
            try:
                response = session.get(
                    self.world.base + "/echo", headers={"X-Api-Key": self.world.key}, timeout=10
                )
                self.answers.append(response.status_code)
            except requests.RequestException as error:
                self.answers.append(type(error).__name__)
            time.sleep(0.01)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def wait_for_served(self, served: int, timeout: float = 30) -> None:
        """Until `served` more calls were answered 200 (the gateway recovered)."""
        deadline = time.monotonic() + timeout
        target = self.answers.count(200) + served
        while self.answers.count(200) < target:
            assert time.monotonic() < deadline, f"answers since: {self.answers[-20:]}"
            time.sleep(0.02)

    def wait_for(self, answers: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        target = len(self.answers) + answers
        while len(self.answers) < target:
            assert time.monotonic() < deadline, f"only {len(self.answers)} answers"
            time.sleep(0.02)


def _settle_everything(world, timeout: float = 15) -> None:
    """Flush until every call the upstream served is counted (completions leave the gateway
    after their answers; a started record without one is billed once it is older than the
    orphan timeout), then once more for any copy still waiting somewhere."""
    deadline = time.monotonic() + timeout
    while True:
        flush_all()
        if served_request_ids(world.upstream) <= metered_request_ids():
            break
        if time.monotonic() > deadline:
            break  # the assertions say what is missing
        time.sleep(0.1)
    flush_all()


def _assert_exact(world) -> set[str]:
    _settle_everything(world)
    served = served_request_ids(world.upstream)
    assert served, "the load never reached the upstream"
    metered = metered_request_ids()
    assert metered - served == set(), "metered calls the upstream never served"
    assert served - metered == set(), f"{len(served - metered)} served calls never metered"
    assert metered_calls(world.subscription) == len(served)
    assert invoiced_units(world.subscription) == len(served)
    return served


def test_redis_killed_and_restarted_with_aof_loses_nothing(world, counter_store):
    bill_per_call(world)
    with Load(world) as load:
        load.wait_for(40)
        counter_store.kill9()
        load.wait_for(10)  # answered 503 (fail closed): not served, not billed
        counter_store.restart()
        load.wait_for_served(30)
    assert 503 in load.answers
    served = _assert_exact(world)
    assert len(served) == load.answers.count(200)


def test_redis_without_aof_fails_open_to_the_database_and_loses_nothing(
    world, owned_redis, settings
):
    redis = owned_redis(aof=False)
    settings.COUNTER_REDIS_URL = redis.url
    settings.GATEWAY_FAIL_OPEN = True
    bill_per_call(world)
    with Load(world) as load:
        load.wait_for(40)
        redis.kill9()
        load.wait_for(10)
        redis.restart()
        load.wait_for(40)
    assert set(load.answers) == {200}  # failing open: every call served
    served = _assert_exact(world)
    assert len(served) == len(load.answers)


def test_redis_without_aof_fails_closed_until_it_persists(world, owned_redis, settings):
    redis = owned_redis(aof=False)
    settings.COUNTER_REDIS_URL = redis.url
    bill_per_call(world)
    refused = world.call()
    assert refused.status_code == 503
    body = refused.json()
    assert body["code"] == "gateway_unavailable" and "persist" in body["detail"]
    assert world.upstream.received == []  # nothing forwarded, nothing to bill
    redis.kill9()
    redis.restart(aof=True)  # the operator turns AOF on and restarts Redis
    deadline = time.monotonic() + 10
    while world.call().status_code != 200:  # the gateway reconnects and asks again
        assert time.monotonic() < deadline, "still refused once Redis persists"
        time.sleep(0.1)
    for _ in range(5):
        assert world.call().status_code == 200
    assert len(_assert_exact(world)) == 6


def _written_twice(redis_url: str, subscription_id: int) -> set[str]:
    """Request ids whose completion is both in the Redis stream and in the database queue:
    a write that timed out (so the gateway wrote it to the database) and then happened."""
    import redis as redis_py

    from apps.metering.events import COMPLETED, CallEvent
    from apps.metering.models import UsageEvent
    from apps.metering.redis_layout import shard_count, shard_for, stream_key

    def completed(texts) -> set[str]:
        events = [CallEvent.decode(text) for text in texts]
        return {e.request_id for e in events if e.kind == COMPLETED}

    client = redis_py.Redis.from_url(redis_url)
    try:
        stream = stream_key(shard_for(subscription_id, 0, shard_count()))
        in_redis = completed(f[b"d"].decode() for _, f in client.xrange(stream))
    finally:
        client.close()
    return in_redis & completed(UsageEvent.objects.values_list("data", flat=True))


def test_a_redis_stall_past_the_timeout_is_reconciled_not_counted_twice(
    world, counter_store, settings
):
    """SIGSTOP for longer than the client timeout: the gateway's writes time out and go to
    the database, and Redis runs those already sent when it resumes. Stalls repeat until a
    completion sits in both places (it depends on what was on the wire at the SIGSTOP);
    each call still counts once."""
    settings.GATEWAY_FAIL_OPEN = True
    bill_per_call(world)
    twice: set[str] = set()
    with Load(world, threads=6) as load:
        load.wait_for(30)
        for _ in range(8):
            counter_store.pause()
            time.sleep(1.2)  # more than twice the 0.5 s timeout
            counter_store.resume()
            load.wait_for(20)
            twice = _written_twice(counter_store.url, world.subscription.pk)
            if twice:
                break
    assert twice, "no stall left a completion in both Redis and the database"
    assert set(load.answers) == {200}
    served = _assert_exact(world)
    assert twice <= served
    assert len(served) == len(load.answers)


def _wait_queued(count: int, timeout: float = 10) -> None:
    """Until `count` completions wait in the database queue (recorded after the answers)."""
    from apps.metering.models import UsageEvent

    deadline = time.monotonic() + timeout
    while UsageEvent.objects.count() < count:
        assert time.monotonic() < deadline, f"{UsageEvent.objects.count()} queued, not {count}"
        time.sleep(0.05)


def _quota_counter(redis_url: str, subscription) -> int:
    import redis as redis_py

    from apps.metering.redis_layout import quota_key

    client = redis_py.Redis.from_url(redis_url)
    try:
        period_start = int(subscription.current_period_start.timestamp())
        return int(client.get(quota_key(subscription.pk, period_start)))
    finally:
        client.close()


def test_a_quota_counter_lost_with_redis_is_rebuilt_to_the_truth_and_holds(
    world, owned_redis, settings
):
    """Redis without AOF (failing open: usage goes to the database queue) is killed -9 and
    restarted while calls wait in that queue. The counter it lost is rebuilt from the
    aggregates plus the queue — not from the aggregates alone — so the hard quota holds."""
    from apps.subscriptions.models import Plan

    redis = owned_redis(aof=False)
    settings.COUNTER_REDIS_URL = redis.url
    settings.GATEWAY_FAIL_OPEN = True
    Plan.objects.filter(pk=world.plan.pk).update(included_units=40, hard_limit=True)
    for _ in range(10):
        assert world.call().status_code == 200
    settle(10)  # in the aggregates
    for _ in range(15):
        assert world.call().status_code == 200
    _wait_queued(15)  # not flushed: waiting in the database queue
    redis.kill9()
    redis.restart()  # still without AOF: the quota counter is gone
    assert world.call().status_code == 200  # its admission rebuilds the counter
    served = served_request_ids(world.upstream)
    assert len(served) == 26
    assert _quota_counter(redis.url, world.subscription) == 26 * 1000
    with Load(world) as load:
        deadline = time.monotonic() + 20
        while load.answers.count(429) < 8:
            assert time.monotonic() < deadline, f"never refused: {load.answers[-10:]}"
            time.sleep(0.02)
    assert load.answers.count(200) == 40 - 26  # the quota holds: not one call beyond it
    _settle_everything(world)
    served = served_request_ids(world.upstream)
    assert len(served) == 40
    assert metered_request_ids() == served
    assert metered_calls(world.subscription) == 40
