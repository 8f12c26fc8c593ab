"""Refunds (and credits) reverse what was entered: pro rata across the invoice's lines, at
each line's own fee, and never more than a line earned, however the refund is cut up."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.billing.models import Invoice
from apps.billing.signals import invoice_refunded
from apps.payouts import selectors, services
from apps.payouts.allocation import apportion, refund_share, refunded_per_line
from apps.payouts.models import LedgerEntry, LedgerKind
from apps.subscriptions.rating import split_provider_share

D = Decimal
pytestmark = pytest.mark.urls("tests.payouts.urls")


def reversals(invoice: Invoice, refund=None) -> list[tuple[Decimal, Decimal, Decimal]]:
    """(gross, platform fee, provider share) reversed per line, in line order."""
    entries = LedgerEntry.objects.filter(
        kind=LedgerKind.REFUND_REVERSAL, invoice_line__invoice=invoice
    ).order_by("invoice_line__position")
    if refund is not None:
        entries = entries.filter(refund=refund)
    return [(e.gross, e.platform_fee, e.amount) for e in entries]


@pytest.mark.django_db
def test_a_full_refund_reverses_every_earning_to_the_cent(pay, refund, ocr, org):
    invoice = pay(ocr, "49.00", "12.34", "0.05")
    refund(invoice)
    assert reversals(invoice) == [
        (D("-49.00"), D("-9.80"), D("-39.20")),
        (D("-12.34"), D("-2.47"), D("-9.87")),
        (D("-0.05"), D("-0.01"), D("-0.04")),
    ]
    assert selectors.balance_of(org.pk) == 0


@pytest.mark.django_db
def test_a_partial_refund_is_spread_pro_rata_over_the_lines(pay, refund, ocr, org):
    invoice = pay(ocr, "49.00", "12.34")  # 61.34
    refund(invoice, "10.00")
    # 1,000 cents over 4,900 : 1,234 → quotas 798.8 and 201.2 → 798 + 201, the last cent to
    # the larger average (4900/799 > 1234/202): 7.99 and 2.01, each split at 20 %
    assert reversals(invoice) == [
        (D("-7.99"), D("-1.60"), D("-6.39")),
        (D("-2.01"), D("-0.40"), D("-1.61")),
    ]
    assert selectors.balance_of(org.pk) == D("49.07") - D("8.00")


@pytest.mark.django_db
def test_refunds_in_thirds_reverse_exactly_the_earning(pay, refund, ocr, org):
    invoice = pay(ocr, "10.00")  # 8.00 earned, 2.00 fee
    first, second, third = (refund(invoice, amount) for amount in ("3.33", "3.33", "3.34"))
    # cumulative: split(3.33) = 2.66 + .67; split(6.66) = 5.33 + 1.33; split(10.00) = 8 + 2
    assert reversals(invoice, first) == [(D("-3.33"), D("-0.67"), D("-2.66"))]
    assert reversals(invoice, second) == [(D("-3.33"), D("-0.66"), D("-2.67"))]
    assert reversals(invoice, third) == [(D("-3.34"), D("-0.67"), D("-2.67"))]
    assert selectors.balance_of(org.pk) == 0


@pytest.mark.django_db
def test_cent_by_cent_refunds_never_reverse_more_than_was_earned(pay, refund, ocr, org):
    # Split one cent at a time, a 1.00 invoice at 20 % would reverse 0.01 each time (the
    # fee of a cent rounds to nothing): 1.00 in all for 0.80 earned. Cumulative splitting
    # reverses 0.80 exactly.
    invoice = pay(ocr, "1.00")
    for step in range(1, 11):
        refund(invoice, "0.01")
        reversed_so_far = -sum(e[2] for e in reversals(invoice))
        assert reversed_so_far == split_provider_share(D(step) / 100, D(20))[0]
    refund(invoice)  # the remaining 0.90
    assert -sum(e[2] for e in reversals(invoice)) == D("0.80")
    assert selectors.balance_of(org.pk) == 0


@pytest.mark.django_db
def test_a_refund_uses_the_fee_the_line_was_earned_at(pay, refund, ocr, org, staff):
    invoice = pay(ocr, "12.34")  # earned at 20 %: 9.87 + 2.47
    services.provider_fee_set(actor=staff, organization=org, fee_percent=D("50"))
    refund(invoice)
    assert reversals(invoice) == [(D("-12.34"), D("-2.47"), D("-9.87"))]
    assert selectors.balance_of(org.pk) == 0


@pytest.mark.django_db
def test_refunding_an_invoice_with_a_credit_line_reverses_both_sides(pay, refund, ocr, org):
    invoice = pay(ocr, "-10.00", "30.00")  # total 20.00; earned -8.00 + 24.00
    first = refund(invoice, "5.00")
    # a quarter of the invoice: 7.50 of the charge and 2.50 of the credit come back
    assert reversals(invoice, first) == [
        (D("2.50"), D("0.50"), D("2.00")),
        (D("-7.50"), D("-1.50"), D("-6.00")),
    ]
    refund(invoice)
    assert selectors.balance_of(org.pk) == 0


@pytest.mark.django_db
def test_a_duplicate_refunded_signal_reverses_once(pay, refund, ocr, org):
    invoice = pay(ocr, "49.00")
    made = refund(invoice, "10.00")
    invoice_refunded.send(sender=Invoice, invoice=invoice, refund=made)
    assert services.ledger_reverse_refund(refund_id=made.pk) == []
    assert services.ledger_reconcile() == 0
    assert reversals(invoice) == [(D("-10.00"), D("-2.00"), D("-8.00"))]


@pytest.mark.django_db
def test_a_lost_refund_signal_is_reversed_by_reconcile(pay, ocr, org, staff):
    from apps.billing import services as billing_services

    invoice = pay(ocr, "49.00")
    billing_services.invoice_refund(invoice=invoice, actor=staff)  # callbacks never run
    assert selectors.balance_of(org.pk) == D("39.20")
    services.ledger_reconcile()
    assert selectors.balance_of(org.pk) == 0


# --- The allocation, on its own -----------------------------------------------------------
def test_apportion_by_hand():
    assert apportion([4900, 1234], 1000) == [799, 201]
    assert apportion([1, 1, 1], 2) == [1, 1, 0]  # ties go to the earlier line
    assert apportion([5, 0, 3], 8) == [5, 0, 3]
    assert apportion([], 0) == []
    with pytest.raises(ValueError):
        apportion([5], 6)


def test_refunded_per_line_by_hand():
    assert refunded_per_line([4900, 1234], 1000) == [799, 201]
    assert refunded_per_line([-1000, 3000], 500) == [-250, 750]
    assert refunded_per_line([-1000, 3000], 2000) == [-1000, 3000]
    assert refunded_per_line([0, 700], 300) == [0, 300]


lines_strategy = st.lists(
    st.integers(min_value=-50_000, max_value=200_000), min_size=1, max_size=6
).filter(lambda lines: sum(lines) > 0)


@settings(max_examples=300, deadline=None)
@given(
    lines=lines_strategy,
    cuts=st.lists(st.floats(0, 1), min_size=1, max_size=8),
    fee=st.decimals(min_value=0, max_value=100, places=2),
)
def test_no_sequence_of_refunds_reverses_more_than_a_line_earned(lines, cuts, fee):
    total = sum(lines)
    refunds, left = [], total
    for cut in cuts:
        amount = min(left, max(1, int(cut * total)))
        if amount <= 0:
            break
        refunds.append(amount)
        left -= amount
    refunds.append(left)  # then the rest: a full refund in the end
    refunded = 0
    reversed_gross = [0] * len(lines)
    reversed_share = [D(0)] * len(lines)
    for amount in refunds:
        step = refund_share(lines, refunded, amount)
        refunded += amount
        assert sum(step) == amount
        for i, line in enumerate(lines):
            assert step[i] * line >= 0  # each refund moves a line only towards zero
            before = reversed_gross[i]
            reversed_gross[i] += step[i]
            assert abs(reversed_gross[i]) <= abs(line)
            share_now = split_provider_share(D(reversed_gross[i]) / 100, fee)[0]
            share_was = split_provider_share(D(before) / 100, fee)[0]
            reversed_share[i] += share_now - share_was
            earned = split_provider_share(D(line) / 100, fee)[0]
            assert abs(reversed_share[i]) <= abs(earned)
    assert reversed_gross == lines
    assert reversed_share == [split_provider_share(D(line) / 100, fee)[0] for line in lines]
