from decimal import Decimal

import pytest

from apps.accounts.models import Notification
from apps.billing import alerts
from apps.metering.events import CallEvent
from apps.metering.models import UsageAggregate
from apps.subscriptions.services import subscription_create
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(owner, org, other_org):
    plan = PlanFactory(
        api=ApiFactory(organization=other_org),
        included_units=100,
        hard_limit=False,
        unit_price=Decimal("0.10"),
    )
    return subscription_create(actor=owner, organization=org, plan=plan).subscription


def _use(subscription, units):
    row, _ = UsageAggregate.objects.get_or_create(
        subscription=subscription,
        api_key_id=1,
        endpoint=None,
        hour=subscription.current_period_start,
        period_start=subscription.current_period_start,
        defaults={"latency_histogram": [0] * 13},
    )
    row.billable_units = Decimal(units)
    row.save()
    event = CallEvent(
        ts_ms=0,
        subscription_id=subscription.pk,
        api_key_id=1,
        endpoint_id=None,
        period_start=0,
        status=200,
        latency_ms=1,
        units_micro=0,
        gateway_error=False,
        bytes_in=0,
        bytes_out=0,
    )
    alerts.check_after_flush([event])


def _fired():
    return list(Notification.objects.filter(kind="usage.threshold").values_list("title", flat=True))


def test_each_threshold_fires_once_per_period(owner, subscription):
    alerts.alerts_set(
        actor=owner, subscription=subscription, basis="included_units", percents=[50, 80, 100]
    )
    _use(subscription, 40)
    assert _fired() == []
    _use(subscription, 55)
    assert len(_fired()) == 1 and "50%" in _fired()[0]
    _use(subscription, 60)
    assert len(_fired()) == 1  # not again
    _use(subscription, 130)
    assert len(_fired()) == 3


def test_spend_cap_thresholds_use_the_rating_engine(owner, subscription):
    subscription.spend_cap = Decimal("10.00")
    subscription.save()
    alerts.alerts_set(actor=owner, subscription=subscription, basis="spend_cap", percents=[50])
    _use(subscription, 140)  # 40 over × $0.10 = $4.00 → 40% of the cap
    assert _fired() == []
    _use(subscription, 151)  # $5.10 → 51%
    assert len(_fired()) == 1


def test_only_billing_roles_set_alerts(member, subscription):
    from apps.core.errors import Forbidden

    with pytest.raises(Forbidden):
        alerts.alerts_set(actor=member, subscription=subscription, basis="spend_cap", percents=[50])
