"""Where a provider's manual payouts go: the bank account's kinds, their validation and the
masked form members see. IBANs and BICs are checked by schwifty (checksum, each country's
length and format, the BIC's country against the IBAN's); US routing numbers by
python-stdnum (the ABA checksum). Nothing here touches the database."""

import iso4217
import pycountry
from django.core.exceptions import ValidationError
from django.db import models
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors
from schwifty.exceptions import SchwiftyException
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.us import rtn

BULLETS = "••••"
DETAILS_CHANGED = "payouts.details_changed"  # the audit log's action and the notice's kind


class AccountType(models.TextChoices):
    IBAN = "iban", "IBAN (Europe, UK and ~80 other countries)"
    US = "us", "US account (routing and account number)"
    OTHER = "other", "Other country (account number and SWIFT/BIC)"


# The fields each kind of account uses; the others are stored empty.
FIELDS = {
    AccountType.IBAN: ("iban", "bic"),
    AccountType.US: ("routing_number", "account_number"),
    AccountType.OTHER: ("country", "bank_name", "account_number", "bic"),
}
COMMON = ("account_type", "holder_name", "currency")
NUMBER_FIELDS = ("iban", "account_number")  # never shown whole to the provider


def compact(value: str) -> str:
    return "".join((value or "").split()).upper()


def mask_iban(iban: str) -> str:
    """'DE89 •••• •••• •••• 3000': the country and check digits, and the last four; the
    middle has one shape whatever the length, so the mask tells nothing more."""
    return f"{iban[:4]} {BULLETS} {BULLETS} {BULLETS} {iban[-4:]}" if iban else ""


def mask_account_number(number: str) -> str:
    return f"{BULLETS} {number[-4:]}" if len(number) > 4 else (BULLETS if number else "")


def masked(field: str, value: str) -> str:
    """A stored value as members and emails may see it."""
    if field == "iban":
        return mask_iban(value)
    if field == "account_number":
        return mask_account_number(value)
    return value


