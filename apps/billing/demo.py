"""A paid demo subscription with a closed period: its invoices (one paid) and therefore the
provider's earnings, so money is visible right after `make run`."""

from datetime import timedelta

from django.utils import timezone

from apps.keys.models import ApiKey
from apps.metering.events import CallEvent
from apps.metering.flush import apply_events
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import Plan, Subscription

from . import services
from .models import InvoiceStatus

DEMO_UNITS_FIRST_PERIOD = 62_000  # 12,000 over Pro's 50,000 included


def seed(demo: dict) -> None:
    consumer, organization = demo["consumer_user"], demo["consumer_org"]
    plan = Plan.objects.get(api__slug="text-stats", name="Pro")
    subscription = Subscription.objects.filter(organization=organization, api=plan.api).first()
    if subscription is None:
        started = (timezone.now() - timedelta(days=35)).replace(minute=0, second=0)
        subscription = subscription_services.subscription_create(
            actor=consumer, organization=organization, plan=plan, now=started
        ).subscription
        Subscription.objects.filter(pk=subscription.pk).update(created_at=started)
        _usage(subscription)
    first = services.invoice_first_period(subscription)
    services.close_period(subscription.pk)
    if first is not None and first.status == InvoiceStatus.OPEN:
        services.invoice_mark_paid(invoice=first, actor=demo["staff_user"])


def _usage(subscription: Subscription) -> None:
    """A month of calls over the closed period, written the way the flush writes them."""
    start = subscription.current_period_start
    days = (subscription.current_period_end - start).days
    key = ApiKey.objects.filter(organization=subscription.organization).first()
    endpoint = subscription.api.endpoints.order_by("pk").first()
    calls_per_day = DEMO_UNITS_FIRST_PERIOD // 2 // days
    events = []
    for day in range(days):
        calls = calls_per_day + (
            DEMO_UNITS_FIRST_PERIOD // 2 - calls_per_day * days if day == 0 else 0
        )
        at_ms = int((start + timedelta(days=day, hours=3)).timestamp() * 1000)
        events += [
            CallEvent(
                ts_ms=at_ms + n,
                subscription_id=subscription.pk,
                api_key_id=key.pk if key else None,
                endpoint_id=endpoint.pk if endpoint else None,
                period_start=int(start.timestamp()),
                status=200,
                latency_ms=20 + n % 90,
                units_micro=2_000_000,
                gateway_error=False,
                bytes_in=400,
                bytes_out=900,
            )
            for n in range(calls)
        ]
    apply_events(events)
