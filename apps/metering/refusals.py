"""Refused calls: what the flush writes from the gateway's refusal events, and what the
usage pages read. Kept apart from the aggregates: a refusal is never billed and never
counts against a quota, so nothing that rates usage ever reads these rows."""

from datetime import UTC, datetime

from django.db.models import Sum

from .events import REFUSED, CallEvent
from .models import RefusedCalls


def _when(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def refusal_counts(events: list[CallEvent]) -> dict[tuple, list[int]]:
    """Pure: refusal events → [calls, status] per row key (key, subscription, API, period,
    code, hour)."""
    counts: dict[tuple, list[int]] = {}
    for event in events:
        if event.kind != REFUSED:
            continue
        bucket = (
            event.api_key_id,
            event.subscription_id or None,
            event.api_id or None,
            _when(event.period_start) if event.period_start else None,
            event.code,
            _when(event.ts_ms // 1000 // 3600 * 3600),
        )
        counts.setdefault(bucket, [0, event.status])[0] += event.count
    return counts


FIELDS = ("api_key_id", "subscription_id", "api_id", "period_start", "code", "hour")


def apply_refusals(events: list[CallEvent]) -> int:
    """Adds refusal events to the hourly refusal counts. Call inside the flush's transaction
    (the events are the ones it claimed: each request id once)."""
    counts = refusal_counts(events)
    if not counts:
        return 0
    existing = {
        tuple(getattr(row, field) for field in FIELDS): row
        for row in RefusedCalls.objects.select_for_update().filter(
            api_key_id__in={bucket[0] for bucket in counts},
            hour__in={bucket[5] for bucket in counts},
        )
    }
    to_create, to_update = [], []
    for bucket, (calls, status) in counts.items():
        row = existing.get(bucket)
        if row is None:
            values = dict(zip(FIELDS, bucket, strict=True))
            to_create.append(RefusedCalls(**values, status=status, calls=calls))
        else:
            row.calls += calls
            to_update.append(row)
    RefusedCalls.objects.bulk_create(to_create, batch_size=500)
    RefusedCalls.objects.bulk_update(to_update, ["calls"], batch_size=500)
    return len(counts)


# --- Reads ----------------------------------------------------------------------------------
def period_refusals(subscription, period_start: datetime) -> dict:
    """A subscription's refused calls in one billing period: the total, by code (with its
    status) and by key id."""
    rows = RefusedCalls.objects.filter(subscription=subscription, period_start=period_start)
    by_key = {r["api_key_id"]: r["n"] for r in rows.values("api_key_id").annotate(n=Sum("calls"))}
    return {**refusals_by_code(rows), "by_key": by_key}


def refusals_by_code(rows) -> dict:
    """Refusal rows added up: the total and, per code (with its status), the calls."""
    by_code = [
        {"code": r["code"], "status": r["status"], "calls": r["n"]}
        for r in rows.values("code", "status").annotate(n=Sum("calls")).order_by("-n", "code")
    ]
    return {"total": sum(r["calls"] for r in by_code), "by_code": by_code}


def refusals_of_apis(organization, rng, api=None):
    """The refusal rows of a provider's APIs in the range (every consumer's, no key ids)."""
    rows = RefusedCalls.objects.filter(
        api__organization=organization, hour__gte=rng.start, hour__lt=rng.end
    )
    return rows if api is None else rows.filter(api=api)


def refusals_of_keys(key_ids, rng):
    """The refusal rows of these keys in the range (`rng.start` to `rng.end`): a consumer's
    (refusals with no subscription — not subscribed, key restricted — are found by key)."""
    return RefusedCalls.objects.filter(
        api_key_id__in=key_ids, hour__gte=rng.start, hour__lt=rng.end
    )
