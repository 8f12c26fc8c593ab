"""A paid demo subscription with a closed period: its invoices (one paid) and therefore the
provider's earnings, so money is visible right after `make run`."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.metering.models import LATENCY_BUCKETS_MS, UsageAggregate
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
        _usage(subscription)
    first = services.invoice_first_period(subscription)
    services.close_period(subscription.pk)
    if first is not None and first.status == InvoiceStatus.OPEN:
        services.invoice_mark_paid(invoice=first, actor=demo["staff_user"])


def _usage(subscription: Subscription) -> None:
    """A month of calls, spread over the closed period's days."""
    start = subscription.current_period_start
    days = (subscription.current_period_end - start).days
    per_day = DEMO_UNITS_FIRST_PERIOD // days
    for day in range(days):
        units = per_day + (DEMO_UNITS_FIRST_PERIOD - per_day * days if day == 0 else 0)
        histogram = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        histogram[3], histogram[4], histogram[6] = (
            units // 2,
            units // 3,
            units - units // 2 - units // 3,
        )
        UsageAggregate.objects.create(
            subscription=subscription,
            api_key_id=None,
            endpoint=None,
            hour=start + timedelta(days=day, hours=2),
            period_start=start,
            calls=units,
            billable_calls=units,
            billable_units=Decimal(units),
            status_2xx=units,
            latency_ms_sum=units * 60,
            latency_histogram=histogram,
            bytes_in=units * 400,
            bytes_out=units * 900,
        )
