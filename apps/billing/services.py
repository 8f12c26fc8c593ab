"""Invoices: issue (idempotently), collect, mark paid or failed, refund, and close periods.
Every amount comes from the rating engine (`rating.py`)."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Organization
from apps.accounts.notifications import notify
from apps.core.audit import audit_record
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.core.money import format_money, money_step, round_money
from apps.subscriptions import rating
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import SERVING_STATUSES, Subscription, SubscriptionStatus
from apps.subscriptions.periods import period_containing
from apps.subscriptions.terms import subscription_terms
from apps.subscriptions.trials import in_trial

from . import assembly, charges, dunning, signals
from .collection import collector
from .currency import invoices_in_other_currencies
from .disputes import refund_blocked_by_dispute
from .models import (
    BillingAccount,
    CollectionMethod,
    CreditBalance,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Refund,
)
from .numbering import next_invoice_number

logger = logging.getLogger(__name__)
MANUAL_DUE_DAYS = 14
CLOSE_MARGIN = timedelta(minutes=1)  # lets in-flight calls be recorded and flushed first
# how long after a cancellation late usage is still looked for (streams, a flush catching up)
LATE_USAGE_WINDOW = timedelta(days=35)
MAX_CATCH_UP_PERIODS = 36


def billing_account(organization) -> BillingAccount:
    account, _ = BillingAccount.objects.get_or_create(organization=organization)
    return account


# --- Issuing ----------------------------------------------------------------------------
def _method(subscription: Subscription) -> str:
    if subscription.manual_invoicing or collector().method == "manual":
        return CollectionMethod.MANUAL
    return CollectionMethod.STRIPE


def invoice_issue(
    *,
    subscription: Subscription,
    key: str,
    lines: list[rating.Line],
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    now: datetime | None = None,
    rated: dict | None = None,
) -> Invoice | None:
    """Issue an invoice of one subscription (a first fee, a plan change, a cancellation,
    late usage) for `key`: see `invoice_issue_sections`."""
    return invoice_issue_sections(
        organization=subscription.organization,
        key=key,
        sections=[assembly.Section(subscription, list(lines), rated or {})],
        period_start=period_start,
        period_end=period_end,
        now=now,
    )


def invoice_issue_sections(
    *,
    organization,
    key: str,
    sections: list[assembly.Section],
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    now: datetime | None = None,
    billing_date: bool = False,
    ending: list[int] | None = None,
) -> Invoice | None:
    """Issue one invoice for `key`, unique per event (`close:<org>:<date>:…`,
    `change:<sub>:<term>`, …), a section per subscription. Idempotent: a second run, or a
    second worker, returns the first invoice and changes nothing. Each section's `rated`
    (segment usage its lines invoice) is recorded in the same transaction, also when the
    lines cost nothing.

    A billing-date invoice (`billing_date`), and a final one (no subscription of the
    organization goes on after those `ending` here), collects what earlier invoices carried
    (assembly.py). Credits work per section: the subscription's credit balance is used up
    against the section's positive total (a "Credit applied" line); a section below zero is
    brought to zero by a "Credit carried forward" line, and the balance keeps it. Zero-amount
    lines are not printed; an invoice with no amount at all issues nothing, one that nets to
    zero is paid at once, one below the minimum charge is carried (or, final, written off)."""
    existing = Invoice.objects.filter(key=key).first()
    if existing is not None:
        return existing
    if any(line.amount for section in sections for line in section.lines):
        _refuse_other_currency()
    now = now or timezone.now()
    with transaction.atomic():
        # the sequence row lock also serialises racing issuers of the same key
        if Invoice.objects.filter(key=key).exists():
            return Invoice.objects.get(key=key)
        for section in sections:
            charges.record_rated(section.subscription, section.rated)
            section.lines = [line for line in section.lines if line.amount]
        final = not assembly.goes_on(organization, ending=ending or [])
        carries = assembly.pending_carries(organization) if billing_date or final else []
        sections = assembly.add_carries(sections, carries)
        for section in sections:
            section.lines = _with_credit(section.subscription, section.lines)
        sections = [section for section in sections if section.lines]
        if not sections:
            return None
        _refuse_other_currency(carries)
        number = next_invoice_number(now.year)
        if Invoice.objects.filter(key=key).exists():
            transaction.set_rollback(True)
            return Invoice.objects.get(key=key)
        invoice = _create(
            organization, key, sections, number, now, (period_start, period_end), final=final
        )
        Invoice.objects.filter(pk__in=[carried.pk for carried in carries]).update(
            carried_into=invoice, updated_at=now
        )
    return invoice


def _refuse_other_currency(carries=()) -> None:
    in_flight = invoices_in_other_currencies(settings.CURRENCY)
    in_flight += [
        f"invoice {carried.number} carried in {carried.currency}"
        for carried in carries
        if carried.currency != settings.CURRENCY
    ]
    if in_flight:  # CURRENCY changed under open invoices: see apps/payouts/checks.py
        raise Conflict(
            f"CURRENCY is {settings.CURRENCY}, but there are {'; '.join(in_flight)}: "
            "settle them or set CURRENCY back before invoicing in a new currency.",
            code="currency_changed",
        )


def _with_credit(subscription: Subscription, lines: list[rating.Line]) -> list[rating.Line]:
    """Apply the credit balance to the lines, or carry their negative total into it."""
    if not lines:
        return lines
    balance, _ = CreditBalance.objects.select_for_update().get_or_create(subscription=subscription)
    total = rating.total(lines, settings.CURRENCY)
    if total < 0:
        balance.amount += -total
        lines = [*lines, _credit_line(rating.CREDIT_CARRIED, "Credit carried forward", -total)]
    elif total > 0 and balance.amount > 0:
        applied = min(balance.amount, total)
        balance.amount -= applied
        lines = [
            *lines,
            _credit_line(rating.CREDIT_APPLIED, "Credit from earlier invoices", -applied),
        ]
    else:
        return lines
    balance.save()
    return lines


def _credit_line(kind: str, description: str, amount: Decimal) -> rating.Line:
    return rating.Line(
        kind=kind,
        description=description,
        quantity=Decimal(1),
        unit_price=amount,
        amount=amount,
        period_start=None,
        period_end=None,
    )


def _create(organization, key, sections, number, now, period, *, final: bool) -> Invoice:
    first = sections[0].subscription
    method = _method(first)
    total = rating.total(
        (line for section in sections for line in section.lines), settings.CURRENCY
    )
    status, memo = assembly.status_for(total, settings.CURRENCY, final=final)
    invoice = Invoice.objects.create(
        key=key,
        number=number,
        organization=organization,
        subscription=first,
        status=status,
        paid_at=now if status == InvoiceStatus.PAID else None,
        collection_method=method,
        currency=settings.CURRENCY,
        period_start=period[0],
        period_end=period[1],
        total=total,
        issued_at=now,
        due_at=now + timedelta(days=MANUAL_DUE_DAYS) if method == CollectionMethod.MANUAL else now,
        memo=memo,
    )
    InvoiceLine.objects.bulk_create(_lines(invoice, sections))
    audit_record(
        action="invoice.issued",
        organization=invoice.organization,
        target=invoice,
        data={"total": str(total), "key": key, "status": status},
    )
    # robust: the invoice is issued whatever happens after the commit (a broker that is down
    # leaves it open and collectable: the collection retry job sends it)
    transaction.on_commit(lambda: _after_issue(invoice.pk), robust=True)
    return invoice


def _lines(invoice: Invoice, sections: list[assembly.Section]) -> list[InvoiceLine]:
    """Each section's lines in turn, with the API, plan and provider of its subscription."""
    rows, position = [], 0
    for section in sections:
        subscription = section.subscription
        plan, api = subscription.plan, subscription.api
        for line in section.lines:
            carried = section.carried.get(line)
            rows.append(
                InvoiceLine(
                    invoice=invoice,
                    kind=line.kind,
                    description=line.description,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=line.amount,
                    period_start=line.period_start,
                    period_end=line.period_end,
                    api=api,
                    plan=plan,
                    provider_id=api.organization_id,
                    subscription=subscription,
                    carried_invoice=carried,
                    position=position,
                )
            )
            position += 1
    return rows


