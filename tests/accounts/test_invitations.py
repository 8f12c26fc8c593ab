import re

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import Invitation, Membership
from apps.accounts.roles import Role
from apps.core.errors import Forbidden, ServiceError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _invite(owner, org, email="newbie@example.com", role=Role.DEVELOPER, *, capture):
    with capture(execute=True):
        services.invitation_create(actor=owner, organization=org, email=email, role=role)
    return re.search(r"/invitations/([\w-]+)/", mail.outbox[-1].body).group(1)


def test_an_invitation_is_emailed_with_an_accept_link(
    owner, org, django_capture_on_commit_callbacks
):
    token = _invite(owner, org, capture=django_capture_on_commit_callbacks)
    assert mail.outbox[-1].to == ["newbie@example.com"]
    invitation = Invitation.objects.get()
    assert invitation.token_hash != token  # only the hash is stored
    assert "Acme" in mail.outbox[-1].subject


def test_accepting_makes_the_invitee_a_member(
    client, owner, org, django_capture_on_commit_callbacks
):
    token = _invite(owner, org, role=Role.BILLING, capture=django_capture_on_commit_callbacks)
    invitee = UserFactory(email="newbie@example.com")
    client.force_login(invitee)
    assert client.get(f"/invitations/{token}/").status_code == 200
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert Membership.objects.get(user=invitee, organization=org).role == Role.BILLING


def test_an_expired_invitation_is_refused(owner, org, django_capture_on_commit_callbacks):
    token = _invite(owner, org, capture=django_capture_on_commit_callbacks)
    invitee = UserFactory(email="newbie@example.com")
    with (
        time_machine.travel(timezone.now() + timezone.timedelta(days=8)),
        pytest.raises(ServiceError, match="expired"),
    ):
        services.invitation_accept(user=invitee, token=token)
    assert not Membership.objects.filter(user=invitee, organization=org).exists()


def test_the_wrong_user_cannot_accept(owner, org, outsider, django_capture_on_commit_callbacks):
    token = _invite(owner, org, capture=django_capture_on_commit_callbacks)
    with pytest.raises(Forbidden):
        services.invitation_accept(user=outsider, token=token)
    assert not Membership.objects.filter(user=outsider, organization=org).exists()


def test_an_invitation_works_once(owner, org, django_capture_on_commit_callbacks):
    token = _invite(owner, org, capture=django_capture_on_commit_callbacks)
    invitee = UserFactory(email="newbie@example.com")
    services.invitation_accept(user=invitee, token=token)
    with pytest.raises(ServiceError, match="already"):
        services.invitation_accept(user=invitee, token=token)


def test_a_withdrawn_invitation_is_gone(client, owner, org, django_capture_on_commit_callbacks):
    token = _invite(owner, org, capture=django_capture_on_commit_callbacks)
    services.invitation_cancel(actor=owner, invitation=Invitation.objects.get())
    assert client.get(f"/invitations/{token}/").status_code == 404


def test_developers_cannot_invite(member, org):
    with pytest.raises(Forbidden):
        services.invitation_create(
            actor=member, organization=org, email="x@example.com", role=Role.DEVELOPER
        )


def test_invite_form_shows_errors_next_to_the_field(owner_client, member):
    response = owner_client.post(
        "/console/organization/members/", {"email": member.email, "role": "developer"}
    )
    assert response.status_code == 200
    assert b"already a member" in response.content
    response = owner_client.post(
        "/console/organization/members/", {"email": "not-an-email", "role": "developer"}
    )
    assert b"Enter a valid email address" in response.content
    assert Invitation.objects.count() == 0
