"""Invoice assembly: an organization's invoice is made of sections, one per subscription it
bills, and what an earlier invoice carried (below the minimum charge) is collected on it.

- At a billing date every subscription of the organization whose period ends then is
  closed into one invoice (`services.close_period`), a section each.
- Between billing dates a first fee, an upgrade or a cancellation is an invoice of its own,
  with one section.
- An invoice whose total is below the minimum charge (`currency.minimum_charge`) is issued,
  numbered and shown, but `carried`: nothing is collected, and the next billing-date invoice
  (or the organization's final one) holds a "Carried from TG-…" line per section of it, each
  with its provider, so earnings are split per provider as ever. A carried invoice is
  carried once (`carried_into`), so it is never charged twice.
- The final invoice (no subscription of the organization goes on) takes every carry; if its
  total is still below the minimum it is written off (uncollectible, nothing charged, no
  provider earns from it): docs/payouts.md, "Consolidated invoices"."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from apps.subscriptions import rating
from apps.subscriptions.models import SERVING_STATUSES, Subscription, SubscriptionStatus

from .currency import minimum_charge
from .models import Invoice, InvoiceStatus

CARRIED = rating.CARRIED_FORWARD


@dataclass
class Section:
    """One subscription's lines on an invoice, and the segment usage they invoice."""

    subscription: Subscription
    lines: list[rating.Line] = field(default_factory=list)
    rated: dict = field(default_factory=dict)
    carried: dict = field(default_factory=dict)  # carried line → the invoice it carries


def pending_carries(organization) -> list[Invoice]:
    """The organization's carried invoices no invoice has collected yet, locked."""
    return list(
        Invoice.objects.select_for_update()
        .filter(organization=organization, status=InvoiceStatus.CARRIED, carried_into=None)
        .order_by("issued_at", "pk")
    )


def add_carries(sections: list[Section], carries: list[Invoice]) -> list[Section]:
    """A "Carried from TG-…" line per section of each carried invoice, in the section of the
    same subscription (added when this invoice has none for it)."""
    by_subscription = {section.subscription.pk: section for section in sections}
    for carried in carries:
        per_subscription = (
            carried.lines.values("subscription_id")
            .annotate(amount=Sum("amount"))
            .order_by("subscription_id")
        )
        for row in per_subscription:
            if not row["amount"]:
                continue
            section = by_subscription.get(row["subscription_id"])
            if section is None:
                subscription = Subscription.objects.select_related("api", "plan").get(
                    pk=row["subscription_id"]
                )
                section = by_subscription[subscription.pk] = Section(subscription)
                sections.append(section)
            line = carried_line(carried, row["amount"])
            section.lines.append(line)
            section.carried[line] = carried
    return sections


def carried_line(carried: Invoice, amount: Decimal) -> rating.Line:
    return rating.Line(
        kind=CARRIED,
        description=f"Carried from {carried.number} (below the minimum charge)",
        quantity=Decimal(1),
        unit_price=amount,
        amount=amount,
        period_start=carried.period_start,
        period_end=carried.period_end,
    )


def goes_on(organization, *, ending: list[int]) -> bool:
    """Whether the organization has a subscription that is invoiced again after this one
    (`ending`: subscriptions this invoice ends). An unpaid one may be: paying reactivates it."""
    return (
        Subscription.objects.filter(
            organization=organization, status__in=[*SERVING_STATUSES, SubscriptionStatus.UNPAID]
        )
        .exclude(pk__in=ending)
        .exists()
    )


def status_for(total: Decimal, currency: str, *, final: bool) -> tuple[str, str]:
    """(status, memo) of a new invoice: paid when credits cover it, carried (or written off,
    on a final invoice) below the minimum charge, open otherwise."""
    if total == 0:
        return InvoiceStatus.PAID, ""
    minimum = minimum_charge(currency)
    if total >= minimum:
        return InvoiceStatus.OPEN, ""
    from apps.core.money import format_money

    below = f"Below the minimum charge of {format_money(minimum, currency)}"
    if final:
        return InvoiceStatus.UNCOLLECTIBLE, f"{below}: written off, nothing to pay."
    return InvoiceStatus.CARRIED, f"{below}: carried to your next invoice."


# --- Reading sections -------------------------------------------------------------------
def subscription_ids(invoice: Invoice) -> list[int]:
    """The subscriptions an invoice bills (its sections), first section first."""
    ids = list(
        invoice.lines.exclude(subscription=None)
        .order_by("position", "id")
        .values_list("subscription_id", flat=True)
    )
    ordered = [invoice.subscription_id, *ids]
    return list(dict.fromkeys(ordered))


def invoices_of(subscription: Subscription) -> QuerySet:
    """Every invoice with a section for the subscription."""
    return Invoice.objects.filter(
        Q(subscription=subscription) | Q(lines__subscription=subscription)
    ).distinct()


@dataclass
class SectionView:
    subscription: Subscription
    lines: list
    total: Decimal


def sections_of(invoice: Invoice) -> list[SectionView]:
    """The invoice's lines grouped by subscription, in their order (for pages)."""
    views: dict[int, SectionView] = {}
    lines = invoice.lines.select_related("subscription__api", "subscription__plan").order_by(
        "position", "id"
    )
    for line in lines:
        subscription = line.subscription or invoice.subscription
        view = views.get(subscription.pk)
        if view is None:
            view = views[subscription.pk] = SectionView(subscription, [], Decimal(0))
        view.lines.append(line)
        view.total += line.amount
    return list(views.values())
