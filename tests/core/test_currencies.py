"""Currencies with their real exponents, from ISO 4217 (the iso4217 package), and Stripe's
special cases; one template filter for money; refunds in the currency's minor unit; no
change of the marketplace currency while money is in flight in the old one."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.template import Context, Template

from apps.billing import services as billing_services
from apps.core.errors import Conflict, ServiceError
from apps.core.money import (
    format_money,
    from_minor_units,
    iso_exponent,
    minor_exponent,
    round_money,
    to_minor_units,
)
from apps.payouts import checks
from apps.payouts import services as payout_services

D = Decimal


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("ISK", 0),
        ("HUF", 2),
        ("CLP", 0),
    ],
)
def test_exponents_come_from_the_iso_4217_table(currency, exponent):
    assert iso_exponent(currency) == exponent
    assert iso_exponent(currency.lower()) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "stripe_amount"),
    [
        ("12.34", "USD", 1234),
        ("1500", "JPY", 1500),
        ("15000", "KRW", 15000),
        ("5.12", "KWD", 5120),  # thousandths, last digit 0 (Stripe's rule)
        ("0.5", "BHD", 500),
        ("500", "ISK", 50000),  # Stripe keeps ISK two-decimal, in whole krónur
        ("99.99", "HUF", 9999),
    ],
)
def test_amounts_go_to_stripe_in_the_minor_units_stripe_expects(amount, currency, stripe_amount):
    assert to_minor_units(D(amount), currency) == stripe_amount
    assert from_minor_units(stripe_amount, currency) == D(amount)


def test_three_decimal_amounts_are_kept_to_what_stripe_can_charge():
    assert minor_exponent("KWD") == 2
    assert round_money(D("5.125"), "KWD") == D("5.13")
    with pytest.raises(ValueError, match="not rounded"):
        to_minor_units(D("5.124"), "KWD")
    with pytest.raises(ValueError, match="not rounded"):
        to_minor_units(D("1500.5"), "JPY")


def test_an_unknown_or_unchargeable_currency_is_refused():
    with pytest.raises(ValueError, match="ABC is not an ISO 4217 currency"):
        iso_exponent("ABC")
    with pytest.raises(ValueError, match="XAU has no minor unit"):
        iso_exponent("XAU")


def test_one_filter_renders_money_knowing_its_currency(settings):
    settings.CURRENCY = "USD"
    template = Template(
        "{{ a|money:'KWD' }} | {{ b|money:'JPY' }} | {{ c|money }} | {{ d|money_exact:'USD' }}"
        " | {{ e|money }}"
    )
    text = template.render(
        Context({"a": D("5.12"), "b": D("1500"), "c": D("-1234.5"), "d": D("0.0004"), "e": None})
    )
    assert text == "KWD 5.120 | ¥1,500 | -$1,234.50 | $0.0004 | —"
    assert format_money(D("7"), "BHD") == "BHD 7.000"


# --- Invoices, refunds and Stripe ----------------------------------------------------------
@pytest.fixture
def paid_invoice(settings, db, org, other_org, staff):
    """pays(currency, amount): a paid manual invoice in that marketplace currency."""
    from tests.catalog.factories import ApiFactory
    from tests.payouts.conftest import line, subscribe

    def paid(currency: str, amount: str):
        settings.CURRENCY = currency
        subscription = subscribe(org, ApiFactory(organization=other_org))
        invoice = billing_services.invoice_issue(
            subscription=subscription, key=f"currency:{currency}:{amount}", lines=[line(amount)]
        )
        return billing_services.invoice_mark_paid(invoice=invoice, actor=staff)

    return paid


@pytest.mark.parametrize(
    ("currency", "amount", "bad", "message"),
    [
        ("JPY", "1500", "10.50", "Refund between ¥1 and ¥1,500, in steps of ¥1."),
        ("KWD", "5.12", "0.005", "Refund between KWD 0.010 and KWD 5.120, in steps of KWD 0.010."),
        ("USD", "29.00", "0.001", "Refund between $0.01 and $29.00, in steps of $0.01."),
    ],
)
def test_refunds_are_validated_in_the_currencys_minor_unit(
    paid_invoice, staff, currency, amount, bad, message
):
    invoice = paid_invoice(currency, amount)
    with pytest.raises(ServiceError) as refused:
        billing_services.invoice_refund(invoice=invoice, actor=staff, amount=D(bad))
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "invalid_amount",
        "amount",
        message,
    )
    invoice.refresh_from_db()
    assert invoice.amount_refunded == 0 and not invoice.refunds.exists()
    step = D(1).scaleb(-minor_exponent(currency))
    assert billing_services.invoice_refund(invoice=invoice, actor=staff, amount=step).amount == step


def test_the_invoice_page_shows_the_invoices_currency(paid_invoice, client, owner):
    invoice = paid_invoice("KWD", "5.12")
    client.force_login(owner)
    page = client.get(f"/console/invoices/{invoice.public_id}/").content.decode()
    assert "KWD 5.120" in page and "$5.12" not in page


# --- Changing the marketplace currency -----------------------------------------------------
def test_changing_the_currency_with_an_open_invoice_is_refused_clearly(
    settings, db, org, other_org, staff
):
    from tests.catalog.factories import ApiFactory
    from tests.payouts.conftest import line, subscribe

    settings.CURRENCY = "USD"
    subscription = subscribe(org, ApiFactory(organization=other_org))
    billing_services.invoice_issue(subscription=subscription, key="usd:1", lines=[line("9.00")])
    assert checks.currency_conflicts() == []

    settings.CURRENCY = "EUR"
    (error,) = checks.check_currency_change(databases=["default"])
    assert error.id == "tollgate.E001"
    assert error.msg.startswith(
        "CURRENCY is EUR, but money is still in flight in another currency: "
        "1 open invoice(s) in USD."
    )
    with pytest.raises(CommandError, match="1 open invoice"):
        call_command("check", "--database", "default")
    with pytest.raises(Conflict) as refused:
        billing_services.invoice_issue(subscription=subscription, key="eur:1", lines=[line("9")])
    assert refused.value.code == "currency_changed"
    with pytest.raises(Conflict) as refused:
        payout_services.run_payouts("2026-11")
    assert refused.value.code == "currency_changed"
    assert subscription.invoices.count() == 1  # nothing issued in the new currency


def test_provider_balances_in_the_old_currency_block_the_change_too(
    settings, db, org, other_org, staff
):
    from tests.catalog.factories import ApiFactory
    from tests.payouts.conftest import line, subscribe

    settings.CURRENCY, settings.PAYOUT_HOLD_DAYS = "USD", 0
    subscription = subscribe(org, ApiFactory(organization=other_org))
    invoice = billing_services.invoice_issue(
        subscription=subscription, key="usd:2", lines=[line("50.00")]
    )
    billing_services.invoice_mark_paid(invoice=invoice, actor=staff)
    payout_services.ledger_enter_invoice(invoice_id=invoice.pk)
    settings.CURRENCY = "EUR"
    assert checks.currency_conflicts() == ["1 provider balance(s) in USD"]
    settings.CURRENCY = "USD"
    assert checks.check_currency_change(databases=["default"]) == []
