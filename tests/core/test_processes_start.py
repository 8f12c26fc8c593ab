"""The Procfile's worker and beat start from a fresh checkout under the production settings:
no `.run/`, no `control/`, nothing made by hand. Beat used to exit at once, its schedule
file being under a `.run/` that a deploy never creates, so nothing was flushed or invoiced."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP = {".git", ".venv", ".run", "staticfiles", "node_modules", "__pycache__", "db.sqlite3"}


def fresh_checkout(target: Path) -> Path:
    """The repository's files as a clone has them: no run state, no virtualenv."""
    shutil.copytree(REPO, target, ignore=lambda _dir, names: [n for n in names if n in SKIP])
    assert not (target / ".run").exists()
    return target


def production_env(tmp_path: Path, *, needs_broker: bool) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "RUN_DIR"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="start-test-secret",
        TMPDIR=str(tmp_path / "tmp"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    if env.get("REDIS_URL"):  # a broker database of its own: take nobody's tasks
        env["CELERY_BROKER_URL"] = env["REDIS_URL"].rsplit("/", 1)[0] + "/14"
    elif not needs_broker:
        # production runs on Redis, so nothing creates .run/ for the filesystem broker: beat
        # must start (and wait for the broker) with no local folders made for it
        env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    (tmp_path / "tmp").mkdir()
    return env


def wait_for(process: subprocess.Popen, log: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace") if log.exists() else ""
        if text in output:
            return output
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} before {text!r}:\n{output[-3000:]}")
        time.sleep(0.3)
    pytest.fail(f"no {text!r} within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def start(checkout: Path, env: dict, log: Path, *args: str) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    with log.open("w") as out:
        return subprocess.Popen(
            [str(celery), "-A", "config", *args, "--loglevel=INFO"],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    ("args", "ready"),
    [
        (("beat",), "beat: Starting"),
        (("worker", "--pool=solo", "--concurrency=1"), "ready."),
    ],
    ids=["beat", "worker"],
)
def test_it_starts_from_a_fresh_checkout_with_production_settings(tmp_path, args, ready):
    checkout = fresh_checkout(tmp_path / "clone")
    log = tmp_path / "process.log"
    env = production_env(tmp_path, needs_broker=args[0] == "worker")
    process = start(checkout, env, log, *args)
    try:
        wait_for(process, log, ready)
        time.sleep(3)  # beat writes its schedule file after starting: still alive then?
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
    finally:
        stop(process)
    assert not (checkout / "control").exists(), "kombu wrote its control folder into the cwd"
    if args[0] == "beat":
        schedule = tmp_path / "tmp" / "tollgate"
        assert any(schedule.glob("celerybeat-schedule*")), "beat kept no schedule"
