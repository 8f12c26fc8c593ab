"""A Hypothesis state machine over invoices, payments, refunds, disputes, time and payout
runs, checked after every step against a reference written from docs/payouts.md's rules,
not from the code:

- a paid line of L splits into fee = L × 20 % rounded half-up to the cent, share = L − fee;
- refunds (and a lost dispute, which takes back what is left) reverse cumulatively: once R
  of a line is taken back, the provider has given back R − round_half_up(R × 20 %);
- an earning is pending for PAYOUT_HOLD_DAYS after the payment, frozen while its invoice has
  an open dispute, payable otherwise; refunds and losses leave the bucket their earning is in;
- a payout run pays the whole payable balance when it reaches PAYOUT_MINIMUM, once per
  period, and never more than is payable.

Every invoice here has one line, so the reference needs no apportionment between lines."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import transaction
from django.test import TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.billing import disputes
from apps.billing import services as billing_services
from apps.core.errors import Conflict
from apps.payouts import selectors, services
from apps.payouts.models import LedgerEntry, LedgerKind, Payout
from tests.catalog.factories import ApiFactory
from tests.factories import OrganizationFactory, UserFactory

from .conftest import line, subscribe

CENT = Decimal("0.01")
FEE = Decimal("0.20")
HOLD = timedelta(days=14)
MINIMUM = Decimal("10.00")


def fee_of(amount: Decimal) -> Decimal:
    return (amount * FEE).quantize(CENT, rounding=ROUND_HALF_UP)


def share_of(amount: Decimal) -> Decimal:
    return amount - fee_of(amount)


class RefInvoice:
    def __init__(self, invoice, amount: Decimal, paid_at: datetime):
        self.invoice, self.amount, self.paid_at = invoice, amount, paid_at
        self.taken = Decimal(0)  # gross refunded or lost so far
        self.dispute: str | None = None  # "open", "won", "lost"

    @property
    def net_share(self) -> Decimal:
        return share_of(self.amount) - share_of(self.taken)


class Ledger(RuleBasedStateMachine):
    invoices = Bundle("invoices")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()  # each example rolls back to here
        self.provider = OrganizationFactory()
        self.consumer = OrganizationFactory()
        self.staff = UserFactory(is_staff=True)
        self.subscription = subscribe(self.consumer, ApiFactory(organization=self.provider))
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.refs: list[RefInvoice] = []
        self.paid_out = Decimal(0)
        self.runs = 0
        self.keys = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _after_commit(self):
        return TestCase.captureOnCommitCallbacks(execute=True)

    # --- Steps ----------------------------------------------------------------------------
    @rule(target=invoices, cents=st.integers(1, 20_000))
    def pay(self, cents):
        amount = Decimal(cents) / 100
        self.keys += 1
        invoice = billing_services.invoice_issue(
            subscription=self.subscription, key=f"sm:{self.keys}", lines=[line(str(amount))]
        )
        with self._after_commit():
            billing_services.invoice_mark_paid(invoice=invoice, paid_at=self.now)
        ref = RefInvoice(invoice, amount, self.now)
        self.refs.append(ref)
        return ref

    @rule(ref=invoices, part=st.integers(1, 100))
    def refund(self, ref, part):
        left = ref.amount - ref.taken
        amount = max((left * part / 100).quantize(CENT), CENT)
        if ref.dispute in ("open", "lost"):
            with pytest.raises(Conflict):
                billing_services.invoice_refund(
                    invoice=ref.invoice, actor=self.staff, amount=amount
                )
            return
        if left <= 0:
            return
        with self._after_commit():
            billing_services.invoice_refund(invoice=ref.invoice, actor=self.staff, amount=amount)
        ref.taken += amount

    @rule(ref=invoices)
    def dispute_opens(self, ref):
        if ref.dispute is not None or ref.taken >= ref.amount:
            return
        self._dispute(ref, "open")
        ref.dispute = "open"

    @rule(ref=invoices, won=st.booleans())
    def dispute_closes(self, ref, won):
        if ref.dispute != "open":
            return
        self._dispute(ref, "won" if won else "lost")
        ref.dispute = "won" if won else "lost"
        if not won:
            ref.taken = ref.amount  # the bank took back everything not refunded

    def _dispute(self, ref, status):
        with self._after_commit():
            disputes.dispute_record(
                invoice=ref.invoice,
                stripe_dispute_id=f"dp_{ref.invoice.public_id}",
                status=status,
                amount=ref.amount,
            )

    @rule(days=st.integers(1, 20))
    def time_passes(self, days):
        self.now += timedelta(days=days)

    @precondition(lambda self: self.runs < 24)
    @rule()
    def payout_run(self):
        payable = self.expected_payable()
        self.runs += 1
        period = f"{2030 + (self.runs - 1) // 12}-{(self.runs - 1) % 12 + 1:02d}"
        report = services.run_payouts(period, now=self.now)
        if payable >= MINIMUM:
            (payout,) = report.created
            assert payout.amount == payable  # the whole payable balance, never more
            self.paid_out += payable
        else:
            assert report.created == []
        assert services.run_payouts(period, now=self.now).created == []  # never twice

    # --- The reference --------------------------------------------------------------------
    def expected_buckets(self):
        pending = held = Decimal(0)
        for ref in self.refs:
            if ref.dispute == "open":
                held += ref.net_share
            elif ref.paid_at + HOLD > self.now:
                pending += ref.net_share
        earned = sum((share_of(ref.amount) for ref in self.refs), Decimal(0))
        reversed_ = -sum((share_of(ref.taken) for ref in self.refs), Decimal(0))
        payable = earned + reversed_ - pending - held - self.paid_out
        return payable, pending, held, reversed_, earned

    def expected_payable(self):
        return self.expected_buckets()[0]

    @invariant()
    def balances_match_the_rules(self):
        balances = selectors.balances_of(self.provider.pk, now=self.now)
        payable, pending, held, reversed_, earned = self.expected_buckets()
        assert balances == selectors.Balances(
            payable=payable,
            pending=pending,
            held=held,
            paid=self.paid_out,
            reversed=reversed_,
            earned=earned,
        )
        assert (
            balances.payable + balances.pending + balances.held + balances.paid - balances.reversed
            == balances.earned
        )

    @invariant()
    def every_line_splits_into_share_and_fee(self):
        for entry in LedgerEntry.objects.filter(
            organization=self.provider,
            kind__in=[LedgerKind.EARNING, LedgerKind.REFUND_REVERSAL, LedgerKind.DISPUTE_LOST],
        ):
            assert entry.amount + entry.platform_fee == entry.gross

    @invariant()
    def nothing_is_entered_or_paid_twice(self):
        earnings = LedgerEntry.objects.filter(kind=LedgerKind.EARNING)
        assert earnings.count() == len(self.refs)
        assert earnings.values("invoice_line").distinct().count() == len(self.refs)
        payouts = Payout.objects.filter(organization=self.provider)
        assert payouts.values("period").distinct().count() == payouts.count()
        assert sum((p.amount for p in payouts), Decimal(0)) == self.paid_out


@pytest.mark.django_db
def test_the_ledger_follows_the_rules_whatever_happens(settings_fixture):
    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.fixture
def settings_fixture(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.CURRENCY = "USD"
    settings.PLATFORM_FEE_PERCENT = Decimal("20")
    settings.PAYOUT_HOLD_DAYS = 14
    settings.PAYOUT_MINIMUM = MINIMUM
    settings.DISPUTE_FEE_PAYER = "platform"
    return settings
