"""Dashboards: the numbers agree with what was recorded, CSV exports, isolation and query
counts with a month of hourly aggregates for dozens of subscriptions."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.metering.events import CallEvent
from apps.metering.flush import apply_events
from apps.subscriptions.services import subscription_create
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


def _whole_month() -> dict:
    today = timezone.now().date()
    return {
        "range": "custom",
        "from": (today - timedelta(days=31)).isoformat(),
        "to": today.isoformat(),
    }


@pytest.fixture
def provider_world(org, owner):
    """`org` (owner) is the provider; a month of hourly traffic from 24 consumers."""
    api = ApiFactory(organization=org, slug="maps")
    endpoint = EndpointFactory(api=api, path="/tiles")
    plan = PlanFactory(api=api, hard_limit=False, included_units=0, unit_price=Decimal("0.01"))
    start = (timezone.now() - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    events = []
    for n in range(24):
        member = MembershipFactory(organization__name=f"Consumer {n:02d}")
        subscription = subscription_create(
            actor=member.user, organization=member.organization, plan=plan, now=start
        ).subscription
        for hour in range(0, 30 * 24, 6):
            at = int((start + timedelta(hours=hour)).timestamp() * 1000)
            events += [
                CallEvent(
                    ts_ms=at + k,
                    subscription_id=subscription.pk,
                    api_key_id=n,
                    endpoint_id=endpoint.pk,
                    period_start=int(start.timestamp()),
                    status=500 if k == 0 and n % 4 == 0 else 200,
                    latency_ms=20 + k * 10,
                    units_micro=1_000_000,
                    gateway_error=False,
                    bytes_in=0,
                    bytes_out=10,
                )
                for k in range(3)
            ]
    apply_events(events)
    return {"api": api, "events": events}


def test_provider_totals_match_what_was_recorded(owner_client, provider_world):
    response = owner_client.get("/console/analytics/", _whole_month())
    totals = response.context["board"].totals
    events = provider_world["events"]
    assert totals["calls"] == len(events)
    assert totals["status_5xx"] == sum(1 for e in events if e.status == 500)
    assert totals["p50"] is not None and totals["p50"] <= 50


def test_providers_see_the_calls_whose_unit_reports_broke_the_rule(owner_client, provider_world):
    page = owner_client.get("/console/analytics/", _whole_month()).content.decode()
    assert 'id="invalid-units"' not in page  # every report kept the rule so far
    event = provider_world["events"][0]
    broken = [
        CallEvent(**{**event.__dict__, "ts_ms": event.ts_ms + n, "units_invalid": True})
        for n in range(1, 4)
    ]
    apply_events(broken)
    response = owner_client.get("/console/analytics/", _whole_month())
    assert response.context["board"].totals["invalid_unit_reports"] == 3
    page = response.content.decode()
    assert 'id="invalid-units"' in page and "3 calls reported unreadable units." in page


def test_daily_and_hourly_grains_agree(owner_client, provider_world):
    from django.db.models import Sum

    from apps.metering.models import UsageAggregate, UsageDaily

    assert UsageAggregate.objects.aggregate(n=Sum("calls")) == UsageDaily.objects.aggregate(
        n=Sum("calls")
    )


def test_csv_exports_hold_the_table_rows(owner_client, provider_world):
    response = owner_client.get("/console/analytics/", {"range": "30d", "export": "endpoints"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["path"] == "/tiles" and int(rows[0]["calls"]) > 0
    consumers = owner_client.get(
        "/console/analytics/", {"range": "30d", "export": "consumers"}
    ).content
    assert consumers.decode().count("\n") == 11  # header + top 10


def test_other_providers_see_nothing_of_it(client, provider_world, outsider):
    client.force_login(outsider)
    board = client.get("/console/analytics/", {"range": "30d"}).context["board"]
    assert board.totals["calls"] == 0 and board.consumers == []
    assert client.get("/console/analytics/", {"api": "maps"}).status_code == 404


def test_consumers_see_only_their_own_usage(client, provider_world):
    from apps.subscriptions.models import Subscription

    subscription = Subscription.objects.filter(api=provider_world["api"]).first()
    member = subscription.organization.memberships.first().user
    client.force_login(member)
    board = client.get("/console/usage/", _whole_month()).context["board"]
    mine = [e for e in provider_world["events"] if e.subscription_id == subscription.pk]
    assert board.totals["calls"] == len(mine)


def test_usage_of_a_key_that_is_gone_is_labelled_not_blank(client, provider_world):
    from apps.subscriptions.models import Subscription

    subscription = Subscription.objects.filter(api=provider_world["api"]).first()
    client.force_login(subscription.organization.memberships.first().user)
    response = client.get("/console/usage/", _whole_month())
    (row,) = response.context["board"].keys  # its events name a key id that does not exist
    assert row["prefix"] == "" and row["calls"] > 0
    assert "deleted key" in response.content.decode()


def test_dashboards_use_a_fixed_number_of_queries(owner_client, provider_world):
    for params in ({"range": "24h"}, {"range": "30d"}):
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get("/console/analytics/", params).status_code == 200
        assert len(queries) <= 16, [q["sql"][:80] for q in queries]


def test_staff_dashboard_renders_for_staff_only(client, staff, owner, provider_world):
    client.force_login(owner)
    assert client.get("/staff/").status_code == 302
    client.force_login(staff)
    assert client.get("/staff/").status_code == 200


def test_quality_signals_say_when_traffic_is_too_little(client, provider_world):
    html = client.get("/apis/maps/").content.decode()
    assert "Success rate" in html or "Too little traffic" in html


def test_subscribers_over_time_counts_starts_and_cancellations(org, owner):
    from datetime import UTC, datetime

    from apps.analytics.provider import subscribers_over_time
    from apps.analytics.ranges import parse_range
    from apps.subscriptions.models import Subscription

    api = ApiFactory(organization=org)
    plan = PlanFactory(api=api)
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    spans = [
        (datetime(2026, 6, 1, tzinfo=UTC), None),
        (datetime(2026, 6, 24, 9, tzinfo=UTC), datetime(2026, 6, 27, 18, tzinfo=UTC)),
        (datetime(2026, 6, 26, tzinfo=UTC), None),
    ]
    for n, (created, canceled) in enumerate(spans):
        member = MembershipFactory(organization__name=f"Sub {n}")
        subscription = subscription_create(
            actor=member.user, organization=member.organization, plan=plan, now=created
        ).subscription
        Subscription.objects.filter(pk=subscription.pk).update(
            created_at=created, canceled_at=canceled
        )
    points = subscribers_over_time(org, parse_range({"range": "7d"}, now=now))
    # June 24 … 30: sub 1 joins on the 24th and leaves on the 27th; sub 2 joins on the 26th
    assert [p["subscribers"] for p in points] == [2, 2, 3, 2, 2, 2, 2]


def test_latency_columns_name_their_unit(owner_client, provider_world):
    page = owner_client.get("/console/analytics/", _whole_month()).content.decode()
    assert '<th class="num">p50 (ms)</th><th class="num">p95 (ms)</th>' in page
    assert 'data-label="p50 (ms)"' in page  # the phone's card labels too
