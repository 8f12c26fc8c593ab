"""Requests are signed like Stripe's, and the ten-line verifier in docs/webhooks.md —
exactly as printed — accepts them, and refuses forgeries and stale replays."""

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from apps.webhooks import services, transport

pytestmark = pytest.mark.django_db
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _docs_verifier():
    """The verifier exactly as docs/webhooks.md prints it."""
    code = re.search(r"```python\n(import hashlib.*?)```", DOCS.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify_tollgate_webhook"]


@pytest.fixture
def sent(owner, endpoint, receiver, committed):
    with committed():
        services.endpoint_send_test(actor=owner, endpoint=endpoint)
    return receiver.received[-1]


def test_the_signature_verifies_with_the_verifier_from_the_docs(endpoint, sent):
    verify = _docs_verifier()
    header = sent["headers"]["Tollgate-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(endpoint.secret, header, sent["body"])
    assert not verify("whsec_wrong", header, sent["body"])
    assert not verify(endpoint.secret, header, sent["body"] + b" ")
    assert not verify(endpoint.secret, "v1=" + header.split("v1=")[1], sent["body"])


def test_the_docs_verifier_refuses_a_replay_of_an_old_request(endpoint, sent):
    verify = _docs_verifier()
    header = sent["headers"]["Tollgate-Signature"]
    timestamp = int(header.split(",")[0][2:])
    assert abs(time.time() - timestamp) < 5
    old = int(time.time()) - 3600
    forged = transport.signature_header([endpoint.secret], old, sent["body"])
    assert not verify(endpoint.secret, forged, sent["body"])


def test_requests_name_the_event_and_the_sender(endpoint, sent):
    headers = sent["headers"]
    event = json.loads(sent["body"])
    assert sent["method"] == "POST" and sent["path"] == "/hooks/tollgate"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Tollgate-Webhooks/1"
    assert headers["Tollgate-Event-Id"] == event["id"]
    assert headers["Tollgate-Event-Type"] == event["type"] == "webhook.test"
    assert headers["Tollgate-Delivery-Id"].startswith("whd_")


def test_during_a_rotation_grace_either_secret_verifies(owner, endpoint, receiver, committed):
    verify = _docs_verifier()
    old_secret = endpoint.secret
    endpoint = services.endpoint_rotate_secret(
        actor=owner, endpoint=endpoint, keep_old_for=timedelta(hours=24)
    )
    assert endpoint.secret != old_secret and endpoint.secret.startswith("whsec_")
    with committed():
        services.endpoint_send_test(actor=owner, endpoint=endpoint)
    request = receiver.received[-1]
    header = request["headers"]["Tollgate-Signature"]
    assert header.count("v1=") == 2
    assert verify(endpoint.secret, header, request["body"])
    assert verify(old_secret, header, request["body"])


def test_after_the_grace_only_the_new_secret_signs(owner, endpoint, receiver, committed):
    verify = _docs_verifier()
    old_secret = endpoint.secret
    endpoint = services.endpoint_rotate_secret(actor=owner, endpoint=endpoint)
    with time_machine.travel(timedelta(hours=25), tick=True), committed():
        services.endpoint_send_test(actor=owner, endpoint=endpoint)
    request = receiver.received[-1]
    header = request["headers"]["Tollgate-Signature"]
    assert header.count("v1=") == 1
    assert not verify(old_secret, header, request["body"])


def test_rotating_without_grace_drops_the_old_secret_at_once(owner, endpoint, receiver, committed):
    verify = _docs_verifier()
    old_secret = endpoint.secret
    endpoint = services.endpoint_rotate_secret(actor=owner, endpoint=endpoint, keep_old_for=None)
    with committed():
        services.endpoint_send_test(actor=owner, endpoint=endpoint)
    request = receiver.received[-1]
    assert verify(endpoint.secret, request["headers"]["Tollgate-Signature"], request["body"])
    assert not verify(old_secret, request["headers"]["Tollgate-Signature"], request["body"])
