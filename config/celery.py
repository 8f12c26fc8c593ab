"""Celery application. Tasks are enqueued after commit (`task.delay_on_commit(...)`), take ids,
and are idempotent; the beat schedule lives in settings (CELERY_BEAT_SCHEDULE)."""

import os
from pathlib import Path

from celery import Celery

from apps.core.metrics import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("tollgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
connect_celery_signals()


def ensure_local_folders() -> None:
    """The filesystem transport (embedded default) needs its folders to exist, and beat the
    folder of its schedule file: nothing else creates them in a fresh checkout or deploy."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    schedule = app.conf.beat_schedule_filename
    if schedule:
        Path(schedule).parent.mkdir(parents=True, exist_ok=True)


ensure_local_folders()
