from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from apps.core.text import email_subject

from .models import Notification
from .notifications import absolute, recipients
from .services import invitations_purge_expired


@shared_task
def purge_expired_invitations() -> int:
    return invitations_purge_expired()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notification_email(notification_id: int, capability: str) -> int:
    notification = Notification.objects.select_related("organization").get(pk=notification_id)
    to = recipients(notification.organization, capability)
    if not to:
        return 0
    body = notification.body
    if notification.url:
        body = f"{body}\n\n{absolute(notification.url)}".strip()
    body += f"\n\n— {settings.SITE_NAME}, for {notification.organization.name}"
    return send_mail(
        subject=email_subject(f"[{settings.SITE_NAME}] ", notification.title),
        message=body,
        from_email=None,
        recipient_list=to,
    )


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_staff_email(subject: str, body: str, url: str = "") -> int:
    """Tell the marketplace's staff (active staff users) something that needs a person."""
    from .models import User

    to = sorted(User.objects.filter(is_staff=True, is_active=True).values_list("email", flat=True))
    if not to:
        return 0
    if url:
        body = f"{body}\n\n{absolute(url)}"
    return send_mail(
        subject=email_subject(f"[{settings.SITE_NAME} staff] ", subject),
        message=body,
        from_email=None,
        recipient_list=to,
    )
