"""A key revoked in the console is refused within one second by a gateway running in
another process."""

import os
import sys
import time

import pytest
import requests

from apps.keys.services import api_key_revoke
from tests.servers import database_url, free_port, server_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway_process(world, settings):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL or "",
        "COUNTER_STORE": settings.COUNTER_STORE,
        "UPSTREAM_ALLOW_PRIVATE": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
    command += ["--port", str(port), "--log-level", "warning"]
    with server_process(command, port=port, env=env):
        yield f"http://127.0.0.1:{port}"


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


def _refused_within_a_second(url: str, headers: dict, since: float) -> requests.Response:
    while (response := requests.get(url, headers=headers, timeout=10)).status_code == 200:
        assert time.monotonic() - since < 1.0, "still served after one second"
        time.sleep(0.02)
    return response


def _served_within_a_second(url: str, headers: dict, since: float) -> None:
    while requests.get(url, headers=headers, timeout=10).status_code != 200:
        assert time.monotonic() - since < 1.0, "still refused after one second"
        time.sleep(0.02)


def test_a_suspended_consumer_is_refused_everywhere_within_a_second(world, gateway_process, staff):
    from apps.accounts.services import organization_restore, organization_suspend

    url = f"{gateway_process}/gw/{world.api.slug}/echo"
    headers = {"X-Api-Key": world.key}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200  # now cached
    suspended_at = time.monotonic()
    organization_suspend(actor=staff, organization=world.consumer_org, reason="abuse")
    refused = _refused_within_a_second(url, headers, suspended_at)
    assert refused.status_code == 403 and refused.json()["code"] == "consumer_suspended"
    restored_at = time.monotonic()
    organization_restore(actor=staff, organization=world.consumer_org)
    _served_within_a_second(url, headers, restored_at)


def test_a_suspended_providers_apis_stop_everywhere_within_a_second(world, gateway_process, staff):
    from apps.accounts.services import organization_restore, organization_suspend

    url = f"{gateway_process}/gw/{world.api.slug}/echo"
    headers = {"X-Api-Key": world.key}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200  # now cached
    calls_before = len(world.upstream.received)
    suspended_at = time.monotonic()
    organization_suspend(actor=staff, organization=world.provider_org, reason="fraud")
    refused = _refused_within_a_second(url, headers, suspended_at)
    assert refused.status_code == 404 and refused.json()["code"] == "api_not_found"
    upstream_calls = len(world.upstream.received)
    for _ in range(3):
        assert requests.get(url, headers=headers, timeout=10).json()["code"] == "api_not_found"
    assert len(world.upstream.received) == upstream_calls  # nothing more reached the upstream
    assert upstream_calls <= calls_before + 50
    restored_at = time.monotonic()
    organization_restore(actor=staff, organization=world.provider_org)
    _served_within_a_second(url, headers, restored_at)
