"""The production counter store: one Lua script per admission, one pipeline per record.

Keys are hash-tagged per subscription (`tg:{s42}:…`) so Redis Cluster keeps a subscription's
counters and started calls on one shard and the script stays single-slot. Usage events go
to `USAGE_STREAM_SHARDS` streams that the flush reads with a cursor each, kept in
PostgreSQL (exactly once). See redis_layout.py for the key names."""

import asyncio
import hashlib
import logging
import time
from collections import defaultdict

from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import NoScriptError, RedisError

from ..events import COMPLETED, REFUSED, CallEvent, merge_refusals
from ..persistence import judge, parse_info
from ..redis_layout import (
    async_client,
    quota_key,
    request_log_key,
    shard_count,
    shard_for,
    started_key,
    stream_key,
    stream_source,
    subscription_prefix,
)
from .base import Admission, CounterStore, Limits, StoreUnavailable, window_resets

logger = logging.getLogger(__name__)
REQUEST_LOG_LENGTH = 500
QUOTA_TTL_MARGIN_S = 7 * 86400
REBUILD_SCAN_LIMIT = 200_000  # stream entries read to rebuild one quota counter
SETTLE_IDS_PER_CALL = 500

# KEYS: second window, minute window, quota counter, started calls (hash)
# ARGV: per_second, per_minute, quota_milli, cap_milli (-1 = none), reserve_milli,
#       request id, started record ('' = none)
# Returns {allowed, refusal index (0 none, 1 rate, 2 quota, 3 cap), second, minute, used}
# or {-1} when the quota counter is missing (the caller rebuilds it from the database).
# The started record is written in the same atomic step as the admission it belongs to.
ADMIT_LUA = """
local used = redis.call('GET', KEYS[3])
if not used then return {-1} end
used = tonumber(used)
local second = tonumber(redis.call('GET', KEYS[1]) or '0')
local minute = tonumber(redis.call('GET', KEYS[2]) or '0')
local per_second, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2])
local quota, cap, reserve = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local refusal = 0
if per_second > 0 and second >= per_second then refusal = 1
elseif per_minute > 0 and minute >= per_minute then refusal = 1
else
  if quota >= 0 and used >= quota then refusal = 2
  elseif cap >= 0 and used >= cap then refusal = 3 end
end
if refusal > 0 then return {0, refusal, second, minute, used} end
second = redis.call('INCR', KEYS[1])
if second == 1 then redis.call('EXPIRE', KEYS[1], 2) end
minute = redis.call('INCR', KEYS[2])
if minute == 1 then redis.call('EXPIRE', KEYS[2], 61) end
if reserve > 0 then used = redis.call('INCRBY', KEYS[3], reserve) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[4], ARGV[6], ARGV[7]) end
return {1, 0, second, minute, used}
"""
REFUSAL_CODES = {0: None, 1: "rate_limited", 2: "quota_exceeded", 3: "spend_cap_reached"}
# Completions of one subscription and period: settle their reservations against the quota
# counter (never creating a missing one: that is rebuilt from the database at the next
# admission) and drop their started records. Runs after their stream entries are written.
SETTLE_LUA = """
local adjust = tonumber(ARGV[1])
if adjust ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBY', KEYS[1], adjust)
end
if #ARGV > 1 then redis.call('HDEL', KEYS[2], unpack(ARGV, 2)) end
return 1
"""
# A long call's started record gets a fresh time, unless its completion already removed it.
REFRESH_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


