"""A closed-loop client that sends exactly --calls requests over --connections keep-alive
connections and counts every answer by status class. Unlike wrk, which abandons the
requests in flight when its timer fires (they reach the upstream and are metered, but wrk
never counts them), it ends with nothing in flight — so "answered 2xx == upstream received
== metered" can be checked with equality, not a bound.

    python bench/exact_client.py --url http://127.0.0.1:8000/gw/bench/fast --key tg_... \\
        --calls 10000 --connections 16

Prints one JSON line: {"calls": n, "2xx": n, "4xx": n, ..., "errors": n, "seconds": s}."""

import argparse
import asyncio
import json
import time
from collections import Counter
from urllib.parse import urlsplit


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def connection(host, port, request: bytes, calls: int, counts: Counter) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(calls):
            writer.write(request)
            try:
                status = await read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                counts["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            counts[f"{status // 100}xx"] += 1
    finally:
        writer.close()


async def run(url: str, key: str, calls: int, connections: int) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Api-Key: {key}\r\n\r\n").encode()
    counts: Counter = Counter()
    share, extra = divmod(calls, connections)
    started = time.monotonic()
    await asyncio.gather(
        *(
            connection(host, port, request, share + (1 if i < extra else 0), counts)
            for i in range(connections)
        )
    )
    seconds = time.monotonic() - started
    return {"calls": calls, **dict(sorted(counts.items())), "seconds": round(seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    coroutine = run(args.url, args.key, args.calls, args.connections)
    try:
        import uvloop

        result = uvloop.run(coroutine)
    except ImportError:
        result = asyncio.run(coroutine)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
