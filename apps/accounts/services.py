"""Writes for users, organizations, memberships, invitations and access tokens."""

import logging
import secrets
import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from apps.core.audit import audit_record
from apps.core.dates import check_day
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.core.invalidation import publish_invalidation
from apps.core.secrets import display_prefix, generate_secret, hash_secret
from apps.core.text import CONTROL_MESSAGE, email_subject, has_control_characters

from .models import AccessToken, Invitation, Membership, Organization, User
from .notifications import notify
from .roles import Role, refusal

logger = logging.getLogger(__name__)
ACCESS_TOKEN_PREFIX = "tgp"
MAX_ACCESS_TOKENS = 50


# --- Organizations ----------------------------------------------------------------------
def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _clean_organization_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the organization a name.", field="name")
    if has_control_characters(name):  # it goes into email subjects and every page header
        raise ServiceError(CONTROL_MESSAGE, field="name")
    return name


@transaction.atomic
def organization_create(*, owner: User, name: str, is_personal: bool = False) -> Organization:
    name = _clean_organization_name(name)
    organization = Organization.objects.create(
        name=name, slug=_unique_slug(name), is_personal=is_personal, billing_email=owner.email
    )
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    audit_record(
        action="organization.created", actor=owner, organization=organization, target=organization
    )
    return organization


def organization_create_personal(*, user: User) -> Organization:
    return organization_create(
        owner=user, name=f"{user.display_name}'s organization", is_personal=True
    )


@transaction.atomic
def organization_update(
    *, actor: User, organization: Organization, name: str, billing_email: str = ""
) -> Organization:
    _require(actor, organization, "manage_members")
    organization.name = (
        _clean_organization_name(name) if (name or "").strip() else organization.name
    )
    organization.billing_email = billing_email
    organization.save(update_fields=["name", "billing_email", "updated_at"])
    audit_record(
        action="organization.updated",
        actor=actor,
        organization=organization,
        target=organization,
        data={"name": organization.name},
    )
    return organization


# Higher apps hear of suspensions and restorations (the catalog hides and stops the
# organization's listings): fn(organization, suspended), called inside the transaction.
suspension_listeners: list = []


@transaction.atomic
def organization_suspend(*, actor: User, organization: Organization, reason: str) -> None:
    """Everything the organization does stops at once: its keys' gateway calls, calls to its
    APIs (hidden from the catalog), new subscriptions to them, and edits of its listings."""
    reason = (reason or "").strip()[:300] or "Suspended by staff"
    Organization.objects.select_for_update().filter(pk=organization.pk).update(
        suspended_at=timezone.now(), suspended_reason=reason
    )
    organization.refresh_from_db(fields=["suspended_at", "suspended_reason"])
    audit_record(
        action="organization.suspended",
        actor=actor,
        organization=organization,
        target=organization,
        data={"reason": reason},
    )
    _suspension_news(organization, suspended=True)
    notify(
        organization=organization,
        kind="organization.suspended",
        title=f"{organization.name} is suspended",
        body=(
            f"Reason: {reason}. Calls with your keys are refused, your APIs are hidden from "
            "the catalog and their calls refused, and listings and plans cannot be changed "
            "until Tollgate lifts the suspension. Reply to this email to contact support."
        ),
        url=reverse("console:home"),
        email_capability="view",
    )


@transaction.atomic
def organization_restore(*, actor: User, organization: Organization) -> None:
    Organization.objects.select_for_update().filter(pk=organization.pk).update(
        suspended_at=None, suspended_reason=""
    )
    organization.refresh_from_db(fields=["suspended_at", "suspended_reason"])
    audit_record(
        action="organization.restored", actor=actor, organization=organization, target=organization
    )
    _suspension_news(organization, suspended=False)
    notify(
        organization=organization,
        kind="organization.restored",
        title=f"{organization.name} is active again",
        body="The suspension is lifted: your keys, your APIs and their listings work again.",
        url=reverse("console:home"),
        email_capability="view",
    )


def _suspension_news(organization: Organization, *, suspended: bool) -> None:
    # the gateway caches the organization (its keys' calls): drop it everywhere at once
    publish_invalidation("organization", organization.pk)
    for listener in suspension_listeners:
        listener(organization, suspended)


