"""`GET /api/v1/provider/analytics/` (DESIGN.md's platform API): the provider dashboard's
figures as JSON, for the token's organization only, revenue for roles that see billing."""

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.billing.models import Invoice, InvoiceLine, InvoiceStatus
from apps.metering.events import CallEvent
from tests.analytics import test_dashboards as dashboards
from tests.conftest import bearer_client
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
provider_world = dashboards.provider_world  # the dashboard tests' month of traffic
_whole_month = dashboards._whole_month
URL = "/api/v1/provider/analytics/"


def _invoice(provider_world, amount: str, status=InvoiceStatus.PAID):
    api = provider_world["api"]
    subscription = api.subscriptions.first()
    invoice = Invoice.objects.create(
        key=f"test:{amount}:{status}",
        organization=subscription.organization,
        subscription=subscription,
        status=status,
        collection_method="manual",
        currency="USD",
        total=Decimal(amount),
        issued_at=timezone.now(),
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        kind="usage",
        description="Calls",
        quantity=Decimal(1),
        unit_price=Decimal(amount),
        amount=Decimal(amount),
        api=api,
        provider=api.organization,
    )


def test_it_gives_the_figures_the_dashboard_shows(owner, org, provider_world):
    api_client, _ = bearer_client(owner, org)
    body = api_client.get(URL, _whole_month()).json()
    events: list[CallEvent] = provider_world["events"]
    assert body["calls"] == len(events)
    assert body["errors"]["server_5xx"] == sum(1 for e in events if e.status == 500)
    assert body["errors"]["error_rate_percent"] == pytest.approx(
        100 * body["errors"]["server_5xx"] / len(events), abs=0.001
    )
    assert body["latency_ms"]["p50"] is not None
    assert body["endpoints"][0]["path"] == "/tiles"
    assert sum(point["calls"] for point in body["series"]) == len(events)
    assert body["revenue"]["currency"] == "USD"


def test_revenue_counts_billed_and_collected_lines(owner, org, provider_world):
    _invoice(provider_world, "12.50")
    _invoice(provider_world, "2.00", status=InvoiceStatus.OPEN)
    api_client, _ = bearer_client(owner, org)
    revenue = api_client.get(URL, _whole_month()).json()["revenue"]
    assert (revenue["billed"], revenue["collected"]) == ("14.50", "12.50")


def test_a_developer_sees_traffic_but_no_revenue(org, provider_world):
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER).user
    _invoice(provider_world, "12.50")
    api_client, _ = bearer_client(developer, org)
    response = api_client.get(URL, _whole_month())
    body = response.json()
    assert body["calls"] == len(provider_world["events"])
    assert body["revenue"] is None
    assert "12.50" not in response.content.decode()


def test_other_organizations_see_none_of_it(outsider, other_org, provider_world):
    api_client, _ = bearer_client(outsider, other_org)
    assert api_client.get(URL, _whole_month()).json()["calls"] == 0
    refused = api_client.get(URL, {"api": "maps"})
    assert refused.status_code == 404
    assert refused.json()["status"] == 404


def test_it_refuses_a_range_it_cannot_read(owner, org, provider_world):
    api_client, _ = bearer_client(owner, org)
    for params in (
        {"range": "custom", "from": "9999-12-01", "to": "2026-01-01"},
        {"range": "custom", "from": "0000-01-01", "to": "2026-01-01"},
        {"range": "custom", "from": "2024-01-01", "to": "2026-01-01"},
        {"range": "fortnight"},
    ):
        response = api_client.get(URL, params)
        assert response.status_code == 400, params
        assert response["Content-Type"].startswith("application/problem+json")


def test_anonymous_callers_are_asked_to_authenticate(api_client):
    assert api_client.get(URL).status_code in (401, 403)
