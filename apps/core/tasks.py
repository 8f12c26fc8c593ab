"""Core housekeeping jobs."""

from celery import shared_task

from .idempotency import purge_expired


@shared_task(ignore_result=True)
def purge_idempotency_records() -> int:
    """Beat, nightly: forget Idempotency-Key answers older than 24 hours."""
    return purge_expired()
