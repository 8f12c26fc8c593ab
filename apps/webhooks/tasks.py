"""Webhook jobs. Each takes ids and is idempotent: a repeat, or two workers at once, send
nothing twice (the attempt is claimed with a conditional update)."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def deliver(delivery_id: int) -> None:
    """One attempt of one delivery, if it is due; enqueued after the commit that made it."""
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def retry_due_deliveries() -> int:
    """Beat, every minute: fan the due deliveries out to the workers."""
    due = services.due_delivery_ids()
    for delivery_id in due:
        deliver.delay(delivery_id)
    return len(due)


@shared_task(ignore_result=True)
def purge_old_webhook_events() -> int:
    """Beat, daily: events and deliveries past WEBHOOK_RETENTION_DAYS (default 30)."""
    return services.purge_old_events()
