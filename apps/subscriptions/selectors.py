"""Reads for plans and subscriptions."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Q, QuerySet

from apps.accounts.models import Organization
from apps.catalog.models import Api

from .models import (
    LIVE_STATUSES,
    Plan,
    PlanVisibility,
    PriceChangeStatus,
    Subscription,
    SubscriptionTerm,
)
from .periods import period_end_at


def public_plans(api: Api) -> QuerySet[Plan]:
    """The pricing table: public plans still taking subscribers."""
    return api.plans.filter(visibility=PlanVisibility.PUBLIC, archived_at=None)


def plan_by_invite(api: Api, token: str) -> Plan | None:
    return api.plans.filter(invite_token=token, archived_at=None).first()


def provider_plans(api: Api) -> QuerySet[Plan]:
    live = Q(subscriptions__status__in=LIVE_STATUSES)
    return api.plans.annotate(subscriber_count=Count("subscriptions", filter=live))


def subscriptions_of(organization: Organization) -> QuerySet[Subscription]:
    return organization.subscriptions.select_related(
        "api", "plan", "scheduled_plan", "api__organization", "price_version__plan"
    ).order_by("status", "api__name")


def live_subscription(organization: Organization, api: Api) -> Subscription | None:
    return (
        Subscription.objects.filter(organization=organization, api=api, status__in=LIVE_STATUSES)
        .select_related("plan")
        .first()
    )


def subscribers_of(api: Api) -> QuerySet[Subscription]:
    return api.subscriptions.select_related("organization", "plan").order_by("-created_at")


def subscription_for_member(organization: Organization, public_id: str) -> Subscription | None:
    return subscriptions_of(organization).filter(public_id=public_id).first()


def annotate_subscriber_count(queryset):
    """Catalog cards show how many organizations subscribe (live subscriptions)."""
    return queryset.annotate(
        subscriber_count=Count(
            "subscriptions", filter=Q(subscriptions__status__in=LIVE_STATUSES), distinct=True
        )
    )


@dataclass(frozen=True)
class Timeline:
    """A subscription's terms as the flush needs them: epoch seconds, oldest first."""

    anchor: datetime
    terms: tuple[tuple[float, float | None, int], ...]  # (start, end or None, term id)

    def term_at(self, epoch_seconds: float, period_start: int) -> int | None:
        """The term in force at a call's time, kept inside the billing period the call
        counted against (a call that ran past the period's end stays in its period)."""
        start = datetime.fromtimestamp(period_start, tz=UTC)
        end = period_end_at(self.anchor, start).timestamp()
        moment = min(max(epoch_seconds, float(period_start)), end - 0.001)
        for term_start, term_end, term_id in reversed(self.terms):
            if term_start <= moment and (term_end is None or moment < term_end):
                return term_id
        return None


def timelines_for(subscription_ids) -> dict[int, Timeline]:
    """The timelines of these subscriptions (those that have one)."""
    anchors = dict(
        Subscription.objects.filter(pk__in=subscription_ids).values_list("pk", "period_anchor")
    )
    terms: dict[int, list] = {}
    rows = (
        SubscriptionTerm.objects.filter(subscription_id__in=subscription_ids)
        .order_by("starts_at", "id")
        .values_list("subscription_id", "starts_at", "ends_at", "id")
    )
    for subscription_id, starts_at, ends_at, term_id in rows:
        end = ends_at.timestamp() if ends_at else None
        terms.setdefault(subscription_id, []).append((starts_at.timestamp(), end, term_id))
    return {
        pk: Timeline(anchor=anchors[pk], terms=tuple(found))
        for pk, found in terms.items()
        if pk in anchors
    }


def coming_price_changes(subscription: Subscription):
    """Price changes announced to this subscriber that have not taken effect yet."""
    return (
        subscription.price_changes.filter(status=PriceChangeStatus.SCHEDULED)
        .select_related("from_version__plan", "to_version__plan")
        .order_by("effective_at")
    )


def price_versions_of(plan: Plan) -> list:
    """The plan's price versions, newest first, each with its live subscribers counted
    (`subscriber_count`) and those already told of a move to a newer one (`moving_count`)."""
    from .models import PriceVersion

    live = Q(subscriptions_on__status__in=LIVE_STATUSES)
    moving = live & Q(subscriptions_on__price_changes__status=PriceChangeStatus.SCHEDULED)
    return list(
        PriceVersion.objects.filter(plan=plan)
        .annotate(
            subscriber_count=Count("subscriptions_on", filter=live, distinct=True),
            moving_count=Count("subscriptions_on", filter=moving, distinct=True),
        )
        .order_by("-number")
    )
