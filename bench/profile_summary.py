"""Summarise py-spy's raw (collapsed-stack) output: the hottest frames by self time and by
inclusive time, and the share of samples under chosen gateway entry points.

    python bench/profile_summary.py profile.txt [--top 25] [--json out.json]

A collapsed line is `thread;frame;frame;... count`, each frame `function (file:line)`.
Inclusive time counts a function once per stack even when it recurses."""

import argparse
import json
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# stage → a frame that identifies it (file fragment, function); the first match wins
STAGES = [
    ("gateway.resolve", "apps/gateway/resolve.py", "resolve"),
    ("gateway.admit (Redis EVALSHA)", "apps/gateway/admit.py", "admit"),
    ("gateway.forward (aiohttp client)", "apps/gateway/forward.py", "forward"),
    ("gateway.record (Redis pipeline)", "apps/gateway/record.py", "record"),
    ("uvicorn httptools protocol", "uvicorn/protocols/http/httptools_impl.py", None),
    ("redis-py (any)", "redis/", None),
    ("aiohttp (any)", "aiohttp/", None),
    ("asyncio/uvloop machinery", "asyncio/", None),
]


# package of a frame's file, for "self time by package" (the leaf frame decides)
PACKAGES = [
    ("redis-py", "redis/"),
    ("aiohttp/yarl/multidict", ("aiohttp/", "yarl/", "multidict/")),
    ("uvicorn (server, httptools protocol)", "uvicorn/"),
    ("prometheus_client", "prometheus_client/"),
    ("gateway code (apps/)", "apps/"),
    ("asyncio (Python part)", "asyncio/"),
    ("json", "json/"),
    ("logging", "logging/"),
]


def package(frame: str) -> str:
    if "Runner.run (asyncio/runners.py)" in frame or "run_until_complete" in frame:
        return "event loop (uvloop C code: I/O, scheduling)"
    for name, fragments in PACKAGES:
        if isinstance(fragments, str):
            fragments = (fragments,)
        if any(f"({fragment}" in frame for fragment in fragments):
            return name
    return "other: " + frame.split(" (", 1)[-1].rstrip(")")


def short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def parse(path: Path):
    stacks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        frames = [short(f) for f in stack.split(";")[1:]]  # drop the thread/process label
        stacks.append((frames, int(count)))
    return stacks


# the process's root chain (uvicorn's CLI, the event loop's run): in every stack, says nothing
ROOT_FRAMES = ("(click/", "(uvicorn/main.py", "(uvicorn/_compat.py", "(uvicorn/server.py")
ROOT_FRAMES += ("Runner.run (asyncio/runners.py", "<module> (", "run (asyncio/runners.py")


def summarise(stacks, top: int) -> dict:
    total = sum(c for _, c in stacks) or 1
    own, inclusive, by_package = Counter(), Counter(), Counter()
    stage = Counter()
    for frames, count in stacks:
        if frames:
            own[frames[-1]] += count
            by_package[package(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
        joined = ";".join(frames)
        for name, fragment, function in STAGES:
            needle = f"{function} ({fragment}" if function else fragment
            if needle in joined:
                stage[name] += count
    pct = lambda n: round(100.0 * n / total, 1)  # noqa: E731
    return {
        "samples": total,
        "self": [(f, pct(n)) for f, n in own.most_common(top)],
        "inclusive": [
            (f, pct(n))
            for f, n in inclusive.most_common(top + 20)
            if not any(marker in f for marker in ROOT_FRAMES)
        ][:top],
        "stages": [(name, pct(stage[name])) for name, _, _ in STAGES],
        "self_by_package": [(p, pct(n)) for p, n in by_package.most_common(12)],
    }


def render(summary: dict) -> str:
    lines = [f"samples: {summary['samples']} (non-idle)", "", "self time by package:"]
    lines += [f"  {p:5.1f}%  {name}" for name, p in summary["self_by_package"]]
    lines += ["", "share of samples whose stack contains:"]
    lines += [f"  {p:5.1f}%  {name}" for name, p in summary["stages"]]
    lines += ["", "top frames by self time:"]
    lines += [f"  {p:5.1f}%  {f}" for f, p in summary["self"]]
    lines += ["", "top frames by inclusive time:"]
    lines += [f"  {p:5.1f}%  {f}" for f, p in summary["inclusive"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("raw", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    summary = summarise(parse(args.raw), args.top)
    print(render(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