def _after_issue(invoice_id: int) -> None:
    from .tasks import collect_invoice

    invoice = Invoice.objects.select_related("organization").get(pk=invoice_id)
    notify(
        organization=invoice.organization,
        kind="invoice.issued",
        title=f"Invoice {invoice.number}: {format_money(invoice.total, invoice.currency)}",
        body=_issue_text(invoice),
        url=reverse("billing:invoice", args=[invoice.public_id]),
        email_capability="billing",
    )
    signals.invoice_issued.send(sender=Invoice, invoice=invoice)
    if invoice.status == InvoiceStatus.PAID:
        signals.invoice_paid.send(sender=Invoice, invoice=invoice)
    if invoice.status == InvoiceStatus.OPEN:
        # last: if the broker is down this raises (logged), and the invoice waits for the
        # collection retry job (tasks.retry_collection) instead
        collect_invoice.delay(invoice_id)


def _issue_text(invoice: Invoice) -> str:
    if invoice.status == InvoiceStatus.PAID:
        return "Credits cover it: there is nothing to pay."
    if invoice.status in (InvoiceStatus.CARRIED, InvoiceStatus.UNCOLLECTIBLE):
        return invoice.memo
    if invoice.collection_method == CollectionMethod.MANUAL:
        return f"Due by {invoice.due_at:%b %-d, %Y}. {settings.MANUAL_PAYMENT_INSTRUCTIONS}"
    return "Your card on file will be charged automatically."


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def invoice_first_period(subscription: Subscription) -> Invoice | None:
    """The fee in advance when a paid subscription starts (none in a trial), prorated when
    its first period runs to the organization's billing date."""
    start, end = subscription.current_period_start, subscription.current_period_end
    lines = rating.first_period_lines(
        subscription_terms(subscription),
        period_start=start,
        period_end=end,
        in_trial=in_trial(subscription, start),
        # joined the organization's billing date: the month its first period ends
        month_start=period_containing(subscription.period_anchor, start)[0],
    )
    return invoice_issue(
        subscription=subscription,
        key=f"start:{subscription.pk}",
        lines=lines,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
    )


