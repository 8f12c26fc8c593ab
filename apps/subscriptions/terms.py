"""Price versions and a subscription's timeline of terms (docs/pricing.md, "Plan changes"
and "Price changes").

A plan's prices live in versions: editing them creates the next version, and each
subscriber pays the version on its timeline. The timeline is a sequence of terms (plan +
price version) with no gaps: a plan change now ends the term in force and starts the next;
a change for later (a downgrade at the period end, a price change with notice) is a term
starting in the future. Callers hold the subscription's row lock."""

from datetime import datetime

from django.db.models import Q

from .models import (
    PRICE_FIELDS,
    Plan,
    PriceChangeStatus,
    PriceVersion,
    Subscription,
    SubscriptionTerm,
    TermReason,
)
from .rating import PlanTerms, Tier


# --- Price versions -----------------------------------------------------------------------
def _prices(source) -> tuple:
    return tuple(
        [dict(tier) for tier in source.tiers or []] if name == "tiers" else getattr(source, name)
        for name in PRICE_FIELDS
    )


def current_version(plan: Plan) -> PriceVersion:
    """The plan's prices as new subscribers get them: its newest version, or a new one when
    the plan's fields moved on without one (plans from before versions, fixtures)."""
    latest = plan.price_versions.order_by("-number").first()
    if latest is not None and _prices(latest) == _prices(plan):
        return latest
    number = latest.number + 1 if latest else 1
    return PriceVersion.objects.create(
        plan=plan, number=number, **{name: getattr(plan, name) for name in PRICE_FIELDS}
    )


def version_terms(version: PriceVersion) -> PlanTerms:
    """What the rating engine needs of a version: its prices, and the plan's unit and name."""
    plan = version.plan
    return PlanTerms(
        monthly_fee=version.monthly_fee,
        included_units=version.included_units,
        unit_price=version.unit_price,
        tiers=tuple(Tier.from_json(tier) for tier in version.tiers or ()),
        unit=plan.unit,
        hard_limit=version.hard_limit,
        trial_days=plan.trial_days,
        name=plan.name if version.number == 1 else f"{plan.name}, prices v{version.number}",
    )


def terms_in_force(subscription: Subscription, at: datetime) -> PlanTerms:
    """The terms the timeline holds at `at` (a price change may have taken effect before
    `apply_due_price_changes` moved `price_version` on)."""
    term = term_at(timeline(subscription), at)
    return version_terms(term.price_version) if term else subscription_terms(subscription)


def subscription_terms(subscription: Subscription) -> PlanTerms:
    """The terms the subscriber pays now: its price version (grandfathered), or the plan's
    current prices for a subscription that was never pinned to one."""
    if subscription.price_version_id:
        return version_terms(subscription.price_version)
    return PlanTerms.from_plan(subscription.plan)


# --- The timeline -------------------------------------------------------------------------
def timeline(subscription: Subscription) -> list[SubscriptionTerm]:
    return list(
        subscription.terms.select_related("plan", "price_version__plan").order_by("starts_at", "id")
    )


def term_at(terms: list[SubscriptionTerm], moment: datetime) -> SubscriptionTerm | None:
    """The term in force at `moment` (the last one started by then)."""
    found = None
    for term in terms:
        if term.starts_at <= moment and (term.ends_at is None or moment < term.ends_at):
            found = term
    return found


def timeline_start(subscription: Subscription, *, at: datetime) -> SubscriptionTerm:
    """A new subscription's first term, on its plan's current prices."""
    if subscription.price_version_id is None:
        subscription.price_version = current_version(subscription.plan)
        subscription.save(update_fields=["price_version"])
    return SubscriptionTerm.objects.create(
        subscription=subscription,
        plan=subscription.plan,
        price_version=subscription.price_version,
        starts_at=at,
        reason=TermReason.SUBSCRIBED,
    )


def _ensure_started(subscription: Subscription) -> None:
    """Subscriptions from before timelines (or made by fixtures) get one on first change:
    one term from the start of their current period."""
    if not subscription.terms.exists():
        timeline_start(subscription, at=subscription.current_period_start)


def timeline_switch(
    subscription: Subscription,
    *,
    plan: Plan,
    version: PriceVersion,
    at: datetime,
    reason: str,
    scheduled: bool = False,
) -> SubscriptionTerm:
    """From `at` on the subscription is on `plan` at `version`: the term in force at `at`
    ends there, and whatever was scheduled after `at` is dropped (a change replaces the
    plans made before it; a `scheduled` one also replaces one scheduled for the same
    moment)."""
    _ensure_started(subscription)
    if scheduled:
        subscription.terms.filter(starts_at__gte=at).delete()
    _cut(subscription, at)
    return SubscriptionTerm.objects.create(
        subscription=subscription, plan=plan, price_version=version, starts_at=at, reason=reason
    )


def timeline_end(subscription: Subscription, *, at: datetime) -> None:
    """The subscription ends at `at`: no term runs past it."""
    _ensure_started(subscription)
    _cut(subscription, at)


def _cut(subscription: Subscription, at: datetime) -> None:
    subscription.terms.filter(starts_at__gt=at).delete()
    subscription.terms.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at)).update(ends_at=at)
    subscription.price_changes.filter(
        status=PriceChangeStatus.SCHEDULED, effective_at__gt=at
    ).update(status=PriceChangeStatus.CANCELED)


def timeline_drop_scheduled(subscription: Subscription, *, from_: datetime) -> None:
    """Undo what was scheduled from `from_` on (a downgrade the consumer took back): the
    term that was to end there runs on."""
    subscription.terms.filter(starts_at__gte=from_).delete()
    subscription.terms.filter(ends_at=from_).update(ends_at=None)


def timeline_reprice(
    subscription: Subscription, *, version: PriceVersion, at: datetime
) -> SubscriptionTerm | None:
    """From `at` on, the term in force then is billed at `version` instead (a price change):
    None when the subscriber will not be on that plan then, or is on that version already."""
    _ensure_started(subscription)
    term = term_at(timeline(subscription), at)
    if term is None or term.plan_id != version.plan_id:
        return None
    if term.price_version.number >= version.number:
        return None
    repriced = SubscriptionTerm.objects.create(
        subscription=subscription,
        plan=term.plan,
        price_version=version,
        starts_at=at,
        ends_at=term.ends_at,
        reason=TermReason.PRICE_CHANGE,
    )
    term.ends_at = at
    term.save(update_fields=["ends_at"])
    return repriced
