"""The usage API and panel agree with the aggregates and the rating engine."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.metering.models import UsageAggregate
from apps.subscriptions.services import subscription_create
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.conftest import bearer_client
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(owner, org, other_org):
    api = ApiFactory(organization=other_org)
    plan = PlanFactory(
        api=api,
        monthly_fee=Decimal("10"),
        included_units=100,
        unit_price=Decimal("0.05"),
        hard_limit=False,
    )
    return subscription_create(actor=owner, organization=org, plan=plan).subscription


def _aggregate(subscription, hours_in: int, calls: int, units: str, endpoint=None, **counts):
    hour = (subscription.current_period_start + timedelta(hours=hours_in)).replace(
        minute=0, second=0, microsecond=0
    )
    return UsageAggregate.objects.create(
        subscription=subscription,
        api_key_id=1,
        endpoint=endpoint,
        hour=hour,
        period_start=subscription.current_period_start,
        calls=calls,
        billable_units=Decimal(units),
        latency_histogram=[0] * 13,
        **counts,
    )


def test_usage_api_reports_units_errors_days_and_the_rating_estimate(owner, org, subscription):
    endpoint = EndpointFactory(api=subscription.api, path="/things")
    _aggregate(subscription, 1, 80, "80", endpoint, status_2xx=78, status_5xx=2)
    _aggregate(subscription, 30, 50, "50", status_2xx=45, status_4xx=5)
    client, _ = bearer_client(owner, org)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        body = client.get(f"/api/v1/subscriptions/{subscription.public_id}/usage/").json()
    assert body["units_used"] == "130.000" and body["calls"] == 130
    assert body["errors"] == {"client_4xx": 5, "server_5xx": 2, "gateway": 0}
    # 30 units over the included 100 at $0.05 = $1.50, plus the $10 fee
    assert body["estimated_charges"] == {
        "fee": "10.00",
        "usage": "1.50",
        "total": "11.50",
        "currency": "USD",
    }
    assert [d["calls"] for d in body["by_day"] if d["calls"]] == [80, 50]
    assert body["by_endpoint"][0]["path"] == "/things"


def test_usage_of_another_organization_is_404(outsider, other_org, subscription):
    client, _ = bearer_client(outsider, other_org)
    assert client.get(f"/api/v1/subscriptions/{subscription.public_id}/usage/").status_code == 404


def test_the_subscription_page_shows_the_usage_panel(owner_client, subscription):
    _aggregate(subscription, 2, 120, "120", status_2xx=120)
    html = owner_client.get(f"/console/subscriptions/{subscription.public_id}/").content.decode()
    assert "This period" in html and "<svg" in html
    assert "120" in html and "$11.00" in html  # 20 units over × $0.05 + $10


def test_the_try_it_console_appears_for_subscribers_only(client, owner, subscription, outsider):
    client.force_login(outsider)
    assert b"Try it" not in client.get(f"/apis/{subscription.api.slug}/").content
    client.force_login(owner)
    html = client.get(f"/apis/{subscription.api.slug}/").content.decode()
    assert "Try it" in html and 'id="try-endpoints"' in html


def test_a_temporary_try_it_key_expires_within_the_hour(owner_client, org):
    from apps.keys.models import ApiKey

    response = owner_client.post("/console/try-key/")
    assert response.json()["key"].startswith("tg_")
    key = ApiKey.objects.get(organization=org)
    assert key.expires_at <= timezone.now() + timedelta(hours=1)