def require_active(organization: Organization) -> None:
    """Refuse changes to a suspended organization's listings and plans, saying why."""
    if organization.is_suspended:
        raise Forbidden(
            f"{organization.name} is suspended ({organization.suspended_reason or 'by staff'}): "
            "its listings and plans cannot be changed until Tollgate lifts the suspension.",
            code="organization_suspended",
        )


# --- Memberships ------------------------------------------------------------------------
def membership_for(user: User, organization: Organization) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, organization=organization).first()


def _require(actor: User, organization: Organization, capability: str) -> Membership:
    membership = membership_for(actor, organization)
    if membership is None:
        raise NotFound("No such organization.")
    if not membership.can(capability):
        raise Forbidden(refusal(membership.role, capability))
    return membership


def require_capability(actor: User, organization: Organization, capability: str) -> Membership:
    """Raise NotFound for outsiders and Forbidden for members whose role lacks it."""
    return _require(actor, organization, capability)


def _owner_count(organization: Organization) -> int:
    return organization.memberships.filter(role=Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, actor: User, membership: Membership, role: str) -> Membership:
    actor_membership = _require(actor, membership.organization, "manage_members")
    if role not in Role.values:
        raise ServiceError("Unknown role.", field="role")
    touches_owner = Role.OWNER in (role, membership.role)
    if touches_owner and actor_membership.role != Role.OWNER:
        raise Forbidden("Only owners can appoint or demote owners.")
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and _owner_count(membership.organization) == 1
    ):
        raise Conflict("An organization needs at least one owner.")
    old_role, membership.role = membership.role, role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        action="membership.role_changed",
        actor=actor,
        organization=membership.organization,
        target=membership.user,
        data={"from": old_role, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: User, membership: Membership) -> None:
    leaving_self = membership.user_id == actor.pk
    if not leaving_self:
        actor_membership = _require(actor, membership.organization, "manage_members")
        if membership.role == Role.OWNER and actor_membership.role != Role.OWNER:
            raise Forbidden("Only owners can remove owners.")
    if membership.role == Role.OWNER and _owner_count(membership.organization) == 1:
        raise Conflict("An organization needs at least one owner.")
    audit_record(
        action="membership.removed",
        actor=actor,
        organization=membership.organization,
        target=membership.user,
        data={"role": membership.role},
    )
    membership.delete()


# --- Invitations ------------------------------------------------------------------------
def invitation_create(
    *, actor: User, organization: Organization, email: str, role: str
) -> Invitation:
    """Save the invitation and email it, or neither. The email is sent inside the
    transaction (a break from the usual send-after-commit): an invitation nobody received,
    replacing earlier ones that were, is worse than holding a row lock on this
    organization's pending invitations to that address for the length of one SMTP call."""
    with transaction.atomic():
        invitation, token = _invitation_save(
            actor=actor, organization=organization, email=email, role=role
        )
        try:
            _send_invitation(invitation, token)
        except (OSError, smtplib.SMTPException) as error:  # rolls the invitation back
            logger.warning("invitation email to %s not sent: %r", invitation.email, error)
            raise ServiceError(
                f"The invitation email to {invitation.email} could not be sent, so no "
                "invitation was made. Try again in a few minutes.",
                code="email_not_sent",
                field="email",
                status=503,
            ) from error
    return invitation


def _invitation_save(
    *, actor: User, organization: Organization, email: str, role: str
) -> tuple[Invitation, str]:
    actor_membership = _require(actor, organization, "manage_members")
    email = email.strip().lower()
    if role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise Forbidden("Only owners can invite owners.")
    if organization.memberships.filter(user__email__iexact=email).exists():
        raise Conflict("That person is already a member.", field="email")
    organization.invitations.filter(email=email, accepted_at=None, canceled_at=None).update(
        canceled_at=timezone.now()
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        invited_by=actor,
        token_hash=hash_secret(token),
        expires_at=timezone.now() + settings.INVITATION_TTL,
    )
    audit_record(
        action="invitation.created",
        actor=actor,
        organization=organization,
        target=invitation,
        data={"email": email, "role": role},
    )
    return invitation, token