# --- Plan changes and cancellations, billed at once -----------------------------------------
def plan_change_charges(
    subscription: Subscription,
    *,
    old_terms: rating.PlanTerms,
    new_terms: rating.PlanTerms | None,
    at: datetime,
    credit_old: bool,
) -> charges.Charges:
    """What a change of terms at `at` bills at once: the usage of the segment it ends (and
    any late usage), and the fee's proration for the rest of the period (none in a trial;
    the old fee's unused share is credited only when `credit_old`)."""
    rater = charges.SubscriptionRater(subscription)
    due = rater.usage_due(until=at)
    if in_trial(subscription, at):
        return due
    return due + charges.Charges(
        lines=rating.change_fee_lines(
            old_terms,
            new_terms,
            at=at,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            credit_old=credit_old,
        )
    )


def invoice_plan_change(
    subscription: Subscription, *, old_terms, new_terms, at: datetime, credit_old: bool, event: str
) -> Invoice | None:
    """Invoice a plan change made now; `event` names it uniquely (the new term's id), so
    two changes in the same second are two invoices."""
    due = plan_change_charges(
        subscription, old_terms=old_terms, new_terms=new_terms, at=at, credit_old=credit_old
    )
    return invoice_issue(
        subscription=subscription,
        key=f"change:{subscription.pk}:{event}",
        lines=due.lines,
        rated=due.rated,
        period_start=at,
        period_end=subscription.current_period_end,
        now=at,
    )


@dataclass(frozen=True)
class ChangePreview:
    """What a plan change would bill at once: the lines of its invoice, exactly."""

    lines: tuple[InvoiceLine, ...]  # unsaved copies: description, quantity, unit price, amount
    total: Decimal
    at_once: bool  # False: a downgrade that waits for the period end (nothing billed now)
    applies_at: datetime


