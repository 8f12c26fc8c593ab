"""Reads for organizations and memberships."""

from django.db.models import QuerySet

from .models import AccessToken, Membership, Organization, User

SESSION_KEY = "active_organization"


def memberships_of(user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("-organization__is_personal", "organization__name")
    )


def active_membership(request) -> Membership | None:
    """The organization the request acts for: the access token's, or the one picked in the
    header (kept in the session), or the user's personal organization."""
    token = getattr(request, "auth", None)
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = memberships_cached(request, user)
    if isinstance(token, AccessToken):
        return next((m for m in memberships if m.organization_id == token.organization_id), None)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    for membership in memberships:
        if membership.organization.public_id == chosen:
            return membership
    return memberships[0] if memberships else None


def active_organization(request) -> Organization | None:
    membership = active_membership(request)
    return membership.organization if membership else None


def organization_for_member(user: User, public_id: str) -> Organization | None:
    return Organization.objects.filter(public_id=public_id, memberships__user=user).first()


def memberships_cached(request, user: User) -> list[Membership]:
    """One query per request and user (token authentication sets the user after the
    middleware ran, so the cache is keyed by user)."""
    cache = getattr(request, "_memberships_cache", None)
    if cache is None or cache[0] != user.pk:
        cache = (user.pk, list(memberships_of(user)))
        request._memberships_cache = cache
    return cache[1]
