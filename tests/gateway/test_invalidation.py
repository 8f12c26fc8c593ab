"""A key revoked in the console is refused within one second by a gateway running in
another process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from apps.keys.services import api_key_revoke
from tests.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{settings['USER']}@{host}:{port}/{settings['NAME']}"


@pytest.fixture
def gateway_process(world, settings):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL or "",
        "COUNTER_STORE": settings.COUNTER_STORE,
        "UPSTREAM_ALLOW_PRIVATE": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


def test_a_revoked_key_is_refused_everywhere_within_a_second(world, gateway_process):
    url = f"{gateway_process}/gw/{world.api.slug}/echo"
    headers = {"X-Api-Key": world.key}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200  # now cached
    revoked_at = time.monotonic()
    api_key_revoke(actor=world.consumer, key=world.key_row)
    while requests.get(url, headers=headers, timeout=10).status_code == 200:
        assert time.monotonic() - revoked_at < 1.0, "still accepted after one second"
        time.sleep(0.02)
    assert requests.get(url, headers=headers, timeout=10).status_code == 401
