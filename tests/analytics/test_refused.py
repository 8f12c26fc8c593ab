"""Refused calls as the consumer sees them: the usage API, the subscription's usage panel,
the usage dashboard and its CSV exports, per key and error code; nothing of another
organization's."""

import csv
import io
import time
from decimal import Decimal

import pytest

from apps.keys.services import api_key_create
from apps.metering.events import REFUSED, CallEvent
from apps.metering.flush import flush_database
from apps.metering.stores.database_store import record_sync
from apps.subscriptions.services import subscription_create
from tests.catalog.factories import ApiFactory
from tests.conftest import bearer_client
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(owner, org, other_org):
    api = ApiFactory(organization=other_org, name="Geocoder")
    plan = PlanFactory(api=api, monthly_fee=Decimal("10"), included_units=5, hard_limit=True)
    subscription = subscription_create(actor=owner, organization=org, plan=plan).subscription
    key, _ = api_key_create(actor=owner, organization=org, name="server")
    spare, _ = api_key_create(actor=owner, organization=org, name="spare")
    other_api = ApiFactory(organization=other_org, name="Translator")
    return {
        "subscription": subscription,
        "key": key,
        "spare": spare,
        "api": api,
        "other_api": other_api,
    }


def _refusal(subscription, key, api, code: str, status: int, n: int) -> CallEvent:
    return CallEvent(
        ts_ms=int(time.time() * 1000) - n,
        subscription_id=subscription.pk if subscription else 0,
        api_key_id=key.pk,
        endpoint_id=None,
        period_start=int(subscription.current_period_start.timestamp()) if subscription else 0,
        status=status,
        latency_ms=0,
        units_micro=0,
        gateway_error=True,
        bytes_in=0,
        bytes_out=0,
        request_id=f"{code[:8]}{key.pk}{n:04d}",
        kind=REFUSED,
        code=code,
        api_id=api.pk,
    )


def _record_refusals(world) -> None:
    """7 rate-limited and 2 quota refusals of `key`, 3 not-subscribed ones of `spare`,
    through the embedded store and the flush."""
    subscription, key, spare = world["subscription"], world["key"], world["spare"]
    events = [_refusal(subscription, key, world["api"], "rate_limited", 429, n) for n in range(7)]
    events += [_refusal(subscription, key, world["api"], "quota_exceeded", 429, n) for n in (7, 8)]
    events += [
        _refusal(None, spare, world["other_api"], "not_subscribed", 403, n) for n in range(3)
    ]
    record_sync([(event, 0, None) for event in events])
    while flush_database():
        pass


def test_the_usage_api_counts_refusals_by_code_and_key_apart_from_calls(owner, org, world):
    _record_refusals(world)
    client, _ = bearer_client(owner, org)
    body = client.get(f"/api/v1/subscriptions/{world['subscription'].public_id}/usage/").json()
    assert body["calls"] == 0 and body["units_used"] == "0.000"
    assert body["refused"] == {
        "total": 9,
        "by_code": [
            {"code": "rate_limited", "status": 429, "calls": 7},
            {"code": "quota_exceeded", "status": 429, "calls": 2},
        ],
    }
    assert body["by_key"] == [
        {"key_prefix": world["key"].prefix, "calls": 0, "units": "0.000", "refused": 9}
    ]
    assert body["estimated_charges"]["usage"] == "0.00"


def test_the_usage_panel_shows_refused_calls_with_what_they_mean(owner_client, world):
    _record_refusals(world)
    page = owner_client.get(f"/console/subscriptions/{world['subscription'].public_id}/")
    html = page.content.decode()
    assert '<a href="#refused">9 refused</a>' in html
    assert "<code>rate_limited</code>" in html and "Too many requests." in html
    assert "<code>not_subscribed</code>" not in html  # not this subscription's


def test_the_usage_dashboard_shows_every_refusal_of_the_organization_keys(owner_client, world):
    _record_refusals(world)
    response = owner_client.get("/console/usage/")
    board = response.context["board"]
    assert board.refused_total == 12
    assert [(r["prefix"], r["api__name"], r["code"], r["calls"]) for r in board.refused] == [
        (world["key"].prefix, "Geocoder", "rate_limited", 7),
        (world["spare"].prefix, "Translator", "not_subscribed", 3),
        (world["key"].prefix, "Geocoder", "quota_exceeded", 2),
    ]
    assert [(r["prefix"], r["refused"]) for r in board.keys] == [
        (world["key"].prefix, 9),
        (world["spare"].prefix, 3),
    ]
    assert [r["refused"] for r in board.subscriptions] == [9]
    html = response.content.decode()
    assert 'id="refused"' in html and "<code>not_subscribed</code>" in html


def test_usage_csv_exports_carry_the_refusals(owner_client, world):
    _record_refusals(world)
    rows = _csv(owner_client.get("/console/usage/", {"export": "refused"}))
    assert rows[0] == ["key_prefix", "api", "code", "status", "calls"]
    assert [world["spare"].prefix, "Translator", "not_subscribed", "403", "3"] in rows
    keys = _csv(owner_client.get("/console/usage/", {"export": "keys"}))
    assert keys[0][-1] == "refused" and [r[-1] for r in keys[1:]] == ["9", "3"]
    subscriptions = _csv(owner_client.get("/console/usage/", {"export": "subscriptions"}))
    assert subscriptions[1][subscriptions[0].index("refused")] == "9"


def test_another_organization_sees_none_of_the_refusals(outsider_client, world):
    _record_refusals(world)
    board = outsider_client.get("/console/usage/").context["board"]
    assert board.refused == [] and board.refused_total == 0
    url = f"/console/usage/{world['subscription'].public_id}/log/"
    assert outsider_client.get(url).status_code == 404


def test_the_request_log_csv_has_the_error_code(owner_client, world):
    import json

    from apps.metering.models import RequestLogEntry

    line = {"t": time.time(), "id": "abc", "key": "tg_x", "m": "GET", "e": None, "p": "/a"}
    RequestLogEntry.objects.create(
        subscription_id=world["subscription"].pk,
        data=json.dumps({**line, "s": 429, "ms": 0, "u": "0", "c": "rate_limited"}),
    )
    url = f"/console/usage/{world['subscription'].public_id}/log/"
    assert '<code class="small">rate_limited</code>' in owner_client.get(url).content.decode()
    rows = _csv(owner_client.get(url, {"export": "csv"}))
    assert rows[0][-1] == "code" and rows[1][-1] == "rate_limited"


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_providers_see_how_many_calls_to_their_apis_were_refused(outsider, other_org, world):
    _record_refusals(world)
    client, _ = bearer_client(outsider, other_org)
    body = client.get("/api/v1/provider/analytics/").json()
    assert body["refused"] == {
        "total": 12,
        "by_code": [
            {"code": "rate_limited", "status": 429, "calls": 7},
            {"code": "not_subscribed", "status": 403, "calls": 3},
            {"code": "quota_exceeded", "status": 429, "calls": 2},
        ],
    }
    one = client.get("/api/v1/provider/analytics/", {"api": world["api"].slug}).json()
    assert one["refused"]["total"] == 9
