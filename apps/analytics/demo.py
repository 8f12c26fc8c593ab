"""A week of believable traffic on the demo consumer's pay-per-call QR subscription, so the
provider's and the consumer's dashboards have something to show after `make run`."""

import random
from datetime import timedelta

from django.utils import timezone

from apps.keys.models import ApiKey
from apps.metering.events import CallEvent
from apps.metering.flush import apply_events
from apps.metering.models import UsageAggregate
from apps.subscriptions.models import Subscription

HOURS = 7 * 24


def seed(demo: dict) -> None:
    subscription = Subscription.objects.filter(
        organization=demo["consumer_org"], api__slug="qr-codes"
    ).first()
    if subscription is None or UsageAggregate.objects.filter(subscription=subscription).exists():
        return
    key = ApiKey.objects.filter(organization=demo["consumer_org"]).first()
    endpoint = subscription.api.endpoints.filter(method="GET").first()
    apply_events(list(_events(subscription, key, endpoint)))


def _events(subscription, key, endpoint):
    rng = random.Random(42)  # the same week every time
    now = timezone.now()
    start = max(subscription.current_period_start, now - timedelta(hours=HOURS))
    period = int(subscription.current_period_start.timestamp())
    hours = int((now - start).total_seconds() // 3600)
    for hour in range(hours):
        at = start + timedelta(hours=hour)
        daytime = 8 <= at.hour <= 20
        for n in range(rng.randint(30, 90) if daytime else rng.randint(2, 15)):
            status = rng.choices([200, 400, 429, 500], weights=[95, 3, 1, 1])[0]
            yield CallEvent(
                ts_ms=int(at.timestamp() * 1000) + n * 997,
                subscription_id=subscription.pk,
                api_key_id=key.pk if key else None,
                endpoint_id=endpoint.pk if endpoint else None,
                period_start=period,
                status=status,
                latency_ms=int(rng.lognormvariate(3.4, 0.5)),
                units_micro=1_000_000 if status < 500 else 0,
                gateway_error=status == 429,
                bytes_in=0,
                bytes_out=rng.randint(300, 1200),
            )
