"""The platform API previews a plan change: the invoice the change would make now, line for
line (the same rolled-back change the console's confirmation shows), and the terms billed
from the period end. Nothing changes."""

from decimal import Decimal as D

import pytest

from apps.accounts.roles import Role
from apps.billing.models import Invoice
from tests.billing.test_pricing_examples import at, moment, subscribe
from tests.billing.usage import record_usage
from tests.catalog.factories import ApiFactory
from tests.conftest import bearer_client
from tests.factories import MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plans(other_org):
    """docs/pricing.md's Basic and Pro."""
    api = ApiFactory(organization=other_org)
    common = {"hard_limit": False}
    return {
        "basic": PlanFactory(
            api=api,
            name="Basic",
            monthly_fee=D("10"),
            included_units=1_000,
            unit_price=D("0.01"),
            **common,
        ),
        "pro": PlanFactory(
            api=api,
            name="Pro",
            monthly_fee=D("40"),
            included_units=10_000,
            unit_price=D("0.002"),
            **common,
        ),
    }


@pytest.fixture
def on_basic(owner, org, plans):
    """Basic from Apr 1, 1,200 calls by Apr 10 (the upgrade example of docs/pricing.md)."""
    subscription = subscribe(owner, org, plans["basic"], at(4, 1))
    record_usage(subscription, 1_200, at=at(4, 10))
    return subscription


def _url(subscription) -> str:
    return f"/api/v1/subscriptions/{subscription.public_id}/change-plan/preview/"


def test_the_api_previews_an_upgrade_line_for_line_and_changes_nothing(owner, org, on_basic, plans):
    client, _ = bearer_client(owner, org)
    with moment(at(4, 16)):
        body = client.get(_url(on_basic), {"plan": plans["pro"].public_id}).json()
    assert [(line["kind"], line["amount"]) for line in body["lines"]] == [
        ("usage", "7.00"),
        ("proration_credit", "-5.00"),
        ("proration_charge", "20.00"),
    ]
    assert body["total"] == "22.00" and body["currency"] == "USD"
    assert body["at_once"] is True and body["carried"] is False
    assert body["renews_at"].startswith("2026-05-01")
    assert body["renewal"]["monthly_fee"] == "40.00"
    assert body["renewal"]["included_units"] == 10_000
    on_basic.refresh_from_db()
    assert on_basic.plan == plans["basic"]
    assert not Invoice.objects.filter(key__startswith="change:").exists()


def test_the_api_preview_of_a_downgrade_charges_nothing_now(owner, org, plans):
    subscription = subscribe(owner, org, plans["pro"], at(4, 1))
    client, _ = bearer_client(owner, org)
    with moment(at(4, 16)):
        body = client.get(_url(subscription), {"plan": plans["basic"].public_id}).json()
    assert body["lines"] == [] and body["total"] == "0.00" and body["at_once"] is False
    assert body["applies_at"].startswith("2026-05-01")
    assert body["renewal"]["monthly_fee"] == "10.00"


def test_the_api_preview_is_404_for_others_and_403_without_billing(
    owner, org, other_org, outsider, on_basic, plans
):
    query = {"plan": plans["pro"].public_id}
    outsider_client, _ = bearer_client(outsider, other_org)
    assert outsider_client.get(_url(on_basic), query).status_code == 404
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER).user
    developer_client, _ = bearer_client(developer, org)
    assert developer_client.get(_url(on_basic), query).status_code == 403
    owner_client, _ = bearer_client(owner, org)
    assert owner_client.get(_url(on_basic), {"plan": "plan_nope"}).status_code == 404
