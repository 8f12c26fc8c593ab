"""A real webhook receiver on loopback (aiohttp, in a thread) that records each request and
answers as told: a status and body, a delay, or a hang past the client's timeout."""

import asyncio
import threading

from aiohttp import web

from tests.servers import free_port


class Receiver:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/tollgate"
        self.received: list[dict] = []
        self.status, self.body, self.delay_s = 200, "ok", 0.0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = threading.Event()

    # --- What to answer -------------------------------------------------------------------
    def answer(self, status: int = 200, body: str = "ok", delay_s: float = 0.0) -> "Receiver":
        self.status, self.body, self.delay_s = status, body, delay_s
        return self

    def hang(self, seconds: float = 3.0) -> "Receiver":
        """Accept the request and say nothing for `seconds` (longer than the test timeout)."""
        return self.answer(200, "too late", delay_s=seconds)

    # --- Server ---------------------------------------------------------------------------
    def _run(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        self.started.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        self.started.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
                "body": body,
            }
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if 300 <= self.status < 400:
            return web.Response(status=self.status, headers={"Location": "https://example.com/"})
        return web.Response(status=self.status, text=self.body)
