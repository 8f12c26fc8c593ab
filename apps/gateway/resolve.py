"""Step 1: who is calling what. API by slug, key by hash, organization, subscription and
plan — all from the cache; the database only on a miss."""

import time
from dataclasses import dataclass, field

from django.conf import settings

from apps.core.secrets import has_valid_checksum, hash_secret
from apps.subscriptions.periods import period_containing

from . import loaders
from .paths import leaves_base_path
from .responses import Refused
from .snapshots import (
    ApiSnapshot,
    KeySnapshot,
    OrganizationSnapshot,
    PlanSnapshot,
    SubscriptionSnapshot,
)

KEY_PREFIX = "tg"


@dataclass
class Call:
    request_id: str
    method: str
    api: ApiSnapshot
    key: KeySnapshot
    organization: OrganizationSnapshot
    subscription: SubscriptionSnapshot
    plan: PlanSnapshot
    period_start: int
    period_end: int
    upstream_path: bytes  # the path after /gw/<slug>, percent-encoding kept
    endpoint_id: int | None
    limits: object = None  # set by admission
    included_units: int = 0  # of the subscriber's price version (or the plan's)
    hard_limit: bool = True
    limit_headers: list = field(default_factory=list)


@dataclass
class Caller:
    """Who a refused call came from, as far as resolution got: a key the gateway knows
    (revoked or expired ones too), and the subscription once found. A refusal of a known
    caller is counted for the consumer to see (record.refused); unknown keys are not."""

    api: ApiSnapshot
    key: KeySnapshot
    subscription: SubscriptionSnapshot | None = None
    period_start: int = 0
    endpoint_id: int | None = None  # not looked up for a refusal


def split_path(scope) -> tuple[str, bytes, str]:
    raw = scope.get("raw_path") or scope["path"].encode()
    raw = raw.split(b"?", 1)[0]
    slash = raw.find(b"/", 4)
    slug = (raw[4:slash] if slash > 0 else raw[4:]).decode("latin-1")
    rest = raw[slash:] if slash > 0 else b""
    path = scope["path"]
    decoded_slash = path.find("/", 4)
    return slug, rest, path[decoded_slash:] if decoded_slash > 0 else "/"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip()
    return None


async def _api(state, slug: str) -> ApiSnapshot:
    api = await state.cache.get("api", slug, loaders.load_api) if slug else None
    if api is None or not api.published:
        raise Refused("api_not_found")
    return api


async def _key(state, scope) -> KeySnapshot:
    """The key sent, valid or not (revoked and expired keys are known too)."""
    secret = _header(scope, b"x-api-key")
    if not secret:
        raise Refused("missing_api_key")
    if not has_valid_checksum(secret, KEY_PREFIX):  # a typo or junk: no lookup at all
        raise Refused("invalid_api_key")
    key = await state.cache.get("key", hash_secret(secret), loaders.load_key)
    if key is None:
        raise Refused("invalid_api_key")
    return key


async def _subscription(state, organization_id: int, api_id: int) -> SubscriptionSnapshot:
    subscription = await state.cache.get(
        "subscription", f"{organization_id}:{api_id}", loaders.load_subscription
    )
    if subscription is None:
        raise Refused("not_subscribed")
    return subscription


def _current_period(subscription: SubscriptionSnapshot, now: float) -> tuple[int, int, int]:
    """The period this call counts against, and the plan in force then. Billing renews
    subscriptions every few minutes; until it has, calls past the period end already count
    against the next period (with a scheduled downgrade applied)."""
    if now < subscription.period_end:
        return int(subscription.period_start), int(subscription.period_end), subscription.plan_id
    if subscription.cancel_at_period_end:
        raise Refused("not_subscribed", detail="Your subscription ended with its last period.")
    from datetime import UTC, datetime

    anchor = datetime.fromtimestamp(subscription.period_anchor, tz=UTC)
    start, end = period_containing(anchor, datetime.fromtimestamp(now, tz=UTC))
    return (
        int(start.timestamp()),
        int(end.timestamp()),
        subscription.scheduled_plan_id or subscription.plan_id,
    )


def _check_status(subscription: SubscriptionSnapshot, now: float) -> None:
    if subscription.status == "pending_payment":
        raise Refused("subscription_inactive")
    if subscription.status == "unpaid":
        raise Refused("subscription_unpaid")
    if subscription.status == "past_due" and subscription.past_due_since is not None:
        grace = settings.PAYMENT_GRACE_DAYS * 86400
        if now - subscription.past_due_since > grace:
            raise Refused("payment_required")


async def resolve(state, scope, request_id: str) -> Call:
    now = time.time()
    paths = slug, upstream_path, _ = split_path(scope)
    if leaves_base_path(upstream_path):  # before any lookup: the upstream must never see it
        raise Refused("invalid_path")
    api = await _api(state, slug)
    caller = Caller(api, await _key(state, scope))
    try:
        return await _resolve_known(state, scope, request_id, now, caller, paths)
    except Refused as refused:
        refused.caller = caller
        raise


async def _resolve_known(
    state, scope, request_id: str, now: float, caller: Caller, paths: tuple
) -> Call:
    api, key = caller.api, caller.key
    _, upstream_path, decoded_path = paths
    if not key.valid_at(now):
        raise Refused("invalid_api_key")
    if not key.allows(api.id):
        raise Refused("key_not_allowed")
    organization = await state.cache.get(
        "organization", str(key.organization_id), loaders.load_organization
    )
    if organization is None or organization.suspended:
        raise Refused("consumer_suspended")
    subscription = caller.subscription = await _subscription(state, key.organization_id, api.id)
    caller.period_start = int(subscription.period_start)
    _check_status(subscription, now)
    period_start, period_end, plan_id = _current_period(subscription, now)
    plan = await state.cache.get("plan", str(plan_id), loaders.load_plan)
    own_prices = plan_id == subscription.plan_id and subscription.included_units is not None
    method = scope["method"]
    return Call(
        request_id=request_id,
        method=method,
        api=api,
        key=key,
        organization=organization,
        subscription=subscription,
        plan=plan,
        period_start=period_start,
        period_end=period_end,
        upstream_path=upstream_path,
        endpoint_id=api.endpoint_for(method, decoded_path),
        included_units=subscription.included_units if own_prices else plan.included_units,
        hard_limit=subscription.hard_limit if own_prices else plan.hard_limit,
    )
