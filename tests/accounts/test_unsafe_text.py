"""A line break in an organization name made invitation emails fail (500) after the
invitation row was saved. Names refuse control characters, every email subject is made one
line whatever it is built from, and an invitation whose email cannot be sent is not saved."""

import pytest
from django.core import mail

from apps.accounts import services
from apps.accounts.models import Invitation, Organization
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.core.models import AuditLog
from tests.servers import free_port

pytestmark = pytest.mark.django_db

UNSAFE_NAMES = [
    "Acme\nBcc: victim@example.com",
    "Acme\r\nX-Injected: 1",
    "Acme\rCorp",
    "Acme\tCorp",
    "Acme\x00Corp",
    "Acme\x85Corp",  # NEL, a C1 line break
    "Acme\u2028Corp",  # line separator
    "Acme\u202emoc.live",  # right-to-left override: displays as "Acmelive.com"
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_organization_names_refuse_control_characters_in_the_service(owner, org, name):
    with pytest.raises(ServiceError) as error:
        services.organization_create(owner=owner, name=name)
    assert error.value.field == "name" and "no line breaks" in error.value.message
    with pytest.raises(ServiceError):
        services.organization_update(actor=owner, organization=org, name=name)
    assert list(Organization.objects.values_list("name", flat=True)) == ["Acme"]


def test_the_console_forms_show_the_refusal_next_to_the_name(owner_client, org):
    bad = "Rocket\nBcc: victim@example.com"
    created = owner_client.post("/console/organization/new/", {"name": bad})
    assert created.status_code == 200 and created.context["form"].errors["name"]
    settings_page = owner_client.post(
        "/console/organization/", {"name": bad, "billing_email": "billing@acme.test"}
    )
    assert settings_page.status_code == 200
    assert "no line breaks" in str(settings_page.context["form"].errors["name"])
    assert list(Organization.objects.values_list("name", flat=True)) == ["Acme"]
    org.refresh_from_db()
    assert org.billing_email != "billing@acme.test"  # nothing of the refused form saved


def test_staff_cannot_save_a_name_with_a_line_break_in_the_admin(client, staff, org):
    client.force_login(staff)
    url = f"/admin/accounts/organization/{org.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({"name": "Acme\nBcc: victim@example.com", "slug": org.slug})
    data.update({"memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0})
    response = client.post(url, data)
    assert response.status_code == 200
    assert "no line breaks" in str(response.context["adminform"].form.errors["name"])
    org.refresh_from_db()
    assert org.name == "Acme"


def test_invitation_subjects_are_one_line_even_for_a_name_saved_before_the_rule(
    owner, org, django_capture_on_commit_callbacks
):
    Organization.objects.filter(pk=org.pk).update(name="Acme\r\nBcc: victim@example.com")
    org.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(
            actor=owner, organization=org, email="newbie@example.com", role=Role.DEVELOPER
        )
    [email] = mail.outbox
    assert email.subject == "[Tollgate] Join Acme Bcc: victim@example.com"
    message = email.message()
    assert message["Bcc"] is None and email.recipients() == ["newbie@example.com"]
    assert Invitation.objects.get() == invitation


def test_notification_and_staff_email_subjects_are_one_line(
    org, owner, staff, django_capture_on_commit_callbacks
):
    from apps.accounts.notifications import notify, notify_staff

    with django_capture_on_commit_callbacks(execute=True):
        notify(organization=org, kind="test", title="API\nBcc: victim@example.com approved")
        notify_staff(subject="Payout of Evil\r\nX-Injected: 1 failed", body="see admin")
    subjects = [email.subject for email in mail.outbox]
    assert subjects == [
        "[Tollgate] API Bcc: victim@example.com approved",
        "[Tollgate staff] Payout of Evil X-Injected: 1 failed",
    ]
    assert all(email.message()["X-Injected"] is None for email in mail.outbox)


@pytest.fixture
def mail_server_down(settings):
    """A real SMTP client pointed at a loopback port where nothing listens."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_TIMEOUT = 5


def test_an_invitation_whose_email_cannot_be_sent_is_not_saved(owner, org, mail_server_down):
    earlier = Invitation.objects.create(
        organization=org,
        email="newbie@example.com",
        role=Role.DEVELOPER,
        invited_by=owner,
        token_hash="earlier",
        expires_at=org.created_at.replace(year=2999),
    )
    audit_entries = AuditLog.objects.count()
    with pytest.raises(ServiceError) as error:
        services.invitation_create(
            actor=owner, organization=org, email="newbie@example.com", role=Role.ADMIN
        )
    assert error.value.code == "email_not_sent" and error.value.field == "email"
    assert "could not be sent" in error.value.message
    assert list(Invitation.objects.all()) == [earlier]
    earlier.refresh_from_db()
    assert earlier.canceled_at is None  # the invitation that was sent still works
    assert AuditLog.objects.count() == audit_entries


def test_the_members_page_says_the_email_could_not_be_sent(owner_client, mail_server_down):
    response = owner_client.post(
        "/console/organization/members/", {"email": "newbie@example.com", "role": "developer"}
    )
    assert response.status_code == 200
    assert "could not be sent" in str(response.context["form"].errors["email"])
    assert not Invitation.objects.exists()
