"""Reads for plans and subscriptions."""

from django.db.models import Count, Q, QuerySet

from apps.accounts.models import Organization
from apps.catalog.models import Api

from .models import LIVE_STATUSES, Plan, PlanVisibility, Subscription


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
        "api", "plan", "scheduled_plan", "api__organization"
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
