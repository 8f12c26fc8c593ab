"""Writes for API keys: create, rotate with a grace period, revoke, restrict, and the
metering flush's bulk `last_used_at` update."""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, DateTimeField, Q, Value, When
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.accounts.services import require_capability
from apps.catalog.models import Api
from apps.core.audit import audit_record
from apps.core.dates import check_day
from apps.core.errors import Conflict, ServiceError
from apps.core.invalidation import publish_invalidation
from apps.core.secrets import display_prefix, generate_secret, hash_secret

from . import selectors
from .models import KEY_PREFIX, MAX_GRACE, ApiKey

MAX_LIVE_KEYS = 50
TOUCH_CHUNK = 200


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Name the key after what will use it.", field="name")
    if len(name) > 80:
        raise ServiceError("Keep the name under 80 characters.", field="name")
    return name


def _clean_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if timezone.is_naive(expires_at):
        raise ServiceError("Give the expiry with a time zone.", field="expires_at")
    if expires_at <= now:
        raise ServiceError("Pick an expiry in the future.", field="expires_at")
    check_day(expires_at, field="expires_at")
    return expires_at


def _clean_apis(
    organization: Organization, apis: Iterable[Api] | None, keep: Iterable[int] = ()
) -> list[Api]:
    apis = list({api.pk: api for api in apis or []}.values())
    allowed = set(
        selectors.restrictable_apis(organization, keep)
        .filter(pk__in=[api.pk for api in apis])
        .values_list("pk", flat=True)
    )
    refused = [api.name for api in apis if api.pk not in allowed]
    if refused:
        raise ServiceError(
            f"Not available to restrict to: {', '.join(refused)}. "
            "Pick APIs your organization subscribes to.",
            field="apis",
        )
    return apis


def _locked(key: ApiKey) -> ApiKey:
    return (
        ApiKey.objects.select_for_update(of=("self",)).select_related("organization").get(pk=key.pk)
    )


def _require_working(key: ApiKey, now: datetime, doing: str) -> None:
    if not key.is_valid_at(now):
        raise Conflict(f"This key no longer works, so there is nothing to {doing}.")


def _api_slugs(key: ApiKey) -> list[str] | None:
    return sorted(api.slug for api in key.allowed_apis.all()) if key.restricted else None


def _new_key(
    *,
    actor: User,
    organization: Organization,
    name: str,
    expires_at: datetime | None,
    restricted: bool,
    apis: list[Api],
) -> tuple[ApiKey, str]:
    secret = generate_secret(KEY_PREFIX)
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        created_by=actor,
        prefix=display_prefix(secret, KEY_PREFIX),
        key_hash=hash_secret(secret),
        expires_at=expires_at,
        restricted=restricted,
    )
    if apis:
        key.allowed_apis.set(apis)
    return key, secret


@transaction.atomic
def api_key_create(
    *,
    actor: User,
    organization: Organization,
    name: str,
    expires_at: datetime | None = None,
    allowed_apis: Iterable[Api] | None = None,
) -> tuple[ApiKey, str]:
    """Returns the key and its secret, which is never stored and never shown again.
    No allowed_apis means every API."""
    require_capability(actor, organization, "develop")
    now = timezone.now()
    name = _clean_name(name)
    expires_at = _clean_expiry(expires_at, now)
    apis = _clean_apis(organization, allowed_apis)
    # lock the organization: two concurrent creates must not both pass the cap
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    if selectors.live_keys(organization, now).count() >= MAX_LIVE_KEYS:
        raise Conflict(
            f"An organization can hold {MAX_LIVE_KEYS} live keys. Revoke one you no longer use.",
            code="too_many_keys",
        )
    key, secret = _new_key(
        actor=actor,
        organization=organization,
        name=name,
        expires_at=expires_at,
        restricted=bool(apis),
        apis=apis,
    )
    audit_record(
        action="api_key.created",
        actor=actor,
        organization=organization,
        target=key,
        data={"apis": _api_slugs(key), "expires_at": expires_at and expires_at.isoformat()},
    )
    # No invalidation: no cache can hold an entry for a secret that did not exist.
    return key, secret


