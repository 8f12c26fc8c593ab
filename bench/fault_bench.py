"""Fault benchmark: load through the gateway while things die, then count by request id.

    .venv/bin/python bench/fault_bench.py [--duration 12] [--connections 32] [--workers 2]
                                          [--only stall] [--keep-db]

Like bench/gateway_bench.py (whose processes, Django helper and wrk driver it reuses) it
recreates a PostgreSQL database (`tollgate_faultbench`), seeds one API, plan and key, and
runs the gateway as production does (`uvicorn config.asgi:application --workers 2 --loop
uvloop --http httptools`, `config.settings.production`). Its Redis is a redis-server it
starts itself on a free port (the cache, the broker and the counter store, as one
production Redis), so it can kill it. The upstream (bench/upstream.py) keeps an access
log: the request id of every call it was asked to serve — the independent count.

Each scenario starts from nothing (usage forgotten, a fresh Redis, a fresh gateway), runs
wrk against the 10 ms upstream path for `--duration` seconds, applies its fault a third of
the way in, then stops the gateway (it writes what it holds), waits past the orphan
timeout, runs the real flush until nothing is left and compares:

- served: request ids in the upstream's access log;
- metered: request ids the flush counted (`MeteredCall`), and the calls in the aggregates;
- lost: served but never metered; double: aggregate calls beyond the distinct ids counted;
  phantom: metered but never served.

Scenarios: none; one gateway worker killed with SIGKILL, twice (uvicorn starts a new
one); Redis killed -9 and restarted with AOF (the gateway fails closed meanwhile); Redis
killed -9 and restarted without AOF (`GATEWAY_FAIL_OPEN=1`: usage goes to the database);
Redis stopped with SIGSTOP for 4 s — twice the client timeout — then resumed (failing
open). Settings that differ from production's defaults: `METERING_ORPHAN_AFTER_S=5` (a
call whose worker died is billed after 5 s, not 300) so a run takes minutes.

Prints a table and writes bench/results/faults-latest.json (and a timestamped copy)."""

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway_bench as gb

gb.DB_NAME = "tollgate_faultbench"
gb.DATABASE_URL = os.environ.get(
    "BENCH_FAULT_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{gb.DB_NAME}"
)
ORPHAN_AFTER_S = 5
REDIS_SERVER = shutil.which("redis-server") or "redis-server"


class RedisServer:
    """A redis-server on one port for the whole run, restarted with or without AOF."""

    def __init__(self, processes: gb.Processes):
        self.processes = processes
        self.port = gb.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.dir = ""

    def start(self, *, aof: bool, fresh: bool) -> None:
        if fresh:
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = tempfile.mkdtemp(prefix="tollgate-faultbench-redis-")
        self.aof = aof
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir]
        argv += ["--save", "", "--appendonly", "yes" if aof else "no"]
        argv += ["--appendfsync", "everysec", "--daemonize", "no"]
        self.process = self.processes.start("redis", argv)
        self.wait_ready()

    def wait_ready(self, timeout: float = 15) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                with contextlib.suppress(redis.RedisError):
                    if client.ping() and client.info("persistence").get("loading") == 0:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {self.port} did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.processes.stop(self.process)

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self.processes.stop(self.process)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- faults ------------------------------------------------------------------------------
def no_fault(run: "FaultRun") -> str:
    return "nothing broken"


def kill_workers(run: "FaultRun") -> str:
    """SIGKILL one uvicorn worker mid-load; once uvicorn replaced it, another."""
    killed = []
    for n in range(2):
        if n:
            time.sleep(run.args.duration / 4)
        workers = run.workers()
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
        deadline = time.monotonic() + 30
        while len([pid for pid in run.workers() if pid not in killed]) < run.args.workers:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not replace the killed worker")
            time.sleep(0.1)
    return f"killed workers {killed}; uvicorn replaced each"


def kill_redis(run: "FaultRun") -> str:
    down = time.monotonic()
    run.redis.kill9()
    time.sleep(1.0)
    run.redis.start(aof=run.redis.aof, fresh=False)
    return f"Redis down {time.monotonic() - down:.1f} s ({'AOF' if run.redis.aof else 'no AOF'})"


