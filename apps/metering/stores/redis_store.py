"""The production counter store: one Lua script per admission, one pipeline per record.

Keys are hash-tagged per subscription (`tg:{s42}:…`) so Redis Cluster keeps a subscription's
counters on one shard and the script stays single-slot. Usage events go to one stream that
the flush reads with a cursor kept in PostgreSQL (exactly once)."""

import asyncio
import hashlib
import logging
from collections import defaultdict

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from ..events import CallEvent
from .base import Admission, CounterStore, Limits, StoreUnavailable, window_resets

logger = logging.getLogger(__name__)
STREAM = "tg:usage"
REQUEST_LOG_LENGTH = 500
QUOTA_TTL_MARGIN_S = 7 * 86400

# KEYS: second window, minute window, quota counter
# ARGV: per_second, per_minute, quota_milli, cap_milli (-1 = none), reserve_milli, quota_ttl
# Returns {allowed, refusal index (0 none, 1 rate, 2 quota, 3 cap), second, minute, used}
# or {-1} when the quota counter is missing (the caller rebuilds it from the database).
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
return {1, 0, second, minute, used}
"""
REFUSAL_CODES = {0: None, 1: "rate_limited", 2: "quota_exceeded", 3: "spend_cap_reached"}
# Settle a call's units against its reservation, but never create a missing counter: a
# counter that Redis lost is rebuilt from the database at the next admission instead.
ADJUST_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return nil
"""


def quota_key(subscription_id: int, period_start: int) -> str:
    return f"tg:{{s{subscription_id}}}:q:{period_start}"


def request_log_key(subscription_id: int) -> str:
    return f"tg:{{s{subscription_id}}}:log"


class RedisStore(CounterStore):
    """Admission is one EVALSHA per call; the admissions of one loop iteration go out in
    one pipeline. Recording is batched too: calls finishing in the same loop iteration
    share one pipeline (their stream entries, summed quota settlements and request-log
    lines), written just after their responses went out. If Redis fails the batch goes to
    the fallback store (the database) so no call is lost."""

    def __init__(
        self,
        url: str,
        quota_loader=None,
        fallback: CounterStore | None = None,
        on_fallback=None,
    ):
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=1, health_check_interval=30
        )
        self.admit_sha = _sha(ADMIT_LUA)
        self.adjust_sha = _sha(ADJUST_LUA)
        self.quota_loader = quota_loader or _load_quota_from_database
        self.fallback = fallback
        self.on_fallback = on_fallback
        self.buffer: list[tuple[CallEvent, int, str | None]] = []
        self.admissions: list[tuple[list, list, asyncio.Future]] = []
        self.sending: set[asyncio.Future] = set()
        self.writer: asyncio.Future | None = None

    async def admit(self, limits: Limits, now: float) -> Admission:
        second, minute, second_reset, minute_reset = window_resets(now)
        prefix = f"tg:{{s{limits.subscription_id}}}"
        keys = [
            f"{prefix}:rs:{second}",
            f"{prefix}:rm:{minute}",
            quota_key(limits.subscription_id, limits.period_start),
        ]
        args = [
            limits.per_second or 0,
            limits.per_minute or 0,
            _or_minus_one(limits.quota_milli),
            _or_minus_one(limits.cap_milli),
            limits.reserve_milli,
        ]
        try:
            result = await self._admit(keys, args)
            if result[0] == -1:
                await self._rebuild_quota(limits, keys[2])
                result = await self._admit(keys, args)
        except RedisError as error:
            raise StoreUnavailable(str(error)) from error
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
            pipe.execute_command("EVALSHA", self.admit_sha, 3, *keys, *args)
        return await pipe.execute(raise_on_error=False)

    async def _load_scripts(self) -> None:
        self.admit_sha = await self.client.script_load(ADMIT_LUA)
        self.adjust_sha = await self.client.script_load(ADJUST_LUA)

    async def _rebuild_quota(self, limits: Limits, key: str) -> None:
        """Redis lost the counter (restart, flush): rebuild it from the aggregates, never
        from zero. SET NX so concurrent rebuilders agree."""
        used = await self.quota_loader(limits.subscription_id, limits.period_start)
        ttl = max(limits.period_end - limits.period_start, 0) + QUOTA_TTL_MARGIN_S
        await self.client.set(key, used, nx=True, ex=ttl)

    async def record(
        self, event: CallEvent, *, reserved_milli: int, log_line: str | None = None
    ) -> None:
        self.buffer.append((event, event.units_milli - reserved_milli, log_line))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # calls finishing in this loop iteration join the batch
        while self.buffer:
            batch, self.buffer = self.buffer, []
            try:
                await self._write(batch)
            except RedisError:
                logger.warning(
                    "Redis refused %d usage events; writing them to the database", len(batch)
                )
                if self.on_fallback is not None:
                    self.on_fallback()
                await self._fall_back(batch)

    async def _write(self, batch) -> None:
        adjusts: dict[str, int] = defaultdict(int)
        logs: dict[int, list[str]] = defaultdict(list)
        pipe = self.client.pipeline(transaction=False)
        for event, adjust, line in batch:
            pipe.execute_command("XADD", STREAM, "*", "d", event.encode())
            if adjust:
                adjusts[quota_key(event.subscription_id, event.period_start)] += adjust
            if line is not None:
                logs[event.subscription_id].append(line)
        for subscription_id, lines in logs.items():
            key = request_log_key(subscription_id)
            pipe.execute_command("LPUSH", key, *lines)
            pipe.execute_command("LTRIM", key, 0, REQUEST_LOG_LENGTH - 1)
        await pipe.execute()
        if adjusts:
            await self._settle(adjusts)

    async def _settle(self, adjusts: dict[str, int]) -> None:
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            for key, adjust in adjusts.items():
                pipe.execute_command("EVALSHA", self.adjust_sha, 1, key, adjust)
            results = await pipe.execute(raise_on_error=False)
            if not any(isinstance(r, NoScriptError) for r in results) or attempt:
                return
            await self._load_scripts()

    async def _fall_back(self, batch) -> None:
        if self.fallback is None:
            return
        for event, _adjust, line in batch:
            await self.fallback.record(event, reserved_milli=event.units_milli, log_line=line)

    async def flush_pending(self) -> None:
        if self.writer is not None:
            await self.writer

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.flush_pending()
        await self.client.aclose()


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324  (Redis names scripts so)


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value


async def _load_quota_from_database(subscription_id: int, period_start: int) -> int:
    from asgiref.sync import sync_to_async

    from ..selectors import period_units_milli

    return await sync_to_async(period_units_milli)(subscription_id, period_start)
