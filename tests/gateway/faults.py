"""Processes a fault test owns and breaks: a redis-server (killed -9, restarted with or
without AOF, stopped with SIGSTOP), a gateway in a subprocess (killed mid-call); and the
three counts every fault test compares by request id: what the upstream served, what was
metered, what was invoiced."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import requests
from django.db import connection

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None, reason="needs redis-server on PATH (apt install redis-server; CI has it)"
)


class RedisProcess:
    """A redis-server on a free loopback port, in a directory of its own."""

    def __init__(self, *, aof: bool, port: int | None = None, directory: str | None = None):
        self.aof = aof
        self.port = port or free_port()
        self.dir = directory or tempfile.mkdtemp(prefix="tollgate-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", self.dir, "--save", "", "--daemonize", "no"]
        argv += ["--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec"]
        return [*argv, "--logfile", os.path.join(self.dir, "redis.log")]

    def start(self) -> "RedisProcess":
        self.process = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 10) -> None:
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.ping() and client.info("persistence").get("loading") == 0:
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {self.port} did not start")
            time.sleep(0.05)
        client.close()

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def restart(self, *, aof: bool | None = None) -> None:
        if aof is not None:
            self.aof = aof
        self.start()

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def database_url() -> str:
    """The test database, for a subprocess (the tests' data is committed: transactional)."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{settings['USER']}@{host}:{port}/{settings['NAME']}"


class GatewayProcess:
    """The whole site under uvicorn in a subprocess: one process, which is the worker."""

    def __init__(self, **env: str):
        from django.conf import settings

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL or "",
            "COUNTER_STORE": settings.COUNTER_STORE,
            "UPSTREAM_ALLOW_PRIVATE": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "GatewayProcess":
        argv = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
        argv += ["--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(argv, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(self.url + "/healthz", timeout=5)
                return self
            except requests.RequestException:  # not listening yet, or still loading Django
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the gateway subprocess did not start") from None
                time.sleep(0.1)

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


# --- The three counts ----------------------------------------------------------------------
def served_request_ids(upstream, path: str | None = None) -> set[str]:
    """The request ids the upstream received (the gateway signs every call with its id)."""
    return {
        r["headers"]["X-Tollgate-Request-Id"]
        for r in upstream.received
        if path is None or r["path"].startswith(path)
    }


def metered_request_ids() -> set[str]:
    from apps.metering.models import MeteredCall

    return set(MeteredCall.objects.values_list("request_id", flat=True))


def metered_calls(subscription) -> int:
    from django.db.models import Sum

    from apps.metering.models import UsageAggregate

    total = UsageAggregate.objects.filter(subscription=subscription).aggregate(n=Sum("calls"))
    return total["n"] or 0


def bill_per_call(world) -> None:
    """Every call costs one cent: the invoice's usage quantity is the number of calls."""
    from apps.subscriptions.models import Plan

    Plan.objects.filter(pk=world.plan.pk).update(
        included_units=0, unit_price=Decimal("0.01"), hard_limit=False
    )
    world.plan.refresh_from_db()


def invoiced_units(subscription) -> Decimal:
    """Close the subscription's period (as the close job would, once it ended) and return
    the units its invoice bills."""
    import time_machine

    from apps.billing import services

    subscription.refresh_from_db()
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=2), tick=False):
        invoice = services.close_period(subscription.pk)
    if invoice is None:
        return Decimal(0)
    return sum((line.quantity for line in invoice.lines.exclude(kind="fee")), Decimal(0))
