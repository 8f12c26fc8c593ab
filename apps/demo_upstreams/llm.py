"""Streaming chat demo API in the shape of OpenAI's chat completions. It is not a model: the
reply is built from the last user message (counted, then echoed with its words reversed),
so the same request always gets the same answer. A token here is a word."""

import asyncio
import json
import time
import uuid

from django.http import JsonResponse, StreamingHttpResponse

from .jsonio import UNITS_HEADER, int_field, invalid, json_endpoint, read_json_object, too_large

MODEL = "tollgate-echo-1"
ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_MESSAGES = 100
MAX_CONTENT_CHARS = 32_000
MAX_BODY_BYTES = 256 * 1024
MAX_TOKENS_LIMIT = 1_024
DEFAULT_MAX_TOKENS = 256
ECHO_WORD_LIMIT = 200
# Pause between streamed tokens, so a client sees a stream rather than one burst.
TOKEN_DELAY_S = 0.03


@json_endpoint("POST")
def chat_completions(request):
    data = read_json_object(request, max_bytes=MAX_BODY_BYTES)
    messages = _messages(data)
    stream = _stream_flag(data)
    max_tokens = int_field(
        data, "max_tokens", default=DEFAULT_MAX_TOKENS, low=1, high=MAX_TOKENS_LIMIT
    )
    completion = complete(messages, max_tokens=max_tokens)
    if stream:
        response = StreamingHttpResponse(
            sse_events(stream_chunks(completion)), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the events back
    else:
        response = JsonResponse(completion_body(completion))
    # Headers leave before a streamed body, so units come from the reply counted up front.
    response[UNITS_HEADER] = str(completion["usage"]["total_tokens"])
    return response


def _messages(data: dict) -> list[dict]:
    messages = data.get("messages")
    if messages is None:
        raise invalid("The field 'messages' is required.", code="missing_field")
    if not isinstance(messages, list) or not messages:
        raise invalid("The field 'messages' must be a non-empty list.")
    if len(messages) > MAX_MESSAGES:
        raise too_large(f"At most {MAX_MESSAGES} messages are accepted.")
    for index, message in enumerate(messages):
        _check_message(index, message)
    if sum(len(message["content"]) for message in messages) > MAX_CONTENT_CHARS:
        raise too_large(f"The messages are limited to {MAX_CONTENT_CHARS} characters in all.")
    if not any(message["role"] == "user" for message in messages):
        raise invalid("At least one message must have the role 'user'.", code="no_user_message")
    return messages


def _check_message(index: int, message) -> None:
    if not isinstance(message, dict):
        raise invalid(f"messages[{index}] must be an object with 'role' and 'content'.")
    if message.get("role") not in ROLES:
        raise invalid(f"messages[{index}].role must be one of: {', '.join(ROLES)}.")
    if not isinstance(message.get("content"), str):
        raise invalid(f"messages[{index}].content must be a string.")


def _stream_flag(data: dict) -> bool:
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("The field 'stream' must be true or false.")
    return stream


def complete(messages: list[dict], *, max_tokens: int) -> dict:
    last_user_message = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    tokens = reply_text(last_user_message).split(" ")
    completion_tokens = tokens[:max_tokens]
    prompt_tokens = sum(len(message["content"].split()) for message in messages)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "tokens": completion_tokens,
        "finish_reason": "length" if len(tokens) > max_tokens else "stop",
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(completion_tokens),
            "total_tokens": prompt_tokens + len(completion_tokens),
        },
    }


def reply_text(message: str) -> str:
    """The deterministic reply; words joined by single spaces, so a token is a word."""
    words = message.split()
    reversed_words = " ".join(reversed(words[:ECHO_WORD_LIMIT])) or "(nothing to reverse)"
    return (
        "This is Tollgate's demo echo, not a language model. "
        f"Your message has {len(words)} words and {len(message)} characters. "
        f"Here it is with the word order reversed: {reversed_words}"
    )


def completion_body(completion: dict) -> dict:
    return {
        "id": completion["id"],
        "object": "chat.completion",
        "created": completion["created"],
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(completion["tokens"])},
                "finish_reason": completion["finish_reason"],
            }
        ],
        "usage": completion["usage"],
    }


def stream_chunks(completion: dict) -> list[dict]:
    """One chunk per token, the first carrying the role, then a closing chunk with the
    finish reason and usage, as OpenAI's streaming clients expect."""
    deltas = [{"role": "assistant", "content": completion["tokens"][0]}]
    deltas += [{"content": f" {token}"} for token in completion["tokens"][1:]]
    chunks = [_chunk(completion, delta, finish_reason=None) for delta in deltas]
    closing = _chunk(completion, {}, finish_reason=completion["finish_reason"])
    return [*chunks, {**closing, "usage": completion["usage"]}]


def _chunk(completion: dict, delta: dict, *, finish_reason) -> dict:
    return {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


async def sse_events(chunks: list[dict]):
    """Server-sent events, one per chunk. An async generator, so under ASGI each event goes
    out as it is made and the pauses do not hold a worker thread."""
    for index, chunk in enumerate(chunks):
        if index:
            await asyncio.sleep(TOKEN_DELAY_S)
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"
