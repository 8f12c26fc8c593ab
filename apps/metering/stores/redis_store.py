"""The production counter store: one Lua script per admission, one pipeline per record.

Keys are hash-tagged per subscription (`tg:{s42}:…`) so Redis Cluster keeps a subscription's
counters on one shard and the script stays single-slot. Usage events go to one stream that
the flush reads with a cursor kept in PostgreSQL (exactly once)."""

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from ..events import CallEvent
from .base import Admission, CounterStore, Limits, StoreUnavailable, window_resets

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
  local need = math.max(reserve, 1)
  if quota >= 0 and used + need > quota then refusal = 2
  elseif cap >= 0 and used + need > cap then refusal = 3 end
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
    def __init__(self, url: str, quota_loader=None):
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=1, health_check_interval=30
        )
        self.script = self.client.register_script(ADMIT_LUA)
        self.adjust_script = self.client.register_script(ADJUST_LUA)
        self.quota_loader = quota_loader or _load_quota_from_database

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
            result = await self._run(keys, args)
            if result[0] == -1:
                await self._rebuild_quota(limits, keys[2])
                result = await self._run(keys, args)
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

    async def _run(self, keys, args):
        try:
            return await self.script(keys=keys, args=args)
        except NoScriptError:  # Redis restarted and forgot the script
            self.script = self.client.register_script(ADMIT_LUA)
            return await self.script(keys=keys, args=args)

    async def _rebuild_quota(self, limits: Limits, key: str) -> None:
        """Redis lost the counter (restart, flush): rebuild it from the aggregates, never
        from zero. SET NX so concurrent rebuilders agree."""
        used = await self.quota_loader(limits.subscription_id, limits.period_start)
        ttl = max(limits.period_end - limits.period_start, 0) + QUOTA_TTL_MARGIN_S
        await self.client.set(key, used, nx=True, ex=ttl)

    async def record(
        self, event: CallEvent, *, reserved_milli: int, log_line: str | None = None
    ) -> None:
        adjust = event.units_milli - reserved_milli
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xadd(STREAM, {"d": event.encode()})
                if adjust:
                    key = quota_key(event.subscription_id, event.period_start)
                    await self.adjust_script(keys=[key], args=[adjust], client=pipe)  # queues it
                if log_line is not None:
                    log_key = request_log_key(event.subscription_id)
                    pipe.lpush(log_key, log_line)
                    pipe.ltrim(log_key, 0, REQUEST_LOG_LENGTH - 1)
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailable(str(error)) from error

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value


async def _load_quota_from_database(subscription_id: int, period_start: int) -> int:
    from asgiref.sync import sync_to_async

    from ..selectors import period_units_milli

    return await sync_to_async(period_units_milli)(subscription_id, period_start)
