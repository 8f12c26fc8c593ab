"""A real webhook receiver on loopback (aiohttp, in a thread) that records each request and
answers as told: a status and body, a delay, or a hang past the client's timeout."""

import asyncio

from aiohttp import web

from tests.servers import ThreadedAiohttpServer


class Receiver(ThreadedAiohttpServer):
    runner_options = {"shutdown_timeout": 0.5}

    def __init__(self):
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/hooks/tollgate"
        self.status, self.body, self.delay_s = 200, "ok", 0.0

    # --- What to answer -------------------------------------------------------------------
    def answer(self, status: int = 200, body: str = "ok", delay_s: float = 0.0) -> "Receiver":
        self.status, self.body, self.delay_s = status, body, delay_s
        return self

    def hang(self, seconds: float = 3.0) -> "Receiver":
        """Accept the request and say nothing for `seconds` (longer than the test timeout)."""
        return self.answer(200, "too late", delay_s=seconds)

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
