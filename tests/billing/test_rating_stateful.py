"""Random lives of subscriptions, checked after every step against a reference rater written
here from docs/pricing.md (not from the code): usage, plan changes both ways (now and at the
period end), price edits and migrations with notice, cancellations (now and at the period
end), resubscriptions, trials, late usage and period closes.

After every step, for the consumer's organization:
- the invoice lines (credits carried or applied aside) add up to what the reference says
  has been billed so far: each segment's billed usage rated under its own terms with its
  share of the included units, plus every fee, proration and adjustment;
- every segment that has ended holds exactly the units used in it as invoiced (none twice,
  none never), and usage of a segment still running is not invoiced yet;
- invoice totals, the credit balance and refunds reconcile with the lines;
- with a minimum charge of $2 (so that carrying is common): every rated line is charged
  or written off exactly once, on its own invoice or on the one invoice that collected it
  ("Carried from TG-…" lines add up to the carried invoice), no open invoice is below the
  minimum, and what is still carried is below it;
- each period is invoiced at most once."""

from collections import defaultdict
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.test import TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from apps.billing import runs
from apps.billing import services as billing
from apps.billing.models import (
    CreditBalance,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    RatedUsage,
    Refund,
)
from apps.core.errors import ServiceError
from apps.subscriptions import services
from apps.subscriptions.models import Subscription, SubscriptionStatus
from tests.billing.usage import record_usage
from tests.catalog.factories import ApiFactory
from tests.factories import MembershipFactory
from tests.subscriptions.factories import PlanFactory

CENT = Decimal("0.01")
START = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # month ends clamp: Jan 31 → Feb 28 → …
CLOSE_MARGIN = timedelta(minutes=1)
CREDIT_KINDS = ("credit_carried", "credit_applied")
CARRIED = "carried"  # "Carried from TG-…": an invoice below the minimum charge, collected later
MINIMUM = Decimal("2.00")  # a minimum charge high enough that lives below it are common


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# --- The reference rater (docs/pricing.md) ----------------------------------------------
@dataclass(frozen=True)
class Prices:
    fee: Decimal
    included: int
    unit_price: Decimal = Decimal(0)
    tiers: tuple = ()  # ((up_to or None, price), ...)
    hard_limit: bool = False


@dataclass
class RefPlan:
    name: str
    versions: list[Prices]
    prorated_refunds: bool = False
    trial_days: int = 0

    @property
    def current(self) -> tuple[int, Prices]:
        return len(self.versions), self.versions[-1]

    @property
    def is_free(self) -> bool:
        prices = self.versions[-1]
        return not prices.fee and not prices.unit_price and not prices.tiers


@dataclass
class Term:
    plan: str
    version: int
    prices: Prices
    start: datetime
    end: datetime | None = None
    price_change: bool = False

    @property
    def step(self) -> Decimal:
        """Calls are whole; a custom unit (pages) goes to the millionth."""
        return Decimal("0.000001") if self.plan == "ocr" else Decimal(1)


def usage_amount(prices: Prices, units: Decimal, included: Decimal) -> Decimal:
    """ "Usage is charged in arrears, beyond the included units"; tiers restart per
    segment; each line rounded once; a hard limit bills no usage."""
    if prices.hard_limit:
        return Decimal(0)
    billable = max(units - included, Decimal(0))
    if not prices.tiers:
        return money(billable * prices.unit_price)
    amount, floor = Decimal(0), 0
    for up_to, price in prices.tiers:
        ceiling = billable if up_to is None else min(billable, Decimal(up_to))
        if ceiling > floor:
            amount += money((ceiling - floor) * price)
        if up_to is None or billable <= up_to:
            break
        floor = up_to
    return amount


