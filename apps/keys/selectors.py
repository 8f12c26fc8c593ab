"""Reads for API keys: the console's list, and the gateway's lookup on a cache miss."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects

from apps.accounts.models import Organization
from apps.catalog.models import Api
from apps.core.secrets import has_valid_checksum, hash_secret
from apps.subscriptions.models import LIVE_STATUSES
from apps.subscriptions.selectors import subscriptions_of

from .models import KEY_PREFIX, ApiKey


def keys_for(organization: Organization) -> QuerySet[ApiKey]:
    """Every key of the organization, newest first, with what the list shows."""
    return (
        ApiKey.objects.filter(organization=organization)
        .select_related("created_by", "rotated_to")
        .prefetch_related(
            Prefetch(
                "allowed_apis", queryset=Api.objects.only("id", "name", "slug").order_by("name")
            )
        )
    )


def live_keys(organization: Organization, now: datetime) -> QuerySet[ApiKey]:
    """Keys that count against the cap: working and not on their way out (a key in a
    rotation grace was replaced by a live one, so it is not counted twice)."""
    return ApiKey.objects.filter(
        Q(expires_at=None) | Q(expires_at__gt=now),
        organization=organization,
        revoked_at=None,
        grace_until=None,
    )


def can_call(organization: Organization, api: Api, now: datetime) -> bool:
    """Whether the organization holds a working key that may call `api`."""
    return live_keys(organization, now).filter(Q(restricted=False) | Q(allowed_apis=api)).exists()


def key_for(organization: Organization, public_id: str) -> ApiKey | None:
    return keys_for(organization).filter(public_id=public_id).first()


def key_by_hash(key_hash: str) -> ApiKey | None:
    """The key with its organization and allowed API ids loaded, whatever its state: the
    caller decides with `is_valid_at` (the gateway caches invalid keys as such)."""
    key = ApiKey.objects.select_related("organization").filter(key_hash=key_hash).first()
    if key is not None and key.restricted:
        prefetch_related_objects(
            [key], Prefetch("allowed_apis", queryset=Api.objects.only("id").order_by())
        )
    return key


def key_by_secret(secret: str) -> ApiKey | None:
    """As key_by_hash; a mistyped or made-up key fails its checksum without a query."""
    if not has_valid_checksum(secret, KEY_PREFIX):
        return None
    return key_by_hash(hash_secret(secret))


def key_allows_api(key: ApiKey, api_id: int) -> bool:
    allowed = key.allowed_api_ids
    return allowed is None or api_id in allowed


def restrictable_apis(organization: Organization, keep: Iterable[int] = ()) -> QuerySet[Api]:
    """APIs a key of the organization may be restricted to: those it subscribes to (a key
    calls nothing else), plus `keep`, the ones a key is already restricted to, so editing
    a restriction never silently widens it. Nothing else is offered: listing every
    published API would show unlisted ones to anybody signed in."""
    subscribed = subscriptions_of(organization).filter(status__in=LIVE_STATUSES)
    return Api.objects.filter(
        Q(pk__in=subscribed.values("api_id")) | Q(pk__in=list(keep))
    ).order_by("name")


def example_call(key: ApiKey) -> tuple[str, str] | None:
    """(api slug, path) of a call worth showing next to a new key: a parameterless GET
    endpoint of the first API it is restricted to, or else of an API the organization
    subscribes to. None when nothing fits."""
    api = _example_api(key)
    if api is None:
        return None
    endpoint = (
        api.endpoints.filter(method="GET", removed_at=None).exclude(path__contains="{").first()
    )
    return api.slug, endpoint.path if endpoint else "/"


def _example_api(key: ApiKey) -> Api | None:
    if key.restricted:
        return key.allowed_apis.order_by("name").first()
    live = (s for s in subscriptions_of(key.organization) if s.is_live)
    subscription = next(live, None)
    return subscription.api if subscription else None


def add_key_prefixes(rows: list[dict]) -> list[dict]:
    """Sets `prefix` on usage rows grouped by `api_key_id`, in one query; "" when the key
    is gone (usage outlives deleted keys)."""
    ids = [row["api_key_id"] for row in rows]
    prefixes = dict(ApiKey.objects.filter(pk__in=ids).values_list("pk", "prefix"))
    for row in rows:
        row["prefix"] = prefixes.get(row["api_key_id"], "")
    return rows
