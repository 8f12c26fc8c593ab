"""Staff in the admin: set a provider's fee, read the ledger, pay statements by hand and
mark them paid, run payouts now."""

from decimal import Decimal

import pytest

from apps.core.models import AuditLog
from apps.payouts import selectors, services
from apps.payouts.models import LedgerEntry, Payout, ProviderAccount

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
PAYOUTS = "/admin/payouts/payout/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def statement(pay, ocr):
    pay(ocr, "49.00")
    return services.run_payouts("2026-11").created[0]


def test_run_payouts_now_makes_this_months_payouts_once(staff_client, pay, ocr, org):
    pay(ocr, "49.00")
    response = staff_client.post(f"{PAYOUTS}run/", follow=True)
    assert "1 payout(s) made (1 to pay by hand)" in response.content.decode()
    staff_client.post(f"{PAYOUTS}run/")
    assert Payout.objects.count() == 1 and selectors.balance_of(org.pk) == 0
    assert staff_client.get(f"{PAYOUTS}run/").status_code == 403
    assert "Run payouts now" in staff_client.get(PAYOUTS).content.decode()


def test_staff_mark_manual_payouts_paid(staff_client, statement, staff):
    response = staff_client.post(
        PAYOUTS, {"action": "mark_paid", "_selected_action": [statement.pk]}, follow=True
    )
    assert "1 payout(s) marked paid" in response.content.decode()
    statement.refresh_from_db()
    assert statement.status == "paid" and statement.marked_paid_by == staff
    assert AuditLog.objects.filter(action="payout.marked_paid", actor=staff).exists()


def test_staff_cancel_a_statement_and_the_amount_returns(staff_client, statement, org):
    staff_client.post(PAYOUTS, {"action": "cancel", "_selected_action": [statement.pk]})
    statement.refresh_from_db()
    assert statement.status == "canceled" and selectors.balance_of(org.pk) == Decimal("39.20")


def test_statements_download_as_csv(staff_client, statement, org):
    response = staff_client.post(
        PAYOUTS, {"action": "download_statements", "_selected_action": [statement.pk]}
    )
    lines = response.content.decode().splitlines()
    assert lines[0].startswith(
        "payout,provider,billing_email,period,amount,currency,method,status,"
    )
    assert lines[1].startswith(
        f"{statement.public_id},Acme,,2026-11,39.20,USD,manual,pending,missing,"
    )


def test_staff_set_a_providers_fee_in_the_admin(staff_client, pay, ocr, org, staff):
    pay(ocr, "10.00")
    account = ProviderAccount.objects.get(organization=org)
    url = f"/admin/payouts/provideraccount/{account.pk}/change/"
    assert "$8.00" in staff_client.get("/admin/payouts/provideraccount/").content.decode()
    response = staff_client.post(url, {"fee_percent_override": "12.5"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.fee_percent_override == Decimal("12.50")
    assert AuditLog.objects.filter(action="payouts.fee_changed", actor=staff).exists()
    assert staff_client.post(url, {"fee_percent_override": "101"}).status_code == 200  # error
    pay(ocr, "10.00")
    assert LedgerEntry.objects.order_by("-id").first().amount == Decimal("8.75")


def test_the_ledger_is_read_only(staff_client, statement):
    entry = LedgerEntry.objects.first()
    assert staff_client.get("/admin/payouts/ledgerentry/").status_code == 200
    assert staff_client.get("/admin/payouts/ledgerentry/add/").status_code == 403
    page = staff_client.get(f"/admin/payouts/ledgerentry/{entry.pk}/change/").content.decode()
    assert 'name="amount"' not in page
    assert staff_client.post(f"/admin/payouts/ledgerentry/{entry.pk}/delete/").status_code == 403


def test_providers_cannot_use_the_admin(client, owner):
    client.force_login(owner)
    response = client.post(f"{PAYOUTS}run/")
    assert response.status_code == 302 and "/admin/login/" in response.url
    assert Payout.objects.count() == 0


def test_staff_set_a_fee_before_the_providers_first_sale(staff_client, pay, ocr, org):
    response = staff_client.post(
        "/admin/payouts/provideraccount/add/",
        {"organization": org.pk, "fee_percent_override": "5"},
    )
    assert response.status_code == 302
    pay(ocr, "10.00")
    assert LedgerEntry.objects.get().platform_fee == Decimal("0.50")
