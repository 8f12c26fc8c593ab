"""GET /api/v1/provider/balance/, /provider/payouts/ and /provider/ledger/: the request's
organization only; another organization's payout is a 404."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.payouts import services
from apps.payouts.models import ProviderAccount

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
BALANCE = "/api/v1/provider/balance/"
PAYOUTS = "/api/v1/provider/payouts/"
LEDGER = "/api/v1/provider/ledger/"


@pytest.fixture
def history(pay, refund, ocr, staff):
    invoice = pay(ocr, "49.00", "12.34")
    refund(invoice, "10.00")
    payout = services.run_payouts("2026-11").created[0]
    services.payout_mark_paid(payout=payout, actor=staff)
    pay(ocr, "25.00")
    return invoice, payout


def test_the_balance_says_what_is_owed_and_when_it_is_paid(owner_api, history):
    data = owner_api.get(BALANCE).json()
    assert data["balance"] == "20.00" and data["currency"] == "USD"
    assert data["earned"] == "61.07" and data["gross"] == "76.34"
    assert data["platform_fees"] == "15.27" and data["paid_out"] == "41.07"
    assert data["in_transit"] == "0.00" and data["fee_percent"] == "20.00"
    assert data["payout_minimum"] == "10.00"
    upcoming = data["next_payout"]
    assert upcoming["will_be_paid"] is True and upcoming["method"] == "manual"
    assert upcoming["amount"] == "20.00" and upcoming["date"].endswith("-01")
    assert data["stripe_account"] == {
        "configured": False,
        "connected": False,
        "details_submitted": False,
        "payouts_enabled": False,
    }


def test_the_balance_shows_the_stripe_account_and_the_fee_override(owner_api, org, staff, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    ProviderAccount.objects.create(
        organization=org, stripe_account_id="acct_1Acme", details_submitted=True
    )
    services.provider_fee_set(actor=staff, organization=org, fee_percent=12.5)
    data = owner_api.get(BALANCE).json()
    assert data["fee_percent"] == "12.50"
    assert data["stripe_account"]["connected"] and not data["stripe_account"]["payouts_enabled"]
    assert data["next_payout"]["will_be_paid"] is False


def test_payouts_are_listed_and_read(owner_api, history):
    _, payout = history
    listed = owner_api.get(PAYOUTS).json()
    assert listed["count"] == 1
    assert listed["results"][0] == owner_api.get(f"{PAYOUTS}{payout.public_id}/").json()
    one = listed["results"][0]
    assert one["id"] == payout.public_id and one["amount"] == "41.07"
    assert one["status"] == "paid" and one["method"] == "manual" and one["period"] == "2026-11"


def test_the_ledger_lists_entries_signed_newest_first(owner_api, history):
    invoice, payout = history
    entries = owner_api.get(LEDGER).json()["results"]
    assert [(e["kind"], e["amount"]) for e in entries] == [
        ("earning", "20.00"),
        ("payout", "-41.07"),
        ("refund_reversal", "-1.61"),
        ("refund_reversal", "-6.39"),
        ("earning", "9.87"),
        ("earning", "39.20"),
    ]
    assert entries[-1]["invoice"] == invoice.number and entries[1]["payout"] == payout.public_id
    assert entries[-1]["gross"] == "49.00" and entries[-1]["platform_fee"] == "9.80"


def test_the_ledger_filters_by_month(owner_api, history):
    assert owner_api.get(LEDGER, {"month": "2019-01"}).json()["count"] == 0
    response = owner_api.get(LEDGER, {"month": "January"})
    assert response.status_code == 400 and "YYYY-MM" in response.content.decode()


def test_another_organization_sees_nothing_and_gets_404_for_acmes_payout(outsider_api, history):
    _, payout = history
    assert outsider_api.get(f"{PAYOUTS}{payout.public_id}/").status_code == 404
    assert outsider_api.get(PAYOUTS).json()["count"] == 0
    assert outsider_api.get(LEDGER).json()["count"] == 0
    assert outsider_api.get(BALANCE).json()["balance"] == "0.00"


def test_anonymous_callers_are_refused(api_client):
    assert api_client.get(BALANCE).status_code in (401, 403)


def test_the_openapi_schema_stays_valid_with_payouts():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_summaries_for_the_analytics_dashboards(history, org, other_org, pay, rival_api):
    from datetime import timedelta

    from django.utils import timezone

    from apps.payouts import selectors

    pay(rival_api, "10.00")  # Initech: 8.00 owed
    now = timezone.now()
    start, end = now - timedelta(days=1), now + timedelta(days=1)
    assert selectors.ledger_summary(org, start, end) == {
        "earned": Decimal("61.07"),  # 39.20 + 9.87 - 8.00 + 20.00
        "paid_out": Decimal("41.07"),
    }
    assert selectors.ledger_summary(org, start - timedelta(days=30), start) == {
        "earned": Decimal("0.00"),
        "paid_out": Decimal("0.00"),
    }
    assert selectors.marketplace_summary(start, end) == {
        "platform_fee": Decimal("17.27"),  # 9.80 + 2.47 - 2.00 + 5.00 + 2.00
        "payouts_due": Decimal("28.00"),  # Acme 20.00 + Initech 8.00
    }
