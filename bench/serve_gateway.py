"""Starts the gateway exactly as `uvicorn config.asgi:application <arguments>` would — it
calls uvicorn's own command line in this process — but under this script's name, so a
broad `pkill -f uvicorn` elsewhere on a shared machine (a dev stack being restarted) does
not take the benchmark's gateway down in the middle of a run.

    python bench/serve_gateway.py --workers 2 --loop uvloop --http httptools --no-access-log

Diagnostics and experiments (off unless set):
- BENCH_GC_LOG=<file>: one line per garbage collection that took ≥ 1 ms, and a
  per-generation tally every 5 s, for each process;
- BENCH_GC_FREEZE=1: builds the application (Django set up, as uvicorn would on start) and
  calls gc.freeze(), so the start-up heap is no longer traversed by full collections — to
  measure what that change would do before anyone makes it in the application."""

import os
import sys


def _gc_probe(path: str) -> None:
    import gc
    import time

    pid, started = os.getpid(), {}
    tally = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}  # collections, seconds
    last = [time.monotonic()]
    out = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)

    def callback(phase, info):
        now = time.perf_counter()
        if phase == "start":
            started["t"] = now
            return
        generation, took = info["generation"], now - started.get("t", now)
        tally[generation][0] += 1
        tally[generation][1] += took
        if took >= 0.001:
            out.write(
                f"{pid} gc gen{generation} {took * 1000:.1f} ms collected={info['collected']}\n"
            )
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            counts = " ".join(f"gen{g}={n}/{s * 1000:.0f}ms" for g, (n, s) in tally.items())
            out.write(f"{pid} tally {counts} objects={len(gc.get_objects())}\n")

    gc.callbacks.append(callback)


if os.environ.get("BENCH_GC_LOG"):  # also in uvicorn's worker processes (they import this)
    _gc_probe(os.environ["BENCH_GC_LOG"])

if os.environ.get("BENCH_GC_FREEZE"):
    import gc
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import config.asgi  # noqa: F401  (uvicorn imports the same, cached, module)

    gc.freeze()

if __name__ == "__main__":  # uvicorn's worker processes re-import this file: do nothing then
    from uvicorn.main import main

    sys.argv = ["uvicorn", "config.asgi:application", *sys.argv[1:]]
    sys.exit(main())
