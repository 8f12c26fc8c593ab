"""Usage for billing tests, recorded the way the gateway and the flush record it: one call
event per batch of units at a moment, aggregated by the flush (which notes the term in force
at that moment)."""

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from apps.metering.events import CallEvent
from apps.metering.flush import apply_events
from apps.subscriptions.models import Subscription
from apps.subscriptions.periods import period_containing


def gateway_period_start(subscription: Subscription, at: datetime) -> datetime:
    """The period a call at `at` counts against, as the gateway decides it: the current
    one, or (before billing rolled the subscription on) the one containing `at`."""
    if at < subscription.current_period_end:
        return subscription.current_period_start
    return period_containing(subscription.period_anchor, at)[0]


def record_usage(
    subscription: Subscription,
    units,
    *,
    at: datetime,
    period_start: datetime | None = None,
    api_key_id: int = 1,
) -> None:
    """`units` billable units used at `at` (written through the flush's aggregation)."""
    period_start = period_start or gateway_period_start(subscription, at)
    with transaction.atomic():  # as the flush writes aggregates
        _apply(subscription, units, at, period_start, api_key_id)


def _apply(subscription, units, at, period_start, api_key_id) -> None:
    apply_events(
        [
            CallEvent(
                ts_ms=int(at.timestamp() * 1000),
                subscription_id=subscription.pk,
                api_key_id=api_key_id,
                endpoint_id=None,
                period_start=int(period_start.timestamp()),
                status=200,
                latency_ms=5,
                units_micro=int(Decimal(units) * 1_000_000),
                gateway_error=False,
                bytes_in=0,
                bytes_out=0,
            )
        ]
    )