@dataclass
class RefSubscription:
    """One subscription as the docs describe it."""

    pk: int
    start: datetime
    anchor: datetime
    trial_end: datetime | None
    period: tuple[datetime, datetime]
    terms: list[Term]
    used: dict = field(default_factory=lambda: defaultdict(Decimal))  # (term, period start)
    billed: dict = field(default_factory=dict)
    fees: Decimal = Decimal(0)
    canceled_at: datetime | None = None
    cancel_at_period_end: bool = False
    scheduled: bool = False  # a downgrade waits for the period end

    # periods: monthly from the anchor; a trial is the period before it
    def period_end(self, period_start: datetime) -> datetime:
        if period_start < self.anchor:
            return self.anchor
        months = 0
        while self.anchor + relativedelta(months=months) <= period_start:
            months += 1
        return self.anchor + relativedelta(months=months)

    def period_containing(self, moment: datetime) -> tuple[datetime, datetime]:
        if moment < self.anchor:
            return self.start, self.anchor
        months = 0
        while self.anchor + relativedelta(months=months + 1) <= moment:
            months += 1
        return self.anchor + relativedelta(months=months), self.anchor + relativedelta(
            months=months + 1
        )

    def in_trial(self, moment: datetime) -> bool:
        return self.trial_end is not None and moment < self.trial_end

    @property
    def live(self) -> bool:
        return self.canceled_at is None

    # the timeline
    def term_at(self, moment: datetime) -> int | None:
        """The last term started by `moment` (a call after the end stays on the last)."""
        found = None
        for index, term in enumerate(self.terms):
            if term.start <= moment:
                found = index
        return found

    def term_containing(self, moment: datetime) -> int | None:
        for index, term in enumerate(self.terms):
            if term.start <= moment and (term.end is None or moment < term.end):
                return index
        return None

    def cut(self, at: datetime, *, drop_from_at: bool = False) -> None:
        keep = [
            term
            for term in self.terms
            if term.start < at or (term.start == at and not drop_from_at)
        ]
        for term in keep:
            if term.end is None or term.end > at:
                term.end = at
        self.terms = keep

    def segment(self, term_index: int, period_start: datetime):
        term = self.terms[term_index]
        period_end = self.period_end(period_start)
        start = min(max(term.start, period_start), period_end)
        end = max(min(term.end or period_end, period_end), start)
        return term, start, end, period_end

    def included(self, term_index: int, period_start: datetime) -> Decimal:
        """The plan's included units × the segment's share, half up to a whole call."""
        term, start, end, period_end = self.segment(term_index, period_start)
        part, whole = microseconds(end - start), microseconds(period_end - period_start)
        return (Decimal(term.prices.included) * part / whole).quantize(term.step, ROUND_HALF_UP)

    def bill_usage(self, until: datetime) -> None:
        """Usage is billed once its segment has ended."""
        for key, units in self.used.items():
            _, _, end, _ = self.segment(*key)
            if end <= until and units != self.billed.get(key):
                self.billed[key] = units

    def usage_billed(self) -> Decimal:
        return sum(
            (
                usage_amount(self.terms_by_key(key).prices, units, self.included(*key))
                for key, units in self.billed.items()
            ),
            Decimal(0),
        )

    def terms_by_key(self, key) -> Term:
        return self.terms[key[0]]

    def fee_share(self, fee: Decimal, at: datetime) -> Decimal:
        """Fee × (period end − at) / period length, rounded once."""
        start, end = self.period
        return money(fee * microseconds(end - at) / microseconds(end - start))

    @property
    def expected(self) -> Decimal:
        return self.fees + self.usage_billed()


