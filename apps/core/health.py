"""Liveness and readiness. /readyz checks what a request needs: the database, the counter
store (Redis when configured) and the Celery broker."""

import time

from django.conf import settings
from django.db import connection


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured (embedded store)"
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_broker() -> str:
    from config.celery import app

    url = app.conf.broker_url or ""
    if url.startswith(("filesystem://", "memory://")):
        return f"ok ({url.split(':')[0]} transport)"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=1)
    return "ok"


def check_counter_store() -> str:
    """Redis for the gateway's counters: reachable, and persisting usage (the metering app
    says how; core does not import it)."""
    from django.apps import apps

    if apps.is_installed("apps.metering"):
        from importlib import import_module

        return import_module("apps.metering.observability").check_counter_store()
    return check_redis()


CHECKS = {"database": check_database, "counter_store": check_counter_store, "broker": check_broker}


def run_checks() -> tuple[bool, dict]:
    results, healthy = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            status = check()
        except Exception as error:  # any failure means "not ready"; say which and why
            healthy = False
            status = f"error: {type(error).__name__}: {error}"[:200]
        results[name] = {"status": status, "ms": round((time.monotonic() - started) * 1000, 1)}
    return healthy, results