def _send_invitation(invitation: Invitation, token: str) -> None:
    url = settings.SITE_URL + reverse("invitation_accept", args=[token])
    context = {"invitation": invitation, "url": url, "SITE_NAME": settings.SITE_NAME}
    send_mail(
        subject=email_subject(f"[{settings.SITE_NAME}] Join ", invitation.organization.name),
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_by_token(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=hash_secret(token))
        .first()
    )
    if invitation is None or invitation.canceled_at is not None:
        raise NotFound("This invitation does not exist or was withdrawn.")
    return invitation


@transaction.atomic
def invitation_accept(*, user: User, token: str) -> Membership:
    invitation = invitation_by_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted.")
    if invitation.is_expired:
        raise ServiceError("This invitation has expired; ask for a new one.", code="expired")
    if invitation.email.lower() != user.email.lower():
        raise Forbidden(f"This invitation is for {invitation.email}; log in with that address.")
    membership, _ = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    audit_record(
        action="invitation.accepted",
        actor=user,
        organization=invitation.organization,
        target=invitation,
        data={"role": membership.role},
    )
    return membership


@transaction.atomic
def invitation_cancel(*, actor: User, invitation: Invitation) -> None:
    _require(actor, invitation.organization, "manage_members")
    invitation.canceled_at = timezone.now()
    invitation.save(update_fields=["canceled_at", "updated_at"])
    audit_record(
        action="invitation.canceled",
        actor=actor,
        organization=invitation.organization,
        target=invitation,
    )


def invitations_purge_expired(*, older_than: timedelta = timedelta(days=30)) -> int:
    cutoff = timezone.now() - older_than
    deleted, _ = Invitation.objects.filter(accepted_at=None, expires_at__lt=cutoff).delete()
    return deleted


# --- Access tokens ----------------------------------------------------------------------
@transaction.atomic
def access_token_create(
    *, actor: User, organization: Organization, name: str, expires_at: datetime | None = None
) -> tuple[AccessToken, str]:
    """Returns the token row and its secret, which is never stored and never shown again.
    Any member may make one: it acts with its creator's role (roles.py), no more."""
    _require(actor, organization, "view")
    name = name.strip()
    if not name:
        raise ServiceError("Name the token after what will use it.", field="name")
    if expires_at is not None:
        check_day(expires_at, field="expires_at")
    active = organization.access_tokens.filter(revoked_at=None).count()
    if active >= MAX_ACCESS_TOKENS:
        raise Conflict(f"An organization can hold {MAX_ACCESS_TOKENS} active tokens.")
    secret = generate_secret(ACCESS_TOKEN_PREFIX)
    token = AccessToken.objects.create(
        organization=organization,
        name=name[:80],
        created_by=actor,
        expires_at=expires_at,
        prefix=display_prefix(secret, ACCESS_TOKEN_PREFIX),
        token_hash=hash_secret(secret),
    )
    audit_record(
        action="access_token.created", actor=actor, organization=organization, target=token
    )
    return token, secret


@transaction.atomic
def access_token_revoke(*, actor: User, token: AccessToken) -> None:
    """Members revoke their own tokens; developers and admins anyone's."""
    if token.created_by_id != actor.pk:
        _require(actor, token.organization, "develop")
    else:
        _require(actor, token.organization, "view")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            action="access_token.revoked",
            actor=actor,
            organization=token.organization,
            target=token,
        )


def access_token_authenticate(secret: str) -> AccessToken | None:
    token = (
        AccessToken.objects.select_related("organization", "created_by")
        .filter(token_hash=hash_secret(secret))
        .first()
    )
    if token is None or not token.is_active:
        return None
    _touch_last_used(token)
    return token


def _touch_last_used(token: AccessToken) -> None:
    """At most one write per token per minute, so busy API clients don't write per request."""
    now = timezone.now()
    every = settings.ACCESS_TOKEN_LAST_USED_EVERY
    if token.last_used_at is None or now - token.last_used_at >= every:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
