"""A real upstream HTTP server on loopback (aiohttp), in a thread, that records what it
receives. No mocked HTTP client anywhere in the gateway tests."""

import asyncio
import hashlib
import json

from aiohttp import web

from tests.servers import ThreadedAiohttpServer


class Upstream(ThreadedAiohttpServer):
    app_options = {"client_max_size": 64 * 1024 * 1024}

    def __init__(self):
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "path_qs": request.raw_path,
                "query": list(request.query.items()),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        tail = request.match_info["tail"]
        handler = getattr(self, "do_" + tail.split("/")[-1].replace("-", "_"), None)
        if handler is None:
            return self._echo(request, body)
        return await handler(request, body)

    def _echo(self, request, body):
        return web.json_response(
            {
                "method": request.method,
                "path": request.raw_path,
                "query": list(request.query.items()),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "body_size": len(body),
            },
            headers={"Set-Cookie": "session=upstream-secret", "X-Upstream": "yes"},
        )

    async def do_own_headers(self, request, body):
        """An upstream that sets headers the gateway owns (it sits behind its own proxy)."""
        own = {"X-Tollgate-Request-Id": "upstream-id-1234", "X-Quota-Remaining": "5"}
        return web.json_response({"ok": True}, headers=own)

    async def do_binary(self, request, body):
        return web.Response(body=bytes(range(256)) * 4, content_type="application/octet-stream")

    async def do_large(self, request, body):
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(int(request.query.get("chunks", "160"))):  # 10 MiB by default
            await response.write(chunk)
        await response.write_eof()
        return response

    async def do_sse(self, request, body):
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for n in range(int(request.query.get("n", "5"))):
            await response.write(f"data: {json.dumps({'token': n})}\n\n".encode())
            await asyncio.sleep(float(request.query.get("gap", "0.2")))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def do_slow(self, request, body):
        await asyncio.sleep(float(request.query.get("seconds", "3")))
        return web.json_response({"slow": True})

    async def do_status(self, request, body):
        code = int(request.query.get("code", "500"))
        return web.json_response({"status": code}, status=code)

    async def do_redirect(self, request, body):
        return web.Response(status=302, headers={"Location": "https://example.com/elsewhere"})

    async def do_units(self, request, body):
        return web.json_response(
            {"ok": True}, headers={"X-Tollgate-Units": request.query.get("u", "3")}
        )

    async def do_slow_units(self, request, body):
        await asyncio.sleep(int(request.query.get("ms", "500")) / 1000)
        return web.json_response(
            {"ok": True}, headers={"X-Tollgate-Units": request.query.get("u", "3")}
        )

    async def do_chunked_units(self, request, body):
        response = web.StreamResponse(headers={"X-Tollgate-Units": request.query.get("u", "7")})
        await response.prepare(request)
        await response.write(b"part one;")
        await response.write(b"part two")
        await response.write_eof()
        return response

    async def do_sleep_ms(self, request, body):
        await asyncio.sleep(int(request.query.get("ms", "10")) / 1000)
        return web.Response(text="ok")

    async def do_drop(self, request, body):
        request.transport.close()  # breaks the connection without answering
        return web.Response(text="never sent")