def plan_change_preview(
    *, actor, subscription: Subscription, plan, at_once: bool = False
) -> ChangePreview:
    """Preview a plan change by making it in a transaction that is rolled back: the same
    services, the same rating, so the preview is the invoice line for line, and nothing of
    it stays (no invoice, number, email, webhook or term). Refusals are the change's own."""
    with transaction.atomic():
        since = Invoice.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        changed = subscription_services.subscription_change_plan(
            actor=actor, subscription=subscription, plan=plan, at_once=at_once
        )
        invoice = (
            Invoice.objects.filter(
                subscription=changed, pk__gt=since, key__startswith=f"change:{changed.pk}:"
            )
            .prefetch_related("lines")
            .first()
        )
        lines = tuple(
            InvoiceLine(
                kind=line.kind,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in (invoice.lines.all() if invoice else ())
        )
        scheduled = changed.scheduled_plan_id == plan.pk
        preview = ChangePreview(
            lines=lines,
            total=invoice.total if invoice else Decimal(0),
            at_once=not scheduled,
            applies_at=changed.current_period_end if scheduled else timezone.now(),
        )
        transaction.set_rollback(True)
    return preview


def invoice_cancellation(subscription: Subscription, *, old_terms, at: datetime) -> Invoice | None:
    """The final invoice of a subscription cancelled now: its usage to date, and a credit for
    the fee's unused share when the plan refunds prorated fees. Credit left over is
    refunded against the subscription's paid invoices."""
    due = plan_change_charges(
        subscription,
        old_terms=old_terms,
        new_terms=None,
        at=at,
        credit_old=subscription.plan.prorated_refunds,
    )
    invoice = invoice_issue(
        subscription=subscription,
        key=f"cancel:{subscription.pk}",
        lines=due.lines,
        rated=due.rated,
        period_start=subscription.current_period_start,
        period_end=at,
        now=at,
    )
    refund_leftover_credit(subscription)
    return invoice


def invoice_unpaid_end(subscription: Subscription, *, at: datetime) -> Invoice | None:
    """The final invoice of an unpaid subscription cancelled at `at`: the usage not invoiced
    yet (from before it became unpaid; the gateway refused calls since). No fee and no
    credit for an unused fee: the fee is on the unpaid invoice."""
    due = charges.SubscriptionRater(subscription).usage_due(until=at)
    return invoice_issue(
        subscription=subscription,
        key=f"cancel:{subscription.pk}",
        lines=due.lines,
        rated=due.rated,
        period_start=subscription.current_period_start,
        period_end=at,
        now=at,
    )


def invoice_reactivation(subscription: Subscription, *, at: datetime) -> Invoice | None:
    """An unpaid subscription paid up in a later period: the fee for the rest of the
    current period from `at`. The periods it skipped, and the part of this one the gateway
    refused, are not billed."""
    if in_trial(subscription, at):
        return None
    start, end = subscription.current_period_start, subscription.current_period_end
    lines = rating.change_fee_lines(
        None, subscription_terms(subscription), at=at, period_start=start, period_end=end
    )
    return invoice_issue(
        subscription=subscription,
        key=f"reactivate:{subscription.pk}:{_stamp(start)}",
        lines=lines,
        period_start=at,
        period_end=end,
        now=at,
    )


def invoice_late_usage(subscription_id: int, *, now: datetime | None = None) -> Invoice | None:
    """A subscription that has ended: its late usage goes on a final adjustment invoice
    (each run issues one for whatever arrived since the last)."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update(of=("self",)).get(pk=subscription_id)
        if subscription.status != SubscriptionStatus.CANCELED:
            return None
        rater = charges.SubscriptionRater(subscription)
        due = rater.usage_due(until=now, after_the_end=True)
        if not due.rated:
            return None
        count = subscription.invoices.filter(key__startswith="adjust:").count()
        invoice = invoice_issue(
            subscription=subscription,
            key=f"adjust:{subscription.pk}:{count + 1}",
            lines=due.lines,
            rated=due.rated,
            now=now,
        )
        refund_leftover_credit(subscription)
    return invoice


def ended_with_usage_ids(now: datetime | None = None) -> list[int]:
    """Cancelled subscriptions (of the last LATE_USAGE_WINDOW) that may have late usage."""
    since = (now or timezone.now()) - LATE_USAGE_WINDOW
    return list(
        Subscription.objects.filter(
            status=SubscriptionStatus.CANCELED, canceled_at__gte=since
        ).values_list("pk", flat=True)
    )


def refund_leftover_credit(subscription: Subscription) -> Decimal:
    """At a subscription's end, refund its credit balance against its paid invoices, newest
    first. What cannot be refunded that way (nothing paid yet) stays on the balance."""
    balance = CreditBalance.objects.select_for_update().filter(subscription=subscription).first()
    if balance is None or balance.amount <= 0:
        return Decimal(0)
    refunded = Decimal(0)
    paid = Invoice.objects.filter(
        pk__in=assembly.invoices_of(subscription).filter(status=InvoiceStatus.PAID).values("pk")
    ).order_by("-issued_at", "-pk")
    for invoice in paid.select_for_update():
        if refund_blocked_by_dispute(invoice):
            continue  # the bank decides that money
        section = invoice.lines.filter(subscription=subscription).aggregate(total=Sum("amount"))
        amount = min(
            invoice.total - invoice.amount_refunded,
            section["total"] or 0,  # a consolidated invoice refunds this section's part only
            balance.amount - refunded,
        )
        if amount > 0:
            _refund(invoice, amount, "Unused fee refunded at cancellation", actor=None)
            refunded += amount
    balance.amount -= refunded
    balance.save(update_fields=["amount", "updated_at"])
    return refunded


# --- Closing periods ----------------------------------------------------------------------
def period_close_charges(subscription: Subscription) -> charges.Charges:
    """The close of the current period: the usage of each of its segments under its own
    terms (and late usage of earlier ones), the fee adjustments of price changes inside it,
    then the next period's fee in advance, unless the subscription ends with it."""
    start, end = subscription.current_period_start, subscription.current_period_end
    rater = charges.SubscriptionRater(subscription)
    due = rater.usage_due(until=end) + rater.price_change_fees(start, end)
    if subscription.cancel_at_period_end:
        return due
    return due + rater.next_fee(*subscription_services.following_period(subscription))


def close_period(
    subscription_id: int, *, now: datetime | None = None, margin: timedelta = CLOSE_MARGIN
) -> Invoice | None:
    """Close the ended period of a subscription together with every subscription of its
    organization whose period ends at the same billing date: rate each, issue one invoice
    with a section per subscription, and roll them on. Safe to repeat and to run in two
    workers: the organization's row, then the subscriptions' rows (in id order), are locked,
    and the invoice key (the billing date and the subscriptions) is unique."""
    now = now or timezone.now()
    with transaction.atomic():
        row = Subscription.objects.filter(pk=subscription_id)
        organization_id, end = row.values_list("organization_id", "current_period_end").get()
        Organization.objects.select_for_update().filter(pk=organization_id).first()
        group = list(
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan", "scheduled_plan", "api", "organization", "price_version")
            .filter(
                organization_id=organization_id,
                status__in=SERVING_STATUSES,
                current_period_end=end,
                current_period_end__lte=now - margin,
            )
            .order_by("pk")
        )
        if subscription_id not in {subscription.pk for subscription in group}:
            return None
        group = _rated_group(group, subscription_id)
        invoice = _invoice_billing_date(group, now)
        for subscription, _ in group:
            subscription = subscription_services.subscription_renew(subscription=subscription)
            if subscription.status == SubscriptionStatus.CANCELED:
                refund_leftover_credit(subscription)
    return invoice


def _rated_group(group: list[Subscription], subscription_id: int) -> list[tuple]:
    """(subscription, its close charges) for the group. A subscription whose rating fails
    stays out (and due: the next run retries it, on an invoice of its own) so that it does
    not hold back the others; when it is the one being closed, the close fails."""
    rated = []
    for subscription in group:
        try:
            with transaction.atomic():
                rated.append((subscription, period_close_charges(subscription)))
        except Exception:
            if subscription.pk == subscription_id:
                raise
            logger.warning("subscription %s left out of its billing date", subscription.pk)
    return rated


def _invoice_billing_date(group: list[tuple], now: datetime) -> Invoice | None:
    """One invoice for the subscriptions of one organization closing at one billing date."""
    first = group[0][0]
    sections = [assembly.Section(subscription, due.lines, due.rated) for subscription, due in group]
    ids = ",".join(str(subscription.pk) for subscription, _ in group)
    digest = hashlib.sha256(ids.encode()).hexdigest()[:16]
    return invoice_issue_sections(
        organization=first.organization,
        key=f"period:org{first.organization_id}:{_stamp(first.current_period_end)}:{digest}",
        sections=sections,
        period_start=min(subscription.current_period_start for subscription, _ in group),
        period_end=first.current_period_end,
        now=now,
        billing_date=True,
        ending=[sub.pk for sub, _ in group if sub.cancel_at_period_end],
    )


def close_ended_periods(subscription_id: int) -> None:
    """Close every ended period of one subscription now, without the close job's margin:
    a plan change or a cancellation must not straddle a period that is over."""
    for _ in range(MAX_CATCH_UP_PERIODS):
        current = Subscription.objects.values_list("status", "current_period_end").get(
            pk=subscription_id
        )
        if current[0] not in SERVING_STATUSES or current[1] > timezone.now():
            return
        close_period(subscription_id, margin=timedelta(0))


def due_subscription_ids(
    now: datetime | None = None, *, usage_in_through: datetime | None = None
) -> list[int]:
    """Subscriptions whose period has ended (by the close margin); with `usage_in_through`,
    only those whose period ended by then (their usage is all flushed)."""
    cutoff = (now or timezone.now()) - CLOSE_MARGIN
    if usage_in_through is not None:
        cutoff = min(cutoff, usage_in_through)
    return list(
        Subscription.objects.filter(
            status__in=SERVING_STATUSES, current_period_end__lte=cutoff
        ).values_list("pk", flat=True)
    )


# --- Payment outcomes ---------------------------------------------------------------------
def invoice_mark_paid(*, invoice: Invoice, actor=None, paid_at: datetime | None = None) -> Invoice:
    """Idempotent: a repeated or late "paid" changes nothing the second time."""
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update().select_related("subscription").get(pk=invoice.pk)
        )
        if invoice.status == InvoiceStatus.PAID:
            return invoice
        # a written-off invoice can still be paid (Stripe too lets an uncollectible one be paid)
        if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
            raise Conflict(f"A {invoice.get_status_display().lower()} invoice cannot be paid.")
        if actor is not None and not actor.is_staff:
            raise Forbidden("Only staff mark invoices paid.")
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, paid_at or timezone.now()
        invoice.next_payment_attempt_at = None
        invoice.save(update_fields=["status", "paid_at", "next_payment_attempt_at", "updated_at"])
        audit_record(
            action="invoice.paid",
            actor=actor,
            organization=invoice.organization,
            target=invoice,
            data={"total": str(invoice.total)},
        )
        _recover_subscriptions(invoice)
        transaction.on_commit(lambda: signals.invoice_paid.send(sender=Invoice, invoice=invoice))
    return invoice