@transaction.atomic
def api_key_rotate(*, actor: User, key: ApiKey, grace: timedelta) -> tuple[ApiKey, str]:
    """A new key with the old one's name, restrictions and expiry. The old key keeps
    working for `grace` (zero: it is revoked now). Returns the new key and its secret."""
    require_capability(actor, key.organization, "develop")
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise ServiceError("The grace period is between none and 7 days.", field="grace")
    now = timezone.now()
    old = _locked(key)
    _require_working(old, now, "rotate")
    if old.rotated_to_id is not None:
        raise Conflict("This key was already rotated; rotate its replacement instead.")
    new, secret = _new_key(
        actor=actor,
        organization=old.organization,
        name=old.name,
        expires_at=old.expires_at,
        restricted=old.restricted,
        apis=list(old.allowed_apis.all()),
    )
    old.rotated_to = new
    if grace:
        old.grace_until = now + grace
    else:
        old.revoked_at = now
    old.save(update_fields=["rotated_to", "grace_until", "revoked_at"])
    audit_record(
        action="api_key.rotated",
        actor=actor,
        organization=old.organization,
        target=old,
        data={
            "new_key": new.public_id,
            "grace_seconds": int(grace.total_seconds()),
            "grace_until": old.grace_until and old.grace_until.isoformat(),
        },
    )
    audit_record(
        action="api_key.created",
        actor=actor,
        organization=old.organization,
        target=new,
        data={"rotated_from": old.public_id, "apis": _api_slugs(new)},
    )
    publish_invalidation("key", old.key_hash)
    return new, secret


@transaction.atomic
def api_key_revoke(*, actor: User, key: ApiKey) -> ApiKey:
    """Stops the key at once (a key in a rotation grace too). Revoking twice is harmless."""
    require_capability(actor, key.organization, "develop")
    locked = _locked(key)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoked", actor=actor, organization=locked.organization, target=locked
        )
        publish_invalidation("key", locked.key_hash)
    return locked


@transaction.atomic
def api_key_restrict(*, actor: User, key: ApiKey, apis: Iterable[Api]) -> ApiKey:
    """Limit the key to these APIs; an empty list lifts the restriction (every API)."""
    require_capability(actor, key.organization, "develop")
    locked = _locked(key)
    _require_working(locked, timezone.now(), "restrict")
    apis = _clean_apis(
        locked.organization, apis, keep=locked.allowed_apis.values_list("pk", flat=True)
    )
    locked.restricted = bool(apis)
    locked.save(update_fields=["restricted"])
    locked.allowed_apis.set(apis)
    audit_record(
        action="api_key.restricted",
        actor=actor,
        organization=locked.organization,
        target=locked,
        data={"apis": _api_slugs(locked)},
    )
    publish_invalidation("key", locked.key_hash)
    return locked


def api_keys_touch_last_used(last_used: Mapping[str, datetime]) -> int:
    """Record when keys were last used, from the metering flush (never per request).
    `last_used` maps a key's public id (`key_…`) or SHA-256 hash to a time. A time only
    moves forward, so a late or repeated flush changes nothing. Returns rows changed."""
    changed = 0
    entries = list(last_used.items())
    for start in range(0, len(entries), TOUCH_CHUNK):
        chunk = entries[start : start + TOUCH_CHUNK]
        used_at = Case(
            *(When(_key_ref(ref), then=Value(moment)) for ref, moment in chunk),
            output_field=DateTimeField(),
        )
        refs = [ref for ref, _ in chunk]
        # one UPDATE per chunk, atomic on its own; the WHERE keeps times moving forward
        changed += (
            ApiKey.objects.filter(Q(public_id__in=refs) | Q(key_hash__in=refs))
            .filter(Q(last_used_at=None) | Q(last_used_at__lt=used_at))
            .update(last_used_at=used_at)
        )
    return changed


def _key_ref(ref: str) -> Q:
    return Q(public_id=ref) if ref.startswith("key_") else Q(key_hash=ref)
