"""Refuse a change of the marketplace currency while money is in flight in the old one.

Registered as a database check, so `manage.py migrate` (the Procfile's release step) and
`manage.py check --database default` stop with the reason; the payout run and invoicing
refuse too (`currency_conflicts`), in case a process started without either."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError
from django.db.models import Sum

from apps.billing.currency import invoices_in_other_currencies
from apps.core.money import round_money

from .models import LedgerEntry, Payout, PayoutStatus


def currency_conflicts(currency: str | None = None) -> list[str]:
    """What is still in another currency than `currency` (default: CURRENCY): open
    invoices, provider balances that are not zero, payouts not yet paid."""
    currency = (currency or settings.CURRENCY).upper()
    found = invoices_in_other_currencies(currency)
    balances = (
        LedgerEntry.objects.exclude(currency=currency)
        .values("organization", "currency")
        .annotate(total=Sum("amount"))
    )
    owed: dict[str, int] = {}
    for row in balances:
        if round_money(row["total"] or 0, row["currency"]):
            owed[row["currency"]] = owed.get(row["currency"], 0) + 1
    found += [f"{n} provider balance(s) in {code}" for code, n in sorted(owed.items())]
    pending = Payout.objects.filter(status=PayoutStatus.PENDING).exclude(currency=currency)
    found += [
        f"{n} pending payout(s) in {code}"
        for code, n in sorted(_counts(pending.values_list("currency", flat=True)).items())
    ]
    return found


def _counts(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def refusal(conflicts: list[str], currency: str | None = None) -> str:
    currency = (currency or settings.CURRENCY).upper()
    return (
        f"CURRENCY is {currency}, but money is still in flight in another currency: "
        f"{'; '.join(conflicts)}. Settle them (collect or void the invoices, pay out the "
        "balances) or set CURRENCY back before changing it."
    )


@register(Tags.database)
def check_currency_change(app_configs=None, databases=None, **kwargs):
    if not databases:
        return []
    try:
        conflicts = currency_conflicts()
    except DatabaseError:  # tables not created yet: a fresh install has nothing in flight
        return []
    if not conflicts:
        return []
    return [
        Error(
            refusal(conflicts),
            hint="The marketplace currency can change only when nothing is open in the old one.",
            id="tollgate.E001",
        )
    ]