def _has_failed_open_invoices(subscription: Subscription) -> bool:
    return (
        assembly.invoices_of(subscription)
        .filter(status=InvoiceStatus.OPEN, payment_failed_at__isnull=False)
        .exists()
    )


def _recover_subscriptions(invoice: Invoice) -> None:
    """Every subscription of the invoice that no other failed invoice holds back is
    active again."""
    for subscription in dunning.subscriptions_of(invoice):
        if not _has_failed_open_invoices(subscription):
            subscription_services.subscription_payment_recovered(subscription=subscription)


@transaction.atomic
def invoice_payment_failed(*, invoice: Invoice) -> Invoice:
    invoice = Invoice.objects.select_for_update().select_related("subscription").get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.OPEN:
        return invoice  # a late failure after the invoice was paid or voided
    if invoice.payment_failed_at is not None:
        return invoice  # a repeat, or a try outside the schedule: dunning is under way
    for subscription in dunning.subscriptions_of(invoice):
        subscription_services.subscription_payment_failed(subscription=subscription)
    dunning.start(invoice)
    return invoice


# Closing an invoice without payment. Staff do it here and Stripe is told after the commit
# (`sync_invoice_status`); Stripe's own `invoice.voided` / `invoice.marked_uncollectible`
# arrive with `from_stripe=True` and tell Stripe nothing back. Repeats change nothing.
_CLOSED_FROM = {
    InvoiceStatus.VOID: (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE),
    InvoiceStatus.UNCOLLECTIBLE: (InvoiceStatus.OPEN,),
}


