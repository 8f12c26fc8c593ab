"""Payout jobs. Each takes ids, loads fresh rows, calls a service, and is idempotent."""

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def run_payouts(period: str | None = None) -> int:
    """Beat, on the 1st of every month (and staff's "Run payouts now")."""
    report = services.run_payouts(period)
    return len(report.created)


@shared_task(ignore_result=True)
def reconcile_ledger() -> int:
    """Beat, hourly: enters earnings and reversals a lost signal left out."""
    return services.ledger_reconcile()


@shared_task(bind=True, ignore_result=True, max_retries=8)
def send_transfer(self, payout_id: int) -> None:
    """Send one Stripe payout, retrying transient errors with the same idempotency key.
    When retries run out the payout stays pending; the next run re-sends it."""
    try:
        services.payout_send_transfer(payout_id=payout_id)
    except services.TransientStripeError as error:
        if self.request.retries >= self.max_retries:
            logger.error("payout %s still pending after retries: %s", payout_id, error)
            return
        raise self.retry(exc=error, countdown=min(60 * 2**self.request.retries, 6 * 3600)) from None


@shared_task(bind=True, ignore_result=True, max_retries=5, autoretry_for=(ConnectionError,))
def recover_negative_balance(self, organization_id: int, cause: str) -> int:
    """After a refund or lost dispute: reverse what the provider owes from its transfers."""
    return len(services.ledger_recover(organization_id=organization_id, cause=cause))
