"""Gateway benchmark: wrk → upstream (direct) against wrk → gateway → upstream, in one run.

    .venv/bin/python bench/gateway_bench.py [--workers 1 2] [--duration 10] [--profile]

What one run does (docs/BENCHMARKS.md has the why):

1. drops and recreates the PostgreSQL database `tollgate_bench`, FLUSHDBs Redis DB 14 and
   runs `manage.py migrate` with the production settings;
2. starts the upstream (bench/upstream.py: raw asyncio on uvloop, one process; /fast
   answers at once, /slow after 10 ms) and a Django helper process (bench/django_helper.py)
   that seeds one provider, a published API, a plan without rate limits and with a soft
   quota no run reaches, a subscription and a key — and later runs the flush;
3. for each worker count: starts `uvicorn config.asgi:application --workers N --loop uvloop
   --http httptools --no-access-log` (production settings), warms it up, then runs wrk
   (`-t2`) direct and through the gateway back to back: fast @16, fast @64, slow @64 and
   fast @4 (latency). Around every run it reads the CPU time of the gateway's processes
   (and of the upstream, Redis and wrk) from /proc;
4. after every gateway run waits for the in-flight recording, runs
   apps.metering.tasks.flush_usage until nothing remains and checks the counts: the upstream
   served == calls metered == billable units, and wrk's 2xx against the upstream (wrk drops
   what is in flight when its timer fires: at most one call per connection); then one exact
   closed-loop run (bench/exact_client.py) checks 2xx == upstream == calls == units;
5. prints a table, writes bench/results/latest.json (and a timestamped copy), stops every
   process it started and drops the database (unless --keep-db).
"""

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")

DB_NAME = "tollgate_bench"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SLOW_MS = 10.0

TARGETS = {
    "fast_rps_min": 3000,
    "slow64_ratio_min": 0.6,
    "slow64_ratio_goal": 0.8,
    "added_p50_ms_max": 1.0,
    "added_p99_ms_max": 5.0,
}


def django_env() -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="bench",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        ALLOWED_HOSTS="*",
        SECURE_SSL_REDIRECT="0",
        UPSTREAM_ALLOW_PRIVATE="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def machine_busy(seconds: float = 1.0) -> float:
    """Cores in use over the next `seconds` (everything on the machine)."""
    total0, idle0 = machine_ticks()
    time.sleep(seconds)
    total1, idle1 = machine_ticks()
    return (total1 - total0 - (idle1 - idle0)) / max(total1 - total0, 1) * os.cpu_count()


def all_cpu() -> dict[int, tuple[str, int]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            out[int(entry.name)] = (
                text[text.index("(") + 1 : text.rindex(")")],
                int(fields[11]) + int(fields[12]),
            )
    return out


def top_consumers(seconds: float = 1.0, count: int = 3) -> str:
    """Who uses the CPU right now (to say what a wait was for)."""
    before = all_cpu()
    time.sleep(seconds)
    after = all_cpu()
    used = [
        ((ticks - before[pid][1]) / CLK_TCK / seconds, pid, name)
        for pid, (name, ticks) in after.items()
        if pid in before
    ]
    used.sort(reverse=True)
    return ", ".join(
        f"{name}[{pid}] {cores:.2f}" for cores, pid, name in used[:count] if cores > 0.02
    )


def calibration_ms() -> float:
    """A fixed pure-Python workload, best of 5, in ms: this VM's speed varies by up to 2x
    from one minute to the next (its host is shared too), so each run records it."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes ------------------------------------------------------------------------------
class Processes:
    """Everything the bench starts, each in its own session (process group), so stopping
    one also stops its children (uvicorn's workers) — and nothing else."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        out = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        kwargs.setdefault("stdout", out)
        kwargs.setdefault("stderr", subprocess.STDOUT if kwargs["stdout"] is out else out)
        process = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, **kwargs)
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 10.0) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        # a group leader gone early may leave workers behind: the group id still names them
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self.started = [(n, p) for n, p in self.started if p is not process]

    def stop_all(self) -> None:
        for _, process in reversed(list(self.started)):
            self.stop(process)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def code_fingerprint() -> dict:
    """Which gateway code a run measured: HEAD, and a hash of the hot path's source as it
    is on disk when the gateway starts (the tree may be changing under a shared checkout)."""
    import hashlib

    digest = hashlib.sha256()
    patterns = ["apps/gateway/*.py", "apps/metering/**/*.py", "apps/core/*.py", "config/**/*.py"]
    files = sorted(path for pattern in patterns for path in ROOT.glob(pattern))
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "apps/gateway", "apps/metering", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    return {
        "git_head": head,
        "hot_path_sha256": digest.hexdigest()[:16],
        "hot_path_uncommitted": [line for line in dirty if line.strip()],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


# --- /proc ----------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from #3 (state) on


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # fields #14 utime, #15 stime
    return total / CLK_TCK


def steal_ticks() -> int:
    """Time the hypervisor gave this VM's CPUs to someone else."""
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])


def machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]), idle


class CpuMeter:
    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups

    def snapshot(self) -> dict:
        snap = {name: cpu_seconds(pids) for name, pids in self.groups.items()}
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk (or the exact client)
        snap["client"] = usage.ru_utime + usage.ru_stime
        snap["_machine"] = machine_ticks()
        snap["_steal"] = steal_ticks()
        snap["_t"] = time.monotonic()
        return snap

    @staticmethod
    def delta(before: dict, after: dict) -> dict:
        out = {
            name: round(after[name] - before[name], 3)
            for name in before
            if not name.startswith("_")
        }
        total = after["_machine"][0] - before["_machine"][0]
        idle = after["_machine"][1] - before["_machine"][1]
        steal = after["_steal"] - before["_steal"]
        out["steal_cores"] = round(steal / total * os.cpu_count(), 2) if total else 0
        out["machine_busy_cores"] = (
            round((total - idle) / total * os.cpu_count(), 2) if total else 0
        )
        out["wall_s"] = round(after["_t"] - before["_t"], 3)
        ours = sum(
            v for k, v in out.items() if k not in ("machine_busy_cores", "wall_s", "steal_cores")
        )
        # what else ran meanwhile (other users of the machine, kernel softirq for loopback)
        out["other_cores"] = round(out["machine_busy_cores"] - ours / out["wall_s"], 2)
        return out


# --- database, Redis, Django helper -----------------------------------------------------------
def recreate_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def redis_client():
    import redis

    return redis.Redis.from_url(REDIS_URL)


class Helper:
    """bench/django_helper.py: one Django process for the seed and the flushes."""

    def __init__(self, processes: Processes):
        self.process = processes.start(
            "django_helper",
            [PYTHON, str(BENCH / "django_helper.py")],
            env=django_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(processes.log_dir / "django_helper.err", "wb"),  # noqa: SIM115
        )
        self.ask_raw()  # {"ready": true}

    def ask_raw(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the Django helper exited; see its log")
        return json.loads(line)

    def ask(self, command: dict) -> dict:
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()
        answer = self.ask_raw()
        if "error" in answer:
            raise RuntimeError(f"helper {command['cmd']}: {answer['error']}")
        return answer


# --- wrk --------------------------------------------------------------------------------------
def run_wrk(url: str, connections: int, duration: int, key: str = "", latency=False) -> dict:
    threads = min(2, connections)  # wrk needs a connection per thread
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "-s",
        str(BENCH / "wrk.lua"),
    ]
    if latency:
        argv.append("--latency")
    argv.append(url)
    env = dict(os.environ, BENCH_API_KEY=key)
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    match = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{done.stdout}\n{done.stderr}")
    result = json.loads(match.group(1))
    seconds = result["duration_us"] / 1e6
    failed = result["err_connect"] + result["err_read"] + result["err_write"]
    failed += result["err_timeout"]
    result["ok_2xx"] = result["requests"] - result["err_status"]
    result["rps"] = round(result["ok_2xx"] / seconds, 1)
    result["socket_errors"] = failed
    return result


