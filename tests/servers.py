"""Real servers on loopback for tests: the whole site under uvicorn (ASGI, as in production)."""

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadedAiohttpServer:
    """An aiohttp server on a free loopback port, in its own thread and event loop, sending
    every request to `handle`. Subclasses say how to answer; `received` is theirs to fill."""

    app_options: dict = {}
    runner_options: dict = {}

    def __init__(self):
        self.port = free_port()
        self.received: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = threading.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def _run(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application(**self.app_options)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, **self.runner_options)
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


class ThreadedUvicorn:
    def __init__(self, app, port: int):
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="auto",
            loop="asyncio",
            http="h11",
            ws="none",
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_site(transactional_db, settings):
    """The full ASGI application (Django + gateway) on a free loopback port."""
    from config.asgi import application

    port = free_port()
    settings.SITE_URL = f"http://127.0.0.1:{port}"
    settings.GATEWAY_PUBLIC_URL = f"http://127.0.0.1:{port}/gw"
    with ThreadedUvicorn(application, port) as server:
        yield server
