from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from apps.accounts.models import Organization
from apps.catalog.models import Api

from . import selectors
from .models import GRACE_CHOICES


class _ApiChoiceMixin:
    """An optional set of APIs to restrict a key to; none checked means every API."""

    def _set_api_choices(self, organization: Organization, keep=()) -> None:
        self.fields["apis"].queryset = selectors.restrictable_apis(organization, keep)


def _apis_field() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=Api.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Restrict to these APIs",
        help_text="Only APIs your organization subscribes to. Leave all unchecked to let "
        "the key call every API you subscribe to.",
    )


class ApiKeyForm(_ApiChoiceMixin, forms.Form):
    EXPIRY_CHOICES = [
        ("", "Never"),
        ("30", "In 30 days"),
        ("90", "In 90 days"),
        ("365", "In 1 year"),
    ]

    name = forms.CharField(
        max_length=80,
        label="Key name",
        help_text="Where it will be used, e.g. “production backend”.",
    )
    expires_in_days = forms.ChoiceField(
        choices=EXPIRY_CHOICES,
        required=False,
        label="Expires",
        help_text="A key that expires limits the harm if it ever leaks.",
    )
    apis = _apis_field()

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_api_choices(organization)

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=int(days)) if days else None


class RestrictForm(_ApiChoiceMixin, forms.Form):
    apis = _apis_field()

    def __init__(self, *args, organization: Organization, keep=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._set_api_choices(organization, keep)


class RotateForm(forms.Form):
    grace = forms.ChoiceField(
        choices=GRACE_CHOICES,
        initial="1h",
        widget=forms.RadioSelect,
        label="Keep the old key working for",
        help_text="Time to deploy the new key everywhere before the old one stops.",
    )
