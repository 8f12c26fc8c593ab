from django import forms


class AlertsForm(forms.Form):
    included_units = forms.CharField(
        required=False,
        label="Alert at % of included units",
        help_text="Comma-separated, e.g. 50, 80, 100.",
    )
    spend_cap = forms.CharField(required=False, label="Alert at % of the spend cap")

    def percents(self, field: str) -> list[int]:
        raw = self.cleaned_data.get(field, "")
        values = []
        for part in raw.replace(";", ",").split(","):
            part = part.strip().rstrip("%")
            if not part:
                continue
            if not part.isdigit():
                raise forms.ValidationError(f"“{part}” is not a whole percentage.")
            values.append(int(part))
        return values