class RedisStore(CounterStore):
    """Admission is one EVALSHA per call; the admissions of one loop iteration go out in
    one pipeline. Recording is batched too: calls finishing in the same loop iteration
    share one pipeline (their stream entries, request-log lines, then one settle script per
    subscription), written just after their responses went out. If Redis fails, or keeps
    nothing across a restart (no AOF), the batch goes to the fallback store (the database)
    so no call is lost; request ids keep a call that lands in both from counting twice."""

    def __init__(
        self,
        url: str | None = None,
        quota_loader=None,
        fallback: CounterStore | None = None,
        on_fallback=None,
        *,
        cluster: bool | None = None,
        timeout: float | None = None,
        require_persistence: bool | None = None,
        shards: int | None = None,
    ):
        super().__init__()
        self.timeout = settings.COUNTER_STORE_TIMEOUT_S if timeout is None else timeout
        self.require_persistence = (
            settings.COUNTER_STORE_REQUIRE_PERSISTENCE
            if require_persistence is None
            else require_persistence
        )
        self.client = async_client(
            timeout=self.timeout, url=url, cluster=cluster, on_connect=self._on_connect
        )
        self.cluster = hasattr(self.client, "get_primaries")
        self.shards = shards or shard_count()
        self.admit_sha = _sha(ADMIT_LUA)
        self.settle_sha = _sha(SETTLE_LUA)
        self.refresh_sha = _sha(REFRESH_LUA)
        self.quota_loader = quota_loader or _load_quota_from_database
        self.fallback = fallback
        self.on_fallback = on_fallback
        self.not_durable: dict[str, str] = {}  # node → why usage there could be lost
        self.persistence_checked_at = 0.0
        self.persistence_known = not self.require_persistence
        self.persistence_check: asyncio.Future | None = None
        self.buffer: list[tuple[CallEvent, int, str | None]] = []
        self.admissions: list[tuple[list, list, asyncio.Future]] = []
        self.sending: set[asyncio.Future] = set()
        self.writer: asyncio.Future | None = None

    # --- persistence ------------------------------------------------------------------
    async def _on_connect(self, connection) -> None:
        """Each new connection (start-up, and every reconnect after Redis restarted) asks
        the server whether it persists writes before anything is written through it."""
        await connection.on_connect()
        if not self.require_persistence:
            return
        await connection.send_command("INFO", "persistence")
        raw = await connection.read_response()
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._note(f"{connection.host}:{connection.port}", judge(parse_info(text)))

    def _note(self, node: str, verdict) -> None:
        self.persistence_known = True
        if verdict.durable:
            if self.not_durable.pop(node, None) is not None:
                logger.warning("counter store %s persists again (%s)", node, verdict.detail)
        else:
            if node not in self.not_durable:
                logger.error(
                    "counter store %s: %s. Usage goes to the database%s until it persists.",
                    node,
                    verdict.detail,
                    "" if settings.GATEWAY_FAIL_OPEN else " and the gateway refuses calls",
                )
            self.not_durable[node] = verdict.detail

    def durable(self) -> bool | None:
        if not self.persistence_known:
            return None
        return not self.not_durable

    async def check_persistence(self) -> bool:
        """Ask now (at most once a second, shared by concurrent callers): before the first
        admission, and while refusing calls because Redis did not persist — nothing else
        talks to Redis then, so nothing else would notice that it persists again."""
        if self.persistence_known and time.monotonic() - self.persistence_checked_at < 1:
            return not self.not_durable
        if self.persistence_check is None or self.persistence_check.done():
            self.persistence_check = asyncio.ensure_future(self._recheck_persistence())
        try:
            await asyncio.shield(self.persistence_check)
        except RedisError as error:
            raise StoreUnavailable(str(error)) from error
        return not self.not_durable

    async def _recheck_persistence(self) -> None:
        """Catches a change on a live connection (CONFIG SET appendonly no, a failed AOF
        write) that no reconnect would reveal."""
        self.persistence_checked_at = time.monotonic()
        if self.cluster:
            nodes = [(node.name, node) for node in self.client.get_primaries()]
        else:
            kwargs = self.client.connection_pool.connection_kwargs
            nodes = [(f"{kwargs.get('host')}:{kwargs.get('port')}", None)]
        for name, node in nodes:
            if node is None:
                info = await self.client.info("persistence")
            else:
                info = await self.client.info("persistence", target_nodes=node)
            self._note(name, judge(info))

    async def _maintenance_round(self) -> None:
        await super()._maintenance_round()
        if self.require_persistence and time.monotonic() - self.persistence_checked_at > 10:
            await self._recheck_persistence()

    # --- admission --------------------------------------------------------------------
    async def admit(self, limits: Limits, now: float, start: CallEvent | None = None) -> Admission:
        second, minute, second_reset, minute_reset = window_resets(now)
        prefix = subscription_prefix(limits.subscription_id)
        keys = [
            f"{prefix}:rs:{second}",
            f"{prefix}:rm:{minute}",
            quota_key(limits.subscription_id, limits.period_start),
            f"{prefix}:started",
        ]
        args = [
            limits.per_second or 0,
            limits.per_minute or 0,
            _or_minus_one(limits.quota_milli),
            _or_minus_one(limits.cap_milli),
            limits.reserve_milli,
            start.request_id if start else "",
            start.encode() if start else "",
        ]
        try:
            result = await self._admit(keys, args)
            if result[0] == -1:
                await self._rebuild_quota(limits, keys[2])
                result = await self._admit(keys, args)
        except RedisError as error:
            raise StoreUnavailable(str(error)) from error
        if result[0] == 1 and start is not None:
            self._track(start)
        return Admission(
            allowed=result[0] == 1,
            refusal=REFUSAL_CODES[result[1]],
            second_count=result[2],
            second_reset_s=second_reset,
            minute_count=result[3],
            minute_reset_s=minute_reset,
            used_milli=result[4],
        )

    async def _admit(self, keys, args):
        """Admissions asked for in the same loop iteration share one pipeline: one
        connection checkout and one round trip for all of them (the script stays atomic
        per call; Redis runs them one after another)."""
        future = asyncio.get_running_loop().create_future()
        self.admissions.append((keys, args, future))
        if len(self.admissions) == 1:
            task = asyncio.ensure_future(self._send_admissions())
            self.sending.add(task)  # a strong reference until it is done
            task.add_done_callback(self.sending.discard)
        return await future

    async def _send_admissions(self) -> None:
        await asyncio.sleep(0)  # admissions asked for in this loop iteration join the batch
        batch, self.admissions = self.admissions, []
        try:
            results = await self._evalsha_all([(keys, args) for keys, args, _ in batch])
        except asyncio.CancelledError:  # shutting down: nobody waits forever
            for _keys, _args, future in batch:
                future.cancel()
            raise
        except Exception as error:  # each caller gets it; none waits forever
            results = [error] * len(batch)
        for (_keys, _args, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _evalsha_all(self, calls: list) -> list:
        results = await self._pipeline_evalsha(calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:  # Redis restarted and forgot the scripts: run only those again
            await self._load_scripts()
            retried = await self._pipeline_evalsha([calls[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _pipeline_evalsha(self, calls: list) -> list:
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.execute_command("EVALSHA", self.admit_sha, 4, *keys, *args)
        return await pipe.execute(raise_on_error=False)

    async def _load_scripts(self) -> None:
        self.admit_sha = await self.client.script_load(ADMIT_LUA)
        self.settle_sha = await self.client.script_load(SETTLE_LUA)
        self.refresh_sha = await self.client.script_load(REFRESH_LUA)

    async def _rebuild_quota(self, limits: Limits, key: str) -> None:
        """Redis lost the counter (restart, eviction, a new period): rebuild it from the
        truth — the aggregates plus every call not flushed yet, wherever it waits (this
        subscription's stream shard, its started calls, the database queue) — never from
        zero. SET NX so concurrent rebuilders agree."""
        used = await self.quota_loader(self, limits.subscription_id, limits.period_start)
        ttl = max(limits.period_end - limits.period_start, 0) + QUOTA_TTL_MARGIN_S
        await self.client.set(key, used, nx=True, ex=ttl)

    async def _unflushed_in_redis(self, subscription_id: int) -> list[CallEvent]:
        from ..flush import stream_cursor

        shard = shard_for(subscription_id, 0, self.shards)
        cursor = await sync_to_async(stream_cursor)(stream_source(shard))
        events, read, mine = [], 0, str(subscription_id)
        while read < REBUILD_SCAN_LIMIT:
            entries = await self.client.xrange(stream_key(shard), min=f"({cursor}", count=5000)
            if not entries:
                break
            read += len(entries)
            cursor = entries[-1][0].decode()
            for _entry_id, fields in entries:
                text = fields[b"d"].decode()
                if text.startswith("2|") and text.split("|", 5)[4] != mine:
                    continue  # another subscription's (decoding only what is ours)
                event = CallEvent.decode(text)
                if event.subscription_id == subscription_id:
                    events.append(event)
        started = await self.client.hvals(started_key(subscription_id))
        events += [CallEvent.decode(value.decode()) for value in started]
        return events

    # --- recording --------------------------------------------------------------------
    async def record(
        self, event: CallEvent, *, reserved_milli: int, log_line: str | None = None
    ) -> None:
        if event.kind == REFUSED:
            self.hold_refusal(event, log_line)
            return
        self._untrack(event.request_id)
        self.buffer.append((event, event.units_milli - reserved_milli, log_line))
        self._start_writer()

    def _start_writer(self) -> None:
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._drain())

    def _refusals_due(self) -> None:
        super()._refusals_due()
        self._start_writer()

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # calls finishing in this loop iteration join the batch
        while self.buffer or self.refusals:
            batch, self.buffer = self.buffer + self.take_refusals(), []
            if self.durable() is False:
                self._fell_back("not_persistent")
                await self._fall_back(batch)
                continue
            try:
                await self._write(batch)
            except RedisError:
                logger.warning(
                    "Redis refused %d usage events; writing them to the database", len(batch)
                )
                self._fell_back("record")
                await self._fall_back(batch)

    def _fell_back(self, reason: str) -> None:
        if self.on_fallback is not None:
            self.on_fallback(reason)

    async def _write(self, batch) -> None:
        settles: dict[tuple[int, int], list] = defaultdict(lambda: [0, []])
        logs: dict[int, list[str]] = defaultdict(list)
        pipe = self.client.pipeline(transaction=False)
        for event in merge_refusals([event for event, _, _ in batch]):
            shard = shard_for(event.subscription_id, event.api_key_id, self.shards)
            pipe.execute_command("XADD", stream_key(shard), "*", "d", event.encode())
        for event, adjust, line in batch:
            if event.kind == COMPLETED and event.subscription_id:
                settle = settles[(event.subscription_id, event.period_start)]
                settle[0] += adjust
                if event.request_id:
                    settle[1].append(event.request_id)
            if line is not None and event.subscription_id:
                logs[event.subscription_id].append(line)
        for subscription_id, lines in logs.items():
            key = request_log_key(subscription_id)
            pipe.execute_command("LPUSH", key, *lines)
            pipe.execute_command("LTRIM", key, 0, REQUEST_LOG_LENGTH - 1)
        if self.cluster:
            # a cluster runs each node's part of a pipeline at the same time: the started
            # records may only go once the completions are surely written
            await pipe.execute()
            pipe = self.client.pipeline(transaction=False)
        settle_calls = list(_settle_calls(settles))
        written = 0 if self.cluster else len(pipe)
        for keys, args in settle_calls:
            pipe.execute_command("EVALSHA", self.settle_sha, 2, *keys, *args)
        if not len(pipe):
            return
        results = await pipe.execute(raise_on_error=False)
        for result in results[:written]:
            if isinstance(result, Exception):
                raise result  # a completion not written: the batch goes to the database
        await self._retry_settles(settle_calls, results[written:])

    async def _retry_settles(self, calls: list, results: list) -> None:
        failed = [call for call, result in zip(calls, results, strict=True) if result != 1]
        if not failed:
            return
        if any(isinstance(r, NoScriptError) for r in results):
            await self._load_scripts()
        pipe = self.client.pipeline(transaction=False)
        for keys, args in failed:
            pipe.execute_command("EVALSHA", self.settle_sha, 2, *keys, *args)
        retried = await pipe.execute(raise_on_error=False)
        if any(r != 1 for r in retried):
            # the calls are recorded; their started records stay and the flush drops them
            # (their request ids are settled), the quota counter may be off until rebuilt
            logger.warning("could not settle %d started records: %s", len(failed), retried)

    async def _fall_back(self, batch) -> None:
        if self.fallback is None:
            return
        await self.fallback.record_batch(
            [(event, event.units_milli, line) for event, _adjust, line in batch]
        )

    async def start_in_fallback(self, start: CallEvent) -> None:
        if self.fallback is not None:
            await self.fallback.start_in_fallback(start)

    async def _refresh_starts(self, starts: list[CallEvent]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for start in starts:
            key = started_key(start.subscription_id)
            pipe.execute_command("EVAL", REFRESH_LUA, 1, key, start.request_id, start.encode())
        await pipe.execute(raise_on_error=False)

    async def flush_pending(self) -> None:
        if self.refusals:
            self._start_writer()
        if self.writer is not None:
            await self.writer

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.flush_pending()
        await super().close()
        await self.client.aclose()


def _settle_calls(settles: dict):
    for (subscription_id, period_start), (adjust, ids) in settles.items():
        keys = [quota_key(subscription_id, period_start), started_key(subscription_id)]
        if not ids:
            if adjust:
                yield keys, [adjust]
            continue
        for n in range(0, len(ids), SETTLE_IDS_PER_CALL):
            yield keys, [adjust if n == 0 else 0, *ids[n : n + SETTLE_IDS_PER_CALL]]


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324  (Redis names scripts so)


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value


async def _load_quota_from_database(
    store: RedisStore, subscription_id: int, period_start: int
) -> int:
    from ..selectors import period_units_with_pending_milli

    pending = await store._unflushed_in_redis(subscription_id)
    return await sync_to_async(period_units_with_pending_milli)(
        subscription_id, period_start, pending
    )
