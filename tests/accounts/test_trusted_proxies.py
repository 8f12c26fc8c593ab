"""Forwarding headers are trusted only from FORWARDED_ALLOW_IPS (default: loopback).

The site runs here as the Procfile's `web` line runs it (uvicorn with --proxy-headers),
with the production login throttle (10 failures a minute per client address). The client
connects from 127.0.0.2, which is loopback but not 127.0.0.1: an ordinary client, not the
trusted proxy. With `--forwarded-allow-ips='*'` a fresh X-Forwarded-For per attempt made
every attempt look like a new client and the throttle never bit."""

import contextlib
import http.client
import os
import re

import pytest

from tests.servers import ROOT, database_url, free_port, procfile_command, server_process

pytestmark = pytest.mark.django_db(transaction=True)
THROTTLED = "Too many failed login attempts"
SETTINGS = """
from config.settings.test import *  # noqa: F403

from config.settings.base import ACCOUNT_RATE_LIMITS  # production's throttles, not the tests'
"""


@pytest.fixture
def start_site(tmp_path):
    (tmp_path / "proxy_test_settings.py").write_text(SETTINGS)
    with contextlib.ExitStack() as stack:

        def start(**env_vars) -> int:
            port = free_port()
            env = {
                **{k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"},
                "DJANGO_SETTINGS_MODULE": "proxy_test_settings",
                "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
                "DATABASE_URL": database_url(),
                "PORT": str(port),
                "WEB_CONCURRENCY": "1",
                **env_vars,
            }
            command = procfile_command("Procfile", "web")
            output = stack.enter_context((tmp_path / f"web-{port}.log").open("w"))
            stack.enter_context(server_process(command, port=port, env=env, output=output))
            return port

        yield start


def request(source: str, port: int, method: str, path: str, headers=None, body=None):
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=20, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def failed_login(port: int, attempt: int, forwarded_for: str, source="127.0.0.2") -> str:
    """One wrong password for a new email each time (so only the per-address limit can
    bite), claiming to come from `forwarded_for`. Returns the page."""
    _, headers, page = request(source, port, "GET", "/accounts/login/")
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = f"csrfmiddlewaretoken={token}&login=nobody{attempt}%40example.com&password=wrong"
    _, _, page = request(
        source,
        port,
        "POST",
        "/accounts/login/",
        headers={
            "Cookie": f"csrftoken={csrf_cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": forwarded_for,
            "Referer": f"http://127.0.0.1:{port}/accounts/login/",
        },
        body=body,
    )
    return page


def test_a_forged_x_forwarded_for_does_not_escape_the_login_throttle(start_site):
    port = start_site()  # FORWARDED_ALLOW_IPS unset: the Procfile's default, loopback
    pages = [failed_login(port, n, forwarded_for=f"198.51.100.{n}") for n in range(12)]
    throttled = [THROTTLED in page for page in pages]
    assert throttled == [False] * 10 + [True] * 2


def test_a_proxy_listed_in_forwarded_allow_ips_is_believed(start_site):
    """Behind a configured load balancer each client is throttled on its own address."""
    port = start_site(FORWARDED_ALLOW_IPS="127.0.0.2")
    pages = [failed_login(port, n, forwarded_for="203.0.113.7") for n in range(11)]
    assert THROTTLED in pages[-1]
    assert THROTTLED not in failed_login(port, 99, forwarded_for="203.0.113.8")
