"""Client-side CPU of the gateway's two Redis round trips, per call, with redis.asyncio:
the admission EVALSHA and the record pipeline (XADD + LPUSH + LTRIM) — one call at a time
and 64 concurrent, with the gateway's client options (socket_timeout=2,
health_check_interval=30) and without a socket timeout, and batched (several calls' commands
in one pipeline). Redis DB 14 is used and flushed.

    .venv/bin/python bench/redis_client_bench.py [--calls 20000] [--repeat 3]

Runs with any interpreter that has redis (and uvloop): point another virtualenv's python
at it to compare redis-py versions. Each figure is the median of --repeat runs."""

import argparse
import ast
import asyncio
import json
import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/14"
EVENT = "1|1700000000000|1|1|1|1700000000|200|1|1000|0|0|29"
LOG_LINE = '{"t":1700000000.123,"id":"0123456789abcdef","key":"tg_0123456789","m":"GET"}'


def admit_lua() -> str:
    """ADMIT_LUA from the store's source, without importing Django."""
    tree = ast.parse((ROOT / "apps/metering/stores/redis_store.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ADMIT_LUA":
            return node.value.value
    raise RuntimeError("ADMIT_LUA not found")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


KEYS = ["tg:{s1}:rs:1", "tg:{s1}:rm:1", "tg:{s1}:q:0"]
ARGS = [0, 0, -1, -1, 1000]


async def per_call(client, script, calls: int, concurrency: int) -> tuple[float, float]:
    async def admit(n):
        for _ in range(n):
            await script(keys=KEYS, args=ARGS)

    async def record(n):
        for _ in range(n):
            async with client.pipeline(transaction=False) as pipe:
                pipe.xadd("tg:bench", {"d": EVENT})
                pipe.lpush("tg:{s1}:log", LOG_LINE)
                pipe.ltrim("tg:{s1}:log", 0, 499)
                await pipe.execute()

    share = calls // concurrency
    start = cpu()
    await asyncio.gather(*(admit(share) for _ in range(concurrency)))
    middle = cpu()
    await asyncio.gather(*(record(share) for _ in range(concurrency)))
    end = cpu()
    done = share * concurrency
    return (middle - start) / done * 1e6, (end - middle) / done * 1e6


async def batched(client, script, calls: int, size: int) -> tuple[float, float]:
    start = cpu()
    for _ in range(calls // size):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(size):
                pipe.evalsha(script.sha, 3, *KEYS, *ARGS)
            await pipe.execute()
    middle = cpu()
    for _ in range(calls // size):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(size):
                pipe.xadd("tg:bench", {"d": EVENT})
                pipe.lpush("tg:{s1}:log", LOG_LINE)
            pipe.ltrim("tg:{s1}:log", 0, 499)
            await pipe.execute()
    end = cpu()
    done = calls // size * size
    return (middle - start) / done * 1e6, (end - middle) / done * 1e6


async def main(calls: int, repeat: int) -> dict:
    import redis
    import redis.asyncio as aioredis

    lua = admit_lua()
    gateway_options = {
        "socket_timeout": 2,
        "socket_connect_timeout": 1,
        "health_check_interval": 30,
    }
    cases = [
        ("gateway options, 64 concurrent", gateway_options, 64, None),
        ("gateway options, 1 at a time", gateway_options, 1, None),
        ("no socket timeout, 64 concurrent", {}, 64, None),
        ("gateway options, batches of 8", gateway_options, 1, 8),
        ("gateway options, batches of 32", gateway_options, 1, 32),
    ]
    results = {}
    for label, options, concurrency, size in cases:
        samples = []
        for _ in range(repeat):
            client = aioredis.Redis.from_url(REDIS_URL, **options)
            await client.flushdb()
            await client.set(KEYS[2], 0)
            script = client.register_script(lua)
            await script(keys=KEYS, args=ARGS)  # loads it
            if size:
                samples.append(await batched(client, script, calls, size))
            else:
                samples.append(await per_call(client, script, calls, concurrency))
            await client.flushdb()
            await client.aclose()
        admit = statistics.median(s[0] for s in samples)
        record = statistics.median(s[1] for s in samples)
        results[label] = {"admit_us": round(admit, 1), "record_us": round(record, 1)}
        print(f"{label:36} admit {admit:6.1f} µs/call   record {record:6.1f} µs/call", flush=True)
    return {"redis_py": redis.__version__, "python": sys.version.split()[0], "results": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import uvloop

        out = uvloop.run(main(args.calls, args.repeat))
    except ImportError:
        out = asyncio.run(main(args.calls, args.repeat))
    print(json.dumps(out))