def clean_bank_details(values: dict) -> dict:
    """The details in their stored form (compact, upper case; the country and the BIC
    filled in from an IBAN where it tells them), or a ValidationError naming each wrong
    field. `values` holds the form's or the API's fields by name."""
    account_type = values.get("account_type") or ""
    if account_type not in AccountType.values:
        raise ValidationError({"account_type": "Choose the kind of account."})
    errors: dict[str, str] = {}
    cleaned = dict.fromkeys(("iban", "bic", "routing_number", "account_number"), "")
    cleaned |= {"account_type": account_type, "bank_name": "", "country": ""}
    cleaned["holder_name"] = _holder_name(values.get("holder_name"), errors)
    cleaned["currency"] = _currency(values.get("currency"), errors)
    checks = {AccountType.IBAN: _iban_account, AccountType.US: _us_account}
    cleaned |= checks.get(account_type, _other_account)(values, errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _holder_name(value, errors) -> str:
    name = " ".join((value or "").split())
    if not name:
        errors["holder_name"] = "Enter the name the account is held in, as the bank knows it."
    return name


def _currency(value, errors) -> str:
    code = compact(value)
    try:
        iso4217.Currency(code)
    except ValueError:
        errors["currency"] = "Enter a three-letter ISO 4217 currency code, such as EUR or USD."
    return code


def _iban_account(values, errors) -> dict:
    try:
        iban = IBAN(compact(values.get("iban")))
    except SchwiftyException as error:
        errors["iban"] = f"This is not a valid IBAN: {_reason(error, IBAN_REASONS)}."
        return {}
    bic = _bic(values.get("bic"), errors, required=False) or iban.bic
    if bic and bic.country_code != iban.country_code:
        errors["bic"] = (
            f"This BIC is of a bank in {bic.country_code}, the IBAN of an account in "
            f"{iban.country_code}: check both."
        )
    bank_name = (iban.bank_name or "") if iban.bank else ""
    return {
        "iban": str(iban.compact),
        "bic": str(bic.compact) if bic else "",
        "country": iban.country_code,
        "bank_name": bank_name[:140],
    }


def _us_account(values, errors) -> dict:
    routing = compact(values.get("routing_number"))
    try:
        rtn.validate(routing)
    except StdnumError:
        errors["routing_number"] = (
            "Enter the bank's 9-digit ABA routing number; this one fails its checksum."
        )
    number = compact(values.get("account_number"))
    if not (number.isdigit() and 4 <= len(number) <= 17):
        errors["account_number"] = "A US account number has 4 to 17 digits."
    return {"routing_number": routing, "account_number": number, "country": "US"}


def _other_account(values, errors) -> dict:
    country = compact(values.get("country"))
    if len(country) != 2 or pycountry.countries.get(alpha_2=country) is None:
        errors["country"] = "Enter the account's country as a two-letter code, such as JP."
    number = compact(values.get("account_number"))
    if not (number.isalnum() and 4 <= len(number) <= 34):
        errors["account_number"] = "Enter the account number: 4 to 34 letters and digits."
    bank_name = " ".join((values.get("bank_name") or "").split())
    if not bank_name:
        errors["bank_name"] = "Enter the bank's name."
    bic = _bic(values.get("bic"), errors, required=True)
    if bic and "country" not in errors and bic.country_code != country:
        errors["bic"] = f"This BIC is of a bank in {bic.country_code}, not {country}."
    cleaned = {"country": country, "account_number": number, "bank_name": bank_name[:140]}
    return cleaned | {"bic": str(bic.compact) if bic else ""}


def _bic(value, errors, *, required: bool) -> BIC | None:
    text = compact(value)
    if not text:
        if required:
            errors["bic"] = "Enter the bank's SWIFT/BIC code (8 or 11 characters)."
        return None
    try:
        return BIC(text, enforce_swift_compliance=True)
    except SchwiftyException as error:
        errors["bic"] = f"This is not a valid SWIFT/BIC code: {_reason(error, BIC_REASONS)}."
        return None


# schwifty's errors, said to a person (its own messages echo the whole number back)
IBAN_REASONS = {
    schwifty_errors.InvalidChecksumDigits: "its check digits do not match (a typo?)",
    schwifty_errors.InvalidLength: "it has the wrong number of characters for its country",
    schwifty_errors.InvalidCountryCode: "it does not start with the code of a country that "
    "uses IBANs",
    schwifty_errors.InvalidBBANChecksum: "its account number fails the bank's own checksum",
}
BIC_REASONS = {
    schwifty_errors.InvalidLength: "it has 8 or 11 characters",
    schwifty_errors.InvalidCountryCode: "its 5th and 6th letters are not a country code",
}


def _reason(error: SchwiftyException, reasons: dict) -> str:
    for kind, reason in reasons.items():
        if isinstance(error, kind):
            return reason
    return "its format is wrong for its country"


# --- Changes, as the audit log and the owners' email tell them -------------------------
LABELS = {
    "account_type": "Account type",
    "holder_name": "Account holder",
    "currency": "Currency",
    "country": "Country",
    "bank_name": "Bank",
    "iban": "IBAN",
    "bic": "SWIFT/BIC",
    "routing_number": "Routing number",
    "account_number": "Account number",
}


def stored_values(details) -> dict:
    """A PayoutDetails row's values by field (empty for none yet)."""
    return {name: getattr(details, name, "") if details else "" for name in LABELS}


def changes(before: dict, after: dict) -> list[dict]:
    """[{"field", "label", "from", "to"}] for each field that differs, in the form's
    order, masked: the numbers never leave whole, however the change is shown."""
    return [
        {
            "field": name,
            "label": label,
            "from": _shown(name, before[name]),
            "to": _shown(name, after[name]),
        }
        for name, label in LABELS.items()
        if before[name] != after[name]
    ]


def _shown(name: str, value: str) -> str:
    if name == "account_type" and value:
        return AccountType(value).label.split(" (")[0]
    return masked(name, value)


def staff_rows(details) -> list[tuple[str, str]]:
    """(label, value) of everything staff need to pay to the account, numbers whole."""
    rows = [
        ("Account holder", details.holder_name),
        ("IBAN" if details.iban else "Account number", details.full_number),
        ("Routing number", details.routing_number),
        ("SWIFT/BIC", details.bic),
        ("Bank", details.bank_name),
        ("Country", details.country),
        ("Currency", details.currency),
    ]
    return [(label, value) for label, value in rows if value]
