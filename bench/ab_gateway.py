"""A/B of the gateway's fast path between two checkouts, interleaved — for a busy machine,
where two `make bench` runs minutes apart differ by more than the change being measured.

    .venv/bin/python bench/ab_gateway.py /path/to/old-checkout [--new /path/to/new-checkout]
                                         [--rounds 8] [--seconds 4]

Both gateways run at the same time (each its checkout's code, database and Redis DB, 2
uvicorn workers, production settings, as bench/gateway_bench.py starts them) against one
upstream (bench/upstream.py). Each round runs wrk fast @16 for `--seconds` against A, then
B (the order alternates), and reads the CPU time the gateway's processes used. Other load
on the machine lands on both alike; the medians over rounds are compared. B ("new") is
the checkout this file is in unless --new names another (`git archive <commit> | tar -x
-C <dir>` makes one; link its .venv to this one's). Needs PostgreSQL and a Redis with AOF
(BENCH_REDIS_URL; its DBs 13 and 14 are flushed)."""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]


def load(root: Path, name: str, db: int):
    """That checkout's bench/gateway_bench.py as a module of its own (its ROOT is that tree)."""
    spec = importlib.util.spec_from_file_location(name, root / "bench" / "gateway_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DB_NAME = f"tollgate_ab_{name}"
    module.DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{module.DB_NAME}"
    module.REDIS_URL = f"{REDIS}/{db}"
    return module


class Side:
    def __init__(self, name: str, module, log_dir: Path):
        self.name, self.m = name, module
        (log_dir / name).mkdir()
        self.processes = module.Processes(log_dir / name)

    def prepare(self, upstream_url: str) -> None:
        import subprocess

        self.m.recreate_database()
        self.m.redis_client().flushdb()
        subprocess.run(
            [self.m.PYTHON, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=self.m.ROOT,
            env=self.m.django_env(),
            check=True,
        )
        self.helper = self.m.Helper(self.processes)
        self.world = self.helper.ask({"cmd": "seed", "upstream_url": upstream_url})

    def start(self) -> None:
        port = self.m.free_port()
        self.url = f"http://127.0.0.1:{port}/gw/{self.world['slug']}/fast"
        argv = [self.m.PYTHON, str(self.m.BENCH / "serve_gateway.py"), "--port", str(port)]
        argv += ["--workers", "2", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        self.gateway = self.processes.start("gateway", argv, env=self.m.django_env())
        self.m.wait_http(f"http://127.0.0.1:{port}/healthz", 120, self.gateway)
        time.sleep(2)

    def measure(self, seconds: int) -> dict:
        pids = self.m.process_tree(self.gateway.pid)
        before = self.m.cpu_seconds(pids)
        result = self.m.run_wrk(self.url, 16, seconds, self.world["key"])
        used = self.m.cpu_seconds(pids) - before
        return {
            "rps": result["rps"],
            "cpu_us_per_request": round(used / max(result["ok_2xx"], 1) * 1e6, 1),
            "non_2xx": result["err_status"],
        }

    def stop(self) -> None:
        self.processes.stop_all()
        self.m.drop_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("--new", type=Path, default=HERE.parent)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="tollgate-ab-"))
    old = Side("old", load(args.old.resolve(), "old", 13), log_dir)
    new = Side("new", load(args.new.resolve(), "new", 14), log_dir)
    port = new.m.free_port()
    upstream = new.processes.start(
        "upstream", [new.m.PYTHON, str(HERE / "upstream.py"), "--port", str(port)]
    )
    upstream_url = f"http://127.0.0.1:{port}"
    rows = {"old": [], "new": []}
    try:
        threads = [threading.Thread(target=s.prepare, args=(upstream_url,)) for s in (old, new)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for side in (old, new):
            side.start()
            side.measure(3)  # warm-up
        for n in range(args.rounds):
            for side in (old, new) if n % 2 == 0 else (new, old):
                row = side.measure(args.seconds)
                rows[side.name].append(row)
                new.m.log(f"round {n + 1} {side.name}: {row}")
    finally:
        old.stop()
        new.stop()
        new.processes.stop(upstream)
    out = {"rounds": rows, "medians": {}}
    for name, runs in rows.items():
        out["medians"][name] = {
            key: statistics.median(r[key] for r in runs) for key in ("rps", "cpu_us_per_request")
        }
    o, n = out["medians"]["old"], out["medians"]["new"]
    out["new_vs_old"] = {
        "rps": round(n["rps"] / o["rps"] - 1, 3),
        "cpu_us_per_request": round(n["cpu_us_per_request"] / o["cpu_us_per_request"] - 1, 3),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
