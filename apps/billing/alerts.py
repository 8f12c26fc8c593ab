"""Usage alerts: thresholds (50 / 80 / 100 % of the included units or of the spend cap),
each fired once per period, by email and in the console. Checked after every flush for
the subscriptions that just had calls."""

from decimal import Decimal

from django.db import transaction
from django.urls import reverse

from apps.accounts.notifications import notify
from apps.metering.selectors import period_units
from apps.subscriptions.models import Subscription

from . import charges
from .models import UsageAlert

DEFAULT_THRESHOLDS = (50, 80, 100)

# Higher apps (outgoing provider webhooks) hear about fired alerts: fn(alert, subscription).
alert_listeners: list = []


def progress(subscription: Subscription, basis: str) -> Decimal | None:
    """How far along the period is, in percent of the included units or of the cap."""
    units = period_units(subscription.pk, subscription.current_period_start)
    if basis == UsageAlert.Basis.INCLUDED_UNITS:
        included = subscription.plan.included_units
        return None if not included else units * 100 / included
    if subscription.spend_cap in (None, 0):
        return None
    spent = charges.period_estimate(subscription).total
    return spent * 100 / subscription.spend_cap


def check_subscription(subscription: Subscription) -> list[UsageAlert]:
    fired = []
    for alert in subscription.alerts.all():
        if alert.last_fired_period == subscription.current_period_start:
            continue
        reached = progress(subscription, alert.basis)
        if reached is not None and reached >= alert.percent and _claim(alert, subscription):
            fired.append(alert)
            _announce(alert, subscription, reached)
    return fired


def _claim(alert: UsageAlert, subscription: Subscription) -> bool:
    """Exactly once per period, even with two flush workers: a conditional update."""
    with transaction.atomic():
        claimed = (
            UsageAlert.objects.filter(pk=alert.pk)
            .exclude(last_fired_period=subscription.current_period_start)
            .update(last_fired_period=subscription.current_period_start)
        )
    return claimed == 1


def _announce(alert: UsageAlert, subscription: Subscription, reached: Decimal) -> None:
    what = "included units" if alert.basis == UsageAlert.Basis.INCLUDED_UNITS else "spend cap"
    notify(
        organization=subscription.organization,
        kind="usage.threshold",
        title=f"{subscription.api.name}: {alert.percent}% of your {what} used",
        body=f"You are at {reached:.0f}% of this period's {what} "
        f"(period ends {subscription.current_period_end:%b %-d}).",
        url=reverse("subscriptions:detail", args=[subscription.public_id]),
        email_capability="billing",
    )
    for listener in alert_listeners:
        listener(alert, subscription)


def check_after_flush(events) -> None:
    ids = {event.subscription_id for event in events}
    subscriptions = (
        Subscription.objects.filter(pk__in=ids, alerts__isnull=False)
        .distinct()
        .select_related("plan", "api", "organization")
        .prefetch_related("alerts")
    )
    for subscription in subscriptions:
        check_subscription(subscription)


def alerts_set(*, actor, subscription: Subscription, basis: str, percents: list[int]) -> None:
    from apps.accounts.services import require_capability
    from apps.core.errors import ServiceError

    require_capability(actor, subscription.organization, "billing")
    if any(p < 1 or p > 200 for p in percents):
        raise ServiceError("Thresholds are percentages between 1 and 200.", field="percents")
    with transaction.atomic():
        subscription.alerts.filter(basis=basis).exclude(percent__in=percents).delete()
        for percent in sorted(set(percents)):
            UsageAlert.objects.get_or_create(
                subscription=subscription, basis=basis, percent=percent
            )
