"""Real servers on loopback for tests: the whole site under uvicorn (ASGI, as in production)."""

import socket
import threading
import time

import pytest
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
