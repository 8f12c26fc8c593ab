"""Step 3: forward the call upstream through the pooled aiohttp session and stream the answer
back as it arrives (chunked bodies and server-sent events reach the consumer piece by
piece; bodies are never held whole). Header policy: DESIGN.md "Gateway"."""

import asyncio
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from django.conf import settings
from yarl import URL

from apps.core.url_safety import is_public_address

from .resolve import Call
from .responses import send_problem
from .signing import signature

logger = logging.getLogger("tollgate.gateway")

HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"trailers",
    b"transfer-encoding",
    b"upgrade",
    b"proxy-connection",
}
NOT_FORWARDED = HOP_BY_HOP | {
    b"host",
    b"x-api-key",
    b"cookie",
    b"content-length",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
}
NOT_RETURNED = HOP_BY_HOP | {
    b"set-cookie",
    b"x-tollgate-units",
    b"date",  # the gateway's server sets its own Date and Server
    b"server",
}


@dataclass
class Outcome:
    status: int = 0
    gateway_error: str | None = None  # a code when the gateway answered or the stream broke
    bytes_in: int = 0
    bytes_out: int = 0
    upstream_ns: int = 0  # upstream time in nanoseconds: integers, so nothing is rounded twice
    units_header: str | None = None
    client_gone: bool = False


class BodyTooLarge(Exception):
    pass


async def read_body(scope, receive, limit: int) -> bytes:
    for key, value in scope["headers"]:
        if key == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _client_ip(scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


def upstream_headers(call: Call, scope, path_and_query: str, body: bytes) -> list:
    dropped = set(NOT_FORWARDED)
    forwarded_for, host = None, ""
    for key, value in scope["headers"]:
        if key == b"connection":
            dropped |= {v.strip().lower().encode() for v in value.decode("latin-1").split(",")}
        elif key == b"x-forwarded-for":
            forwarded_for = value.decode("latin-1")
        elif key == b"host":
            host = value.decode("latin-1")
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope["headers"]
        if k not in dropped and not k.startswith(b"x-tollgate-")
    ]
    client = _client_ip(scope)
    timestamp = str(int(time.time()))
    headers += [
        ("X-Forwarded-For", f"{forwarded_for}, {client}" if forwarded_for else client),
        ("X-Forwarded-Proto", scope.get("scheme", "http")),
        ("X-Forwarded-Host", host),
        ("X-Tollgate-Request-Id", call.request_id),
        ("X-Tollgate-Consumer", call.organization.public_id),
        ("X-Tollgate-Subscription", call.subscription.public_id),
        ("X-Tollgate-Plan", call.plan.public_id),
        ("X-Tollgate-Proxy-Secret", call.api.proxy_secret),
        ("X-Tollgate-Timestamp", timestamp),
        (
            "X-Tollgate-Signature",
            signature(call.api.signing_secret, timestamp, call.method, path_and_query, body),
        ),
    ]
    return headers


def upstream_url(call: Call, scope) -> tuple[URL, str]:
    base = call.api.upstream_url
    query = scope.get("query_string", b"").decode("latin-1")
    raw = base + call.upstream_path.decode("latin-1") + (f"?{query}" if query else "")
    parts = urlsplit(raw)
    path_and_query = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return URL(raw, encoded=True), path_and_query


def response_headers(upstream: aiohttp.ClientResponse, call: Call) -> tuple[list, str | None]:
    """The upstream's headers under the header policy, then the gateway's own, which
    replace any the upstream sent under the same names (one request id, one quota)."""
    headers, units = [], None
    ours = {b"x-tollgate-request-id", *(name for name, _ in call.limit_headers)}
    for key, value in upstream.raw_headers:
        name = key.lower()
        if name == b"x-tollgate-units":
            units = value.decode("latin-1")
        elif name not in NOT_RETURNED and name not in ours:
            headers.append((name, value))
    headers.append((b"x-tollgate-request-id", call.request_id.encode()))
    headers += call.limit_headers
    return headers, units


async def forward(state, call: Call, admission, scope, receive, send) -> Outcome:
    outcome = Outcome()
    try:
        body = await read_body(scope, receive, settings.GATEWAY_MAX_BODY_BYTES)
    except BodyTooLarge:
        outcome.gateway_error = "request_too_large"
        outcome.status = await send_problem(
            send, "request_too_large", call.request_id, call.limit_headers
        )
        return outcome
    outcome.bytes_in = len(body)
    url, path_and_query = upstream_url(call, scope)
    if not settings.UPSTREAM_ALLOW_PRIVATE and not _literal_host_allowed(url.host):
        # IP literals skip DNS, so the resolver's check never sees them
        await _fail(state, call, send, outcome, "upstream_error")
        return outcome
    headers = upstream_headers(call, scope, path_and_query, body)
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=call.api.connect_timeout_s, sock_read=call.api.read_timeout_s
    )
    started = time.monotonic_ns()
    try:
        await _exchange(state, call, url, headers, body, timeout, receive, send, outcome)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        await _fail(state, call, send, outcome, "upstream_timeout")
    except (aiohttp.ClientError, OSError) as error:
        logger.info("upstream %s failed: %s", call.api.slug, type(error).__name__)
        await _fail(state, call, send, outcome, "upstream_error")
    finally:
        outcome.upstream_ns = time.monotonic_ns() - started
    return outcome


def _literal_host_allowed(host: str | None) -> bool:
    try:
        return is_public_address(host.strip("[]"))
    except (ValueError, AttributeError):
        return True  # a name, not an address: the resolver checks it at connect time


async def _fail(state, call: Call, send, outcome: Outcome, code: str) -> None:
    state.metrics.upstream_error(call.api.slug, code)
    outcome.gateway_error = code
    if outcome.status:  # headers already went out: all we can do is end the stream
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    outcome.status = await send_problem(send, code, call.request_id, call.limit_headers)


async def _exchange(state, call, url, headers, body, timeout, receive, send, outcome):
    async with state.session.request(
        call.method,
        url,
        headers=headers,
        data=body or None,
        allow_redirects=False,
        timeout=timeout,
        skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
    ) as upstream:
        response_head, outcome.units_header = response_headers(upstream, call)
        await send(
            {"type": "http.response.start", "status": upstream.status, "headers": response_head}
        )
        outcome.status = upstream.status
        await _stream(upstream, receive, send, outcome)


async def _stream(upstream, receive, send, outcome: Outcome) -> None:
    """Chunks go out as they arrive. With a Content-Length the last chunk ends the body
    (one ASGI message less per call); without one the consumer's hang-up is watched."""
    length = upstream.content_length
    watcher = asyncio.ensure_future(_disconnected(receive)) if length is None else None
    try:
        async for chunk in upstream.content.iter_any():
            if watcher is not None and watcher.done():
                outcome.client_gone = True
                break
            outcome.bytes_out += len(chunk)
            more = length is None or outcome.bytes_out < length
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if watcher is not None:
            watcher.cancel()


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
