import re

import pytest
from django.core import mail

from apps.accounts.models import Membership, User
from apps.accounts.roles import Role
from apps.core.models import AuditLog

pytestmark = pytest.mark.django_db


def _signup(client, email="new@example.com", password="a-long-pass-phrase-9"):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": password, "password2": password}
    )


def _confirmation_link() -> str:
    body = mail.outbox[-1].body
    return re.search(r"https?://\S+/accounts/confirm-email/\S+/", body).group(0)


def test_signup_sends_a_verification_email_and_blocks_login_until_verified(client):
    response = _signup(client)
    assert response.status_code == 302
    assert response.url == "/accounts/confirm-email/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    client.logout()
    response = client.post(
        "/accounts/login/", {"login": "new@example.com", "password": "a-long-pass-phrase-9"}
    )
    assert response.url == "/accounts/confirm-email/"  # not logged in: verify first


def test_verifying_the_email_logs_in(client):
    _signup(client)
    link = _confirmation_link()
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.post("/" + path)
    assert response.status_code == 302
    response = client.get("/console/")
    assert response.status_code == 200
    assert b"Welcome" in response.content


def test_signup_creates_a_personal_organization_owned_by_the_user(client):
    _signup(client, email="ada@example.com")
    user = User.objects.get(email="ada@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.organization.is_personal
    assert membership.organization.public_id.startswith("org_")
    assert AuditLog.objects.filter(action="organization.created", actor=user).exists()


def test_signup_with_a_taken_email_creates_nothing_and_tells_the_owner(client, owner):
    # allauth prevents account enumeration: the page looks the same, the owner gets a mail
    response = _signup(client, email=owner.email)
    assert response.status_code == 302
    assert User.objects.filter(email=owner.email).count() == 1
    assert mail.outbox[-1].to == [owner.email]
    assert "already" in mail.outbox[-1].body.lower()


def test_login_with_email_and_password(client, owner):
    response = client.post(
        "/accounts/login/", {"login": owner.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert client.get("/console/").status_code == 200


def test_failed_logins_are_rate_limited(client, owner):
    for _ in range(5):
        client.post("/accounts/login/", {"login": owner.email, "password": "wrong"})
    response = client.post("/accounts/login/", {"login": owner.email, "password": "wrong"})
    assert b"Too many failed login attempts" in response.content


def test_password_reset_mails_a_link(client, owner):
    response = client.post("/accounts/password/reset/", {"email": owner.email})
    assert response.status_code == 302
    assert "password/reset/key" in mail.outbox[-1].body


def test_console_requires_login(client):
    response = client.get("/console/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
