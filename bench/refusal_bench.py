"""What a flood of refused calls costs: wrk through one gateway worker at a plan that admits
one call a second (so nearly every call is a 429 `rate_limited`), and, for comparison, at
a plan that admits every call. Run it on two checkouts (before and after a change) and
compare the figures of the same machine and hour.

    .venv/bin/python bench/refusal_bench.py [--duration 10] [--connections 64] [--compare DIR]

Reuses bench/gateway_bench.py's processes, seed and wrk script, with its own database
(`tollgate_bench_refused`) and Redis DB (BENCH_REDIS_URL, default DB 13 of REDIS_URL's
server), so it can run beside the other benchmarks. Afterwards it flushes and checks that
every 429 wrk saw is counted once in the refusal counts (when the checkout has them).
With `--compare <checkout>` it then measures a gateway started from that checkout (e.g.
main before the change) against the same database, Redis and upstream, back to back.
Writes bench/results/refusals-latest.json."""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway_bench as gb

gb.DB_NAME = "tollgate_bench_refused"
gb.DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{gb.DB_NAME}"
_redis_server = (os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
gb.REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"{_redis_server}/13")
# a development Redis often keeps no AOF; the production settings would then refuse calls
os.environ.setdefault("COUNTER_STORE_REQUIRE_PERSISTENCE", "0")


def refusals_counted() -> int:
    import psycopg

    with psycopg.connect(gb.DATABASE_URL.replace("postgres://", "postgresql://")) as db:
        return db.execute("SELECT COALESCE(SUM(calls), 0) FROM metering_refusedcalls").fetchone()[0]


def set_rate_limit(bench: gb.Bench, per_second: int | None) -> None:
    """The plan's per-second limit, changed as the console would (row, then the gateway's
    invalidation news) without starting Django on a loaded machine."""
    import psycopg

    plan_id = bench.world["plan_id"]
    with psycopg.connect(gb.DATABASE_URL.replace("postgres://", "postgresql://")) as db:
        db.execute(
            "UPDATE subscriptions_plan SET rate_limit_per_second = %s WHERE id = %s",
            (per_second, plan_id),
        )
    bench.redis.delete(f"tg:cache:plan:{plan_id}")
    bench.redis.publish("tg:invalidate", json.dumps({"kind": "plan", "key": str(plan_id)}))
    time.sleep(1.5)  # the change reaches every gateway process


def run(bench: gb.Bench, meter, connections: int, duration: int, per_second) -> dict:
    set_rate_limit(bench, per_second)
    warm = gb.run_wrk(bench.url("gateway", "fast"), connections, 2, bench.key)
    bench.helper.ask({"cmd": "flush"})
    before = meter.snapshot()
    wrk = gb.run_wrk(bench.url("gateway", "fast"), connections, duration, bench.key, True)
    cpu = gb.CpuMeter.delta(before, meter.snapshot())
    bench.check_alive()
    stream = sum(bench.redis.xlen(key) for key in bench.redis.scan_iter("tg:usage*"))
    seconds = wrk["duration_us"] / 1e6
    return {
        "plan_per_second": per_second,
        "answers_per_s": round(wrk["requests"] / seconds, 1),
        "refused": wrk["err_status"],
        "warmup_refused": warm["err_status"],
        "admitted": wrk["ok_2xx"],
        "p50_ms": wrk["p50_us"] / 1000,
        "p99_ms": wrk["p99_us"] / 1000,
        "gateway_cpu_us_per_answer": round(cpu["gateway"] / max(wrk["requests"], 1) * 1e6, 1),
        "redis_cpu_us_per_answer": round(cpu["redis"] / max(wrk["requests"], 1) * 1e6, 1),
        "stream_entries_after": stream,
        "socket_errors": wrk["socket_errors"],
    }


def measure_checkout(bench, args, root: Path) -> dict:
    """Both scenarios through a gateway started from the checkout at `root` (same database,
    Redis and upstream for every checkout)."""
    saved = gb.ROOT, gb.BENCH
    gb.ROOT, gb.BENCH = root, root / "bench"
    try:
        bench.gateway = bench.start_gateway(1)
    finally:
        gb.ROOT, gb.BENCH = saved
    meter = gb.CpuMeter({"gateway": gb.process_tree(bench.gateway.pid), "redis": [bench.redis_pid]})
    results = {"checkout": str(root)}
    for name, per_second in (("admitted", None), ("refused_flood", 1)):
        results[name] = run(bench, meter, args.connections, args.duration, per_second)
        gb.log(f"{root.name} {name}: {json.dumps(results[name])}")
    bench.processes.stop(bench.gateway)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--compare", type=Path, help="another checkout (e.g. main before)")
    parser.add_argument("--quiet-wait", type=float, default=0)
    parser.add_argument("--quiet-cores", type=float, default=0.6)
    args = parser.parse_args()
    processes = gb.Processes(Path(tempfile.mkdtemp(prefix="refusal-bench-")))
    try:
        bench = gb.Bench(args, processes)
        bench.setup()
        results = {"machine_busy_cores": bench.wait_for_quiet_machine()}
        results["this"] = measure_checkout(bench, args, gb.ROOT)
        for _ in range(3):
            bench.helper.ask({"cmd": "flush"})
        this = results["this"]
        results["refusals_answered"] = sum(
            this[name]["refused"] + this[name]["warmup_refused"]
            for name in ("admitted", "refused_flood")
        )
        results["refusals_counted"] = refusals_counted()
        gb.log(
            f"refusals answered {results['refusals_answered']}, "
            f"counted after the flush {results['refusals_counted']}"
        )
        if args.compare:
            results["compare"] = measure_checkout(bench, args, args.compare.resolve())
        results["machine"] = gb.machine_info()
        out = gb.RESULTS / "refusals-latest.json"
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        gb.log(f"wrote {out}")
        return 0
    finally:
        processes.stop_all()
        gb.drop_database()


if __name__ == "__main__":
    sys.exit(main())
