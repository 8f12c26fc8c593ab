"""Where does the gateway's CPU go? The same wrk load against stripped-down stand-ins
(bench/ceiling_app.py: uvicorn alone, + the aiohttp upstream call, + the two Redis round
trips) — each a floor the real gateway cannot beat with this stack on this machine.
Needs only Redis (DB 14, flushed) and wrk; not PostgreSQL.

    .venv/bin/python bench/ceiling.py [--workers 1 2] [--duration 8]

Writes bench/results/ceiling.json."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_bench import (
    PYTHON,
    REDIS_URL,
    RESULTS,
    ROOT,
    CpuMeter,
    Processes,
    free_port,
    log,
    machine_busy,
    process_tree,
    redis_client,
    run_wrk,
    wait_http,
)

MODES = ["hello", "proxy", "proxy_redis"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, nargs="+", default=[64])
    args = parser.parse_args()
    import tempfile

    processes = Processes(Path(tempfile.mkdtemp(prefix="tollgate-ceiling-")))
    redis = redis_client()
    redis.flushdb()
    results = []
    try:
        port = free_port()
        upstream = processes.start(
            "upstream", [PYTHON, str(ROOT / "bench" / "upstream.py"), "--port", str(port)]
        )
        wait_http(f"http://127.0.0.1:{port}/__count", 10, upstream)
        redis_pid = int(redis.info("server")["process_id"])
        for workers in args.workers:
            for mode in MODES:
                app_port = free_port()
                env = dict(
                    os.environ,
                    CEILING_MODE=mode,
                    CEILING_UPSTREAM=f"http://127.0.0.1:{port}/fast",
                    CEILING_REDIS=REDIS_URL,
                    DJANGO_SETTINGS_MODULE="config.settings.base",
                    PYTHONPATH=str(ROOT),
                )
                argv = [PYTHON, "-m", "uvicorn", "bench.ceiling_app:app", "--port", str(app_port)]
                argv += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
                argv += ["--no-access-log", "--log-level", "warning"]
                server = processes.start(f"ceiling-{mode}-w{workers}", argv, env=env)
                url = f"http://127.0.0.1:{app_port}/"
                wait_http(url, 30, server)
                time.sleep(1.0 if workers > 1 else 0.2)
                run_wrk(url, 64, 2)  # warm-up: pools, connections
                for connections in args.connections:
                    while machine_busy(0.5) > 0.25:
                        time.sleep(1)
                    meter = CpuMeter(
                        {
                            "server": process_tree(server.pid),
                            "upstream": [upstream.pid],
                            "redis": [redis_pid],
                        }
                    )
                    before = meter.snapshot()
                    wrk = run_wrk(url, connections, args.duration)
                    cpu = CpuMeter.delta(before, meter.snapshot())
                    row = {
                        "mode": mode,
                        "workers": workers,
                        "connections": connections,
                        "rps": wrk["rps"],
                        "p50_ms": wrk["p50_us"] / 1000,
                        "p99_ms": wrk["p99_us"] / 1000,
                        "server_cpu_us_per_request": round(
                            cpu["server"] / wrk["requests"] * 1e6, 1
                        ),
                        "cpu_s": cpu,
                    }
                    results.append(row)
                    log(
                        f"w{workers} {mode:<12} @{connections}: {row['rps']:>7.0f} req/s,"
                        f" {row['server_cpu_us_per_request']:>5.0f} µs CPU/req,"
                        f" p50 {row['p50_ms']:.2f} ms, busy {cpu['machine_busy_cores']},"
                        f" others {cpu['other_cores']}"
                    )
                processes.stop(server)
    except KeyboardInterrupt:
        return 130
    finally:
        processes.stop_all()
        redis.flushdb()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ceiling.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
