"""What a subscription owes at a moment, gathered from the database for the rating engine
(apps.subscriptions.rating): the segments of its billing periods (its terms clipped to
each period), the usage of each segment beyond what was invoiced already, and the fee
changes inside a period. Invoices (services.py) are made of these lines; docs/pricing.md
states the rules.

A segment's usage is invoiced once the segment has ended (a plan change, a cancellation or
the period's close ends it), under the segment's own terms, with its share of the included
units; whatever of it arrives later is late usage on the next invoice."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from apps.metering.selectors import units_by_term
from apps.subscriptions import rating
from apps.subscriptions.models import Subscription, TermReason
from apps.subscriptions.periods import period_end_at
from apps.subscriptions.terms import subscription_terms, term_at, timeline, version_terms
from apps.subscriptions.trials import in_trial

from .models import RatedUsage

ZERO = Decimal(0)


@dataclass
class Charges:
    """Lines for one invoice, and the segments' units they invoice (recorded with it)."""

    lines: list[rating.Line] = field(default_factory=list)
    rated: dict[tuple, Decimal] = field(default_factory=dict)

    def __add__(self, other: "Charges") -> "Charges":
        return Charges(self.lines + other.lines, {**self.rated, **other.rated})


class SubscriptionRater:
    """A subscription's timeline and usage, read once, rated on demand."""

    def __init__(self, subscription: Subscription):
        self.subscription = subscription
        self.terms = timeline(subscription)
        self.by_id = {term.pk: term for term in self.terms}

    # --- segments -------------------------------------------------------------------------
    def period_end(self, period_start: datetime) -> datetime:
        return period_end_at(self.subscription.period_anchor, period_start)

    def segment(self, term_id: int | None, period_start: datetime) -> rating.Segment:
        """The segment of `term_id` in the period starting at `period_start`. Usage whose
        term is unknown (from before timelines) goes to the period's last term."""
        period_end = self.period_end(period_start)
        term = self.by_id.get(term_id) or self._last_term_before(period_end)
        if term is None:  # no timeline at all: the current terms over the whole period
            terms = subscription_terms(self.subscription)
            return rating.Segment(terms, period_start, period_end, period_start, period_end)
        start = min(max(term.starts_at, period_start), period_end)
        end = max(min(term.ends_at or period_end, period_end), start)
        return rating.Segment(
            version_terms(term.price_version), start, end, period_start, period_end
        )

    def _last_term_before(self, moment: datetime):
        started = [term for term in self.terms if term.starts_at < moment]
        return started[-1] if started else None

    # --- usage ----------------------------------------------------------------------------
    def usage_due(self, *, until: datetime, after_the_end: bool = False) -> Charges:
        """Usage lines of every segment ended by `until`, beyond what was invoiced of it
        (all of it late `after_the_end` of the subscription: its final invoice is out)."""
        used = units_by_term(self.subscription.pk)
        invoiced = {
            (row.term_id, row.period_start): row.units
            for row in RatedUsage.objects.filter(subscription=self.subscription)
        }
        charges = Charges()
        for key in sorted(used, key=lambda k: (k[1], self._order(k[0]))):
            segment = self.segment(*key)
            before = invoiced.get(key)
            if segment.end > until or (before is not None and used[key] <= before):
                continue
            charges.lines += rating.segment_usage_lines(
                segment,
                used[key],
                rated_before=before or ZERO,
                late=after_the_end or self._late(key, before),
            )
            charges.rated[key] = used[key]
        return charges

    def _order(self, term_id) -> tuple:
        term = self.by_id.get(term_id)
        return (term.starts_at.timestamp(), term.pk) if term else (float("inf"), 0)

    def _late(self, key: tuple, invoiced_before: Decimal | None) -> bool:
        """Usage of a segment invoiced already, or of a period closed already."""
        _, period_start = key
        return (
            invoiced_before is not None
            or self.period_end(period_start) <= self.subscription.current_period_start
        )

    # --- fees -----------------------------------------------------------------------------
    def price_change_fees(self, period_start: datetime, period_end: datetime) -> Charges:
        """Fee adjustments of the price changes that took effect inside the period: a
        credit at the old price and a charge at the new one, for the rest of the period."""
        charges = Charges()
        for term in self.terms:
            if term.reason != TermReason.PRICE_CHANGE:
                continue
            if not period_start < term.starts_at < period_end:
                continue
            if in_trial(self.subscription, term.starts_at):
                continue
            previous = self._term_ending_at(term)
            charges.lines += rating.change_fee_lines(
                version_terms(previous.price_version) if previous else None,
                version_terms(term.price_version),
                at=term.starts_at,
                period_start=period_start,
                period_end=period_end,
            )
        return charges

    def _term_ending_at(self, term):
        for other in self.terms:
            if other.pk != term.pk and other.ends_at == term.starts_at:
                return other
        return None

    def next_fee(self, next_start: datetime, next_end: datetime) -> Charges:
        """The next period's fee in advance, under the terms in force when it starts."""
        term = term_at(self.terms, next_start)
        if term is not None:
            terms = version_terms(term.price_version)
        else:  # no timeline: the plan that follows
            plan = self.subscription.scheduled_plan or self.subscription.plan
            terms = rating.PlanTerms.from_plan(plan)
        lines = rating.fee_lines(
            terms,
            period_start=next_start,
            period_end=next_end,
            in_trial=in_trial(self.subscription, next_start),
        )
        return Charges(lines=lines)


