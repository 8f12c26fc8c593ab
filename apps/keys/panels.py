"""The subscription page's next step: a subscriber with no key that can call the API is
offered one, created by the keys page's own form post (the secret shows there, once)."""

from django.utils import timezone

from apps.subscriptions.models import LIVE_STATUSES

from . import selectors


def first_key_panel(request, subscription):
    if subscription.status not in LIVE_STATUSES:
        return None
    if selectors.can_call(subscription.organization, subscription.api, timezone.now()):
        return None
    return {
        "template": "keys/_first_key.html",
        "api": subscription.api,
        "can_develop": request.membership.can("develop"),
    }
