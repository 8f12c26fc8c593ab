"""The flush records each call with the subscription's term (plan and price version) in
force when the call was made, decided from the call's own time: a call flushed after a
plan change is still rated under the plan it was made under."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine

from apps.metering.models import UsageAggregate
from apps.subscriptions import services
from apps.subscriptions.models import SubscriptionTerm
from tests.billing.usage import record_usage
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db
APR_1 = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def plans(other_org):
    api = ApiFactory(organization=other_org)
    basic = PlanFactory(api=api, name="Basic", monthly_fee=D("10"), hard_limit=False)
    pro = PlanFactory(api=api, name="Pro", monthly_fee=D("40"), hard_limit=False)
    return basic, pro


def _units_by_term(subscription) -> dict[str, D]:
    names = dict(SubscriptionTerm.objects.values_list("pk", "plan__name"))
    found: dict[str, D] = {}
    for row in UsageAggregate.objects.filter(subscription=subscription):
        name = names.get(row.term_id)
        found[name] = found.get(name, D(0)) + row.billable_units
    return found


def test_calls_are_recorded_under_the_terms_in_force_when_they_were_made(owner, org, plans):
    basic, pro = plans
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=basic, now=APR_1
    ).subscription
    with time_machine.travel(datetime(2026, 4, 16, tzinfo=UTC), tick=False):
        services.subscription_change_plan(actor=owner, subscription=subscription, plan=pro)
    # both flushed after the change: one made before it, one after
    record_usage(subscription, 7, at=datetime(2026, 4, 15, 23, 59, tzinfo=UTC))
    record_usage(subscription, 5, at=datetime(2026, 4, 16, 0, 0, 1, tzinfo=UTC))
    assert _units_by_term(subscription) == {"Basic": 7, "Pro": 5}


def test_a_call_that_ran_past_its_period_stays_in_it_under_its_last_terms(owner, org, plans):
    basic, pro = plans
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=pro, now=APR_1
    ).subscription
    with time_machine.travel(datetime(2026, 4, 20, tzinfo=UTC), tick=False):
        services.subscription_change_plan(actor=owner, subscription=subscription, plan=basic)
    # admitted in April, recorded on May 1 after Basic (scheduled for May) took over
    late_end = datetime(2026, 5, 1, 0, 0, 30, tzinfo=UTC)
    record_usage(subscription, 3, at=late_end, period_start=APR_1)
    record_usage(subscription, 4, at=late_end + timedelta(seconds=1))  # a May call
    rows = UsageAggregate.objects.filter(subscription=subscription)
    april = {row.term_id for row in rows if row.period_start == APR_1}
    may = {row.term_id for row in rows if row.period_start != APR_1}
    assert _units_by_term(subscription) == {"Pro": 3, "Basic": 4}
    assert april != may
