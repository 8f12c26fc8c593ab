"""Every date or month taken from a request is checked before anything computes with it:
`month=9999-12`, `month=0000-01` and custom ranges in year 9999 used to be 500s (the month
or day after them does not exist). The platform API answers 400 problem+json on the field,
pages show a form error, and nothing is saved."""

import re
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import AccessToken
from apps.keys.models import ApiKey
from apps.payouts.models import Payout
from apps.subscriptions.models import PriceChange
from tests.catalog.factories import ApiFactory
from tests.gateway.conftest import make_plan, subscribe

pytestmark = pytest.mark.django_db

OUT_OF_RANGE_MONTHS = ["9999-12", "0000-01", "1969-12"]
OUT_OF_RANGE_RANGES = [
    ("9999-12-01", "9999-12-31"),
    ("9999-12-31", "9999-12-31"),
    ("0001-01-01", "0001-01-03"),
]


def problem(response, field: str) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "date_out_of_range", body
    assert list(body["errors"]) == [field], body
    return body


def test_the_ledger_api_refuses_months_out_of_range(owner_api):
    for month in OUT_OF_RANGE_MONTHS:
        body = problem(owner_api.get("/api/v1/provider/ledger/", {"month": month}), "month")
        assert body["detail"] == "Pick a month between 1970-01 and 9998-12."
    assert owner_api.get("/api/v1/provider/ledger/", {"month": "9998-12"}).status_code == 200


def test_the_provider_analytics_api_refuses_custom_ranges_out_of_range(owner_api):
    for start, end in OUT_OF_RANGE_RANGES:
        query = {"range": "custom", "from": start, "to": end}
        body = problem(owner_api.get("/api/v1/provider/analytics/", query), "from")
        assert body["detail"] == "Pick a date between 1970-01-01 and 9998-12-31."
    query = {"range": "custom", "from": "2026-11-01", "to": "9999-12-31"}
    problem(owner_api.get("/api/v1/provider/analytics/", query), "to")
    query = {"range": "custom", "from": "2026-11-01", "to": "2026-11-30"}
    assert owner_api.get("/api/v1/provider/analytics/", query).status_code == 200


def test_the_statement_csv_refuses_months_out_of_range(owner_client):
    for month in OUT_OF_RANGE_MONTHS:
        response = owner_client.get("/console/payouts/statement.csv", {"month": month})
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/plain")
        assert response.content.decode() == "Pick a month between 1970-01 and 9998-12."


def test_a_staff_payout_run_for_a_month_out_of_range_is_refused_and_pays_nothing(staff):
    client = APIClient()
    client.force_login(staff)  # staff work in the browser session
    response = client.post("/api/v1/payouts/run/", {"period": "9999-12"}, format="json")
    problem(response, "period")
    assert not Payout.objects.exists()


@pytest.mark.parametrize(
    ("url", "who"),
    [("/console/analytics/", "owner"), ("/console/usage/", "owner"), ("/staff/", "staff")],
)
def test_dashboards_show_a_form_error_for_custom_ranges_out_of_range(
    client, owner, staff, url, who
):
    client.force_login(owner if who == "owner" else staff)
    for start, end in OUT_OF_RANGE_RANGES:
        response = client.get(url, {"range": "custom", "from": start, "to": end})
        assert response.status_code == 200
        page = response.content.decode()
        assert (
            'id="range-error"' in page and "Pick a date between 1970-01-01 and 9998-12-31." in page
        )
        assert f'value="{start}"' in page and f'value="{end}"' in page  # shown back to fix
        assert response.context["range"].key == "7d"  # what the page shows meanwhile
        exports = re.findall(r'href="([^"]*export=[^"]*)"', page)
        assert not [link for link in exports if "from=" in link]  # they export what is shown


def test_dashboards_refuse_reversed_and_unreadable_ranges_with_a_form_error(owner_client):
    cases = {
        ("2026-11-30", "2026-11-01"): "The start date is after the end date.",
        ("junk", "2026-11-01"): "Give from and to as YYYY-MM-DD.",
        ("2024-01-01", "2026-01-01"): "Pick at most 400 days.",
    }
    for (start, end), message in cases.items():
        query = {"range": "custom", "from": start, "to": end}
        page = owner_client.get("/console/analytics/", query).content.decode()
        assert 'id="range-error"' in page and message in page


def test_a_good_custom_range_shows_its_own_first_and_last_day(owner_client):
    query = {"range": "custom", "from": "2026-11-01", "to": "2026-11-30"}
    page = owner_client.get("/console/analytics/", query).content.decode()
    assert 'id="range-error"' not in page
    assert 'value="2026-11-01"' in page and 'value="2026-11-30"' in page


@pytest.mark.parametrize(
    ("url", "table"), [("/console/analytics/", "series"), ("/console/usage/", "keys")]
)
def test_csv_exports_of_a_range_out_of_range_are_a_clear_400(owner_client, url, table):
    query = {"range": "custom", "from": "9999-12-01", "to": "9999-12-31", "export": table}
    response = owner_client.get(url, query)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "Pick a date between 1970-01-01 and 9998-12-31."


def test_key_and_token_expiries_out_of_range_are_refused(owner_api):
    expiry = {"expires_at": "9999-12-31T23:59:59Z"}
    problem(owner_api.post("/api/v1/keys/", {"name": "k", **expiry}, format="json"), "expires_at")
    problem(owner_api.post("/api/v1/tokens/", {"name": "t", **expiry}, format="json"), "expires_at")
    assert not ApiKey.objects.exists()
    assert not AccessToken.objects.filter(name="t").exists()


def test_a_price_change_out_of_range_is_a_form_error_and_schedules_nothing(
    client, owner, org, outsider, other_org
):
    from apps.subscriptions import services

    api = ApiFactory(organization=other_org)
    plan = make_plan(api, monthly_fee=Decimal("10"))
    subscribe(org, plan)
    services.plan_update(actor=outsider, plan=plan, monthly_fee=Decimal("16"))  # a v2
    client.force_login(outsider)
    url = f"/console/apis/{api.slug}/plans/{plan.public_id}/migrate-prices/"
    for day in ("9999-12-31", "0001-01-01"):
        page = client.post(url, {"effective_at": day}, follow=True).content.decode()
        assert "Pick a date between 1970-01-01 and 9998-12-31." in page
    assert not PriceChange.objects.exists()
