from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.utils.encoding import force_str

from apps.core.public_urls import site_from_settings

from .services import organization_create_personal

# The address of the invitation whose link this browser opened: holding the emailed link
# proves it, so signing up with that address needs no second verification.
INVITED_EMAIL_SESSION_KEY = "invited_email"


def remember_invited_email(request, email: str) -> None:
    request.session[INVITED_EMAIL_SESSION_KEY] = email.lower()


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            organization_create_personal(user=user)
        return user

    def is_email_verified(self, request, email: str) -> bool:
        # Not allauth's stash_verified_email: that would add the invited address to an
        # account signed up under another one.
        invited = request.session.get(INVITED_EMAIL_SESSION_KEY)
        if invited and invited == email.lower():
            return True
        return super().is_email_verified(request, email)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # allauth greets with the stored Site ("Hello from example.com"); name the site as
        # the settings do, even before a migrate has brought the row in step.
        super().send_mail(template_prefix, email, {"current_site": site_from_settings(), **context})

    def format_email_subject(self, subject: str) -> str:
        return f"[{settings.SITE_NAME}] {force_str(subject)}"
