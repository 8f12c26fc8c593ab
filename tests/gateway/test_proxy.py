"""The proxy against a real upstream: methods, paths, queries, bodies, streams, headers."""

import hashlib
import re
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_the_upstream(world, method):
    response = world.call("/echo", method=method, data=b"hello" if method != "GET" else None)
    assert response.status_code == 200
    assert response.json()["method"] == method
    assert world.upstream.received[-1]["method"] == method


def test_head_is_forwarded_without_a_body(world):
    response = world.call("/echo", method="HEAD")
    assert response.status_code == 200 and response.content == b""
    assert world.upstream.received[-1]["method"] == "HEAD"


def test_query_strings_with_repeats_and_unicode_pass_through(world):
    response = world.call("/echo?tag=a&tag=b&name=%C3%A9t%C3%A9&empty=")
    assert response.json()["query"] == [["tag", "a"], ["tag", "b"], ["name", "été"], ["empty", ""]]


def test_unicode_and_encoded_paths_keep_their_encoding(world):
    world.call("/files/caf%C3%A9/a%2Fb/x y")
    assert world.upstream.received[-1]["path"] == "/files/caf%C3%A9/a%2Fb/x%20y"


def test_binary_bodies_are_byte_exact_both_ways(world):
    payload = bytes(range(256)) * 100
    response = world.call(
        "/echo", method="POST", data=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.json()["body_sha256"] == hashlib.sha256(payload).hexdigest()
    binary = world.call("/binary")
    assert binary.content == bytes(range(256)) * 4


def test_large_responses_stream_through(world):
    response = world.call("/large?chunks=160", stream=True)
    size = sum(len(chunk) for chunk in response.iter_content(65536))
    assert size == 160 * 65536


def test_server_sent_events_arrive_as_they_are_sent(world):
    response = world.call("/sse?n=4&gap=0.3", stream=True)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    arrivals = []
    for line in response.iter_lines():
        if line.startswith(b"data:"):
            arrivals.append((time.monotonic(), line))
    assert [line for _, line in arrivals][-1] == b"data: [DONE]"
    assert len(arrivals) == 5
    # the first token arrived well before the last: nothing buffered the stream
    assert arrivals[-1][0] - arrivals[0][0] > 0.8


def test_redirects_are_passed_through_not_followed(world):
    response = world.call("/redirect")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/elsewhere"
    assert len([r for r in world.upstream.received if r["path"].endswith("redirect")]) == 1


def test_upstream_status_codes_pass_through(world):
    assert world.call("/status?code=418").status_code == 418
    assert world.call("/status?code=503").status_code == 503


def test_secrets_and_cookies_never_reach_the_upstream(world):
    world.call(
        "/echo",
        headers={
            "Cookie": "consumer=secret",
            "X-Tollgate-Consumer": "spoofed",
            "Connection": "keep-alive, X-Drop-Me",
            "X-Drop-Me": "1",
            "X-Custom": "kept",
        },
    )
    received = {k.lower(): v for k, v in world.upstream.received[-1]["headers"].items()}
    assert "x-api-key" not in received and "cookie" not in received
    assert "x-drop-me" not in received
    assert received["x-custom"] == "kept"
    assert received["x-tollgate-consumer"] == world.consumer_org.public_id


def test_the_upstream_gets_the_marketplace_headers(world):
    response = world.call("/echo")
    received = world.upstream.received[-1]["headers"]
    assert received["X-Tollgate-Subscription"] == world.subscription.public_id
    assert received["X-Tollgate-Plan"] == world.plan.public_id
    assert received["X-Tollgate-Proxy-Secret"] == world.api.proxy_secret
    assert received["X-Forwarded-For"] == "127.0.0.1"
    assert received["X-Forwarded-Proto"] == "http"
    assert received["X-Tollgate-Request-Id"] == response.headers["X-Tollgate-Request-Id"]


def test_set_cookie_and_units_never_reach_the_consumer(world):
    response = world.call("/echo")
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Upstream"] == "yes"
    assert "X-Tollgate-Units" not in world.call("/units?u=2").headers


def _docs_verifier():
    """The verifier exactly as docs/providers.md prints it."""
    code = re.search(r"```python\n(import hashlib.*?)```", DOCS.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify_tollgate_signature"]


def test_the_signature_verifies_with_the_verifier_from_the_docs(world):
    verify = _docs_verifier()
    body = b'{"name": "widget"}'
    world.call("/items/42?x=1&y=%C3%A9", method="POST", data=body)
    received = world.upstream.received[-1]
    assert received["path_qs"] == "/items/42?x=1&y=%C3%A9"
    assert verify(world.api.signing_secret, received["headers"], "POST", received["path_qs"], body)
    assert not verify("wrong-secret", received["headers"], "POST", received["path_qs"], body)
    assert not verify(
        world.api.signing_secret,
        received["headers"],
        "POST",
        received["path_qs"],
        body + b"tampered",
    )


def test_responses_carry_the_request_id_and_quota_headers(world):
    response = world.call("/echo")
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["X-Tollgate-Request-Id"])
    assert response.headers["X-Quota-Limit"] == "1000"
    assert response.headers["X-Quota-Remaining"] == "999"
    assert 0 < int(response.headers["X-Quota-Reset"]) <= 31 * 86400


def test_the_gateway_headers_replace_the_upstreams_own(world):
    response = world.call("/own-headers")
    assert response.status_code == 200
    raw = response.raw.headers
    assert raw.getlist("X-Tollgate-Request-Id") == [
        world.upstream.received[-1]["headers"]["X-Tollgate-Request-Id"]
    ]
    assert raw.getlist("X-Quota-Remaining") == ["999"]


def test_other_site_pages_are_still_served_by_django(world):
    assert requests.get(world.site.url + "/healthz", timeout=5).json() == {"status": "ok"}
