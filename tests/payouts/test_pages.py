"""The provider console's Payouts page and CSV statements: what each role sees, and that
another organization sees nothing of Acme's."""

import csv
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.payouts import services
from apps.payouts.models import LedgerEntry, ProviderAccount

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
PAGE = "/console/payouts/"
CSV = "/console/payouts/statement.csv"


def rows(response) -> list[dict]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.fixture
def acme_history(pay, refund, ocr, staff, org):
    """Two paid invoices, a refund, a manual payout staff paid."""
    first = pay(ocr, "49.00", "12.34")
    refund(first, "10.00")
    payout = services.run_payouts("2026-11").created[0]
    services.payout_mark_paid(payout=payout, actor=staff, reference="BANK-7")
    second = pay(ocr, "25.00")
    return first, second, payout


def test_the_page_shows_balance_next_payout_history_and_earnings(owner_client, acme_history):
    first, second, _ = acme_history
    html = owner_client.get(PAGE).content.decode()
    assert "Payouts" in html
    assert "$20.00" in html  # balance: 25.00 at 20 %
    assert "$20.00 by bank transfer" in html and "You keep 80% of each line" in html
    assert "$41.07" in html  # paid out: 49.07 earned - 8.00 refunded
    assert "November 2026" in html and "BANK-7" in html and "badge-paid" in html
    assert first.number in html and second.number in html
    assert "-$6.39" in html and "-$1.61" in html  # what the refund took back, per line
    assert "How you are paid" in html  # no Stripe: manual payouts explained
    assert "Connect with Stripe" not in html


def test_a_new_provider_sees_what_to_expect(owner_client):
    html = owner_client.get(PAGE).content.decode()
    assert "No payouts yet" in html and "reaches $10.00" in html
    assert "No earnings yet" in html
    assert "Payouts start at $10.00" in html


def test_with_stripe_the_owner_is_offered_to_connect(owner_client, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    html = owner_client.get(PAGE).content.decode()
    assert "Connect with Stripe" in html and "Not connected" in html


def test_a_provider_midway_through_onboarding_continues(owner_client, settings, org):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    ProviderAccount.objects.create(
        organization=org, stripe_account_id="acct_1Acme", details_submitted=True
    )
    html = owner_client.get(PAGE).content.decode()
    assert "Continue onboarding" in html and "acct_1Acme" in html
    assert "Stripe has not enabled payouts" in html or "Payouts start at" in html


def test_a_developer_is_refused_the_page_and_the_link_to_it(client, member, acme_history):
    client.force_login(member)
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 403 and "Your role (Developer) does not allow this" in html
    assert acme_history[2].public_id not in html and "Connect with Stripe" not in html
    assert 'href="/console/payouts/"' not in client.get("/console/").content.decode()


def test_another_organization_sees_nothing_of_acmes_money(outsider_client, acme_history):
    first, _, payout = acme_history
    html = outsider_client.get(PAGE).content.decode()
    assert first.number not in html and payout.public_id not in html and "BANK-7" not in html
    assert "No payouts yet" in html and "No earnings yet" in html
    assert rows(outsider_client.get(CSV, {"month": timezone.now().strftime("%Y-%m")})) == []


def test_signed_out_visitors_are_sent_to_log_in(client):
    assert client.get(PAGE).url.startswith("/accounts/login/")
    assert client.get(CSV).url.startswith("/accounts/login/")


def test_the_csv_statement_has_one_row_per_ledger_entry(owner_client, acme_history, org):
    first, _, payout = acme_history
    month = timezone.now().strftime("%Y-%m")
    response = owner_client.get(CSV, {"month": month})
    assert response["Content-Disposition"] == (
        f'attachment; filename="tollgate-statement-acme-{month}.csv"'
    )
    statement = rows(response)
    assert [row["kind"] for row in statement] == [
        "earning",
        "earning",
        "refund_reversal",
        "refund_reversal",
        "payout",
        "earning",
    ]
    assert [row["amount"] for row in statement] == [
        "39.20",
        "9.87",
        "-6.39",
        "-1.61",
        "-41.07",
        "20.00",
    ]
    assert [row["platform_fee"] for row in statement] == [
        "9.80",
        "2.47",
        "-1.60",
        "-0.40",
        "0.00",
        "5.00",
    ]
    assert statement[0]["gross"] == "49.00" and statement[0]["fee_percent"] == "20.00"
    assert statement[0]["invoice"] == first.number and statement[0]["api"] == "ocr"
    assert statement[4]["payout"] == payout.public_id and statement[4]["invoice"] == ""
    assert {row["currency"] for row in statement} == {"USD"}
    assert sum(Decimal(row["amount"]) for row in statement) == Decimal("20.00")
    assert len(statement) == LedgerEntry.objects.filter(organization=org).count()


def test_a_month_without_entries_is_an_empty_statement(owner_client, acme_history):
    assert rows(owner_client.get(CSV, {"month": "2019-01"})) == []


def test_a_bad_month_is_a_clear_400(owner_client):
    response = owner_client.get(CSV, {"month": "Nov 2026"})
    assert response.status_code == 400 and b"YYYY-MM" in response.content


def test_statement_cells_cannot_run_as_spreadsheet_formulas(owner_client, pay, ocr):
    from tests.payouts.conftest import line

    pay(ocr, line("5.00", '=HYPERLINK("http://evil.test","click")'))
    [row] = rows(owner_client.get(CSV))
    text_cells = [row[name] for name in ("entry", "kind", "description", "invoice", "api")]
    assert not any(cell[:1] in "=+-@" for cell in text_cells if cell)
    assert row["description"].endswith('=HYPERLINK("http://evil.test","click")')  # kept


def test_earnings_are_paged_and_htmx_swaps_only_the_table(owner_client, pay, ocr):
    for _ in range(21):
        pay(ocr, "1.00")
    page_one = owner_client.get(PAGE).content.decode()
    assert "Page 1 of 2" in page_one and "21 lines" in page_one
    partial = owner_client.get(PAGE, {"page": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="earnings")
    html = partial.content.decode()
    assert html.lstrip().startswith('<section class="card mt-5" id="earnings"')
    assert "Page 2 of 2" in html and "<html" not in html


def test_the_page_costs_a_fixed_number_of_queries(
    owner_client, pay, refund, ocr, django_assert_num_queries
):
    for _ in range(8):
        refund(pay(ocr, "12.00", "3.00"), "5.00")
    services.run_payouts("2026-11")
    # session, user, memberships; earnings count, provider account, balance and payout
    # sums, the balance by state (pending, held, payable), statement months; the earnings
    # page and the payout history; the console's failed-payment banner; the payout details
    with django_assert_num_queries(13):
        assert owner_client.get(PAGE).status_code == 200