def stall_redis(run: "FaultRun") -> str:
    os.kill(run.redis.process.pid, signal.SIGSTOP)
    time.sleep(4.0)
    os.kill(run.redis.process.pid, signal.SIGCONT)
    return "SIGSTOP 4 s, then SIGCONT (client timeout 2 s)"


# name, what the table says, Redis AOF, GATEWAY_FAIL_OPEN, the fault
SCENARIOS = [
    ("none", "none", True, False, no_fault),
    ("workers", "kill -9 of one uvicorn worker, twice", True, False, kill_workers),
    ("redis-aof", "Redis kill -9 + restart, AOF on (fail closed)", True, False, kill_redis),
    ("redis-no-aof", "Redis kill -9 + restart, no AOF (fail open)", False, True, kill_redis),
    ("stall", "Redis stalls 4 s (> 2 s client timeout), resumes (fail open)", True, True,
     stall_redis),
]  # fmt: skip


class FaultRun:
    def __init__(self, args, processes: gb.Processes, log_dir: Path):
        self.args, self.processes, self.log_dir = args, processes, log_dir
        self.redis = RedisServer(processes)
        self.access_log = log_dir / "upstream-access.log"
        self.gateway: subprocess.Popen | None = None

    def env(self, fail_open: bool) -> dict:
        return {**gb.django_env(), "GATEWAY_FAIL_OPEN": "1" if fail_open else "0"}

    def setup(self) -> None:
        gb.log(f"recreating database {gb.DB_NAME}; Redis on port {self.redis.port}")
        gb.recreate_database()
        self.redis.start(aof=True, fresh=True)
        gb.REDIS_URL = self.redis.url  # the helper's environment (gb.django_env)
        port = gb.free_port()
        self.upstream_url = f"http://127.0.0.1:{port}"
        argv = [gb.PYTHON, str(gb.BENCH / "upstream.py"), "--port", str(port)]
        argv += ["--delay-ms", str(gb.SLOW_MS), "--log", str(self.access_log)]
        self.upstream = self.processes.start("upstream", argv)
        subprocess.run(
            [gb.PYTHON, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=gb.ROOT,
            env=self.env(False),
            check=True,
        )
        gb.wait_http(f"{self.upstream_url}/__count", 10, self.upstream)
        self.helper = gb.Helper(self.processes)
        self.world = self.helper.ask({"cmd": "seed", "upstream_url": self.upstream_url})

    def start_gateway(self, fail_open: bool) -> None:
        port = gb.free_port()
        self.gateway_url = f"http://127.0.0.1:{port}"
        argv = [gb.PYTHON, str(gb.BENCH / "serve_gateway.py"), "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--workers", str(self.args.workers)]
        argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        self.gateway = self.processes.start("gateway", argv, env=self.env(fail_open))
        gb.wait_http(f"{self.gateway_url}/healthz", 60, self.gateway)
        deadline = time.monotonic() + 30
        while len(self.workers()) < self.args.workers and time.monotonic() < deadline:
            time.sleep(0.2)

    def workers(self) -> list[int]:
        """uvicorn's worker processes (spawned children; not the resource tracker)."""
        pids = []
        for pid in gb.process_tree(self.gateway.pid)[1:]:
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.append(pid)
        return sorted(pids)

    def served_lines(self) -> list[str]:
        if not self.access_log.exists():
            return []
        return self.access_log.read_text().split()

    def wait_upstream_quiet(self) -> None:
        """Until the upstream's log stops growing (calls in flight done, log flushed)."""
        last, since = len(self.served_lines()), time.monotonic()
        while time.monotonic() - since < 1.0:
            time.sleep(0.2)
            now = len(self.served_lines())
            if now != last:
                last, since = now, time.monotonic()

    def flush(self) -> None:
        """The real flush until nothing is left; then again once the started records of
        calls whose worker died are past the orphan timeout (billed by the sweep)."""
        self.helper.ask({"cmd": "flush"})
        time.sleep(ORPHAN_AFTER_S + 1)
        self.helper.ask({"cmd": "flush"})

    def scenario(self, name: str, label: str, aof: bool, fail_open: bool, fault) -> dict:
        gb.log(f"--- {label}")
        self.helper.ask({"cmd": "reset"})
        self.redis.stop()
        self.redis.start(aof=aof, fresh=True)
        self.start_gateway(fail_open)
        first = len(self.served_lines())
        url = f"{self.gateway_url}/gw/{self.world['slug']}/slow"
        wrk: dict = {}

        def load():
            wrk.update(gb.run_wrk(url, self.args.connections, self.args.duration, self.key))

        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(self.args.duration / 3)
        note = fault(self)
        thread.join()
        self.wait_upstream_quiet()
        self.processes.stop(self.gateway)  # a graceful stop writes what it holds
        self.flush()
        ids_file = self.log_dir / f"metered-{name}.txt"
        metered_ids = self.helper.ask({"cmd": "metered", "path": str(ids_file)})["ids"]
        metered = set(ids_file.read_text().split())
        assert len(metered) == metered_ids
        lines = self.served_lines()[first:]
        served = set(lines)
        calls = self.helper.ask({"cmd": "totals"})["calls"]
        read = self.helper.ask({"cmd": "ledger"})
        gateway_log = gb.log_digest(self.log_dir / "gateway.log")
        result = {
            "scenario": name,
            "fault": label,
            "note": note,
            "served": len(served),
            "served_log_lines": len(lines),
            "metered_calls": calls,
            "metered_ids": len(metered),
            "lost": len(served - metered),
            "double": calls - len(metered),
            "phantom": len(metered - served),
            # events each source's flush read; beyond the ids counted: duplicates dropped
            "read_by_source": read,
            "orphans": read.get("started", 0),
            "duplicates_dropped": sum(read.values()) - len(metered),
            "wrk_2xx": wrk.get("ok_2xx"),
            "wrk_non_2xx": wrk.get("err_status"),
            "wrk_socket_errors": wrk.get("socket_errors"),
            "wrk_rps": wrk.get("rps"),
            "gateway_log": gateway_log,
        }
        result["exact"] = result["lost"] == result["double"] == result["phantom"] == 0
        gb.log(
            f"served {result['served']} metered {calls} lost {result['lost']}"
            f" double {result['double']} phantom {result['phantom']} ({note})"
        )
        return result

    @property
    def key(self) -> str:
        return self.world["key"]


def table(results: list[dict]) -> str:
    rows = [
        "| fault during load | served by upstream | metered | lost | double | billed, never"
        " served | orphans billed | duplicates dropped | database queue | refused (wrk non-2xx) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['fault']} | {r['served']:,} | {r['metered_calls']:,} | {r['lost']} |"
            f" {r['double']} | {r['phantom']} | {r['orphans']} | {r['duplicates_dropped']} |"
            f" {r['read_by_source'].get('database', 0):,} | {r['wrk_non_2xx']:,} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--only", nargs="*", help="scenario names: " + ", ".join(s[0] for s in SCENARIOS)
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    # every process started here (gateway, Django helper) inherits these
    os.environ.update(METERING_ORPHAN_AFTER_S=str(ORPHAN_AFTER_S), METERING_SWEEP_INTERVAL_S="0")
    log_dir = Path(tempfile.mkdtemp(prefix="tollgate-faultbench-"))
    processes = gb.Processes(log_dir)
    signal.signal(signal.SIGTERM, gb._raise_interrupt)
    run = FaultRun(args, processes, log_dir)
    results = []
    try:
        run.setup()
        for scenario in SCENARIOS:
            if not args.only or scenario[0] in args.only:
                results.append(run.scenario(*scenario))
    finally:
        processes.stop_all()
        run.redis.cleanup()
        if not args.keep_db:
            gb.drop_database()
    print(table(results))
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": gb.code_fingerprint(),
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "workers": args.workers,
            "orphan_after_s": ORPHAN_AFTER_S,
        },
        "results": results,
        "exact": all(r["exact"] for r in results),
        "logs": str(log_dir),
    }
    gb.RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for path in (gb.RESULTS / "faults-latest.json", gb.RESULTS / f"faults-{stamp}.json"):
        path.write_text(json.dumps(out, indent=2) + "\n")
    gb.log(
        f"logs in {log_dir}; {'EXACT' if out['exact'] else 'MISMATCH'} in every scenario"
        if out["exact"]
        else f"logs in {log_dir}; MISMATCH"
    )
    sys.exit(0 if out["exact"] else 1)


if __name__ == "__main__":
    main()
