"""Celery task results reach /metrics through Celery's signals (tests run tasks eagerly,
which sends the same signals a worker does)."""

import os
import subprocess
import sys

import pytest
from celery import shared_task
from django.conf import settings

from apps.core.metrics import connect_celery_signals
from tests.observability.conftest import METRICS_URLS, samples, value

pytestmark = [pytest.mark.urls(METRICS_URLS), pytest.mark.django_db]

FLUSH = "apps.metering.tasks.flush_usage"
BROKEN = "tests.observability.broken"
FLAKY = "tests.observability.flaky"
attempts: list[int] = []


@shared_task(name=BROKEN)
def broken() -> None:
    raise RuntimeError("this task always fails")


@shared_task(name=FLAKY, bind=True, max_retries=3)
def flaky(self) -> str:
    attempts.append(self.request.retries)
    if self.request.retries < 1:
        raise self.retry(countdown=0)
    return "done"


@pytest.fixture(autouse=True)
def _signals_connected():
    connect_celery_signals()
    connect_celery_signals()  # twice on purpose: still counted once


def _delta(before, after, task: str, result: str) -> float:
    name = "tollgate_celery_tasks_total"
    return value(after, name, task=task, result=result) - value(
        before, name, task=task, result=result
    )


def test_a_successful_task_is_counted_and_timed(scrape, settings):
    from apps.metering.tasks import flush_usage

    settings.REDIS_URL = ""
    before = samples(scrape())
    flush_usage.delay()
    flush_usage.apply()
    after = samples(scrape())
    assert _delta(before, after, FLUSH, "success") == 2
    assert _delta(before, after, FLUSH, "failure") == 0
    runs = "tollgate_celery_task_seconds_count"
    assert value(after, runs, task=FLUSH) - value(before, runs, task=FLUSH) == 2


def test_a_failing_task_is_counted(scrape):
    before = samples(scrape())
    # throw=False runs it as a worker does; an eager run that re-raises (the test
    # settings' default) leaves Celery before it sends task_failure
    assert broken.apply(throw=False).failed()
    assert broken.apply(throw=False).failed()
    after = samples(scrape())
    assert _delta(before, after, BROKEN, "failure") == 2
    assert _delta(before, after, BROKEN, "success") == 0


def test_retries_are_counted_apart_from_the_final_result(scrape):
    attempts.clear()
    before = samples(scrape())
    result = flaky.apply(throw=False)  # eagerly, a retry runs again at once
    after = samples(scrape())
    assert attempts == [0, 1]
    assert result.get() == "done"
    assert _delta(before, after, FLAKY, "retry") == 1
    assert _delta(before, after, FLAKY, "success") == 1
    assert _delta(before, after, FLAKY, "failure") == 0


def test_config_celery_can_connect_the_signals_before_django_is_set_up():
    """config/celery.py runs while settings load (config/__init__.py imports it), before
    the app registry is ready: connect_celery_signals must be importable there."""
    code = (
        "import config.celery\n"
        "from apps.core.metrics import connect_celery_signals\n"
        "connect_celery_signals()\n"
        "from celery import signals\n"
        "assert signals.task_failure.receivers\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
