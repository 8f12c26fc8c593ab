import asyncio
import http.client
import json
import time

import pytest
from django.core.asgi import get_asgi_application

from apps.demo_upstreams import llm
from tests.servers import ThreadedUvicorn, free_port

pytestmark = pytest.mark.urls("tests.demo_upstreams.urls")

CHAT = "/demo-upstreams/llm/chat/completions"
EXPECTED_REPLY = (
    "This is Tollgate's demo echo, not a language model. Your message has 3 words and 19 "
    "characters. Here it is with the word order reversed: gateway there Hello"
)


@pytest.fixture
def no_token_delay(monkeypatch):
    monkeypatch.setattr(llm, "TOKEN_DELAY_S", 0)


def chat(client, **body):
    return client.post(CHAT, body, content_type="application/json")


def user(content):
    return {"role": "user", "content": content}


def events_of(response) -> list[bytes]:
    """The streamed body as the separate chunks the view yielded."""

    async def collect():
        return [part async for part in response.streaming_content]

    return asyncio.run(collect())


def test_it_replies_with_a_deterministic_echo_and_usage(client):
    messages = [{"role": "system", "content": "Be terse."}, user("Hello there gateway")]

    response = chat(client, messages=messages)

    body = response.json()
    assert response.status_code == 200
    assert body["object"] == "chat.completion" and body["model"] == "tollgate-echo-1"
    assert body["id"].startswith("chatcmpl-")
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": EXPECTED_REPLY},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 28, "total_tokens": 33}
    assert response["X-Tollgate-Units"] == "33"


def test_it_answers_the_last_user_message(client):
    messages = [user("first question"), {"role": "assistant", "content": "ok"}, user("b a")]

    content = chat(client, messages=messages).json()["choices"][0]["message"]["content"]

    assert content.endswith("reversed: a b")


def test_the_same_request_gets_the_same_reply(client):
    first = chat(client, messages=[user("same words here")]).json()
    second = chat(client, messages=[user("same words here")]).json()

    assert first["choices"] == second["choices"] and first["usage"] == second["usage"]


def test_max_tokens_cuts_the_reply(client):
    response = chat(client, messages=[user("Hello there gateway")], max_tokens=3)

    choice = response.json()["choices"][0]
    assert choice["message"]["content"] == "This is Tollgate's"
    assert choice["finish_reason"] == "length"
    assert response.json()["usage"]["completion_tokens"] == 3
    assert response["X-Tollgate-Units"] == str(3 + 3)


def test_stream_sends_one_event_per_token_then_done(client, no_token_delay):
    response = chat(client, messages=[user("Hello there gateway")], stream=True)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    # Counted before the first byte: 3 prompt words and 28 reply words.
    assert response["X-Tollgate-Units"] == "31"
    events = events_of(response)
    assert all(event.startswith(b"data: ") and event.endswith(b"\n\n") for event in events)
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(event[len(b"data: ") :]) for event in events[:-1]]
    token_chunks, closing = chunks[:-1], chunks[-1]
    assert len(token_chunks) == 28
    assert token_chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "This"}
    assert "".join(c["choices"][0]["delta"]["content"] for c in token_chunks) == EXPECTED_REPLY
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert closing["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert closing["usage"] == {"prompt_tokens": 3, "completion_tokens": 28, "total_tokens": 31}


def test_stream_respects_max_tokens(client, no_token_delay):
    response = chat(client, messages=[user("Hello there gateway")], stream=True, max_tokens=2)

    events = events_of(response)
    assert len(events) == 2 + 2  # two tokens, the closing chunk, [DONE]
    assert json.loads(events[-2][6:])["choices"][0]["finish_reason"] == "length"
    assert response["X-Tollgate-Units"] == str(3 + 2)


def test_stream_is_paced_between_tokens(client):
    response = chat(client, messages=[user("one two")], stream=True, max_tokens=11)

    started = time.monotonic()
    events = events_of(response)
    elapsed = time.monotonic() - started

    # 11 tokens and a closing chunk: 11 pauses of 30 ms.
    assert len(events) == 13
    assert elapsed >= 11 * llm.TOKEN_DELAY_S * 0.9


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("{oops", 400, "invalid_json"),
        ([], 400, "invalid_json"),
        ({}, 422, "missing_field"),
        ({"messages": []}, 422, "invalid_field"),
        ({"messages": "hi"}, 422, "invalid_field"),
        ({"messages": ["hi"]}, 422, "invalid_field"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, 422, "invalid_field"),
        ({"messages": [{"role": "user", "content": 5}]}, 422, "invalid_field"),
        ({"messages": [{"role": "user"}]}, 422, "invalid_field"),
        ({"messages": [{"role": "system", "content": "hi"}]}, 422, "no_user_message"),
        ({"messages": [user("hi")], "stream": "yes"}, 422, "invalid_field"),
        ({"messages": [user("hi")], "max_tokens": 0}, 422, "invalid_field"),
        ({"messages": [user("hi")], "max_tokens": 5000}, 422, "invalid_field"),
        ({"messages": [user("hi")], "max_tokens": "many"}, 422, "invalid_field"),
    ],
)
def test_bad_requests_are_refused(client, body, status, error):
    response = client.post(CHAT, body, content_type="application/json")

    assert response.status_code == status
    assert response.json()["error"] == error
    assert "X-Tollgate-Units" not in response


def test_too_many_messages_are_413(client):
    response = chat(client, messages=[user("hi")] * 101)

    assert response.status_code == 413


def test_too_much_content_is_413(client):
    response = chat(client, messages=[user("a" * 20_000), user("b" * 12_001)])

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_get_is_405(client):
    response = client.get(CHAT)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_under_asgi_events_arrive_while_the_reply_is_still_being_made():
    """Under uvicorn the first event reaches the client long before [DONE]: the async
    generator streams instead of being collected into one response."""
    with ThreadedUvicorn(get_asgi_application(), free_port()) as server:
        connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
        body = json.dumps({"messages": [user("Hello there gateway")], "stream": True})
        connection.request("POST", CHAT, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        arrivals = read_events(response)
        connection.close()

    assert response.status == 200
    assert response.getheader("X-Tollgate-Units") == "31"
    assert [line for line, _ in arrivals][-1] == "data: [DONE]"
    assert len(arrivals) == 28 + 2
    # 29 pauses of 30 ms lie between the first event and the last.
    assert arrivals[-1][1] - arrivals[0][1] > 0.5


def read_events(response) -> list[tuple[str, float]]:
    arrivals = []
    while line := response.readline():
        if line.strip():
            arrivals.append((line.decode().strip(), time.monotonic()))
    return arrivals
