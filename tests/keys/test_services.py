"""Rotation with a grace period, revocation, expiry, restrictions, the cap, last-used
times, permissions, audit and cache invalidation."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.core.models import AuditLog
from apps.keys import selectors, services
from apps.keys.models import ApiKey, KeyStatus
from tests.catalog.factories import ApiFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def _valid(key: ApiKey, at=None) -> bool:
    key.refresh_from_db()
    return key.is_valid_at(at or timezone.now())


# --- Rotation ---------------------------------------------------------------------------
def test_a_rotated_key_keeps_working_during_its_grace_and_stops_after(make_key, owner):
    old, old_secret = make_key()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        new, new_secret = services.api_key_rotate(actor=owner, key=old, grace=HOUR)
        assert new_secret != old_secret
        assert _valid(old) and _valid(new)
        assert old.status == KeyStatus.GRACE and old.rotated_to == new
        clock.shift(HOUR - timedelta(seconds=1))
        assert _valid(old)
        clock.shift(timedelta(seconds=1))
        assert not _valid(old)
        assert old.status == KeyStatus.REVOKED
        assert _valid(new)


def test_rotating_without_grace_stops_the_old_key_at_once(make_key, owner):
    old, _ = make_key()
    new, _ = services.api_key_rotate(actor=owner, key=old, grace=timedelta(0))
    assert not _valid(old)
    assert old.revoked_at is not None and old.rotated_to == new
    assert _valid(new)


def test_the_new_key_copies_name_restrictions_and_expiry(make_key, owner, weather, ocr):
    expires_at = timezone.now() + timedelta(days=30)
    old, _ = make_key("billing worker", expires_at=expires_at, allowed_apis=[weather, ocr])
    new, secret = services.api_key_rotate(actor=owner, key=old, grace=HOUR)
    assert new.name == "billing worker"
    assert new.expires_at == expires_at
    assert new.allowed_api_ids == frozenset({weather.pk, ocr.pk})
    assert new.created_by == owner and new.organization == old.organization
    assert selectors.key_by_secret(secret).pk == new.pk


def test_a_key_rotates_only_once_and_only_while_it_works(make_key, owner):
    old, _ = make_key()
    services.api_key_rotate(actor=owner, key=old, grace=HOUR)
    with pytest.raises(Conflict, match="already rotated"):
        services.api_key_rotate(actor=owner, key=old, grace=HOUR)
    revoked, _ = make_key("other")
    services.api_key_revoke(actor=owner, key=revoked)
    with pytest.raises(Conflict):
        services.api_key_rotate(actor=owner, key=revoked, grace=HOUR)


@pytest.mark.parametrize("grace", [timedelta(seconds=-1), timedelta(days=8)])
def test_a_grace_outside_none_to_seven_days_is_refused(make_key, owner, grace):
    key, _ = make_key()
    with pytest.raises(ServiceError) as error:
        services.api_key_rotate(actor=owner, key=key, grace=grace)
    assert error.value.field == "grace"


# --- Revocation and expiry ----------------------------------------------------------------
def test_a_revoked_key_stops_working_at_once(make_key, owner):
    key, _ = make_key()
    services.api_key_revoke(actor=owner, key=key)
    assert not _valid(key)
    assert key.status == KeyStatus.REVOKED


def test_revoking_twice_is_harmless_and_recorded_once(make_key, owner):
    key, _ = make_key()
    services.api_key_revoke(actor=owner, key=key)
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    services.api_key_revoke(actor=owner, key=key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first
    assert AuditLog.objects.filter(action="api_key.revoked").count() == 1


def test_revoking_a_key_in_its_grace_ends_the_grace(make_key, owner):
    old, _ = make_key()
    services.api_key_rotate(actor=owner, key=old, grace=timedelta(days=7))
    services.api_key_revoke(actor=owner, key=old)
    assert not _valid(old)


def test_a_key_stops_at_its_expiry_and_says_so_a_week_before(make_key):
    expires_at = timezone.now() + timedelta(days=10)
    key, _ = make_key(expires_at=expires_at)
    assert key.status == KeyStatus.ACTIVE
    with time_machine.travel(expires_at - timedelta(days=6)):
        assert key.status == KeyStatus.EXPIRING and key.is_valid
    with time_machine.travel(expires_at - timedelta(seconds=1)):
        assert key.is_valid
    with time_machine.travel(expires_at):
        assert not key.is_valid and key.status == KeyStatus.EXPIRED


def test_an_expiry_in_the_past_is_refused(make_key):
    with pytest.raises(ServiceError) as error:
        make_key(expires_at=timezone.now() - HOUR)
    assert error.value.field == "expires_at"


def test_a_key_needs_a_name(make_key):
    with pytest.raises(ServiceError) as error:
        make_key("   ")
    assert error.value.field == "name"


# --- Restrictions -------------------------------------------------------------------------
def test_an_unrestricted_key_allows_every_api(make_key, weather, ocr):
    key, _ = make_key()
    assert selectors.key_allows_api(key, weather.pk) and selectors.key_allows_api(key, ocr.pk)


def test_a_restricted_key_allows_only_its_apis(make_key, owner, weather, ocr):
    key, _ = make_key()
    services.api_key_restrict(actor=owner, key=key, apis=[weather])
    key = selectors.key_by_hash(key.key_hash)
    assert selectors.key_allows_api(key, weather.pk)
    assert not selectors.key_allows_api(key, ocr.pk)


def test_restricting_to_nothing_lifts_the_restriction(make_key, owner, weather, ocr):
    key, _ = make_key(allowed_apis=[weather])
    services.api_key_restrict(actor=owner, key=key, apis=[])
    key = selectors.key_by_hash(key.key_hash)
    assert key.allowed_api_ids is None and selectors.key_allows_api(key, ocr.pk)


def test_a_key_cannot_be_restricted_to_another_providers_unpublished_api(
    make_key, owner, draft_of_others
):
    key, _ = make_key()
    with pytest.raises(ServiceError) as error:
        services.api_key_restrict(actor=owner, key=key, apis=[draft_of_others])
    assert error.value.field == "apis"
    with pytest.raises(ServiceError):
        make_key("other", allowed_apis=[draft_of_others])


def test_a_key_cannot_be_restricted_to_an_api_the_organization_does_not_subscribe_to(
    make_key, owner, org
):
    from apps.catalog.models import Visibility

    own = ApiFactory(organization=org)
    unlisted = ApiFactory(visibility=Visibility.UNLISTED)
    listed = ApiFactory()
    key, _ = make_key()
    for api in (own, unlisted, listed):
        with pytest.raises(ServiceError) as error:
            services.api_key_restrict(actor=owner, key=key, apis=[api])
        assert error.value.field == "apis" and api.name in error.value.message
        with pytest.raises(ServiceError):
            make_key("other", allowed_apis=[api])
    key.refresh_from_db()
    assert not key.restricted and not key.allowed_apis.exists()


def test_a_restricted_key_whose_apis_were_deleted_calls_nothing(make_key, weather, ocr):
    key, _ = make_key(allowed_apis=[weather])
    weather.subscriptions.all().delete()
    weather.plans.all().delete()
    weather.delete()
    key = selectors.key_by_hash(key.key_hash)
    assert key.allowed_api_ids == frozenset()
    assert not selectors.key_allows_api(key, ocr.pk)


def test_a_revoked_key_cannot_be_restricted(make_key, owner, weather):
    key, _ = make_key()
    services.api_key_revoke(actor=owner, key=key)
    with pytest.raises(Conflict):
        services.api_key_restrict(actor=owner, key=key, apis=[weather])


# --- The cap ------------------------------------------------------------------------------
def test_an_organization_holds_at_most_fifty_live_keys(make_key, owner, org, other_org, outsider):
    keys = [make_key(f"k{n}")[0] for n in range(services.MAX_LIVE_KEYS)]
    with pytest.raises(Conflict) as error:
        make_key("one too many")
    assert error.value.code == "too_many_keys" and "50" in error.value.message
    # another organization has its own allowance
    services.api_key_create(actor=outsider, organization=other_org, name="theirs")
    # rotating at the cap still works: the old key is on its way out
    services.api_key_rotate(actor=owner, key=keys[0], grace=HOUR)
    # revoked and expired keys do not count
    services.api_key_revoke(actor=owner, key=keys[1])
    make_key("after a revoke")
    with pytest.raises(Conflict):
        make_key("full again")


def test_expired_keys_do_not_count_against_the_cap(make_key):
    soon = timezone.now() + HOUR
    for n in range(services.MAX_LIVE_KEYS):
        make_key(f"k{n}", expires_at=soon)
    with time_machine.travel(soon + timedelta(seconds=1)):
        make_key("fresh")


# --- Last used ----------------------------------------------------------------------------
def test_last_used_is_touched_in_bulk_by_public_id_or_hash(make_key):
    first, _ = make_key("a")
    second, _ = make_key("b")
    when = timezone.now().replace(microsecond=0)
    changed = services.api_keys_touch_last_used(
        {first.public_id: when, second.key_hash: when + HOUR, "key_unknown": when}
    )
    assert changed == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.last_used_at == when and second.last_used_at == when + HOUR


def test_last_used_only_moves_forward(make_key, django_assert_num_queries):
    key, _ = make_key()
    now = timezone.now()
    services.api_keys_touch_last_used({key.public_id: now})
    assert services.api_keys_touch_last_used({key.public_id: now - HOUR}) == 0
    assert services.api_keys_touch_last_used({key.public_id: now}) == 0
    key.refresh_from_db()
    assert key.last_used_at == now
    with django_assert_num_queries(1):
        assert services.api_keys_touch_last_used({key.key_hash: now + HOUR}) == 1
    key.refresh_from_db()
    assert key.last_used_at == now + HOUR


def test_touching_many_keys_takes_few_queries(make_key, django_assert_max_num_queries):
    keys = [make_key(f"k{n}")[0] for n in range(30)]
    now = timezone.now()
    with django_assert_max_num_queries(1):
        services.api_keys_touch_last_used({key.public_id: now for key in keys})
    assert ApiKey.objects.filter(last_used_at=now).count() == 30


def test_using_a_key_writes_nothing_until_the_flush(make_key, django_assert_num_queries):
    _, secret = make_key()
    with django_assert_num_queries(1):  # one read, no write
        selectors.key_by_secret(secret)


# --- Who may do what ----------------------------------------------------------------------
def test_a_billing_member_can_neither_create_nor_change_keys(make_key, billing_member, org):
    key, _ = make_key()
    calls = [
        lambda: services.api_key_create(actor=billing_member, organization=org, name="x"),
        lambda: services.api_key_rotate(actor=billing_member, key=key, grace=HOUR),
        lambda: services.api_key_revoke(actor=billing_member, key=key),
        lambda: services.api_key_restrict(actor=billing_member, key=key, apis=[]),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
    assert _valid(key)


def test_an_outsider_cannot_touch_another_organizations_keys(make_key, outsider, org):
    key, _ = make_key()
    with pytest.raises(NotFound):
        services.api_key_revoke(actor=outsider, key=key)
    with pytest.raises(NotFound):
        services.api_key_create(actor=outsider, organization=org, name="sneaky")
    assert _valid(key)


def test_a_developer_manages_keys(member, org):
    key, _ = services.api_key_create(actor=member, organization=org, name="dev")
    services.api_key_revoke(actor=member, key=key)


# --- Audit and invalidation ---------------------------------------------------------------
def test_every_change_is_audited(make_key, owner, weather):
    key, _ = make_key()
    services.api_key_restrict(actor=owner, key=key, apis=[weather])
    new, _ = services.api_key_rotate(actor=owner, key=key, grace=HOUR)
    services.api_key_revoke(actor=owner, key=new)
    actions = list(
        AuditLog.objects.filter(target_type="keys.apikey")
        .order_by("id")
        .values_list("action", "target_id")
    )
    assert actions == [
        ("api_key.created", key.public_id),
        ("api_key.restricted", key.public_id),
        ("api_key.rotated", key.public_id),
        ("api_key.created", new.public_id),
        ("api_key.revoked", new.public_id),
    ]
    rotated = AuditLog.objects.get(action="api_key.rotated")
    assert rotated.data["new_key"] == new.public_id and rotated.data["grace_seconds"] == 3600


def test_the_gateway_hears_of_every_change_after_commit(
    make_key, owner, weather, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        "apps.core.invalidation._publish_now", lambda kind, key: published.append((kind, key))
    )
    key, _ = make_key()
    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_restrict(actor=owner, key=key, apis=[weather])
        assert published == []  # not before the commit
    with django_capture_on_commit_callbacks(execute=True):
        new, _ = services.api_key_rotate(actor=owner, key=key, grace=HOUR)
    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(actor=owner, key=new)
    assert published == [("key", key.key_hash), ("key", key.key_hash), ("key", new.key_hash)]


def test_a_refused_change_publishes_nothing(
    make_key, billing_member, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        "apps.core.invalidation._publish_now", lambda kind, key: published.append((kind, key))
    )
    key, _ = make_key()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Forbidden):
        services.api_key_revoke(actor=billing_member, key=key)
    assert published == []
