from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from . import bank
from .bank import AccountType

# Fields two kinds of account share have one input per kind in the form (every input of
# the page is posted, whichever kind is chosen): the form's name for each.
FORM_NAMES = {
    AccountType.IBAN: {"bic": "iban_bic"},
    AccountType.US: {"account_number": "us_account_number"},
}
NUMBER_INPUTS = ("iban", "us_account_number", "account_number")


def _text(label: str, **kwargs) -> forms.CharField:
    attrs = {"autocomplete": "off", "spellcheck": "false", **kwargs.pop("attrs", {})}
    return forms.CharField(
        label=label, required=False, widget=forms.TextInput(attrs=attrs), **kwargs
    )


class PayoutDetailsForm(forms.Form):
    """Gathers the details; `bank.clean_bank_details` judges them. The account numbers
    are never filled in: a change means typing the number again."""

    account_type = forms.ChoiceField(
        choices=AccountType.choices, widget=forms.RadioSelect, initial=AccountType.IBAN
    )
    holder_name = forms.CharField(
        label="Account holder",
        max_length=140,
        help_text="The person or company the account belongs to, as the bank knows it.",
    )
    currency = forms.CharField(
        label="Currency",
        max_length=3,
        help_text="The account's currency (ISO 4217), such as EUR, GBP or USD.",
    )
    iban = _text(
        "IBAN",
        max_length=42,
        help_text="UK accounts too: your IBAN is on your statement and in online banking.",
        attrs={"placeholder": "GB33 BUKB 2020 1555 5555 55"},
    )
    iban_bic = _text(
        "SWIFT/BIC",
        max_length=14,
        help_text="Filled in from the IBAN when we know the bank.",
    )
    routing_number = _text("ABA routing number", max_length=11, attrs={"inputmode": "numeric"})
    us_account_number = _text("Account number", max_length=20, attrs={"inputmode": "numeric"})
    country = _text("Country", max_length=2, help_text="Two-letter code, such as JP, IN or AU.")
    bank_name = _text("Bank", max_length=140)
    account_number = _text("Account number", max_length=40)
    bic = _text("SWIFT/BIC", max_length=14)

    def __init__(self, *args, details=None, **kwargs):
        if details is not None:
            initial = {name: getattr(details, name) for name in bank.LABELS}
            initial["iban_bic"] = initial["bic"]
            for name in bank.NUMBER_FIELDS:
                initial[name] = ""  # never echoed back
            kwargs.setdefault("initial", initial)
        else:
            kwargs.setdefault("initial", {"currency": settings.CURRENCY})
        super().__init__(*args, **kwargs)
        self.bank_details: dict = {}

    def clean(self):
        cleaned = super().clean()
        rename = FORM_NAMES.get(cleaned.get("account_type"), {})
        values = cleaned | {field: cleaned.get(name) for field, name in rename.items()}
        try:
            self.bank_details = bank.clean_bank_details(values)
        except ValidationError as error:
            errors = {
                rename.get(field, field): texts for field, texts in error.message_dict.items()
            }
            # a field Django already refused (empty) keeps its one message
            raise ValidationError(
                {field: texts for field, texts in errors.items() if field not in self.errors}
            ) from None
        return cleaned
