from celery import shared_task

from .services import invitations_purge_expired


@shared_task
def purge_expired_invitations() -> int:
    return invitations_purge_expired()
