"""Writes for plans and subscriptions: the subscription state machine lives here.

Events and the states they move a subscription between:

| event            | from                                   | to                                  |
|------------------|----------------------------------------|-------------------------------------|
| payment_confirmed| pending_payment                        | trialing (trial) or active          |
| payment_failed   | trialing, active                       | past_due                            |
| payment_exhausted| trialing, active, past_due             | unpaid (the last retry failed)      |
| payment_recovered| past_due, unpaid                       | active                              |
| cancel_now       | pending_payment, trialing, active, past_due, unpaid | canceled               |
| period_renewed   | trialing, active, past_due             | same (or canceled at period end)    |

An unpaid subscription's periods are not closed (no fee, the gateway refuses calls); when
it recovers it moves on to the period containing now without invoicing the ones it skipped.

Billing (a higher app) learns about subscriptions through `collection_hooks`, registered at
start-up: it may ask for a card first (a Checkout URL), price an upgrade, or nothing."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.accounts.notifications import notify
from apps.accounts.services import require_active, require_capability
from apps.catalog.models import Api, ApiStatus
from apps.core.audit import audit_record
from apps.core.dates import check_day
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.core.invalidation import publish_invalidation

from .models import (
    LIVE_STATUSES,
    SERVING_STATUSES,
    Plan,
    PlanVisibility,
    PriceChange,
    PriceChangeStatus,
    Subscription,
    SubscriptionStatus,
    TermReason,
)
from .periods import period_bounds, period_containing, period_index
from .pricing import describe_plan, validate_plan_terms
from .rating import PlanTerms, plural_unit
from .terms import (
    current_version,
    term_at,
    terms_in_force,
    timeline,
    timeline_drop_scheduled,
    timeline_end,
    timeline_reprice,
    timeline_start,
    timeline_switch,
    version_terms,
)
from .trials import in_trial, trial_allowed

S = SubscriptionStatus
PLAN_FIELDS = {
    "name",
    "description",
    "monthly_fee",
    "included_units",
    "unit_price",
    "tiers",
    "unit",
    "hard_limit",
    "rate_limit_per_second",
    "rate_limit_per_minute",
    "bill_server_errors",
    "max_units_per_call",
    "prorated_refunds",
    "trial_days",
    "visibility",
    "recommended",
    "position",
}


class CollectionHooks:
    """What billing does when subscriptions change. The default (no billing app) collects
    nothing; billing replaces it in its AppConfig.ready."""

    def card_required(self, subscription: Subscription) -> bool:
        return False

    def checkout_url(self, subscription: Subscription) -> str | None:
        return None

    def invoices_manually(self, subscription: Subscription) -> bool:
        """Paid by bank transfer rather than charged to a card?"""
        return True

    def subscription_started(self, subscription: Subscription) -> None:
        pass

    def plan_changed(
        self, subscription: Subscription, *, old_terms, new_terms, at, credit_old, event
    ) -> None:
        """A plan change made now (inside the change's transaction): bill the usage so far
        under the old terms and the fee's proration."""

    def subscription_canceled(self, subscription: Subscription, *, old_terms, at) -> None:
        """A cancellation now (inside its transaction): bill the usage to date."""

    def unpaid_recovered(self, subscription: Subscription, *, at) -> None:
        """An unpaid subscription paid up after skipping periods (inside the transaction):
        bill the fee for the rest of the current period from `at`, none for the time the
        gateway refused."""

    def unpaid_ended(self, subscription: Subscription, *, at) -> None:
        """An unpaid subscription was cancelled (inside its transaction): bill the usage not
        invoiced yet, with no fee and no credit (its fee is unpaid)."""

    def close_ended_periods(self, subscription: Subscription) -> None:
        """Close the periods that ended and wait for the close job (inside the caller's
        transaction), so a change applies to the period it happens in."""


collection_hooks = CollectionHooks()


def set_collection_hooks(hooks: CollectionHooks) -> None:
    global collection_hooks
    collection_hooks = hooks


# --- Plans ------------------------------------------------------------------------------
def _require_provider(actor: User, api: Api) -> None:
    require_capability(actor, api.organization, "develop")
    require_active(api.organization)


def _clean_plan(data: dict, plan: Plan | None = None) -> dict:
    data = {k: v for k, v in data.items() if k in PLAN_FIELDS}
    current = {field: getattr(plan, field) for field in PLAN_FIELDS} if plan else {}
    errors = validate_plan_terms({**current, **data})
    if errors:
        field, message = next(iter(errors.items()))
        error = ServiceError(message, field=field)
        error.errors = errors
        raise error
    if "unit" in data:
        data["unit"] = str(data["unit"]).strip().lower()
    return data


@transaction.atomic
def plan_create(*, actor: User, api: Api, **data) -> Plan:
    _require_provider(actor, api)
    data = _clean_plan(data)
    data.setdefault("position", api.plans.count())
    plan = Plan.objects.create(api=api, **data)
    if plan.recommended:
        api.plans.exclude(pk=plan.pk).update(recommended=False)
    audit_record(
        action="plan.created",
        actor=actor,
        organization=api.organization,
        target=plan,
        data=_plan_snapshot(plan),
    )
    return plan


@transaction.atomic
def plan_update(*, actor: User, plan: Plan, **data) -> Plan:
    """Editing a plan's prices creates its next price version: new subscribers get it,
    existing ones keep theirs until migrated (`plan_prices_migrate`)."""
    _require_provider(actor, plan.api)
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    data = _clean_plan(data, plan)
    if "unit" in data and data["unit"] != plan.unit and plan.subscriptions.exists():
        raise Conflict(
            "This plan has subscribers, whose usage is counted in "
            f"{plural_unit(plan.unit)}: create a new plan for another unit.",
            field="unit",
        )
    current_version(plan)  # the prices subscribers have, kept before they change
    for field, value in data.items():
        setattr(plan, field, value)
    plan.save()
    current_version(plan)
    if plan.recommended:
        plan.api.plans.exclude(pk=plan.pk).update(recommended=False)
    audit_record(
        action="plan.updated",
        actor=actor,
        organization=plan.api.organization,
        target=plan,
        data=_plan_snapshot(plan),
    )
    publish_invalidation("plan", plan.pk)
    return plan


def _plan_snapshot(plan: Plan) -> dict:
    return {field: str(getattr(plan, field)) for field in sorted(PLAN_FIELDS)}


@transaction.atomic
def plan_archive(*, actor: User, plan: Plan, archived: bool = True) -> Plan:
    """Archived plans take no new subscribers; existing ones keep them."""
    _require_provider(actor, plan.api)
    plan.archived_at = timezone.now() if archived else None
    plan.save(update_fields=["archived_at", "updated_at"])
    audit_record(
        action="plan.archived" if archived else "plan.unarchived",
        actor=actor,
        organization=plan.api.organization,
        target=plan,
    )
    return plan


@transaction.atomic
def plan_delete(*, actor: User, plan: Plan) -> None:
    _require_provider(actor, plan.api)
    if plan.subscriptions.exists():
        raise Conflict("This plan has subscribers; archive it instead so they keep it.")
    audit_record(
        action="plan.deleted", actor=actor, organization=plan.api.organization, target=plan
    )
    plan.delete()


@transaction.atomic
def plan_rotate_invite(*, actor: User, plan: Plan) -> Plan:
    import secrets

    _require_provider(actor, plan.api)
    plan.invite_token = secrets.token_urlsafe()
    plan.save(update_fields=["invite_token", "updated_at"])
    return plan


# --- Subscribing ------------------------------------------------------------------------
def _check_can_subscribe(organization: Organization, plan: Plan, invite_token: str) -> None:
    if organization.is_suspended:
        raise Forbidden("This organization is suspended.", code="consumer_suspended")
    if plan.api.status != ApiStatus.PUBLISHED or plan.api.organization.is_suspended:
        raise NotFound("No such API.")  # a suspended provider's APIs are hidden
    if plan.is_archived:
        raise Conflict("This plan no longer takes new subscribers.", field="plan")
    if plan.visibility == PlanVisibility.PRIVATE and invite_token != plan.invite_token:
        raise NotFound("No such plan.")
    if plan.api.organization_id == organization.pk:
        raise Conflict(
            "You cannot subscribe to your own API; call it with the proxy secret "
            "or subscribe from another organization."
        )


def billing_anchor(organization: Organization, at: datetime) -> datetime | None:
    """The organization's billing date: the period anchor of its oldest live subscription
    (one past its trial), which every subscription it takes out later joins. None for an
    organization without one: its first subscription's start becomes the date."""
    return (
        Subscription.objects.filter(
            organization=organization, status__in=LIVE_STATUSES, period_anchor__lte=at
        )
        .order_by("created_at", "pk")
        .values_list("period_anchor", flat=True)
        .first()
    )


def _first_status(subscription: Subscription, needs_card: bool, now: datetime) -> str:
    if needs_card:
        return S.PENDING_PAYMENT
    return S.TRIALING if in_trial(subscription, now) else S.ACTIVE


@dataclass
class SubscribeResult:
    subscription: Subscription
    checkout_url: str | None = None


def subscription_create(
    *,
    actor: User,
    organization: Organization,
    plan: Plan,
    invite_token: str = "",
    now: datetime | None = None,
) -> SubscribeResult:
    with transaction.atomic():
        subscription = _create_locked(
            actor=actor,
            organization=organization,
            plan=plan,
            invite_token=invite_token,
            now=(now or timezone.now()).replace(microsecond=0),
        )
    checkout = None
    if subscription.status == S.PENDING_PAYMENT:
        checkout = collection_hooks.checkout_url(subscription)  # network I/O: after commit
    return SubscribeResult(subscription, checkout)


def _create_locked(*, actor, organization, plan, invite_token, now) -> Subscription:
    require_capability(actor, organization, "billing" if not plan.is_free else "view")
    plan = Plan.objects.select_related("api__organization").get(pk=plan.pk)
    _check_can_subscribe(organization, plan, invite_token)
    # one live subscription per organization and API; the partial unique constraint is the
    # real guard under concurrency, this lock just turns the race into a clean message
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    if Subscription.objects.filter(
        organization=organization,
        api=plan.api,
        status__in=LIVE_STATUSES,
    ).exists():
        raise Conflict(f"You already subscribe to {plan.api.name}; change your plan instead.")
    subscription = Subscription(
        organization=organization, api=plan.api, plan=plan, created_by=actor, period_anchor=now
    )
    subscription.current_period_start, subscription.current_period_end = period_bounds(now, 0)
    anchor = billing_anchor(organization, now)
    if plan.trial_days and trial_allowed(organization, plan.api):
        # the trial is a first period of its own; monthly periods are anchored at its end,
        # as Stripe anchors billing cycles after a trial
        trial_end = now + timedelta(days=plan.trial_days)
        subscription.trial_ends_at = subscription.period_anchor = trial_end
        subscription.current_period_end = trial_end
    elif anchor is not None:  # join the organization's billing date: a shorter first period
        subscription.period_anchor = anchor
        subscription.current_period_end = period_containing(anchor, now)[1]
    needs_card = not plan.is_free and collection_hooks.card_required(subscription)
    subscription.status = _first_status(subscription, needs_card, now)
    subscription.manual_invoicing = not plan.is_free and collection_hooks.invoices_manually(
        subscription
    )
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError as error:
        raise Conflict(f"You already subscribe to {plan.api.name}.") from error
    timeline_start(subscription, at=now)
    audit_record(
        action="subscription.created",
        actor=actor,
        organization=organization,
        target=subscription,
        data={"plan": plan.public_id, "status": subscription.status},
    )
    if subscription.status != S.PENDING_PAYMENT:
        _started(subscription)
    return subscription


def _started(subscription: Subscription) -> None:
    collection_hooks.subscription_started(subscription)
    _tell_provider(
        subscription,
        "subscription.created",
        f"New subscriber: {subscription.organization.name} on {subscription.plan.name}",
    )
    _invalidate(subscription)


# Higher apps (outgoing provider webhooks) hear of subscription news: fn(kind, subscription).
subscription_listeners: list = []


def _tell_provider(subscription: Subscription, kind: str, title: str) -> None:
    api = subscription.api
    notify(
        organization=api.organization,
        kind=kind,
        title=f"{api.name}: {title}",
        body=f"Plan: {subscription.plan.name}. Status: {subscription.get_status_display()}.",
        url=reverse("subscriptions:provider_subscribers", args=[api.slug]),
    )
    for listener in subscription_listeners:
        listener(kind, subscription)


def _invalidate(subscription: Subscription) -> None:
    publish_invalidation("subscription", f"{subscription.organization_id}:{subscription.api_id}")


# --- State machine ----------------------------------------------------------------------
TRANSITIONS = {
    "payment_confirmed": ({S.PENDING_PAYMENT}, None),  # → trialing or active
    "payment_failed": ({S.TRIALING, S.ACTIVE}, S.PAST_DUE),
    "payment_exhausted": ({S.TRIALING, S.ACTIVE, S.PAST_DUE}, S.UNPAID),
    "payment_recovered": ({S.PAST_DUE, S.UNPAID}, S.ACTIVE),
    "cancel_now": (
        {S.PENDING_PAYMENT, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.UNPAID},
        S.CANCELED,
    ),
}
# a subscription unpaid for years rolls on at most this many periods when it recovers
MAX_SKIPPED_PERIODS = 120


def _transition(subscription: Subscription, event: str, *, actor=None) -> Subscription:
    allowed, target = TRANSITIONS[event]
    subscription = (
        Subscription.objects.select_for_update()
        .select_related("plan", "api", "organization")
        .get(pk=subscription.pk)
    )
    if subscription.status not in allowed:
        raise Conflict(
            f"A {subscription.get_status_display().lower()} subscription cannot "
            f"take “{event.replace('_', ' ')}”.",
            code="invalid_transition",
        )
    previous = subscription.status
    if target is None:
        target = S.TRIALING if in_trial(subscription) else S.ACTIVE
    subscription.status = target
    _stamp(subscription, target)
    subscription.save()
    audit_record(
        action=f"subscription.{event}",
        actor=actor,
        organization=subscription.organization,
        target=subscription,
        data={"from": previous, "to": target},
    )
    _invalidate(subscription)
    return subscription


def _stamp(subscription: Subscription, status: str) -> None:
    now = timezone.now()
    if status == S.PAST_DUE:
        subscription.past_due_since = subscription.past_due_since or now
    elif status == S.UNPAID:
        subscription.unpaid_since = subscription.unpaid_since or now
    elif status in (S.ACTIVE, S.TRIALING):
        subscription.past_due_since = subscription.unpaid_since = None
    elif status == S.CANCELED:
        subscription.canceled_at, subscription.cancel_at_period_end = now, False


@transaction.atomic
def subscription_payment_confirmed(*, subscription: Subscription) -> Subscription:
    """Billing saw a card saved: the subscription starts (idempotent for repeats)."""
    if subscription.status != S.PENDING_PAYMENT:
        return subscription
    subscription = _transition(subscription, "payment_confirmed")
    _started(subscription)
    return subscription


@transaction.atomic
def subscription_payment_failed(*, subscription: Subscription) -> Subscription:
    current = Subscription.objects.get(pk=subscription.pk)
    if current.status not in TRANSITIONS["payment_failed"][0]:
        return current  # past due or unpaid already (or ended)
    return _transition(current, "payment_failed")


@transaction.atomic
def subscription_payment_exhausted(*, subscription: Subscription) -> Subscription:
    """Billing's last retry of a failed payment failed: unpaid (idempotent)."""
    current = Subscription.objects.get(pk=subscription.pk)
    if current.status not in TRANSITIONS["payment_exhausted"][0]:
        return current
    return _transition(current, "payment_exhausted")


@transaction.atomic
def subscription_payment_recovered(*, subscription: Subscription) -> Subscription:
    """Paid: active at once. An unpaid subscription moves on to the period containing now;
    the periods it skipped (the gateway refused service) are not invoiced."""
    current = Subscription.objects.get(pk=subscription.pk)
    if current.status not in TRANSITIONS["payment_recovered"][0]:
        return current
    was_unpaid = current.status == S.UNPAID
    current = _transition(current, "payment_recovered")
    skipped = 0
    for _ in range(MAX_SKIPPED_PERIODS if was_unpaid else 0):
        if current.status == S.CANCELED or current.current_period_end > timezone.now():
            break
        current = subscription_renew(subscription=current)
        skipped += 1
    if skipped and current.status != S.CANCELED:
        collection_hooks.unpaid_recovered(current, at=timezone.now())
    return current


@transaction.atomic
def subscription_end_unpaid(*, subscription: Subscription, actor=None) -> Subscription:
    """An unpaid subscription ends (UNPAID_CANCEL_DAYS passed, or its consumer cancels):
    canceled now, with a final invoice of its usage not invoiced yet (idempotent)."""
    current = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if current.status != S.UNPAID:
        return current
    subscription = _transition(current, "cancel_now", actor=actor)
    timeline_end(subscription, at=subscription.canceled_at)
    collection_hooks.unpaid_ended(subscription, at=subscription.canceled_at)
    _tell_provider(
        subscription,
        "subscription.canceled",
        f"{subscription.organization.name} canceled (unpaid)",
    )
    return subscription


@transaction.atomic
def subscription_cancel(
    *, actor: User, subscription: Subscription, at_once: bool = False
) -> Subscription:
    """Free plans and unpaid ones end now; paid plans run to the end of the paid period."""
    require_capability(actor, subscription.organization, "billing")
    subscription = _locked_and_caught_up(subscription)
    if subscription.status == S.CANCELED:
        raise Conflict("This subscription is already canceled.")
    if subscription.status == S.UNPAID:
        return subscription_end_unpaid(subscription=subscription, actor=actor)
    ends_now = at_once or subscription.plan.is_free or subscription.status == S.PENDING_PAYMENT
    if ends_now:
        was_serving = subscription.status in SERVING_STATUSES
        old_terms = terms_in_force(subscription, timezone.now())
        subscription = _transition(subscription, "cancel_now", actor=actor)
        timeline_end(subscription, at=subscription.canceled_at)
        if was_serving:  # the usage to date, and a refund if the plan gives one
            collection_hooks.subscription_canceled(
                subscription, old_terms=old_terms, at=subscription.canceled_at
            )
    else:
        if subscription.scheduled_plan_id:
            timeline_drop_scheduled(subscription, from_=subscription.current_period_end)
        subscription.cancel_at_period_end = True
        subscription.scheduled_plan = None
        subscription.save(update_fields=["cancel_at_period_end", "scheduled_plan", "updated_at"])
        audit_record(
            action="subscription.cancel_scheduled",
            actor=actor,
            organization=subscription.organization,
            target=subscription,
            data={"ends_at": subscription.current_period_end.isoformat()},
        )
    _tell_provider(
        subscription,
        "subscription.canceled",
        f"{subscription.organization.name} canceled" + ("" if ends_now else " (at the period end)"),
    )
    return subscription


@transaction.atomic
def subscription_resume(*, actor: User, subscription: Subscription) -> Subscription:
    """Undo a cancellation scheduled for the period end."""
    require_capability(actor, subscription.organization, "billing")
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if not subscription.cancel_at_period_end:
        raise Conflict("This subscription is not scheduled to end.")
    subscription.cancel_at_period_end = False
    subscription.save(update_fields=["cancel_at_period_end", "updated_at"])
    audit_record(
        action="subscription.resumed",
        actor=actor,
        organization=subscription.organization,
        target=subscription,
    )
    return subscription


def _locked_and_caught_up(subscription: Subscription) -> Subscription:
    """The subscription's row, locked; a period that ended and still waits for the close
    job is closed first, so what happens now belongs to the period it happens in."""

    def locked():
        return (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan", "api", "organization", "price_version__plan")
            .get(pk=subscription.pk)
        )

    # the organization's row first, as the close does (it bills an organization's
    # subscriptions together): the same lock order, so the two never deadlock
    Organization.objects.select_for_update().filter(pk=subscription.organization_id).first()
    subscription = locked()
    if subscription.status in SERVING_STATUSES and (
        subscription.current_period_end <= timezone.now()
    ):
        collection_hooks.close_ended_periods(subscription)
        subscription = locked()
    return subscription


def is_upgrade(old: PlanTerms, new: PlanTerms) -> bool:
    """A higher fee, or the same fee with at least as many included units."""
    if new.monthly_fee != old.monthly_fee:
        return new.monthly_fee > old.monthly_fee
    return new.included_units >= old.included_units


@transaction.atomic
def subscription_change_plan(
    *,
    actor: User,
    subscription: Subscription,
    plan: Plan,
    invite_token: str = "",
    at_once: bool = False,
) -> Subscription:
    """Upgrades apply at once. Downgrades (and moves to a free plan) apply at the period
    end, or at once when `at_once`. A change at once bills the usage so far under the old
    terms and prorates the fee (docs/pricing.md, "Plan changes")."""
    require_capability(actor, subscription.organization, "billing")
    subscription = _locked_and_caught_up(subscription)
    if subscription.status not in (S.TRIALING, S.ACTIVE):
        raise Conflict("Only active or trialing subscriptions can change plans.")
    if plan.api_id != subscription.api_id:
        raise ServiceError("That plan belongs to another API.", field="plan")
    if plan.pk == subscription.plan_id:
        raise Conflict("You are already on this plan.", field="plan")
    _check_can_subscribe(subscription.organization, plan, invite_token)
    old_plan, old_terms = subscription.plan, terms_in_force(subscription, timezone.now())
    version = current_version(plan)
    new_terms = version_terms(version)
    upgrade = is_upgrade(old_terms, new_terms)
    if upgrade or at_once:
        _change_now(subscription, plan, version, old_terms, new_terms, upgrade)
        action = "subscription.upgraded" if upgrade else "subscription.downgraded"
    else:
        timeline_switch(
            subscription,
            plan=plan,
            version=version,
            at=subscription.current_period_end,
            reason=TermReason.DOWNGRADE,
            scheduled=True,
        )
        subscription.scheduled_plan = plan
        subscription.save(update_fields=["scheduled_plan", "updated_at"])
        action = "subscription.downgrade_scheduled"
    audit_record(
        action=action,
        actor=actor,
        organization=subscription.organization,
        target=subscription,
        data={"from": old_plan.public_id, "to": plan.public_id},
    )
    _tell_provider(
        subscription,
        "subscription.changed",
        f"{subscription.organization.name} moved to {plan.name}",
    )
    _invalidate(subscription)
    return subscription


def _change_now(subscription, plan, version, old_terms, new_terms, upgrade: bool) -> None:
    old_plan, now = subscription.plan, timezone.now()
    term = timeline_switch(
        subscription,
        plan=plan,
        version=version,
        at=now,
        reason=TermReason.UPGRADE if upgrade else TermReason.DOWNGRADE,
    )
    subscription.plan, subscription.price_version = plan, version
    subscription.scheduled_plan, subscription.cancel_at_period_end = None, False
    subscription.save()
    collection_hooks.plan_changed(
        subscription,
        old_terms=old_terms,
        new_terms=new_terms,
        at=now,
        # an upgrade's credit pays toward the new fee; a downgrade refunds the old fee's
        # unused share only when the old plan says so
        credit_old=upgrade or old_plan.prorated_refunds,
        event=str(term.pk),
    )


def following_period(subscription: Subscription) -> tuple[datetime, datetime]:
    """The period after the current one: it starts where the current one ends (a trial's
    end, or anchor + n months) and ends at the next anchor month."""
    start = subscription.current_period_end
    return start, period_bounds(
        subscription.period_anchor, period_index(subscription.period_anchor, start)
    )[1]


@transaction.atomic
def subscription_renew(*, subscription: Subscription) -> Subscription:
    """Roll a subscription whose period ended into the next one: apply a scheduled
    downgrade, end a scheduled cancellation, end a trial. Called by billing's period close,
    after it rated the closed period. Idempotent: a subscription whose period has not
    ended is left alone."""
    subscription = (
        Subscription.objects.select_for_update().select_related("plan").get(pk=subscription.pk)
    )
    if subscription.status == S.CANCELED or subscription.current_period_end > timezone.now():
        return subscription
    if subscription.cancel_at_period_end:
        ended_at = subscription.current_period_end
        subscription = _transition(subscription, "cancel_now")
        timeline_end(subscription, at=ended_at)
        return subscription
    start, end = following_period(subscription)
    subscription.current_period_start, subscription.current_period_end = start, end
    term = term_at(timeline(subscription), start)
    if term is not None:  # what the timeline holds from now: a downgrade, a price change
        subscription.plan, subscription.price_version = term.plan, term.price_version
        subscription.scheduled_plan = None
    elif subscription.scheduled_plan_id:
        subscription.plan, subscription.scheduled_plan = subscription.scheduled_plan, None
    if subscription.status == S.TRIALING and not in_trial(subscription, start):
        subscription.status = S.ACTIVE
    subscription.save()
    audit_record(
        action="subscription.renewed",
        organization=subscription.organization,
        target=subscription,
        data={"period_start": start.isoformat()},
    )
    _invalidate(subscription)
    return subscription


@transaction.atomic
def subscription_set_spend_cap(
    *, actor: User, subscription: Subscription, spend_cap: Decimal | None
) -> Subscription:
    require_capability(actor, subscription.organization, "billing")
    if spend_cap is not None and spend_cap < 0:
        raise ServiceError("A spend cap cannot be negative.", field="spend_cap")
    subscription.spend_cap = spend_cap
    subscription.save(update_fields=["spend_cap", "updated_at"])
    audit_record(
        action="subscription.spend_cap_set",
        actor=actor,
        organization=subscription.organization,
        target=subscription,
        data={"spend_cap": str(spend_cap) if spend_cap is not None else None},
    )
    _invalidate(subscription)
    return subscription


# --- Price changes ------------------------------------------------------------------------
def price_change_notice_days() -> int:
    return settings.PRICE_CHANGE_NOTICE_DAYS


def plan_prices_migrate(
    *, actor: User, plan: Plan, effective_at: datetime, now: datetime | None = None
) -> list[PriceChange]:
    """Move the plan's subscribers still on older prices to its current price version from
    `effective_at`, which must be at least PRICE_CHANGE_NOTICE_DAYS ahead. Each subscriber
    is emailed, the provider's webhook hears of it, and the subscription page shows the
    coming change; until then they pay what they signed up for."""
    _require_provider(actor, plan.api)
    check_day(effective_at, field="effective_at")
    now = now or timezone.now()
    earliest = now + timedelta(days=price_change_notice_days())
    if effective_at < earliest:
        raise ServiceError(
            f"Subscribers get at least {price_change_notice_days()} days' notice of a price "
            f"change: choose {earliest:%b %-d, %Y %H:%M} UTC or later.",
            code="notice_too_short",
            field="effective_at",
        )
    with transaction.atomic():
        plan = Plan.objects.select_for_update().get(pk=plan.pk)
        target = current_version(plan)
        changes = [
            change
            for subscription in Subscription.objects.select_for_update()
            .filter(plan=plan, status__in=LIVE_STATUSES)
            .exclude(price_version=target)
            .select_related("api", "organization", "plan")
            if (change := _schedule_price_change(subscription, target, effective_at, actor))
        ]
        audit_record(
            action="plan.prices_migrated",
            actor=actor,
            organization=plan.api.organization,
            target=plan,
            data={
                "version": target.number,
                "effective_at": effective_at.isoformat(),
                "subscribers": len(changes),
            },
        )
    return changes


def _schedule_price_change(subscription, version, effective_at, actor) -> PriceChange | None:
    term = timeline_reprice(subscription, version=version, at=effective_at)
    if term is None:  # not on this plan then (a downgrade is scheduled), or already on it
        return None
    previous = subscription.terms.filter(ends_at=effective_at).exclude(pk=term.pk).first()
    change = PriceChange.objects.create(
        subscription=subscription,
        from_version=previous.price_version if previous else subscription.price_version,
        to_version=version,
        effective_at=effective_at,
        created_by=actor,
    )
    old, new = version_terms(change.from_version), version_terms(version)
    notify(
        organization=subscription.organization,
        kind="subscription.price_change_scheduled",
        title=f"{subscription.api.name}: {subscription.plan.name}'s prices change on "
        f"{effective_at:%b %-d, %Y}",
        body=f"From {effective_at:%b %-d, %Y %H:%M} UTC: {describe_plan(new).headline} "
        f"({'; '.join(describe_plan(new).lines)}) instead of {describe_plan(old).headline} "
        f"({'; '.join(describe_plan(old).lines)}). Until then nothing changes. You can "
        "change plans or cancel before.",
        url=reverse("subscriptions:detail", args=[subscription.public_id]),
        email_capability="billing",
    )
    for listener in subscription_listeners:
        listener("subscription.price_change_scheduled", subscription)
    return change


def apply_due_price_changes(now: datetime | None = None) -> int:
    """Switch subscribers whose price change took effect to the new version (what the
    gateway and the pages read). Billing needs nothing of it: the timeline held the new
    term from the start. Idempotent; beat runs it with the period close."""
    now = now or timezone.now()
    applied = 0
    due = PriceChange.objects.filter(status=PriceChangeStatus.SCHEDULED, effective_at__lte=now)
    for change_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            change = (
                PriceChange.objects.select_for_update()
                .select_related("subscription")
                .get(pk=change_id)
            )
            if change.status != PriceChangeStatus.SCHEDULED:
                continue
            subscription = change.subscription
            if subscription.plan_id == change.to_version.plan_id:
                subscription.price_version = change.to_version
                subscription.save(update_fields=["price_version", "updated_at"])
                _invalidate(subscription)
            change.status = PriceChangeStatus.APPLIED
            change.save(update_fields=["status"])
            applied += 1
    return applied
