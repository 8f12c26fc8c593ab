from datetime import timedelta

from django import forms

from .models import SUBSCRIBABLE_EVENT_TYPES
from .services import ROTATION_GRACE


class EndpointForm(forms.Form):
    url = forms.CharField(
        max_length=2000,
        label="Endpoint URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/tollgate"}),
        help_text="Tollgate POSTs JSON here. It must answer with a 2xx status within 10 seconds.",
    )
    description = forms.CharField(
        max_length=200,
        required=False,
        label="Description",
        help_text="What receives these events, e.g. “billing service (production)”.",
    )
    event_types = forms.MultipleChoiceField(
        choices=[(choice.value, choice.label) for choice in SUBSCRIBABLE_EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Events to send",
        help_text="Leave all unchecked to receive every event, including types added later.",
    )


GRACE_CHOICES = [("24h", "24 hours"), ("none", "Not at all — it stops now")]
GRACE_PERIODS = {"24h": ROTATION_GRACE, "none": None}


class RotateForm(forms.Form):
    grace = forms.ChoiceField(
        choices=GRACE_CHOICES,
        initial="24h",
        widget=forms.RadioSelect,
        label="Keep signing with the old secret for",
    )

    def keep_old_for(self) -> timedelta | None:
        return GRACE_PERIODS[self.cleaned_data["grace"]]
