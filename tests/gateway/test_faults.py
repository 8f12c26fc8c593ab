"""Fault tests with real processes the test owns. Each breaks something while calls are
served and then checks, by request id, that what the upstream served == what was metered
== what was invoiced: nothing lost, nothing counted twice."""

import threading
import time

import pytest
import requests

from tests.gateway.conftest import flush_all
from tests.gateway.faults import (
    GatewayProcess,
    bill_per_call,
    invoiced_units,
    metered_calls,
    metered_request_ids,
    served_request_ids,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _call_in_thread(url: str, key: str, results: list) -> threading.Thread:
    def run():
        try:
            results.append(requests.get(url, headers={"X-Api-Key": key}, timeout=30).status_code)
        except requests.RequestException as error:
            results.append(type(error).__name__)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_gateway_worker_killed_mid_call_still_bills_every_served_call(world, settings):
    bill_per_call(world)
    settings.METERING_ORPHAN_AFTER_S = 1.0
    with GatewayProcess(METERING_ORPHAN_AFTER_S="1") as gateway:
        base = f"{gateway.url}/gw/{world.api.slug}"
        for _ in range(5):  # calls that complete before the crash
            response = requests.get(base + "/echo", headers={"X-Api-Key": world.key}, timeout=10)
            assert response.status_code == 200
        results: list = []
        threads = [_call_in_thread(base + "/slow?seconds=3", world.key, results) for _ in range(4)]
        deadline = time.monotonic() + 10
        while len(served_request_ids(world.upstream, "/slow")) < 4:
            assert time.monotonic() < deadline, "the upstream never got the slow calls"
            time.sleep(0.05)
        time.sleep(0.3)  # the completed calls' records leave the process (after the answer)
        gateway.kill9()  # mid-call: the upstream is still serving the four slow calls
        for thread in threads:
            thread.join()
    assert all(isinstance(r, str) for r in results)  # the consumer saw the connection drop
    served = served_request_ids(world.upstream)
    assert len(served) == 9
    flush_all()
    time.sleep(1.1)  # the started records of the dead calls age past the orphan timeout
    flush_all()
    assert metered_request_ids() == served
    assert metered_calls(world.subscription) == 9
    assert invoiced_units(world.subscription) == 9