class Reference:
    def __init__(self, plans: dict[str, RefPlan]):
        self.plans = plans
        self.subscriptions: list[RefSubscription] = []
        self.had_trial = False

    @property
    def current(self) -> RefSubscription | None:
        return self.subscriptions[-1] if self.subscriptions else None

    def subscribe(self, pk: int, plan_name: str, now: datetime) -> RefSubscription:
        plan = self.plans[plan_name]
        version, prices = plan.current
        trial = plan.trial_days and not self.had_trial  # one trial per API
        if trial:
            self.had_trial = True
            anchor = now + timedelta(days=plan.trial_days)
            period = (now, anchor)
        else:
            anchor = now
            period = (now, now + relativedelta(months=1))
        subscription = RefSubscription(
            pk=pk,
            start=now,
            anchor=anchor,
            trial_end=anchor if trial else None,
            period=period,
            terms=[Term(plan_name, version, prices, now)],
        )
        if not trial:
            subscription.fees += money(prices.fee)  # the first fee, in advance
        self.subscriptions.append(subscription)
        return subscription

    def close(self, subscription: RefSubscription) -> None:
        start, end = subscription.period
        subscription.bill_usage(until=end)
        for index, term in enumerate(subscription.terms):  # price changes inside the period
            if (
                term.price_change
                and start < term.start < end
                and not subscription.in_trial(term.start)
            ):
                previous = subscription.terms[index - 1]
                subscription.fees += -subscription.fee_share(previous.prices.fee, term.start)
                subscription.fees += subscription.fee_share(term.prices.fee, term.start)
        if subscription.cancel_at_period_end:
            subscription.canceled_at = end
            subscription.cut(end)
            return
        subscription.scheduled = False
        next_period = (end, subscription.period_end(end))
        term = subscription.terms[subscription.term_containing(end)]
        if not subscription.in_trial(end):
            subscription.fees += money(term.prices.fee)
        subscription.period = next_period


# --- The machine ------------------------------------------------------------------------
PLAN_SETUP = {
    "free": {"monthly_fee": Decimal(0), "included_units": 50, "hard_limit": True},
    "basic": {
        "monthly_fee": Decimal(10),
        "included_units": 1000,
        "unit_price": Decimal("0.01"),
        "hard_limit": False,
    },
    "pro": {
        "monthly_fee": Decimal(40),
        "included_units": 5000,
        "unit_price": Decimal("0.004"),
        "hard_limit": False,
        "prorated_refunds": True,
        "trial_days": 7,
    },
    "ocr": {
        "monthly_fee": Decimal(5),
        "included_units": 200,
        "unit_price": Decimal("0.003"),
        "unit": "page",
        "hard_limit": False,
    },
    "scale": {
        "monthly_fee": Decimal(0),
        "included_units": 0,
        "hard_limit": False,
        "tiers": [{"up_to": 1000, "unit_price": "0.01"}, {"up_to": None, "unit_price": "0.002"}],
    },
}


def _ref_prices(values: dict) -> Prices:
    return Prices(
        fee=Decimal(values.get("monthly_fee", 0)),
        included=values.get("included_units", 0),
        unit_price=Decimal(values.get("unit_price", 0)),
        tiers=tuple(
            (tier["up_to"], Decimal(tier["unit_price"])) for tier in values.get("tiers", [])
        ),
        hard_limit=values.get("hard_limit", False),
    )


def _sum(rows, field_name: str) -> Decimal:
    """Added up in Python: SQLite adds decimals as floats."""
    return sum(rows.values_list(field_name, flat=True), Decimal(0))


def _units(term: Term, whole: int, millionths: int) -> Decimal:
    """What the gateway can record under a term: whole calls, or pages to the millionth."""
    return Decimal(whole) + (Decimal(millionths) * term.step if term.step < 1 else 0)


class RatingMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.now = START
        provider = MembershipFactory(role="owner")
        membership = MembershipFactory(role="owner")
        self.provider, self.owner = provider.user, membership.user
        self.org = membership.organization
        api = ApiFactory(organization=provider.organization)
        self.plans, ref_plans = {}, {}
        for name, values in PLAN_SETUP.items():
            self.plans[name] = PlanFactory(api=api, name=name.title(), **values)
            ref_plans[name] = RefPlan(
                name=name,
                versions=[_ref_prices(values)],
                prorated_refunds=values.get("prorated_refunds", False),
                trial_days=values.get("trial_days", 0),
            )
        self.ref = Reference(ref_plans)
        self.subscription = None

    def teardown(self):
        if hasattr(self, "atomic"):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    def _at_now(self):
        travel = time_machine.travel(self.now, tick=False)
        travel.start()
        return travel

    def _run(self, action):
        """Run a service at the machine's clock, with its after-commit work."""
        travel = self._at_now()
        try:
            with TestCase.captureOnCommitCallbacks(execute=True):
                return action()
        finally:
            travel.stop()

    @property
    def ref_sub(self) -> RefSubscription | None:
        return self.ref.current

    def _live(self) -> bool:
        return self.ref_sub is not None and self.ref_sub.live

    # --- rules --------------------------------------------------------------------------
    @precondition(lambda self: not self._live())
    @rule(plan=st.sampled_from(list(PLAN_SETUP)))
    def subscribe(self, plan):
        subscription = self._run(
            lambda: (
                services.subscription_create(
                    actor=self.owner, organization=self.org, plan=self.plans[plan], now=self.now
                ).subscription
            )
        )
        self.subscription = subscription
        ref = self.ref.subscribe(subscription.pk, plan, self.now)
        assert subscription.current_period_end == ref.period[1]
        assert (subscription.status == SubscriptionStatus.TRIALING) == bool(ref.trial_end)

    @rule(hours=st.integers(1, 24 * 12), minutes=st.integers(0, 59))
    def time_passes(self, hours, minutes):
        self.now += timedelta(hours=hours, minutes=minutes)

    @precondition(lambda self: self._live())
    @rule(whole=st.integers(0, 4000), millionths=st.integers(0, 999_999))
    def use(self, whole, millionths):
        ref = self.ref_sub
        start, end = ref.period
        if self.now >= end and ref.cancel_at_period_end:
            return  # the gateway refuses calls after the last period
        period_start = start if self.now < end else ref.period_containing(self.now)[0]
        period_end = ref.period_end(period_start)
        moment = min(max(self.now, period_start), period_end - timedelta(milliseconds=1))
        term = ref.term_at(moment)
        units = _units(ref.terms[term], whole, millionths)
        record_usage(self.subscription, units, at=self.now, period_start=period_start)
        ref.used[(term, period_start)] += units

    @precondition(lambda self: self.ref_sub is not None)
    @rule(
        whole=st.integers(1, 3000),
        millionths=st.integers(0, 999_999),
        back=st.integers(1, 24 * 40),
    )
    def late_usage(self, whole, millionths, back):
        """Calls made `back` hours ago that reach the aggregates only now."""
        ref = self.ref_sub
        moment = self.now - timedelta(hours=back)
        if moment < ref.start or (ref.canceled_at and moment >= ref.canceled_at):
            return
        period_start = ref.period_containing(moment)[0]
        term = ref.term_at(moment)
        units = _units(ref.terms[term], whole, millionths)
        record_usage(self.subscription, units, at=moment, period_start=period_start)
        ref.used[(term, period_start)] += units

    def _close_ended_periods(self, ref: RefSubscription) -> None:
        """A change or a cancellation first closes a period that is over."""
        while ref.live and ref.period[1] <= self.now:
            self.ref.close(ref)
            if ref.live:
                ref.scheduled = False

    @precondition(lambda self: self._live())
    @rule(plan=st.sampled_from(list(PLAN_SETUP)), at_once=st.booleans())
    def change_plan(self, plan, at_once):
        ref = self.ref_sub
        if plan == self._plan_name_now() and self.now < ref.period[1]:
            return  # already on it
        try:
            self._run(
                lambda: services.subscription_change_plan(
                    actor=self.owner,
                    subscription=self.subscription,
                    plan=self.plans[plan],
                    at_once=at_once,
                )
            )
        except ServiceError as refused:  # nothing happened, the catching up neither
            after = deepcopy(ref)
            self._close_ended_periods(after)
            assert not after.live or after.terms[after.term_at(self.now)].plan == plan, (
                refused.message
            )
            return
        self._close_ended_periods(ref)
        current = ref.terms[ref.term_containing(self.now)]
        target = self.ref.plans[plan]
        version, prices = target.current
        old = current.prices
        upgrade = prices.fee > old.fee or (
            prices.fee == old.fee and prices.included >= old.included
        )
        if upgrade or at_once:
            ref.cut(self.now)
            ref.terms.append(Term(plan, version, prices, self.now))
            ref.bill_usage(until=self.now)
            if not ref.in_trial(self.now):
                if upgrade or self.ref.plans[current.plan].prorated_refunds:
                    ref.fees -= ref.fee_share(old.fee, self.now)
                ref.fees += ref.fee_share(prices.fee, self.now)
            ref.cancel_at_period_end = False
            ref.scheduled = False
        else:  # at the period end
            end = ref.period[1]
            ref.cut(end, drop_from_at=True)
            ref.terms.append(Term(plan, version, prices, end))
            ref.scheduled = True

    def _plan_name_now(self) -> str:
        self.subscription.refresh_from_db()
        return next(
            name for name, plan in self.plans.items() if plan.pk == self.subscription.plan_id
        )

    @precondition(lambda self: self._live())
    @rule(at_once=st.booleans())
    def cancel(self, at_once):
        ref = self.ref_sub
        if ref.cancel_at_period_end and self.now < ref.period[1]:
            return  # scheduled already
        try:
            self._run(
                lambda: services.subscription_cancel(
                    actor=self.owner, subscription=self.subscription, at_once=at_once
                )
            )
        except ServiceError as refused:  # nothing happened, the catching up neither
            after = deepcopy(ref)
            self._close_ended_periods(after)
            assert not after.live, refused.message
            return
        self._close_ended_periods(ref)
        current = ref.terms[ref.term_containing(self.now)]
        plan = self.ref.plans[self._plan_name_now()]
        if at_once or plan.is_free:
            ref.canceled_at = self.now
            ref.cut(self.now)  # the subscription's last segment ends now: it is billed
            ref.bill_usage(until=self.now)
            if plan.prorated_refunds and not ref.in_trial(self.now):
                ref.fees -= ref.fee_share(current.prices.fee, self.now)
        else:
            if ref.scheduled:  # a scheduled downgrade is dropped
                end = ref.period[1]
                ref.terms = [term for term in ref.terms if term.start < end]
                ref.terms[-1].end = None
                ref.scheduled = False
            ref.cancel_at_period_end = True

    @precondition(lambda self: self._live() and self.ref_sub.cancel_at_period_end)
    @rule()
    def resume(self):
        if self.now >= self.ref_sub.period[1]:
            return
        self._run(
            lambda: services.subscription_resume(actor=self.owner, subscription=self.subscription)
        )
        self.ref_sub.cancel_at_period_end = False

    @rule(
        plan=st.sampled_from(["basic", "pro", "ocr", "scale"]),
        fee=st.sampled_from([Decimal(0), Decimal(5), Decimal(10), Decimal(25), Decimal(60)]),
        included=st.sampled_from([0, 100, 1000, 5000]),
    )
    def edit_prices(self, plan, fee, included):
        self._run(
            lambda: services.plan_update(
                actor=self.provider, plan=self.plans[plan], monthly_fee=fee, included_units=included
            )
        )
        self.plans[plan].refresh_from_db()
        ref_plan = self.ref.plans[plan]
        old = ref_plan.versions[-1]
        new = Prices(fee, included, old.unit_price, old.tiers, old.hard_limit)
        if new != old:
            ref_plan.versions.append(new)

    @precondition(lambda self: self._live())
    @rule(days=st.integers(30, 70), hours=st.integers(0, 23))
    def migrate_prices(self, days, hours):
        plan_name = self._plan_name_now()
        effective = self.now + timedelta(days=days, hours=hours)
        self._run(
            lambda: services.plan_prices_migrate(
                actor=self.provider, plan=self.plans[plan_name], effective_at=effective
            )
        )
        ref = self.ref_sub
        version, prices = self.ref.plans[plan_name].current
        index = ref.term_containing(effective)
        if index is None:
            return
        term = ref.terms[index]
        if term.plan != plan_name or term.version >= version:
            return
        ref.terms.insert(
            index + 1, Term(plan_name, version, prices, effective, term.end, price_change=True)
        )
        term.end = effective

    @rule()
    def billing_jobs(self):
        """What beat runs: price changes that took effect, period closes, late usage."""

        def jobs():
            services.apply_due_price_changes(self.now)
            runs.close_due_periods(now=self.now)
            for subscription_id in billing.ended_with_usage_ids(self.now):
                billing.invoice_late_usage(subscription_id, now=self.now)

        self._run(jobs)
        for ref in self.ref.subscriptions:
            while ref.live and ref.period[1] <= self.now - CLOSE_MARGIN:
                self.ref.close(ref)
            if not ref.live and ref.canceled_at >= self.now - billing.LATE_USAGE_WINDOW:
                ref.bill_usage(until=self.now)

    # --- invariants ---------------------------------------------------------------------
    @invariant()
    def every_unit_is_billed_once_under_its_terms(self):
        if not hasattr(self, "ref"):
            return
        for ref in self.ref.subscriptions:
            lines = InvoiceLine.objects.filter(subscription_id=ref.pk)  # its sections
            billed = _sum(lines.exclude(kind__in=(*CREDIT_KINDS, CARRIED)), "amount")
            assert billed == ref.expected, f"invoiced {billed}, the docs say {ref.expected}"
            rated = {
                row.period_start: row.units
                for row in RatedUsage.objects.filter(subscription_id=ref.pk)
            }
            expected_by_period = defaultdict(Decimal)
            for (_, period_start), units in ref.billed.items():
                expected_by_period[period_start] += units
            by_period = defaultdict(Decimal)
            for row in RatedUsage.objects.filter(subscription_id=ref.pk):
                by_period[row.period_start] += row.units
            assert {k: v for k, v in by_period.items() if v} == {
                k: v for k, v in expected_by_period.items() if v
            }, rated

    @invariant()
    def totals_credits_and_refunds_reconcile_with_the_lines(self):
        if not hasattr(self, "ref"):
            return
        invoices = Invoice.objects.filter(organization=self.org)
        lines = InvoiceLine.objects.filter(invoice__organization=self.org)
        rated = lines.exclude(kind=CARRIED)  # a carried line re-bills an earlier invoice
        credits = _sum(rated.filter(kind__in=CREDIT_KINDS), "amount")
        balance = _sum(CreditBalance.objects.filter(subscription__organization=self.org), "amount")
        refunded = _sum(Refund.objects.filter(invoice__organization=self.org), "amount")
        assert credits == balance + refunded
        # consolidated invoicing + carry-over: every rated line is charged (or written off)
        # exactly once, on its own invoice or on the one that collected it
        pending = invoices.filter(status=InvoiceStatus.CARRIED, carried_into=None)
        charged = invoices.exclude(status=InvoiceStatus.CARRIED)
        assert _sum(charged, "total") + _sum(pending, "total") == _sum(rated, "amount")
        for carried in invoices.filter(status=InvoiceStatus.CARRIED):
            collecting = set(
                lines.filter(carried_invoice=carried).values_list("invoice_id", flat=True)
            )
            assert collecting == ({carried.carried_into_id} if carried.carried_into_id else set())
            collected = carried.total if carried.carried_into_id else 0
            assert _sum(lines.filter(carried_invoice=carried), "amount") == collected
            assert 0 < carried.total < MINIMUM
        assert all(invoice.total >= 0 for invoice in invoices)
        assert not charged.filter(status=InvoiceStatus.OPEN, total__lt=MINIMUM).exists()
        periods = list(invoices.filter(key__startswith="period:").values_list("key", flat=True))
        assert len(periods) == len(set(periods))

    @invariant()
    def the_subscription_follows_the_reference(self):
        if not hasattr(self, "ref") or self.subscription is None:
            return
        subscription = Subscription.objects.get(pk=self.subscription.pk)
        ref = self.ref_sub
        assert (subscription.status == SubscriptionStatus.CANCELED) == (not ref.live)
        if ref.live:
            assert (subscription.current_period_start, subscription.current_period_end) == (
                ref.period
            )


RatingMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.django_db
def test_random_subscription_lives_are_billed_as_the_docs_say(settings):
    settings.MINIMUM_CHARGE = MINIMUM
    RatingMachine.TestCase().runTest()
