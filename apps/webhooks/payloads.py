"""The `data` of each event type. Opaque ids only (organizations, subscriptions, plans,
payouts) and the API's slug: never secrets, keys, names or email addresses."""

from datetime import datetime


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def subscription_data(subscription) -> dict:
    scheduled = subscription.scheduled_plan
    return {
        "subscription": {
            "id": subscription.public_id,
            "status": subscription.status,
            "consumer": subscription.organization.public_id,
            "api": subscription.api.slug,
            "plan": subscription.plan.public_id,
            "scheduled_plan": scheduled.public_id if scheduled else None,
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "current_period_start": iso(subscription.current_period_start),
            "current_period_end": iso(subscription.current_period_end),
            "canceled_at": iso(subscription.canceled_at),
        }
    }


def price_change_data(subscription) -> dict:
    """The subscriber's coming price change: when, and the price version numbers."""
    change = subscription.price_changes.filter(status="scheduled").order_by("-pk").first()
    return {
        **subscription_data(subscription),
        "price_change": {
            "effective_at": iso(change.effective_at),
            "from_version": change.from_version.number,
            "to_version": change.to_version.number,
        }
        if change
        else None,
    }


def usage_threshold_data(alert, subscription) -> dict:
    return {
        **subscription_data(subscription),
        "threshold": {"basis": alert.basis, "percent": alert.percent},
    }


def payout_data(payout) -> dict:
    return {
        "payout": {
            "id": payout.public_id,
            "amount": str(payout.amount),
            "currency": payout.currency,
            "period": payout.period,
            "method": payout.method,
            "status": payout.status,
            "paid_at": iso(payout.paid_at),
        }
    }


def webhook_test_data(endpoint) -> dict:
    return {
        "endpoint": endpoint.public_id,
        "message": "A test event from Tollgate: answer 2xx.",
    }
