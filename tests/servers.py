"""Real servers on loopback for tests: the whole site under uvicorn (ASGI, as in production)."""

import asyncio
import contextlib
import http.client
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]


def procfile_command(procfile: str, process: str) -> list[str]:
    """A Procfile line as `sh -c` would run it, with this virtualenv's executables and on
    loopback (ports come from $PORT)."""
    line = next(
        line
        for line in (ROOT / procfile).read_text().splitlines()
        if line.startswith(f"{process}:")
    )
    program, arguments = line.split(":", 1)[1].strip().split(" ", 1)
    executable = Path(sys.executable).with_name(Path(program).name)
    arguments = arguments.replace("--host 0.0.0.0", "--host 127.0.0.1")
    return ["sh", "-c", f"exec {shlex.quote(str(executable))} {arguments}"]


def database_url() -> str:
    """The test database as a DATABASE_URL, for a server process started by a test."""
    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{settings['USER']}@{host}:{port}/{settings['NAME']}"


@contextlib.contextmanager
def server_process(command: list[str], *, port: int, env: dict, output=None):
    """Run `command` (a site listening on `port`) until the block ends; starts the block
    once /healthz answers."""
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT if output else None
    )
    try:
        for _ in range(150):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                connection.close()
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(10)


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
    with ThreadedUvicorn(application, port) as server:
        yield server
