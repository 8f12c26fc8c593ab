"""The benchmark's upstream: a minimal HTTP/1.1 server on raw asyncio (uvloop when it is
installed), one process. It is deliberately not aiohttp: the upstream must cost as little
CPU as possible, because it shares the 2 cores with wrk, the gateway and Redis.

Paths (GET, keep-alive, pipelining tolerated; request bodies skipped by Content-Length):

    /fast, /slow        the proxied paths the gateway forwards to (counted as "proxied")
    /d/fast, /d/slow    the same answers for wrk talking to the upstream directly
                        (counted as "direct"), so the two counts never mix
    /__count            {"proxied": n, "direct": n} — not counted itself

With --log FILE it also keeps an access log: the X-Tollgate-Request-Id of every proxied
request, one per line, written when the request arrives (the upstream was asked to serve
it, whether or not the gateway that sent it lives to read the answer) and flushed to the
file every 0.1 s. The fault benchmark (bench/fault_bench.py) counts with it.

"fast" answers at once with a fixed 29-byte JSON body; "slow" answers the same body after
--delay-ms (10 ms), scheduled with loop.call_later so the wait costs no CPU. A request is
counted when its answer is written to an open connection.

    python bench/upstream.py --port 9001 [--delay-ms 10]
"""

import argparse
import asyncio
import json
import signal

BODY = b'{"ok":true,"from":"upstream"}'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
COUNTS = {"proxied": 0, "direct": 0}
REQUEST_ID = b"\r\nx-tollgate-request-id:"


class AccessLog:
    """Request ids of proxied requests, appended to a file (None: no log kept)."""

    file = None

    @classmethod
    def open(cls, path: str) -> None:
        cls.file = open(path, "ab", buffering=1 << 16)  # noqa: SIM115 (lives with the process)
        cls.flush_soon()

    @classmethod
    def flush_soon(cls) -> None:
        cls.file.flush()
        asyncio.get_running_loop().call_later(0.1, cls.flush_soon)

    @classmethod
    def write(cls, head: bytes) -> None:
        lower = head.lower()
        at = lower.find(REQUEST_ID)
        if at < 0:
            return
        stop = lower.find(b"\r\n", at + 2)
        cls.file.write(head[at + len(REQUEST_ID) : stop if stop > 0 else len(head)].strip())
        cls.file.write(b"\n")


def count_response() -> bytes:
    body = json.dumps(COUNTS).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


class Http(asyncio.Protocol):
    delay_s = 0.010

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data):
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = 0
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                length = int(lower[at + 17 : stop if stop > 0 else len(lower)])
            total = end + 4 + length
            if len(buffer) < total:
                break
            self.handle(head)
            buffer = buffer[total:]
        self.buffer = buffer

    def handle(self, head: bytes) -> None:
        first = head.find(b" ")
        path = head[first + 1 : head.find(b" ", first + 1)]
        if path.startswith(b"/__count"):
            self.transport.write(count_response())
            return
        kind = "direct" if path.startswith(b"/d/") else "proxied"
        if AccessLog.file is not None and kind == "proxied":
            AccessLog.write(head)
        if b"slow" in path:
            # equal delays fire in order, so answers on one connection keep their order
            self.loop.call_later(self.delay_s, self.answer, kind)
        else:
            self.answer(kind)

    def answer(self, kind: str) -> None:
        if self.transport.is_closing():
            return
        COUNTS[kind] += 1
        self.transport.write(RESPONSE)


async def serve(host: str, port: int, log_path: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    if log_path:
        AccessLog.open(log_path)
    server = await loop.create_server(Http, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"upstream listening on http://{host}:{port} loop={type(loop).__module__}", flush=True)
    await stop.wait()
    server.close()
    if AccessLog.file is not None:
        AccessLog.file.close()
    print(json.dumps({"final_counts": COUNTS}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--log", help="append the request id of every proxied request here")
    args = parser.parse_args()
    Http.delay_s = args.delay_ms / 1000
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port, args.log))
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.log))


if __name__ == "__main__":
    main()
