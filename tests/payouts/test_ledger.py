"""Paying an invoice enters, per line, the provider's share and the platform's fee, split
by the rating engine's `split_provider_share` at the provider's fee. Amounts here are
worked out by hand."""

from decimal import Decimal

import pytest

from apps.billing import services as billing_services
from apps.billing.models import Invoice
from apps.billing.signals import invoice_paid
from apps.payouts import selectors, services
from apps.payouts.models import LedgerEntry, LedgerKind

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
D = Decimal


def earnings(invoice: Invoice) -> list[tuple[Decimal, Decimal, Decimal]]:
    """(gross, platform fee, provider share) per line, in line order."""
    entries = LedgerEntry.objects.filter(
        kind=LedgerKind.EARNING, invoice_line__invoice=invoice
    ).order_by("invoice_line__position")
    return [(e.gross, e.platform_fee, e.amount) for e in entries]


def test_a_paid_invoice_enters_each_lines_share_and_the_platform_fee(pay, ocr, org):
    invoice = pay(ocr, "49.00", "12.34", "0.05")
    assert earnings(invoice) == [
        (D("49.00"), D("9.80"), D("39.20")),
        (D("12.34"), D("2.47"), D("9.87")),  # 2.468 rounds half-up to 2.47
        (D("0.05"), D("0.01"), D("0.04")),  # 0.01 exactly: the fee takes its cent
    ]
    assert selectors.balance_of(org.pk) == D("49.11")
    entry = LedgerEntry.objects.filter(invoice_line__invoice=invoice).first()
    assert entry.organization == org and entry.fee_percent == D("20.00")
    assert entry.currency == "USD" and invoice.number in entry.description


@pytest.mark.parametrize(
    ("fee_percent", "amount", "fee", "share"),
    [
        ("15", "12.34", "1.85", "10.49"),  # 1.851
        ("12.5", "99.99", "12.50", "87.49"),  # 12.49875
        ("12.5", "0.10", "0.01", "0.09"),  # 0.0125
        ("33.33", "10.00", "3.33", "6.67"),  # 3.333
        ("2.5", "0.20", "0.01", "0.19"),  # 0.005: half-up gives the platform the cent
        ("0", "49.00", "0.00", "49.00"),
        ("100", "49.00", "49.00", "0.00"),
    ],
)
def test_the_split_follows_the_marketplace_fee(settings, pay, ocr, fee_percent, amount, fee, share):
    settings.PLATFORM_FEE_PERCENT = D(fee_percent)
    invoice = pay(ocr, amount)
    assert earnings(invoice) == [(D(amount), D(fee), D(share))]


def test_a_staff_override_beats_the_setting_for_invoices_paid_afterwards(pay, ocr, org, staff):
    before = pay(ocr, "12.34")
    services.provider_fee_set(actor=staff, organization=org, fee_percent=D("15"))
    after = pay(ocr, "12.34")
    services.provider_fee_set(actor=staff, organization=org, fee_percent=None)
    back = pay(ocr, "12.34")
    assert earnings(before) == [(D("12.34"), D("2.47"), D("9.87"))]  # entries keep their fee
    assert earnings(after) == [(D("12.34"), D("1.85"), D("10.49"))]
    assert earnings(back) == [(D("12.34"), D("2.47"), D("9.87"))]
    assert selectors.balance_of(org.pk) == D("30.23")


def test_only_staff_set_a_fee_and_only_between_0_and_100(org, owner, staff):
    from apps.core.errors import Forbidden, ServiceError

    with pytest.raises(Forbidden):
        services.provider_fee_set(actor=owner, organization=org, fee_percent=D("5"))
    with pytest.raises(ServiceError):
        services.provider_fee_set(actor=staff, organization=org, fee_percent=D("100.01"))


def test_a_credit_line_enters_a_negative_earning(pay, ocr, org):
    # an upgrade: unused time on the old plan credited, the new plan's remaining days charged
    invoice = pay(ocr, "-10.00", "30.00")
    assert earnings(invoice) == [
        (D("-10.00"), D("-2.00"), D("-8.00")),
        (D("30.00"), D("6.00"), D("24.00")),
    ]
    assert selectors.balance_of(org.pk) == D("16.00")


def test_invoice_paid_twice_enters_the_invoice_once(
    pay, ocr, org, django_capture_on_commit_callbacks
):
    invoice = pay(ocr, "49.00", "12.34")
    invoice_paid.send(sender=Invoice, invoice=invoice)  # a duplicate signal
    with django_capture_on_commit_callbacks(execute=True):
        billing_services.invoice_mark_paid(invoice=invoice)  # a late "paid" webhook
    assert services.ledger_enter_invoice(invoice_id=invoice.pk) == []
    assert LedgerEntry.objects.filter(invoice_line__invoice=invoice).count() == 2
    assert selectors.balance_of(org.pk) == D("49.07")


def test_a_lost_signal_is_entered_by_reconcile_once(consumer_org, ocr, org):
    from tests.payouts.conftest import line, subscribe

    invoice = billing_services.invoice_issue(
        subscription=subscribe(consumer_org, ocr), key="lost", lines=[line("25.00")]
    )
    billing_services.invoice_mark_paid(invoice=invoice)  # the on-commit signal never runs
    assert selectors.balance_of(org.pk) == 0
    assert services.ledger_reconcile() == 1
    assert services.ledger_reconcile() == 0
    assert selectors.balance_of(org.pk) == D("20.00")


def test_a_failing_receiver_does_not_break_billing_and_reconcile_heals(
    pay, ocr, org, monkeypatch, caplog
):
    real = services.ledger_enter_invoice

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "ledger_enter_invoice", broken)
    invoice = pay(ocr, "49.00")  # billing's caller does not see the error
    assert invoice.status == "paid" and "database hiccup" in caplog.text
    monkeypatch.setattr(services, "ledger_enter_invoice", real)
    services.ledger_reconcile()
    assert selectors.balance_of(org.pk) == D("39.20")


def test_an_open_invoice_enters_nothing(consumer_org, ocr):
    from tests.payouts.conftest import line, subscribe

    invoice = billing_services.invoice_issue(
        subscription=subscribe(consumer_org, ocr), key="open", lines=[line("25.00")]
    )
    assert services.ledger_enter_invoice(invoice_id=invoice.pk) == []
    assert services.ledger_reconcile() == 0


def test_each_provider_gets_only_its_own_lines(pay, ocr, rival_api, org, other_org):
    pay(ocr, "49.00")
    pay(rival_api, "10.00")
    assert selectors.balance_of(org.pk) == D("39.20")
    assert selectors.balance_of(other_org.pk) == D("8.00")
    assert set(
        LedgerEntry.objects.filter(organization=other_org).values_list(
            "invoice_line__api__slug", flat=True
        )
    ) == {"initech-search"}
