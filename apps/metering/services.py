"""What happens around a flush: keys' last-used times, and trimming the embedded store."""

from apps.keys.models import ApiKey
from apps.keys.services import api_keys_touch_last_used

from .events import CallEvent
from .flush import last_used_by_key
from .models import RequestLogEntry
from .stores.database_store import REQUEST_LOG_LENGTH, purge_expired_windows

# Later apps react to flushed usage (alert thresholds, webhooks): functions(events) -> None.
usage_listeners: list = []


def after_flush(events: list[CallEvent]) -> None:
    """`events`: what a flush counted for the first time (calls, orphans, refusals)."""
    by_id = last_used_by_key(events)
    public_ids = dict(ApiKey.objects.filter(pk__in=by_id).values_list("pk", "public_id"))
    api_keys_touch_last_used({public_ids[pk]: at for pk, at in by_id.items() if pk in public_ids})
    billed = [event for event in events if event.billed]
    if billed:
        for listener in usage_listeners:
            listener(billed)


def housekeeping() -> None:
    purge_expired_windows()
    trim_request_log()


def trim_request_log() -> None:
    """Keep the newest entries per subscription in the embedded store's request log."""
    from django.db.models import Count

    crowded = (
        RequestLogEntry.objects.values("subscription_id")
        .annotate(n=Count("id"))
        .filter(n__gt=REQUEST_LOG_LENGTH)
    )
    for row in crowded:
        keep = (
            RequestLogEntry.objects.filter(subscription_id=row["subscription_id"])
            .order_by("-id")
            .values_list("id", flat=True)[REQUEST_LOG_LENGTH - 1 : REQUEST_LOG_LENGTH]
        )
        RequestLogEntry.objects.filter(
            subscription_id=row["subscription_id"], id__lt=next(iter(keep))
        ).delete()