def invoice_void(*, invoice: Invoice, actor=None, from_stripe: bool = False) -> Invoice:
    return _close_unpaid(invoice, InvoiceStatus.VOID, actor=actor, from_stripe=from_stripe)


def invoice_mark_uncollectible(
    *, invoice: Invoice, actor=None, from_stripe: bool = False
) -> Invoice:
    return _close_unpaid(invoice, InvoiceStatus.UNCOLLECTIBLE, actor=actor, from_stripe=from_stripe)


def _close_unpaid(invoice: Invoice, status: str, *, actor, from_stripe: bool) -> Invoice:
    verb = "void" if status == InvoiceStatus.VOID else "write off"
    if not from_stripe and (actor is None or not actor.is_staff):
        raise Forbidden(f"Only staff {verb} invoices.")
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update().select_related("subscription").get(pk=invoice.pk)
        )
        if invoice.status == status:
            return invoice
        if invoice.status not in _CLOSED_FROM[status]:
            raise Conflict(
                f"A {invoice.get_status_display().lower()} invoice cannot be "
                f"{'voided' if status == InvoiceStatus.VOID else 'written off'}.",
                code="invoice_not_open",
            )
        invoice.status = status
        invoice.save(update_fields=["status", "updated_at"])
        audit_record(
            action="invoice.voided" if status == InvoiceStatus.VOID else "invoice.uncollectible",
            actor=actor,
            organization=invoice.organization,
            target=invoice,
            data={"source": "stripe" if from_stripe else "tollgate"},
        )
        # a voided invoice is forgiven: it no longer keeps the gateway at 402
        if status == InvoiceStatus.VOID:
            _recover_subscriptions(invoice)
        # written off after failing: collection gave up, as after the last retry (it can
        # still be paid, which reactivates); a past-due subscription is never left invoiced
        if status == InvoiceStatus.UNCOLLECTIBLE and invoice.payment_failed_at is not None:
            dunning.exhausted(invoice)
        if not from_stripe and invoice.collection_method == CollectionMethod.STRIPE:
            transaction.on_commit(lambda: _after_close(invoice.pk))
    return invoice


