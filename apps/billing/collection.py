"""How invoices get paid. Two collectors behind one small interface (as pretix keeps its
payment providers): Stripe when STRIPE_SECRET_KEY is set, manual bank transfer otherwise.
Everything downstream (invoice paid → subscription active → provider ledger) is the same."""

from django.conf import settings


class Collector:
    method = "manual"

    def card_required(self, subscription) -> bool:
        """Must the consumer save a card before a paid subscription starts?"""
        return False

    def checkout_url(self, subscription) -> str | None:
        return None

    def portal_url(self, organization, return_url: str) -> str | None:
        return None

    def collect(self, invoice) -> None:
        """Start collecting an issued invoice (called after commit, from a task)."""

    def refund(self, invoice, refund) -> None:
        """Send a refund (called after commit, from a task)."""

    def sync_status(self, invoice) -> None:
        """Tell the payment provider that an invoice was voided or written off here."""

    def retry(self, invoice, attempt: int) -> bool:
        """Dunning's scheduled retry `attempt` of a failed invoice: charge it again now.
        True when that paid it. A bank transfer cannot be retried: the day passes unpaid."""
        return False


class ManualCollector(Collector):
    """No Stripe: invoices are paid by bank transfer; staff mark them paid in the admin."""

    def instructions(self) -> str:
        return settings.MANUAL_PAYMENT_INSTRUCTIONS


def collector() -> Collector:
    if settings.STRIPE_SECRET_KEY:
        from .stripe_collection import StripeCollector

        return StripeCollector()
    return ManualCollector()
