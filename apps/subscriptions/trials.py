"""Free trials, decided here and nowhere else: whether a moment falls inside a
subscription's trial (the fee, the spend cap, the usage estimate and the status all ask
`in_trial`), and whether a new subscription may have one (`trial_allowed`)."""

from datetime import datetime

from django.utils import timezone

from .models import Subscription


def in_trial(subscription: Subscription, at: datetime | None = None) -> bool:
    """Whether `at` (default: now) falls inside the subscription's free trial, which runs
    from the subscription's start to `trial_ends_at` (the first period)."""
    if subscription.trial_ends_at is None:
        return False
    return (at or timezone.now()) < subscription.trial_ends_at


def trial_allowed(organization, api) -> bool:
    """One trial per organization and API: cancelling and subscribing again does not start a
    second one (the new subscription pays from its first day)."""
    return not Subscription.objects.filter(
        organization=organization, api=api, trial_ends_at__isnull=False
    ).exists()
