from django import forms

from .models import Plan

UNIT_CHOICES = [
    ("call", "Call"),
    ("second", "Second of upstream time"),
    ("custom", "A unit your API reports (X-Tollgate-Units)"),
]


class PlanForm(forms.ModelForm):
    unit_kind = forms.ChoiceField(choices=UNIT_CHOICES, label="Bill per", initial="call")
    custom_unit = forms.CharField(
        required=False,
        max_length=30,
        label="Custom unit name",
        help_text="Singular, e.g. page, token, image.",
    )
    tiers_text = forms.CharField(
        required=False,
        label="Graduated tiers",
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "class": "code",
                "placeholder": "100000: 0.0010\n1000000: 0.0008\n*: 0.0005",
            }
        ),
        help_text="One tier per line, “up to: price per unit” for units beyond the included "
        "ones; end with “*: price”. Leave empty to use the unit price.",
    )

    class Meta:
        model = Plan
        fields = [
            "name",
            "description",
            "monthly_fee",
            "included_units",
            "unit_price",
            "hard_limit",
            "rate_limit_per_second",
            "rate_limit_per_minute",
            "bill_server_errors",
            "max_units_per_call",
            "prorated_refunds",
            "trial_days",
            "visibility",
            "recommended",
        ]
        labels = {
            "monthly_fee": "Monthly fee",
            "included_units": "Included units per month",
            "unit_price": "Price per unit beyond the included ones",
            "hard_limit": "Hard limit: stop at the included units (no overage)",
            "bill_server_errors": "Bill calls your API answers with 5xx",
            "rate_limit_per_second": "Requests per second",
            "rate_limit_per_minute": "Requests per minute",
            "trial_days": "Free trial (days)",
            "max_units_per_call": "Most units one call may bill",
            "prorated_refunds": "Refund the unused part of the fee when a subscriber cancels "
            "or downgrades at once",
            "recommended": "Highlight as the recommended plan",
        }
        help_texts = {
            "unit_price": "Per single unit, e.g. 0.0005 for $0.50 per 1,000 calls.",
            "rate_limit_per_second": "Shared by all of a consumer's keys. Empty: no limit.",
            "max_units_per_call": "Per-second and custom-unit plans. Reserved before each "
            "call, so spend caps and hard limits hold; a larger report is billed as 1 unit. "
            "Empty: 60 seconds, or 1,000 custom units.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        plan = self.instance
        if plan.pk:
            custom = plan.unit not in ("call", "second")
            self.initial["unit_kind"] = "custom" if custom else plan.unit
            self.initial["custom_unit"] = plan.unit if custom else ""
            self.initial["tiers_text"] = "\n".join(
                f"{t.get('up_to') or '*'}: {t.get('unit_price')}" for t in plan.tiers
            )

    def _post_clean(self):
        """Plan rules are checked by the service (one message per field)."""

    def clean_tiers_text(self):
        tiers = []
        for line in self.cleaned_data["tiers_text"].splitlines():
            if not line.strip():
                continue
            up_to, _, price = line.partition(":")
            up_to = up_to.strip().replace(",", "").replace("_", "")
            if not price.strip():
                raise forms.ValidationError(f"“{line.strip()}” needs “up to: price”.")
            tiers.append(
                {
                    "up_to": None if up_to in ("*", "") else _int(up_to, line),
                    "unit_price": price.strip(),
                }
            )
        return tiers

    def plan_data(self) -> dict:
        data = {
            k: v
            for k, v in self.cleaned_data.items()
            if k not in ("unit_kind", "custom_unit", "tiers_text")
        }
        kind = self.cleaned_data["unit_kind"]
        data["unit"] = self.cleaned_data["custom_unit"] if kind == "custom" else kind
        data["tiers"] = self.cleaned_data["tiers_text"]
        return data


def _int(value: str, line: str) -> int:
    try:
        return int(value)
    except ValueError as error:
        raise forms.ValidationError(
            f"“{line.strip()}”: “{value}” is not a whole number."
        ) from error


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), empty_label=None)
    at_once = forms.BooleanField(
        required=False,
        label="Switch a downgrade now",
        help_text="The usage so far is billed under your current plan first.",
    )

    def __init__(self, *args, plans=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans if plans is not None else Plan.objects.none()


class SpendCapForm(forms.Form):
    spend_cap = forms.DecimalField(
        required=False,
        min_value=0,
        decimal_places=2,
        max_digits=12,
        label="Monthly spend cap",
        help_text="Calls stop with 429 spend_cap_reached when this "
        "period's charges reach it. Empty: no cap.",
    )