# --- the run ----------------------------------------------------------------------------------
class Bench:
    def __init__(self, args, processes: Processes):
        self.args = args
        self.processes = processes
        self.redis = redis_client()
        self.redis_pid = int(self.redis.info("server")["process_id"])

    # upstream counts
    def counts(self) -> dict:
        return http_json(f"{self.upstream_url}/__count")

    def wait_quiet(self, kind: str) -> int:
        """The upstream's count for `kind` once it stopped moving (in-flight calls done)."""
        last, stable_since = self.counts()[kind], time.monotonic()
        while time.monotonic() - stable_since < 0.5:
            time.sleep(0.1)
            now = self.counts()[kind]
            if now != last:
                last, stable_since = now, time.monotonic()
        return last

    def settle(self, upstream_proxied: int, timeout: float = 20.0) -> dict:
        """Flush until the aggregates hold every call the upstream served through the
        gateway — or until nothing more arrives (then the check reports the difference)."""
        deadline = time.monotonic() + timeout
        idle_rounds, flushed_total, started = 0, 0, time.monotonic()
        while True:
            flushed = self.helper.ask({"cmd": "flush"})["flushed"]
            flushed_total += flushed
            totals = self.helper.ask({"cmd": "totals"})
            pending = self.redis.xlen("tg:usage")
            if totals["calls"] == upstream_proxied and pending == 0:
                break
            idle_rounds = idle_rounds + 1 if (flushed == 0 and pending == 0) else 0
            if idle_rounds >= 10 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        totals["flush_seconds"] = round(time.monotonic() - started, 2)
        totals["flushed"] = flushed_total
        return totals

    def setup(self) -> None:
        log(f"recreating database {DB_NAME} and flushing {REDIS_URL}")
        recreate_database()
        self.redis.flushdb()
        upstream_port = free_port()
        self.upstream_url = f"http://127.0.0.1:{upstream_port}"
        self.upstream = self.processes.start(
            "upstream",
            [
                PYTHON,
                str(BENCH / "upstream.py"),
                "--port",
                str(upstream_port),
                "--delay-ms",
                str(SLOW_MS),
            ],
        )
        log("migrating (manage.py migrate, production settings)")
        started = time.monotonic()
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=ROOT,
            env=django_env(),
            check=True,
        )
        self.migrate_seconds = round(time.monotonic() - started, 1)
        wait_http(f"{self.upstream_url}/__count", 10, self.upstream)
        self.helper = Helper(self.processes)
        self.world = self.helper.ask({"cmd": "seed", "upstream_url": self.upstream_url})
        self.key = self.world["key"]
        log(f"seeded: api {self.world['slug']}, key {self.world['key_prefix']}…")

    def start_gateway(self, workers: int) -> subprocess.Popen:
        port = free_port()
        self.gateway_url = f"http://127.0.0.1:{port}"
        # = uvicorn config.asgi:application …, see bench/serve_gateway.py for why a wrapper
        argv = [PYTHON, str(BENCH / "serve_gateway.py")]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        gateway = self.processes.start(f"gateway-w{workers}", argv, env=django_env())
        wait_http(f"{self.gateway_url}/healthz", 60, gateway)
        # every worker must be up (they answer /healthz as soon as one is)
        deadline = time.monotonic() + 30
        while len(process_tree(gateway.pid)) < (1 if workers == 1 else workers + 1):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return gateway

    def url(self, target: str, upstream: str) -> str:
        if target == "direct":
            return f"{self.upstream_url}/d/{upstream}"
        return f"{self.gateway_url}/gw/{self.world['slug']}/{upstream}"

    def check_alive(self) -> None:
        for name, process in (("gateway", self.gateway), ("upstream", self.upstream)):
            if process.poll() is not None:
                raise RuntimeError(
                    f"the {name} exited ({process.returncode}) during the run — killed from"
                    " outside? (see its log); the figures of this run are not valid"
                )

    def wait_for_quiet_machine(self) -> float:
        """The machine is shared: before a run, wait (up to --quiet-wait s) until what
        else runs uses less than --quiet-cores cores. Returns that load; it is recorded."""
        deadline = time.monotonic() + self.args.quiet_wait
        busy = machine_busy(0.5)
        warned = False
        while busy > self.args.quiet_cores and time.monotonic() < deadline:
            if not warned:
                log(f"machine busy ({busy:.2f} cores; {top_consumers()}): waiting")
                warned = True
            busy = machine_busy(1.0)
        if busy > self.args.quiet_cores:
            log(f"still {busy:.2f} cores busy; measuring anyway (recorded)")
        return round(busy, 2)

    def measure(self, meter, target, upstream, connections, duration, latency=False) -> dict:
        kind = "direct" if target == "direct" else "proxied"
        busy_before = self.wait_for_quiet_machine()
        speed = calibration_ms()
        before_count = self.counts()[kind]
        before = meter.snapshot()
        per_process = {pid: cpu_seconds([pid]) for pid in meter.groups["gateway"]}
        key = self.key if target == "gateway" else ""
        wrk = run_wrk(self.url(target, upstream), connections, duration, key, latency)
        after = meter.snapshot()
        self.check_alive()
        per_process = [round(cpu_seconds([pid]) - v, 2) for pid, v in per_process.items()]
        served = self.wait_quiet(kind) - before_count
        cpu = CpuMeter.delta(before, after)
        result = {
            "target": target,
            "upstream": upstream,
            "connections": connections,
            "duration_s": duration,
            "wrk": wrk,
            "cpu_s": cpu,
            "upstream_served": served,
            "busy_cores_before": busy_before,
            "calibration_ms": speed,
            "gateway_cpu_s_per_process": per_process,
        }
        if target == "gateway":
            result["gateway_cpu_us_per_request"] = round(
                cpu["gateway"] / max(wrk["requests"], 1) * 1e6, 1
            )
            result["redis_cpu_us_per_request"] = round(
                cpu["redis"] / max(wrk["requests"], 1) * 1e6, 1
            )
        return result

    def measure_and_check(self, meter, target, upstream, connections, seconds, latency):
        result = self.measure(meter, target, upstream, connections, seconds, latency)
        if target == "gateway":
            self.check_metering(result, self.totals)
        wrk = result["wrk"]
        extra = ""
        if target == "gateway":
            m = result["metering"]
            extra = (
                f" cpu {result['gateway_cpu_us_per_request']} µs/req,"
                f" served {m['upstream_served']} metered {m['metered_calls']}"
                f" units {m['metered_billable_units']:g} wrk-2xx {m['wrk_2xx']}"
            )
        log(
            f"{upstream}@{connections:<3} {target:8} {wrk['rps']:>9.0f} req/s"
            f"  p50 {wrk['p50_us'] / 1000:.2f} ms  p99 {wrk['p99_us'] / 1000:.2f} ms"
            f"  non-2xx {wrk['err_status']} sock-err {wrk['socket_errors']}"
            f"  others {result['cpu_s']['other_cores']} cores"
            f"  calib {result['calibration_ms']} ms{extra}"
        )
        return result

    def check_metering(self, result: dict, before: dict) -> None:
        """After a gateway run: the upstream served == calls metered == units metered, and
        wrk's 2xx fall short of the upstream by at most the connections wrk left in flight."""
        proxied_total = self.counts()["proxied"]
        totals = self.settle(proxied_total)
        calls = totals["calls"] - before["calls"]
        units = float(totals["billable_units"]) - float(before["billable_units"])
        ok_2xx = totals["status_2xx"] - before["status_2xx"]
        errors = totals["gateway_errors"] - before["gateway_errors"]
        served = result["upstream_served"]
        wrk_2xx = result["wrk"]["ok_2xx"]
        in_flight = served - wrk_2xx
        result["metering"] = {
            "upstream_served": served,
            "metered_calls": calls,
            "metered_billable_units": units,
            "metered_status_2xx": ok_2xx,
            "metered_gateway_errors": errors,
            "wrk_2xx": wrk_2xx,
            "wrk_in_flight_at_stop": in_flight,
            "lost": max(served - calls, 0),
            "double_counted": max(calls - served, 0),
            "exact": served == calls == units == ok_2xx and errors == 0,
            "wrk_within_bound": 0 <= in_flight <= result["connections"],
            "flush_seconds": totals["flush_seconds"],
        }
        self.totals = totals

    def exact_run(self, meter, calls: int, connections: int) -> dict:
        before_count = self.counts()["proxied"]
        before = meter.snapshot()
        argv = [PYTHON, str(BENCH / "exact_client.py"), "--url", self.url("gateway", "fast")]
        argv += ["--key", self.key, "--calls", str(calls), "--connections", str(connections)]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        client = json.loads(done.stdout.strip().splitlines()[-1])
        after = meter.snapshot()
        served = self.wait_quiet("proxied") - before_count
        totals = self.settle(self.counts()["proxied"])
        metered = totals["calls"] - self.totals["calls"]
        units = float(totals["billable_units"]) - float(self.totals["billable_units"])
        self.totals = totals
        return {
            "calls_sent": calls,
            "connections": connections,
            "client": client,
            "upstream_served": served,
            "metered_calls": metered,
            "metered_billable_units": units,
            "exact": client.get("2xx", 0) == served == metered == units == calls,
            "cpu_s": CpuMeter.delta(before, after),
        }

    def profile(self, gateway: subprocess.Popen, workers: int, duration: int) -> dict:
        py_spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
        if not py_spy:
            log("py-spy not found (.venv/bin/pip install py-spy): no profile")
            return {}
        RESULTS.mkdir(exist_ok=True)
        raw = RESULTS / f"profile-w{workers}-fast64.txt"
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(gateway.pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                "200",
                "--duration",
                str(duration),
                "--format",
                "raw",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(0.5)
        wrk = run_wrk(self.url("gateway", "fast"), 64, max(duration - 1, 1), self.key)
        spy.wait(duration + 30)
        summary_txt = RESULTS / f"profile-w{workers}-fast64.summary.txt"
        summary = subprocess.run(
            [PYTHON, str(BENCH / "profile_summary.py"), str(raw), "--top", "30"],
            capture_output=True,
            text=True,
        ).stdout
        summary_txt.write_text(
            f"py-spy record --subprocesses --nonblocking --rate 200, gateway workers={workers},"
            f" wrk fast @64 ({wrk['rps']} req/s while sampled)\n\n{summary}"
        )
        # keep the stored stacks small: the summary is what the docs cite
        raw.unlink(missing_ok=True)
        self.wait_quiet("proxied")
        self.totals = self.settle(self.counts()["proxied"])
        return {"summary_file": str(summary_txt.relative_to(ROOT)), "rps_while_sampled": wrk["rps"]}

    def run_workers(self, workers: int) -> dict:
        log(f"--- gateway with {workers} worker process(es)")
        code = code_fingerprint()
        gateway = self.gateway = self.start_gateway(workers)
        log(
            f"gateway code: HEAD {code['git_head']}, hot path {code['hot_path_sha256']}"
            f"{' (uncommitted changes!)' if code['hot_path_uncommitted'] else ''}"
        )
        pids = process_tree(gateway.pid)
        meter = CpuMeter(
            {
                "gateway": pids,
                "upstream": process_tree(self.upstream.pid),
                "redis": [self.redis_pid],
            }
        )
        duration = self.args.duration
        self.totals = self.settle(self.counts()["proxied"])
        log("warm-up: 3 s through the gateway @64")
        warm = self.measure(meter, "gateway", "fast", 64, 3)
        self.check_metering(warm, self.totals)
        runs = []
        short = max(3, duration // 2)
        plan = [("fast", 16, False, duration), ("fast", 64, False, duration)]
        plan.append(("slow", 64, False, duration))
        plan.append(("fast", self.args.latency_connections, True, duration))
        # one connection: the gateway's own service time, without queueing (informative)
        plan.append(("fast", 1, True, short))
        discarded = []
        for upstream, connections, latency, seconds in plan:
            for attempt in range(self.args.retries + 1):
                pair = [
                    self.measure_and_check(meter, target, upstream, connections, seconds, latency)
                    for target in ("direct", "gateway")
                ]
                other = max(r["cpu_s"]["other_cores"] for r in pair)
                disturbed = other > self.args.max_other_cores
                for r in pair:
                    r["attempt"], r["disturbed"] = attempt + 1, disturbed
                if not disturbed or attempt == self.args.retries:
                    break
                log(f"other processes used {other} cores during that pair: measuring it again")
                discarded += pair
            runs += pair
        log(f"exact check: {self.args.exact_calls} calls @16 through the gateway")
        exact = self.exact_run(meter, self.args.exact_calls, 16)
        log(
            f"exact: client {exact['client']} upstream {exact['upstream_served']}"
            f" metered {exact['metered_calls']} units {exact['metered_billable_units']:g}"
            f" → {'OK' if exact['exact'] else 'MISMATCH'}"
        )
        profile = {}
        if self.args.profile:
            log(f"profiling with py-spy: {duration} s fast @64 (not part of the figures)")
            profile = self.profile(gateway, workers, duration)
        gateway_log = self.processes.log_dir / f"gateway-w{workers}.log"
        self.processes.stop(gateway)
        return {
            "workers": workers,
            "code": code,
            "code_at_end": code_fingerprint(),
            "gateway_pids": len(pids),
            "warmup": warm,
            "runs": runs,
            "discarded_runs": discarded,
            "exact": exact,
            "profile": profile,
            "gateway_log": log_digest(gateway_log),
            "summary": summarise(runs, warm, exact, discarded),
        }


def log_digest(path: Path) -> dict:
    """How many lines of each message the gateway logged (WARNING and up)."""
    counts: dict[str, int] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            message = json.loads(line).get("message", line)
        except ValueError:
            message = line
        message = re.sub(r"\d+", "N", message)[:120]
        counts[message] = counts.get(message, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:10])


def find(runs, target, upstream, connections) -> dict:
    for run in runs:
        if (run["target"], run["upstream"], run["connections"]) == (target, upstream, connections):
            return run
    raise KeyError((target, upstream, connections))


def summarise(runs: list, warm: dict, exact: dict, discarded: list) -> dict:
    rows = []
    for run in runs:
        if run["target"] != "gateway":
            continue
        direct = find(runs, "direct", run["upstream"], run["connections"])
        d, g = direct["wrk"], run["wrk"]
        rows.append(
            {
                "scenario": f"{run['upstream']} @{run['connections']}",
                "upstream": run["upstream"],
                "connections": run["connections"],
                "direct_rps": d["rps"],
                "gateway_rps": g["rps"],
                "ratio": round(g["rps"] / d["rps"], 3) if d["rps"] else None,
                "direct_p50_ms": d["p50_us"] / 1000,
                "gateway_p50_ms": g["p50_us"] / 1000,
                "added_p50_ms": round((g["p50_us"] - d["p50_us"]) / 1000, 3),
                "direct_p99_ms": d["p99_us"] / 1000,
                "gateway_p99_ms": g["p99_us"] / 1000,
                "added_p99_ms": round((g["p99_us"] - d["p99_us"]) / 1000, 3),
                "gateway_cpu_us_per_request": run["gateway_cpu_us_per_request"],
                "redis_cpu_us_per_request": run["redis_cpu_us_per_request"],
                "machine_busy_cores": run["cpu_s"]["machine_busy_cores"],
                "other_cores_direct": direct["cpu_s"]["other_cores"],
                "other_cores": run["cpu_s"]["other_cores"],
                "gateway_cores": round(run["cpu_s"]["gateway"] / run["cpu_s"]["wall_s"], 2),
                "disturbed": run["disturbed"],
                "calibration_ms": [direct["calibration_ms"], run["calibration_ms"]],
                "attempt": run["attempt"],
                "non_2xx": g["err_status"],
                "socket_errors": g["socket_errors"],
                "metering": run["metering"],
            }
        )
    # discarded (disturbed) runs still count for metering: a retry must not hide a loss
    metering_runs = [warm] + [r for r in runs + discarded if r["target"] == "gateway"]
    return {
        "rows": rows,
        "metering_exact_all_runs": all(r["metering"]["exact"] for r in metering_runs),
        "wrk_within_bound_all_runs": all(r["metering"]["wrk_within_bound"] for r in metering_runs),
        "lost": sum(r["metering"]["lost"] for r in metering_runs),
        "double_counted": sum(r["metering"]["double_counted"] for r in metering_runs),
        "exact_run_ok": exact["exact"],
    }


def verdicts(summary: dict, latency_connections: int) -> list[dict]:
    rows = {row["scenario"]: row for row in summary["rows"]}
    out = []
    for scenario in ("fast @16", "fast @64"):
        rps = rows[scenario]["gateway_rps"]
        out.append(
            {
                "target": f"≥ {TARGETS['fast_rps_min']} proxied req/s, {scenario}",
                "value": rps,
                "pass": rps >= TARGETS["fast_rps_min"],
                "margin": f"{rps / TARGETS['fast_rps_min'] * 100 - 100:+.1f}%",
            }
        )
    ratio = rows["slow @64"]["ratio"]
    out.append(
        {
            "target": f"slow @64 ratio ≥ {TARGETS['slow64_ratio_min']}"
            f" (goal {TARGETS['slow64_ratio_goal']})",
            "value": ratio,
            "pass": ratio >= TARGETS["slow64_ratio_min"],
            "goal": ratio >= TARGETS["slow64_ratio_goal"],
            "margin": f"{ratio - TARGETS['slow64_ratio_min']:+.3f}",
        }
    )
    latency = rows[f"fast @{latency_connections}"]
    for name, limit in (("p50", "added_p50_ms_max"), ("p99", "added_p99_ms_max")):
        value = latency[f"added_{name}_ms"]
        out.append(
            {
                "target": f"added {name} ≤ {TARGETS[limit]} ms @{latency_connections}",
                "value": value,
                "pass": value <= TARGETS[limit],
                "margin": f"{value - TARGETS[limit]:+.3f} ms",
            }
        )
    ok = (
        summary["metering_exact_all_runs"]
        and summary["exact_run_ok"]
        and summary["lost"] == 0
        and summary["double_counted"] == 0
    )
    out.append(
        {
            "target": "zero lost, zero double-counted units",
            "value": f"lost {summary['lost']}, double {summary['double_counted']}",
            "pass": ok,
            "margin": "",
        }
    )
    return out


# --- report ------------------------------------------------------------------------------------
def machine_info() -> dict:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    versions = {}
    code = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "['Django','uvicorn','uvloop','httptools','aiohttp','redis','hiredis','psycopg']}))"
    )
    versions = json.loads(
        subprocess.run([PYTHON, "-c", code], capture_output=True, text=True).stdout
    )
    python = subprocess.run([PYTHON, "-V"], capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    redis_version = redis_client().info("server")["redis_version"]

    def git(*argv):  # read-only
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": python,
        "packages": versions,
        "wrk": (wrk.stdout + wrk.stderr).splitlines()[0].strip(),
        "redis_server": redis_version,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": git("status", "--porcelain").splitlines(),
    }