def period_estimate(subscription: Subscription, *, now: datetime | None = None) -> rating.Estimate:
    """The current period's charges so far, as its invoices will show them: the fee and the
    prorations already invoiced for it, the usage of its segments that ended (invoiced at
    their change), and the running segment's usage rated with its share of the included
    units (as if it runs to the period's end). Before the period is invoiced in full it is
    an estimate: later usage, changes and price changes move it."""
    from django.utils import timezone

    from .models import InvoiceLine

    now = now or timezone.now()
    start, end = subscription.current_period_start, subscription.current_period_end
    invoiced = InvoiceLine.objects.filter(
        subscription=subscription, period_start__gte=start, period_start__lt=end
    ).values_list("kind", "amount")
    fee_kinds = (rating.FEE, rating.PRORATION_CREDIT, rating.PRORATION_CHARGE)
    fee = sum((amount for kind, amount in invoiced if kind in fee_kinds), ZERO)
    if not any(kind == rating.FEE for kind, _ in invoiced) and not in_trial(subscription, start):
        fee += rating.round_money(subscription_terms(subscription).monthly_fee)  # not out yet
    usage_invoiced = sum(
        (amount for kind, amount in invoiced if kind in (rating.USAGE, rating.LATE_USAGE)),
        ZERO,
    )
    rater = SubscriptionRater(subscription)
    running = term_at(rater.terms, min(now, end - timedelta(microseconds=1)))
    running_id = running.pk if running else None
    used = units_by_term(subscription.pk)
    units_so_far = sum((units for (_, period), units in used.items() if period == start), ZERO)
    segment = rater.segment(running_id, start)  # the whole period without a timeline
    segment = rating.Segment(segment.terms, segment.start, end, start, end)
    units = sum(  # the running term's, and any whose term is unknown (as `segment` does)
        (
            count
            for (term_id, period), count in used.items()
            if period == start and (term_id == running_id or term_id not in rater.by_id)
        ),
        ZERO,
    )
    lines = rating.segment_usage_lines(segment, units)
    included_remaining = max(rating.included_in(segment) - units, ZERO)
    usage = usage_invoiced + rating.total(lines)
    return rating.Estimate(
        fee=fee,
        usage_lines=tuple(lines),
        usage=usage,
        total=fee + usage,
        units_so_far=units_so_far,
        included_remaining=included_remaining,
    )


def record_rated(subscription: Subscription, rated: dict[tuple, Decimal]) -> None:
    """Remember what was invoiced of each segment (in the invoice's transaction)."""
    for (term_id, period_start), units in rated.items():
        RatedUsage.objects.update_or_create(
            subscription=subscription,
            term_id=term_id,
            period_start=period_start,
            defaults={"units": units},
        )
