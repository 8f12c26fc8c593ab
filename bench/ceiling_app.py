"""Stripped-down stand-ins for the gateway, to see where its CPU goes (bench/ceiling.py).
Not Tollgate code: each mode keeps one more piece of the gateway's I/O shape.

    CEILING_MODE=hello        uvicorn answering a fixed body (the server's own ceiling)
    CEILING_MODE=proxy        + one upstream call through a pooled aiohttp session, the
                              answer streamed back (the gateway's `forward`, no headers work)
    CEILING_MODE=proxy_redis  + one EVALSHA of the gateway's admission script before and one
                              pipeline (XADD, LPUSH, LTRIM) after, with redis.asyncio and the
                              gateway's client options (its admit + record I/O)

    CEILING_UPSTREAM=http://127.0.0.1:9001/fast CEILING_REDIS=redis://127.0.0.1:6379/14 \\
        uvicorn bench.ceiling_app:app --loop uvloop --http httptools --no-access-log
"""

import asyncio
import os
import time

MODE = os.environ.get("CEILING_MODE", "hello")
UPSTREAM = os.environ.get("CEILING_UPSTREAM", "http://127.0.0.1:9001/fast")
REDIS_URL = os.environ.get("CEILING_REDIS", "redis://127.0.0.1:6379/14")
BODY = b'{"ok":true,"from":"upstream"}'


class State:
    def __init__(self):
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        if MODE == "proxy_redis":
            import redis.asyncio as aioredis

            from apps.metering.stores.redis_store import ADMIT_LUA

            self.redis = aioredis.Redis.from_url(
                REDIS_URL, socket_timeout=2, socket_connect_timeout=1, health_check_interval=30
            )
            self.script = self.redis.register_script(ADMIT_LUA)


_states: dict[int, State] = {}


def state() -> State:
    loop = asyncio.get_running_loop()
    current = _states.get(id(loop))
    if current is None:
        current = _states[id(loop)] = State()
    return current


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if MODE == "hello":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": BODY})
        return
    s = state()
    if MODE == "proxy_redis":
        second = int(time.time())
        keys = [f"tg:{{s1}}:rs:{second}", f"tg:{{s1}}:rm:{second // 60}", "tg:{s1}:q:0"]
        result = await s.script(keys=keys, args=[0, 0, -1, -1, 1000])
        if result[0] == -1:
            await s.redis.set(keys[2], 0, nx=True)
            await s.script(keys=keys, args=[0, 0, -1, -1, 1000])
    async with s.session.get(UPSTREAM, allow_redirects=False) as upstream:
        headers = [(k.lower(), v) for k, v in upstream.raw_headers]
        await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
        async for chunk in upstream.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    if MODE == "proxy_redis":
        async with s.redis.pipeline(transaction=False) as pipe:
            pipe.xadd("tg:ceiling", {"d": "1|1700000000000|1|1|1|0|200|1|1000|0|0|29"})
            pipe.lpush("tg:{s1}:log", '{"t":1700000000.0,"id":"0123456789abcdef","s":200}')
            pipe.ltrim("tg:{s1}:log", 0, 499)
            await pipe.execute()
