"""The subscription state machine: every allowed and refused transition."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from apps.accounts.models import Membership
from apps.core.errors import Conflict, Forbidden, NotFound
from apps.core.models import AuditLog
from apps.subscriptions import services
from apps.subscriptions.models import PlanVisibility, Subscription, SubscriptionStatus
from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db
S = SubscriptionStatus


@pytest.fixture
def free_plan(other_org):
    return PlanFactory(api=ApiFactory(organization=other_org))


@pytest.fixture
def paid_plan(free_plan):
    return PlanFactory(
        api=free_plan.api,
        name="Pro",
        monthly_fee=Decimal("29"),
        included_units=10_000,
        unit_price=Decimal("0.0004"),
        hard_limit=False,
    )


class CardFirst(services.CollectionHooks):
    def card_required(self, subscription):
        return True

    def checkout_url(self, subscription):
        return f"https://checkout.stripe.test/{subscription.public_id}"


@pytest.fixture
def with_stripe(monkeypatch):
    monkeypatch.setattr(services, "collection_hooks", CardFirst())


def _subscribe(owner, org, plan, **kwargs):
    return services.subscription_create(actor=owner, organization=org, plan=plan, **kwargs)


def test_free_plans_start_at_once(owner, org, free_plan):
    subscription = _subscribe(owner, org, free_plan).subscription
    assert subscription.status == S.ACTIVE and not subscription.manual_invoicing
    assert subscription.current_period_end > subscription.current_period_start
    assert AuditLog.objects.filter(action="subscription.created").exists()


def test_paid_plans_without_stripe_start_at_once_under_manual_invoicing(owner, org, paid_plan):
    subscription = _subscribe(owner, org, paid_plan).subscription
    assert subscription.status == S.ACTIVE and subscription.manual_invoicing


def test_paid_plans_with_stripe_wait_for_a_card(owner, org, paid_plan, with_stripe):
    result = _subscribe(owner, org, paid_plan)
    assert result.subscription.status == S.PENDING_PAYMENT
    assert result.checkout_url.startswith("https://checkout.stripe.test/sub_")
    started = services.subscription_payment_confirmed(subscription=result.subscription)
    assert started.status == S.ACTIVE
    again = services.subscription_payment_confirmed(subscription=started)  # a repeat webhook
    assert again.status == S.ACTIVE


def test_trials_start_trialing_and_become_active_at_renewal(owner, org, paid_plan):
    paid_plan.trial_days = 14
    paid_plan.save()
    subscription = _subscribe(owner, org, paid_plan).subscription
    assert subscription.status == S.TRIALING
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=1)):
        renewed = services.subscription_renew(subscription=subscription)
    assert renewed.status == S.ACTIVE


def test_one_live_subscription_per_organization_and_api(owner, org, free_plan, paid_plan):
    _subscribe(owner, org, free_plan)
    with pytest.raises(Conflict, match="already subscribe"):
        _subscribe(owner, org, paid_plan)


@pytest.mark.django_db(transaction=True)
def test_concurrent_subscribes_make_one_subscription(owner, org, free_plan):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")

    def attempt(_):
        from django.db import connections

        try:
            return _subscribe(owner, org, free_plan).subscription.pk
        except Conflict:
            return None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert len([r for r in results if r]) == 1
    assert Subscription.objects.filter(organization=org).count() == 1


def test_payment_failure_and_recovery(owner, org, paid_plan):
    subscription = _subscribe(owner, org, paid_plan).subscription
    failed = services.subscription_payment_failed(subscription=subscription)
    assert failed.status == S.PAST_DUE and failed.past_due_since is not None
    assert (
        services.subscription_payment_failed(subscription=failed).past_due_since
        == failed.past_due_since
    )  # a duplicate webhook changes nothing
    recovered = services.subscription_payment_recovered(subscription=failed)
    assert recovered.status == S.ACTIVE and recovered.past_due_since is None


def test_refused_transitions(owner, org, paid_plan, with_stripe):
    pending = _subscribe(owner, org, paid_plan).subscription
    with pytest.raises(Conflict):
        services.subscription_change_plan(
            actor=owner, subscription=pending, plan=PlanFactory(api=paid_plan.api)
        )
    canceled = services.subscription_cancel(actor=owner, subscription=pending)
    assert canceled.status == S.CANCELED  # unpaid: ends at once
    with pytest.raises(Conflict):
        services.subscription_cancel(actor=owner, subscription=canceled)
    with pytest.raises(Conflict):
        services.subscription_resume(actor=owner, subscription=canceled)


def test_cancelling_free_ends_now_and_paid_at_period_end(owner, org, free_plan, paid_plan):
    free = _subscribe(owner, org, free_plan).subscription
    assert services.subscription_cancel(actor=owner, subscription=free).status == S.CANCELED
    paid = _subscribe(owner, org, paid_plan).subscription
    paid = services.subscription_cancel(actor=owner, subscription=paid)
    assert paid.status == S.ACTIVE and paid.cancel_at_period_end
    resumed = services.subscription_resume(actor=owner, subscription=paid)
    assert not resumed.cancel_at_period_end
    services.subscription_cancel(actor=owner, subscription=resumed)
    with time_machine.travel(paid.current_period_end + timedelta(seconds=1)):
        ended = services.subscription_renew(subscription=paid)
    assert ended.status == S.CANCELED


def test_upgrades_apply_now_and_downgrades_at_period_end(owner, org, free_plan, paid_plan):
    subscription = _subscribe(owner, org, free_plan).subscription
    upgraded = services.subscription_change_plan(
        actor=owner, subscription=subscription, plan=paid_plan
    )
    assert upgraded.plan == paid_plan and upgraded.scheduled_plan is None
    downgraded = services.subscription_change_plan(
        actor=owner, subscription=upgraded, plan=free_plan
    )
    assert downgraded.plan == paid_plan and downgraded.scheduled_plan == free_plan
    with time_machine.travel(downgraded.current_period_end + timedelta(seconds=1)):
        renewed = services.subscription_renew(subscription=downgraded)
    assert renewed.plan == free_plan and renewed.scheduled_plan is None
    assert renewed.current_period_start == downgraded.current_period_end


def test_renewal_is_idempotent(owner, org, free_plan):
    subscription = _subscribe(owner, org, free_plan).subscription
    with time_machine.travel(subscription.current_period_end + timedelta(seconds=1)):
        first = services.subscription_renew(subscription=subscription)
        second = services.subscription_renew(subscription=first)
    assert first.current_period_start == second.current_period_start


def test_periods_are_anchored_at_the_start(owner, org, free_plan):
    start = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=free_plan, now=start
    ).subscription
    ends = []
    for _ in range(3):
        with time_machine.travel(subscription.current_period_end + timedelta(seconds=1)):
            subscription = services.subscription_renew(subscription=subscription)
        ends.append(subscription.current_period_start.date().isoformat())
    assert ends == ["2026-02-28", "2026-03-31", "2026-04-30"]


def test_archived_and_private_plans(owner, org, free_plan, paid_plan):
    paid_plan.archived_at = timezone.now()
    paid_plan.save()
    with pytest.raises(Conflict, match="no longer"):
        _subscribe(owner, org, paid_plan)
    free_plan.visibility = PlanVisibility.PRIVATE
    free_plan.save()
    with pytest.raises(NotFound):
        _subscribe(owner, org, free_plan)
    assert (
        _subscribe(owner, org, free_plan, invite_token=free_plan.invite_token).subscription.status
        == S.ACTIVE
    )


def test_developers_cannot_buy_paid_plans_and_outsiders_cannot_act(
    owner, member, org, paid_plan, outsider
):
    with pytest.raises(Forbidden):
        _subscribe(member, org, paid_plan)
    subscription = _subscribe(owner, org, paid_plan).subscription
    with pytest.raises(NotFound):
        services.subscription_cancel(actor=outsider, subscription=subscription)


def test_suspended_consumers_cannot_subscribe(owner, org, free_plan):
    org.suspended_at = timezone.now()
    org.save()
    with pytest.raises(Forbidden):
        _subscribe(owner, org, free_plan)


def test_providers_cannot_delete_plans_with_subscribers(owner, org, free_plan):
    _subscribe(owner, org, free_plan)
    provider = Membership.objects.filter(organization=free_plan.api.organization).first()
    actor = provider.user if provider else None
    if actor is None:
        from tests.factories import MembershipFactory

        actor = MembershipFactory(organization=free_plan.api.organization).user
    with pytest.raises(Conflict, match="archive"):
        services.plan_delete(actor=actor, plan=free_plan)


def test_the_provider_hears_about_new_and_canceled_subscriptions(owner, org, free_plan):
    from apps.accounts.models import Notification

    subscription = _subscribe(owner, org, free_plan).subscription
    services.subscription_cancel(actor=owner, subscription=subscription)
    kinds = list(
        Notification.objects.filter(organization=free_plan.api.organization).values_list(
            "kind", flat=True
        )
    )
    assert "subscription.created" in kinds and "subscription.canceled" in kinds


def test_a_trial_is_its_own_first_period_then_months_anchor_at_its_end(owner, org, paid_plan):
    paid_plan.trial_days = 14
    paid_plan.save()
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    subscription = services.subscription_create(
        actor=owner, organization=org, plan=paid_plan, now=start
    ).subscription
    assert subscription.current_period_end == datetime(2026, 3, 15, 9, 0, tzinfo=UTC)
    with time_machine.travel(subscription.current_period_end + timedelta(seconds=1)):
        subscription = services.subscription_renew(subscription=subscription)
    assert subscription.status == S.ACTIVE
    assert (subscription.current_period_start, subscription.current_period_end) == (
        datetime(2026, 3, 15, 9, 0, tzinfo=UTC),
        datetime(2026, 4, 15, 9, 0, tzinfo=UTC),
    )


def test_cancelling_and_subscribing_again_does_not_start_a_second_trial(owner, org, paid_plan):
    paid_plan.trial_days = 14
    paid_plan.save()
    first = _subscribe(owner, org, paid_plan).subscription
    assert first.status == S.TRIALING and first.trial_ends_at is not None
    services.subscription_cancel(actor=owner, subscription=first, at_once=True)
    again = _subscribe(owner, org, paid_plan).subscription
    assert again.status == S.ACTIVE
    assert again.trial_ends_at is None
    # no trial: the first period is a whole month from today, not the trial's days
    assert again.current_period_end - again.current_period_start >= timedelta(days=28)


def test_a_trial_on_another_api_is_still_offered(owner, org, paid_plan, other_org):
    paid_plan.trial_days = 14
    paid_plan.save()
    first = _subscribe(owner, org, paid_plan).subscription
    services.subscription_cancel(actor=owner, subscription=first, at_once=True)
    elsewhere = PlanFactory(
        api=ApiFactory(organization=other_org), monthly_fee=Decimal("5"), trial_days=7
    )
    assert _subscribe(owner, org, elsewhere).subscription.status == S.TRIALING
