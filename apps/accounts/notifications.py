"""Tell an organization something: an in-app notice, and an email to the members whose role
cares (after the transaction commits, through Celery)."""

from django.conf import settings
from django.db import transaction

from apps.core.text import one_line

from .models import Notification, Organization
from .roles import CAPABILITIES, Role

# `email_capability` for what only the owners are told: changes to where money goes
OWNERS = "owners"


def notify(
    *,
    organization: Organization,
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    email_capability: str | None = "develop",
    audience: str | None = None,
) -> Notification:
    """`email_capability`: the capability whose members are emailed, or OWNERS.
    `audience`: the capability a member needs to see the notice in the console; by
    default a notice emailed to the billing contacts or the owners is money, seen by the
    roles that see money, and any other is seen by every member."""
    if audience is None:
        audience = "see_money" if email_capability in ("billing", OWNERS) else "view"
    notification = Notification.objects.create(
        organization=organization,
        kind=kind,
        title=one_line(title, limit=200),  # titles become email subjects
        body=body,
        url=url,
        audience=audience,
    )
    if email_capability:
        from .tasks import send_notification_email

        transaction.on_commit(
            lambda: send_notification_email.delay(notification.pk, email_capability)
        )
    return notification


def recipients(organization: Organization, capability: str) -> list[str]:
    roles = {Role.OWNER} if capability == OWNERS else CAPABILITIES[capability]
    emails = list(
        organization.memberships.filter(role__in=roles, user__is_active=True).values_list(
            "user__email", flat=True
        )
    )
    if organization.billing_email and capability == "billing":
        emails.append(organization.billing_email)
    return sorted(set(emails))


def absolute(url: str) -> str:
    return url if url.startswith("http") else settings.SITE_URL + url


def notify_staff(*, subject: str, body: str, url: str = "") -> None:
    """Email the marketplace's staff after the transaction commits (disputes, failed
    payouts: things a person must look at). The admin lists the same things."""
    from .tasks import send_staff_email

    transaction.on_commit(lambda: send_staff_email.delay(subject, body, url))
