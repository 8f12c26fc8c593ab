"""What a flood of refused calls costs: wrk through one gateway worker at a plan that admits
one call a second (so nearly every call is a 429 `rate_limited`), and, for comparison, at
a plan that admits every call. Run it on two checkouts (before and after a change) and
compare the figures of the same machine and hour.

    .venv/bin/python bench/refusal_bench.py [--duration 10] [--connections 64]

Reuses bench/gateway_bench.py's processes, seed and wrk script, with its own database
(`tollgate_bench_refused`) and Redis DB (BENCH_REDIS_URL, default DB 13 of REDIS_URL's
server), so it can run beside the other benchmarks. Afterwards it flushes and checks that
every 429 wrk saw is counted once in the refusal counts (when the checkout has them).
Writes bench/results/refusals-latest.json."""

import argparse
import json
import os
import subprocess
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

SET_PLAN = """
from apps.core.invalidation import publish_invalidation
from apps.subscriptions.models import Plan
Plan.objects.update(rate_limit_per_second={per_second})
for pk in Plan.objects.values_list("pk", flat=True):
    publish_invalidation("plan", pk)
"""
REFUSED_TOTAL = """
import json
try:
    from apps.metering.models import RefusedCalls
except ImportError:
    print(json.dumps(None))
else:
    from django.db.models import Sum
    print(json.dumps(RefusedCalls.objects.aggregate(n=Sum("calls"))["n"] or 0))
"""


def django_shell(code: str) -> str:
    done = subprocess.run(
        [gb.PYTHON, "manage.py", "shell", "-c", code],
        cwd=gb.ROOT,
        env=gb.django_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run(bench: gb.Bench, meter, connections: int, duration: int, per_second) -> dict:
    django_shell(SET_PLAN.format(per_second=per_second))
    time.sleep(1.5)  # the plan change reaches the gateway's cache
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--quiet-wait", type=float, default=30)
    parser.add_argument("--quiet-cores", type=float, default=0.6)
    args = parser.parse_args()
    processes = gb.Processes(Path(tempfile.mkdtemp(prefix="refusal-bench-")))
    try:
        bench = gb.Bench(args, processes)
        bench.setup()
        bench.gateway = bench.start_gateway(1)
        meter = gb.CpuMeter(
            {
                "gateway": gb.process_tree(bench.gateway.pid),
                "redis": [bench.redis_pid],
            }
        )
        results = {}
        for name, per_second in (("admitted", "None"), ("refused_flood", 1)):
            bench.wait_for_quiet_machine()
            results[name] = run(bench, meter, args.connections, args.duration, per_second)
            gb.log(f"{name}: {json.dumps(results[name])}")
        bench.helper.ask({"cmd": "flush"})
        bench.helper.ask({"cmd": "flush"})
        counted = json.loads(django_shell(REFUSED_TOTAL))
        results["refusals_counted"] = counted
        results["refusals_answered"] = sum(
            r["refused"] + r["warmup_refused"] for r in results.values()
        )
        results["machine"] = gb.machine_info()
        out = gb.RESULTS / "refusals-latest.json"
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        gb.log(f"refusal counts after the flush: {counted}; wrote {out}")
        return 0
    finally:
        processes.stop_all()
        gb.drop_database()


if __name__ == "__main__":
    sys.exit(main())
