"""The marketplace currency (`CURRENCY`) can change only while no money is in flight in the
old one: open invoices would be charged, and balances paid out, in a currency nobody
agreed to. Billing says what it holds; payouts adds provider balances (`apps.payouts.checks`),
and `migrate` (the release step) refuses to run while anything is in the way."""

from django.db.models import Count

from .models import Invoice, InvoiceStatus

UNSETTLED = [InvoiceStatus.DRAFT, InvoiceStatus.OPEN]


def invoices_in_other_currencies(currency: str) -> list[str]:
    """Sentences naming the open invoices that are not in `currency`, one per currency."""
    rows = (
        Invoice.objects.filter(status__in=UNSETTLED)
        .exclude(currency=currency.upper())
        .values("currency")
        .annotate(count=Count("id"))
        .order_by("currency")
    )
    return [f"{row['count']} open invoice(s) in {row['currency']}" for row in rows]
