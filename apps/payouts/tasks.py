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


@shared_task(bind=True, ignore_result=True, max_retries=4)
def send_transfer(self, payout_id: int) -> None:
    """Send one Stripe payout, retrying transient errors within minutes with the same
    idempotency key. When those retries run out, the payout is scheduled for the retry job
    (hours, then days: `services.RETRY_DELAYS`)."""
    try:
        services.payout_send_transfer(payout_id=payout_id)
    except services.TransientStripeError as error:
        if self.request.retries >= self.max_retries:
            logger.warning("payout %s: Stripe still failing (%s); retrying later", payout_id, error)
            services.payout_retry_later(
                payout=services.Payout.objects.get(pk=payout_id), reason=str(error)
            )
            return
        raise self.retry(exc=error, countdown=min(60 * 2**self.request.retries, 900)) from None


@shared_task(ignore_result=True)
def retry_due_transfers() -> int:
    """Beat, every 10 minutes: send the transfers whose next attempt is due."""
    return len(services.retry_due_transfers())


@shared_task(bind=True, ignore_result=True, max_retries=5, autoretry_for=(ConnectionError,))
def recover_negative_balance(self, organization_id: int, cause: str) -> int:
    """After a refund or lost dispute: reverse what the provider owes from its transfers."""
    return len(services.ledger_recover(organization_id=organization_id, cause=cause))
