"""The keys panel on a subscription's page: the next step after subscribing is a key."""

from django.utils import timezone

from . import selectors


def next_step_panel(request, subscription):
    """Which of the organization's keys can call this API, and a one-click form (posted to
    the keys page, which shows the new secret once) for members who may create keys."""
    if subscription.status not in ("active", "trialing"):
        return None
    keys = selectors.keys_calling(request.organization, subscription.api, timezone.now())
    return {
        "template": "keys/_subscription_panel.html",
        "keys": keys,
        "can_develop": request.membership.can("develop"),
    }
