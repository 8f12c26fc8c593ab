"""Emails name the site as the settings do (SITE_NAME, SITE_URL), never "example.com"; an
invited person signs up with the invited address pre-filled and needs no second
verification of it."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.sites.models import Site
from django.core import mail
from django.core.management.sql import emit_post_migrate_signal

from apps.accounts import services
from apps.accounts.models import Membership
from apps.accounts.roles import Role

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-9"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_NAME = "Widgetmart"
    settings.SITE_URL = "https://market.example.org:8443"


def _signup(client, email, next_url=""):
    return client.post(
        "/accounts/signup/" + (f"?next={next_url}" if next_url else ""),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD},
    )


def test_the_verification_email_greets_from_the_site_of_the_settings(client):
    _signup(client, "new@example.com")
    message = mail.outbox[-1]
    assert message.subject.startswith("[Widgetmart] ")
    assert "Hello from Widgetmart!" in message.body
    assert "example.com!" not in message.body and "Thank you for using Widgetmart!" in message.body
    assert "market.example.org:8443" in message.body


def test_migrate_keeps_the_site_row_in_step_with_the_settings():
    Site.objects.filter(pk=1).update(name="example.com", domain="example.com")
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # what migrate ends with
    site = Site.objects.get(pk=1)
    assert (site.name, site.domain) == ("Widgetmart", "market.example.org:8443")


def test_product_emails_carry_the_site_name(owner, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_create(
            actor=owner, organization=org, email="newbie@example.com", role=Role.DEVELOPER
        )
    message = mail.outbox[-1]
    assert message.subject.startswith("[Widgetmart] Join ")
    assert "on Widgetmart as" in message.body
    assert "https://market.example.org:8443/invitations/" in message.body


def _invitation_token(owner, org, capture, email="newbie@example.com") -> str:
    with capture(execute=True):
        services.invitation_create(actor=owner, organization=org, email=email, role=Role.BILLING)
    return re.search(r"/invitations/([\w-]+)/", mail.outbox[-1].body).group(1)


def test_an_invited_person_signs_up_without_a_second_verification(
    client, owner, org, django_capture_on_commit_callbacks
):
    token = _invitation_token(owner, org, django_capture_on_commit_callbacks)
    page = client.get(f"/invitations/{token}/").content.decode()
    signup_link = re.search(r'href="(/accounts/signup/[^"]+)"', page).group(1)
    signup_page = client.get(signup_link.replace("&amp;", "&")).content.decode()
    assert re.search(r'<input[^>]*name="email"[^>]*value="newbie@example.com"', signup_page)
    sent = len(mail.outbox)

    response = _signup(client, "newbie@example.com", next_url=f"/invitations/{token}/")
    assert response.status_code == 302 and response.url == f"/invitations/{token}/"
    assert len(mail.outbox) == sent  # no verification email
    assert EmailAddress.objects.get(email="newbie@example.com").verified
    client.post(f"/invitations/{token}/")
    assert Membership.objects.get(organization=org, user__email="newbie@example.com").role == (
        Role.BILLING
    )


def test_another_address_still_needs_verifying(
    client, owner, org, django_capture_on_commit_callbacks
):
    token = _invitation_token(owner, org, django_capture_on_commit_callbacks)
    client.get(f"/invitations/{token}/")
    response = _signup(client, "someone-else@example.com")
    assert response.url == "/accounts/confirm-email/"
    assert mail.outbox[-1].to == ["someone-else@example.com"]
    assert not EmailAddress.objects.filter(email="newbie@example.com").exists()


def test_a_withdrawn_invitation_verifies_nothing(
    client, owner, org, django_capture_on_commit_callbacks
):
    token = _invitation_token(owner, org, django_capture_on_commit_callbacks)
    invitation = services.invitation_by_token(token)
    services.invitation_cancel(actor=owner, invitation=invitation)
    client.get(f"/invitations/{token}/")
    response = _signup(client, "newbie@example.com")
    assert response.url == "/accounts/confirm-email/"
