"""The lower apps' news, turned into provider webhook events. Registered in
WebhooksConfig.ready on the listener lists those apps own.

A webhook problem must never undo the change it reports: each handler runs in a savepoint
and logs what went wrong instead of raising into the caller's transaction."""

import logging

from django.db import transaction

from . import payloads
from .models import EventType
from .services import emit

logger = logging.getLogger(__name__)

SUBSCRIPTION_EVENTS = {
    EventType.SUBSCRIPTION_CREATED,
    EventType.SUBSCRIPTION_CANCELED,
    EventType.SUBSCRIPTION_CHANGED,
    EventType.SUBSCRIPTION_PRICE_CHANGE_SCHEDULED,
}
QUOTA_BASIS = "included_units"


def on_subscription_event(kind: str, subscription) -> None:
    """fn(kind, subscription) from apps.subscriptions.services: the API's owner hears it."""
    if kind not in SUBSCRIPTION_EVENTS:
        return
    if kind == EventType.SUBSCRIPTION_PRICE_CHANGE_SCHEDULED:
        build = payloads.price_change_data
    else:
        build = payloads.subscription_data
    _safely(kind, lambda: (subscription.api.organization, build(subscription)))


def on_usage_alert(alert, subscription) -> None:
    """fn(alert, subscription) from apps.billing.alerts. Only quota thresholds (included
    units) reach the provider; a spend cap is the consumer's private budget."""
    if alert.basis != QUOTA_BASIS:
        return
    _safely(
        EventType.USAGE_THRESHOLD_REACHED,
        lambda: (subscription.api.organization, payloads.usage_threshold_data(alert, subscription)),
    )


def on_payout_event(kind: str, payout) -> None:
    """fn(kind, payout) from apps.payouts.services, kind being `payout.<status>`: a payout
    that became `paid` (a Stripe transfer made, or staff paid it by hand) was sent."""
    if kind != "payout.paid":
        return
    _safely(EventType.PAYOUT_SENT, lambda: (payout.organization, payloads.payout_data(payout)))


def _safely(kind: str, build) -> None:
    try:
        with transaction.atomic():
            organization, data = build()
            emit(organization=organization, type=kind, data=data)
    except Exception:
        logger.exception("could not emit the %s webhook event", kind)
