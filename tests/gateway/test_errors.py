"""Every error the gateway makes is problem+json with DESIGN.md's code, and none is billed."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.services import organization_suspend
from apps.catalog.models import Api, ApiStatus
from apps.keys.services import api_key_revoke
from apps.subscriptions.models import Subscription, SubscriptionStatus
from tests.catalog.factories import ApiFactory
from tests.gateway.conftest import make_plan, settle, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def _problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["request_id"] == response.headers["X-Tollgate-Request-Id"]
    assert set(body) >= {"type", "title", "status", "detail", "code", "request_id"}
    return body


def test_missing_key(world):
    _problem(world.call(key=False), 401, "missing_api_key")


def test_malformed_and_unknown_keys(world):
    _problem(world.call(key="tg_not-a-real-key"), 401, "invalid_api_key")
    typo = world.key[:-1] + ("A" if world.key[-1] != "A" else "B")
    _problem(world.call(key=typo), 401, "invalid_api_key")


def test_revoked_key(world):
    api_key_revoke(actor=world.consumer, key=world.key_row)
    time.sleep(1.1)  # the embedded store polls its cache version once a second
    _problem(world.call(), 401, "invalid_api_key")


def test_unknown_slug_and_unpublished_api(world):
    response = world.call()
    assert response.status_code == 200
    import requests

    unknown = requests.get(
        f"{world.site.url}/gw/nope/x", headers={"X-Api-Key": world.key}, timeout=10
    )
    _problem(unknown, 404, "api_not_found")
    draft = ApiFactory(status=ApiStatus.DRAFT, upstream_url=world.upstream.url)
    draft_call = requests.get(
        f"{world.site.url}/gw/{draft.slug}/echo", headers={"X-Api-Key": world.key}, timeout=10
    )
    _problem(draft_call, 404, "api_not_found")


def test_not_subscribed(world):
    import requests

    other = ApiFactory(status=ApiStatus.PUBLISHED, upstream_url=world.upstream.url)
    response = requests.get(
        f"{world.site.url}/gw/{other.slug}/echo", headers={"X-Api-Key": world.key}, timeout=10
    )
    _problem(response, 403, "not_subscribed")


def test_pending_payment_is_inactive(world):
    Subscription.objects.filter(pk=world.subscription.pk).update(
        status=SubscriptionStatus.PENDING_PAYMENT
    )
    _problem(world.call(), 403, "subscription_inactive")


def test_suspended_consumer(world, staff):
    organization_suspend(actor=staff, organization=world.consumer_org, reason="abuse")
    time.sleep(1.1)
    _problem(world.call(), 403, "consumer_suspended")


def test_past_due_beyond_the_grace_period_is_402(world, settings):
    settings.PAYMENT_GRACE_DAYS = 3
    Subscription.objects.filter(pk=world.subscription.pk).update(
        status=SubscriptionStatus.PAST_DUE, past_due_since=timezone.now() - timedelta(days=1)
    )
    assert world.call().status_code == 200  # inside the grace period
    Subscription.objects.filter(pk=world.subscription.pk).update(
        past_due_since=timezone.now() - timedelta(days=4)
    )
    from apps.core.models import CacheVersion

    CacheVersion.bump()
    _publish_subscription_change(world)
    _problem(world.call(), 402, "payment_required")


def _publish_subscription_change(world):
    """What the billing service does after changing a subscription."""
    from apps.core.invalidation import _publish_now

    _publish_now("subscription", f"{world.consumer_org.pk}:{world.api.pk}")
    time.sleep(1.1)


def test_request_too_large(world, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    _problem(world.call("/echo", method="POST", data=b"x" * 1001), 413, "request_too_large")
    assert world.call("/echo", method="POST", data=b"x" * 1000).status_code == 200


def test_upstream_unreachable_is_502(world):
    from tests.servers import free_port

    Api.objects.filter(pk=world.api.pk).update(upstream_url=f"http://127.0.0.1:{free_port()}")
    _publish_api_change(world)
    _problem(world.call(), 502, "upstream_error")


def test_upstream_breaking_the_connection_is_502(world):
    _problem(world.call("/drop"), 502, "upstream_error")


def _publish_api_change(world):
    from apps.core.invalidation import _publish_now

    _publish_now("api", world.api.slug)
    time.sleep(1.1)


def test_slow_upstream_is_504(world):
    Api.objects.filter(pk=world.api.pk).update(upstream_timeout_s=1)
    _publish_api_change(world)
    _problem(world.call("/slow?seconds=3"), 504, "upstream_timeout")


def test_a_private_upstream_is_refused_at_connect_time(world, settings):
    settings.UPSTREAM_ALLOW_PRIVATE = False
    _problem(world.call(), 502, "upstream_error")
    assert world.upstream.received == []


def test_gateway_errors_are_never_billed(world):
    world.call(key=False)
    world.call("/drop")
    world.call("/status?code=500")  # the plan does not bill server errors
    ok = world.call("/echo")
    assert ok.status_code == 200
    settle(3)  # /drop (502) and the 500 were admitted calls too; neither is billed
    from apps.metering.selectors import period_units

    assert period_units(world.subscription.pk, world.subscription.current_period_start) == 1


def test_key_restricted_to_other_apis(world):
    from apps.keys.services import api_key_restrict

    other = ApiFactory(status=ApiStatus.PUBLISHED)
    subscribe(world.consumer_org, make_plan(other))  # keys restrict to subscribed APIs only
    api_key_restrict(actor=world.consumer, key=world.key_row, apis=[other])
    time.sleep(1.1)
    _problem(world.call(), 403, "key_not_allowed")


def test_a_second_subscription_plan_of_another_org_does_not_leak(world):
    """Another organization's subscription to the same API does not admit our key."""
    from tests.factories import MembershipFactory

    other = MembershipFactory().organization
    subscribe(other, make_plan(world.api, name="Other"))
    assert world.call().status_code == 200