def _after_close(invoice_id: int) -> None:
    from .tasks import sync_invoice_status

    sync_invoice_status.delay(invoice_id)


def invoice_refund(
    *, invoice: Invoice, actor, amount: Decimal | None = None, reason: str = ""
) -> Refund:
    """Staff refund a paid invoice (all or part). Stripe gets the refund after commit; the
    provider ledger reverses its share through the `invoice_refunded` signal."""
    if not actor.is_staff:
        raise Forbidden("Only staff refund invoices.")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.PAID:
            raise Conflict("Only paid invoices can be refunded.")
        blocked = refund_blocked_by_dispute(invoice)
        if blocked:
            raise Conflict(blocked, code="invoice_disputed")
        refundable = invoice.total - invoice.amount_refunded
        amount = refundable if amount is None else Decimal(amount)
        step = money_step(invoice.currency)  # the currency's minor unit: $0.01, ¥1, KWD 0.010
        if amount <= 0 or amount > refundable or amount != round_money(amount, invoice.currency):
            raise ServiceError(
                f"Refund between {format_money(step, invoice.currency)} and "
                f"{format_money(refundable, invoice.currency)}, in steps of "
                f"{format_money(step, invoice.currency)}.",
                code="invalid_amount",
                field="amount",
            )
        return _refund(invoice, amount, reason, actor=actor)


def _refund(invoice: Invoice, amount: Decimal, reason: str, *, actor) -> Refund:
    """Record a refund of a paid, locked invoice (staff's, or billing's own)."""
    refund = Refund.objects.create(
        invoice=invoice, amount=amount, reason=reason[:300], created_by=actor
    )
    invoice.amount_refunded += amount
    invoice.save(update_fields=["amount_refunded", "updated_at"])
    audit_record(
        action="invoice.refunded",
        actor=actor,
        organization=invoice.organization,
        target=invoice,
        data={"amount": str(amount), "reason": reason},
    )
    transaction.on_commit(lambda: _after_refund(refund.pk))
    return refund


def _after_refund(refund_id: int) -> None:
    from .tasks import send_refund

    send_refund.delay(refund_id)
    refund = Refund.objects.select_related("invoice").get(pk=refund_id)
    signals.invoice_refunded.send(sender=Invoice, invoice=refund.invoice, refund=refund)