def print_table(result: dict) -> None:
    for block in result["by_workers"]:
        print(f"\n== gateway workers: {block['workers']} ==")
        head = (
            f"{'scenario':<10} {'direct/s':>9} {'gateway/s':>9} {'ratio':>6} "
            f"{'p50 d/g ms':>13} {'+p50':>6} {'p99 d/g ms':>13} {'+p99':>6} "
            f"{'gw µs/req':>9} {'gw cores':>8} {'busy':>5} {'other':>5}  metering"
        )
        print(head)
        for row in block["summary"]["rows"]:
            m = row["metering"]
            status = "exact" if m["exact"] else "MISMATCH"
            print(
                f"{row['scenario']:<10} {row['direct_rps']:>9.0f} {row['gateway_rps']:>9.0f} "
                f"{row['ratio']:>6.3f} "
                f"{row['direct_p50_ms']:>6.2f}/{row['gateway_p50_ms']:<6.2f} "
                f"{row['added_p50_ms']:>6.2f} "
                f"{row['direct_p99_ms']:>6.2f}/{row['gateway_p99_ms']:<6.2f} "
                f"{row['added_p99_ms']:>6.2f} "
                f"{row['gateway_cpu_us_per_request']:>9.0f} {row['gateway_cores']:>8.2f} "
                f"{row['machine_busy_cores']:>5.2f} {row['other_cores']:>5.2f}  "
                f"{status}: served {m['upstream_served']}"
                f" = calls {m['metered_calls']} = units {m['metered_billable_units']:g};"
                f" wrk 2xx {m['wrk_2xx']} (+{m['wrk_in_flight_at_stop']} in flight)"
            )
        exact = block["exact"]
        print(
            f"exact run: {exact['calls_sent']} calls → client {exact['client']},"
            f" upstream {exact['upstream_served']}, metered {exact['metered_calls']},"
            f" units {exact['metered_billable_units']:g}: {'OK' if exact['exact'] else 'MISMATCH'}"
        )
        for verdict in block["verdicts"]:
            mark = "PASS" if verdict["pass"] else "MISS"
            goal = ""
            if "goal" in verdict:
                goal = " (goal met)" if verdict["goal"] else " (goal 0.8 not met)"
            print(f"  [{mark}] {verdict['target']}: {verdict['value']} {verdict['margin']}{goal}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--latency-connections", type=int, default=4)
    parser.add_argument("--exact-calls", type=int, default=10000)
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway (extra run)")
    parser.add_argument("--quiet-wait", type=float, default=120, help="max s to wait per run")
    parser.add_argument("--quiet-cores", type=float, default=0.25)
    parser.add_argument(
        "--max-other-cores",
        type=float,
        default=0.35,
        help="a direct/gateway pair during which other processes used more is measured again",
    )
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true", help="leave tollgate_bench behind")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))
    processes = Processes(log_dir)
    result = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        "targets": TARGETS,
        "settings": {
            "duration_s": args.duration,
            "wrk": "wrk -t2 -c<N> -d<duration>s -s bench/wrk.lua [--latency]",
            "slow_upstream_delay_ms": SLOW_MS,
            "exact_calls": args.exact_calls,
        },
        "by_workers": [],
    }
    bench = None
    try:
        bench = Bench(args, processes)
        bench.setup()
        result["migrate_seconds"] = bench.migrate_seconds
        for workers in args.workers:
            block = bench.run_workers(workers)
            block["verdicts"] = verdicts(block["summary"], args.latency_connections)
            result["by_workers"].append(block)
        result["gateway_command"] = (
            "uvicorn config.asgi:application --host 127.0.0.1 --port <free port> --workers <N>"
            " --loop uvloop --http httptools --no-access-log"
        )
    except KeyboardInterrupt:
        log("interrupted: stopping everything the bench started")
        return 130
    finally:
        if bench is not None and getattr(bench, "helper", None):
            try:
                bench.helper.process.stdin.close()  # the helper ends at end of input
                bench.helper.process.wait(5)
            except Exception:
                pass
        processes.stop_all()
        if bench is not None:
            with contextlib.suppress(Exception):
                bench.redis.flushdb()
        if not args.keep_db:
            try:
                drop_database()
            except Exception as error:
                log(f"could not drop {DB_NAME}: {error}")
        log(f"process logs: {log_dir}")
    result["total_seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    args.out.write_text(text)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"run-{stamp}.json").write_text(text)
    print_table(result)
    log(
        f"results: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"
        f" (and bench/results/run-{stamp}.json); {result['total_seconds']} s in all"
    )
    ok = all(v["pass"] for block in result["by_workers"] for v in block["verdicts"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
