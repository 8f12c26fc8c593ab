"""Cache-miss loaders: the only place the gateway touches the ORM (synchronously, through
sync_to_async). Each returns a snapshot, or None for "does not exist" (cached briefly)."""

from decimal import Decimal

from django.conf import settings

from apps.accounts.models import Organization
from apps.catalog.models import Api, ApiStatus
from apps.keys.selectors import key_by_hash
from apps.subscriptions.models import LIVE_STATUSES, Plan, Subscription
from apps.subscriptions.trials import in_trial

from .snapshots import (
    UNIT_MICRO,
    ApiSnapshot,
    KeySnapshot,
    OrganizationSnapshot,
    PlanSnapshot,
    SubscriptionSnapshot,
    _epoch,
    path_pattern,
)


def load_api(slug: str) -> ApiSnapshot | None:
    api = Api.objects.filter(slug=slug).first()
    if api is None:
        return None
    endpoints = api.endpoints.filter(removed_at=None).values_list("id", "method", "path")
    # literal paths before templated ones, so /users/me wins over /users/{id}
    ordered = sorted(endpoints, key=lambda e: (e[2].count("{"), -len(e[2])))
    return ApiSnapshot(
        id=api.pk,
        slug=api.slug,
        published=api.status == ApiStatus.PUBLISHED,
        organization_id=api.organization_id,
        upstream_url=api.upstream_url.rstrip("/"),
        connect_timeout_s=float(api.upstream_connect_timeout_s),
        read_timeout_s=float(api.upstream_timeout_s),
        proxy_secret=api.proxy_secret,
        signing_secret=api.signing_secret,
        routes=tuple((method, path_pattern(path), pk) for pk, method, path in ordered),
    )


def load_key(key_hash: str) -> KeySnapshot | None:
    key = key_by_hash(key_hash)
    if key is None:
        return None
    allowed = key.allowed_api_ids
    return KeySnapshot(
        id=key.pk,
        prefix=key.prefix,
        organization_id=key.organization_id,
        allowed_api_ids=None if allowed is None else tuple(sorted(allowed)),
        expires_at=_epoch(key.expires_at),
        revoked_at=_epoch(key.revoked_at),
        grace_until=_epoch(key.grace_until),
    )


def load_organization(organization_id: int) -> OrganizationSnapshot | None:
    org = Organization.objects.filter(pk=organization_id).only("public_id", "suspended_at").first()
    if org is None:
        return None
    return OrganizationSnapshot(
        id=org.pk, public_id=org.public_id, suspended=org.suspended_at is not None
    )


def load_plan(plan_id: int) -> PlanSnapshot | None:
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        return None
    return PlanSnapshot(
        id=plan.pk,
        public_id=plan.public_id,
        unit=plan.unit,
        per_second=plan.rate_limit_per_second,
        per_minute=plan.rate_limit_per_minute,
        included_units=plan.included_units,
        hard_limit=plan.hard_limit,
        bill_server_errors=plan.bill_server_errors,
        max_units_micro=int(plan.units_per_call_limit * UNIT_MICRO),
        fallback_units_micro=int(plan.fallback_units * UNIT_MICRO),
    )


def load_subscription(key: str) -> SubscriptionSnapshot | None:
    organization_id, api_id = (int(part) for part in key.split(":"))
    subscription = (
        Subscription.objects.filter(
            organization_id=organization_id, api_id=api_id, status__in=LIVE_STATUSES
        )
        .select_related("plan")
        .first()
    )
    if subscription is None:
        return None
    return SubscriptionSnapshot(
        id=subscription.pk,
        public_id=subscription.public_id,
        status=subscription.status,
        plan_id=subscription.plan_id,
        scheduled_plan_id=subscription.scheduled_plan_id,
        period_anchor=subscription.period_anchor.timestamp(),
        period_start=subscription.current_period_start.timestamp(),
        period_end=subscription.current_period_end.timestamp(),
        cancel_at_period_end=subscription.cancel_at_period_end,
        past_due_since=_epoch(subscription.past_due_since),
        cap_milli=spend_cap_milli(subscription),
    )


def spend_cap_milli(subscription: Subscription) -> int | None:
    """The consumer's spend cap turned into units by the rating engine (the only place
    that knows what units cost), so admission compares units, not money. The period's fee
    is already spent (none during a trial)."""
    if subscription.spend_cap is None:
        return None
    from apps.subscriptions.rating import PlanTerms, units_within_budget

    terms = PlanTerms.from_plan(subscription.plan)
    fee = Decimal(0) if in_trial(subscription) else terms.monthly_fee
    units = units_within_budget(terms, subscription.spend_cap - fee)
    return None if units is None else int(units * 1000)


def grace_seconds() -> float:
    return settings.PAYMENT_GRACE_DAYS * 86400
