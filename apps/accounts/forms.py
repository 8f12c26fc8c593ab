from django import forms

from apps.core.text import refuse_control_characters

from .models import Organization, User
from .roles import ROLE_HELP, Role


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name"]
        labels = {"name": "Your name"}
        help_texts = {"name": "Shown to your teammates and on invoices you create."}


class OrganizationNameMixin:
    """Organization names go into email subjects and every page header: one line only
    (the admin's form too)."""

    def clean_name(self):
        name = self.cleaned_data["name"]
        refuse_control_characters(name)
        return name


class OrganizationForm(OrganizationNameMixin, forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "billing_email"]
        help_texts = {"billing_email": "Invoices and payment notices go here."}


class OrganizationAdminForm(OrganizationNameMixin, forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name"]  # the admin adds the fields it shows


class OrganizationCreateForm(OrganizationNameMixin, forms.Form):
    name = forms.CharField(
        max_length=120, label="Team name", help_text="You can invite teammates once it exists."
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(
        choices=Role.choices,
        initial=Role.DEVELOPER,
        help_text=" ".join(f"<b>{r.label}</b>: {ROLE_HELP[r]}" for r in Role)
        + ' <a href="/docs/consumers/#roles">Who may see and do what</a>',
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AccessTokenForm(forms.Form):
    EXPIRY_CHOICES = [("", "Never"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]
    name = forms.CharField(
        max_length=80,
        label="Token name",
        help_text="What will use it, e.g. “GitHub Actions deploy”.",
    )
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")
