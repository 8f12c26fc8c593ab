"""Finance validators demo API: IBAN (length per country and mod-97), payment card numbers
(Luhn and brand by IIN range) and EU VAT number formats.

A well-formed question gets 200 with `valid: false` and a reason; only input that cannot be
an identifier at all (other characters, far too long) is a 422."""

import re

from django.http import JsonResponse

from .jsonio import invalid, json_endpoint

MAX_INPUT_CHARS = 64
SEPARATORS = re.compile(r"[\s\-.]")

# IBAN length per country, from the SWIFT IBAN registry.
IBAN_COUNTRIES = {
    "AD": ("Andorra", 24), "AE": ("United Arab Emirates", 23), "AL": ("Albania", 28),
    "AT": ("Austria", 20), "AZ": ("Azerbaijan", 28), "BA": ("Bosnia and Herzegovina", 20),
    "BE": ("Belgium", 16), "BG": ("Bulgaria", 22), "BH": ("Bahrain", 22), "BI": ("Burundi", 27),
    "BR": ("Brazil", 29), "BY": ("Belarus", 28), "CH": ("Switzerland", 21),
    "CR": ("Costa Rica", 22), "CY": ("Cyprus", 28), "CZ": ("Czechia", 24), "DE": ("Germany", 22),
    "DJ": ("Djibouti", 27), "DK": ("Denmark", 18), "DO": ("Dominican Republic", 28),
    "EE": ("Estonia", 20), "EG": ("Egypt", 29), "ES": ("Spain", 24), "FI": ("Finland", 18),
    "FK": ("Falkland Islands", 18), "FO": ("Faroe Islands", 18), "FR": ("France", 27),
    "GB": ("United Kingdom", 22), "GE": ("Georgia", 22), "GI": ("Gibraltar", 23),
    "GL": ("Greenland", 18), "GR": ("Greece", 27), "GT": ("Guatemala", 28),
    "HN": ("Honduras", 28), "HR": ("Croatia", 21), "HU": ("Hungary", 28), "IE": ("Ireland", 22),
    "IL": ("Israel", 23), "IQ": ("Iraq", 23), "IS": ("Iceland", 26), "IT": ("Italy", 27),
    "JO": ("Jordan", 30), "KW": ("Kuwait", 30), "KZ": ("Kazakhstan", 20),
    "LB": ("Lebanon", 28), "LC": ("Saint Lucia", 32), "LI": ("Liechtenstein", 21),
    "LT": ("Lithuania", 20), "LU": ("Luxembourg", 20), "LV": ("Latvia", 21), "LY": ("Libya", 25),
    "MC": ("Monaco", 27), "MD": ("Moldova", 24), "ME": ("Montenegro", 22),
    "MK": ("North Macedonia", 19), "MN": ("Mongolia", 20), "MR": ("Mauritania", 27),
    "MT": ("Malta", 31), "MU": ("Mauritius", 30), "NI": ("Nicaragua", 28),
    "NL": ("Netherlands", 18), "NO": ("Norway", 15), "OM": ("Oman", 23), "PK": ("Pakistan", 24),
    "PL": ("Poland", 28), "PS": ("Palestine", 29), "PT": ("Portugal", 25), "QA": ("Qatar", 29),
    "RO": ("Romania", 24), "RS": ("Serbia", 22), "RU": ("Russia", 33),
    "SA": ("Saudi Arabia", 24), "SC": ("Seychelles", 31), "SD": ("Sudan", 18),
    "SE": ("Sweden", 24), "SI": ("Slovenia", 19), "SK": ("Slovakia", 24),
    "SM": ("San Marino", 27), "SO": ("Somalia", 23), "ST": ("São Tomé and Príncipe", 25),
    "SV": ("El Salvador", 28), "TL": ("Timor-Leste", 23), "TN": ("Tunisia", 24),
    "TR": ("Türkiye", 26), "UA": ("Ukraine", 29), "VA": ("Vatican City", 22),
    "VG": ("British Virgin Islands", 24), "XK": ("Kosovo", 20), "YE": ("Yemen", 30),
}  # fmt: skip

# (brand, IIN ranges as (first, last) prefixes of equal length, allowed lengths).
# The longest matching prefix wins, so Discover's 622126-622925 beats UnionPay's 62.
CARD_BRANDS = [
    ("Visa", [("4", "4")], (13, 16, 19)),
    ("Mastercard", [("51", "55"), ("2221", "2720")], (16,)),
    ("American Express", [("34", "34"), ("37", "37")], (15,)),
    ("Discover", [("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")],
     (16, 17, 18, 19)),
    ("JCB", [("3528", "3589")], (16, 17, 18, 19)),
    ("Diners Club", [("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")],
     (14, 15, 16, 17, 18, 19)),
    ("UnionPay", [("62", "62"), ("81", "81")], (16, 17, 18, 19)),
    ("Maestro", [("50", "50"), ("56", "58"), ("6304", "6304"), ("6759", "6759"),
                 ("6761", "6763"), ("6390", "6390")], tuple(range(12, 20))),
]  # fmt: skip
ANY_CARD_LENGTHS = tuple(range(12, 20))

# EU VAT number formats per member state (the prefix excluded), with how to say them.
VAT_FORMATS = {
    "AT": ("Austria", r"U\d{8}", "U followed by 8 digits"),
    "BE": ("Belgium", r"[01]\d{9}", "10 digits starting with 0 or 1"),
    "BG": ("Bulgaria", r"\d{9,10}", "9 or 10 digits"),
    "CY": ("Cyprus", r"\d{8}[A-Z]", "8 digits and a letter"),
    "CZ": ("Czechia", r"\d{8,10}", "8 to 10 digits"),
    "DE": ("Germany", r"\d{9}", "9 digits"),
    "DK": ("Denmark", r"\d{8}", "8 digits"),
    "EE": ("Estonia", r"\d{9}", "9 digits"),
    "EL": ("Greece", r"\d{9}", "9 digits"),
    "ES": ("Spain", r"[A-Z0-9]\d{7}[A-Z0-9]", "9 characters: a letter or digit, 7 digits, "
           "a letter or digit"),
    "FI": ("Finland", r"\d{8}", "8 digits"),
    "FR": ("France", r"[A-HJ-NP-Z0-9]{2}\d{9}", "2 letters or digits (no I or O) and 9 digits"),
    "HR": ("Croatia", r"\d{11}", "11 digits"),
    "HU": ("Hungary", r"\d{8}", "8 digits"),
    "IE": ("Ireland", r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
           "7 digits and 1 or 2 letters, or digit, letter, 5 digits, letter"),
    "IT": ("Italy", r"\d{11}", "11 digits"),
    "LT": ("Lithuania", r"\d{9}|\d{12}", "9 or 12 digits"),
    "LU": ("Luxembourg", r"\d{8}", "8 digits"),
    "LV": ("Latvia", r"\d{11}", "11 digits"),
    "MT": ("Malta", r"\d{8}", "8 digits"),
    "NL": ("Netherlands", r"\d{9}B\d{2}", "9 digits, B and 2 digits"),
    "PL": ("Poland", r"\d{10}", "10 digits"),
    "PT": ("Portugal", r"\d{9}", "9 digits"),
    "RO": ("Romania", r"[1-9]\d{1,9}", "2 to 10 digits, not starting with 0"),
    "SE": ("Sweden", r"\d{10}01", "12 digits ending in 01"),
    "SI": ("Slovenia", r"\d{8}", "8 digits"),
    "SK": ("Slovakia", r"\d{10}", "10 digits"),
    "XI": ("Northern Ireland (United Kingdom)", r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
           "9 or 12 digits, or GD or HA and 3 digits"),
}  # fmt: skip
VAT_NOTE = (
    "This checks the format only. It does not check that the number is registered; "
    "ask the EU's VIES service for that."
)


@json_endpoint("GET")
def iban(request, iban):
    return JsonResponse(iban_check(_compact(iban, what="IBAN", allowed="letters and digits")))


@json_endpoint("GET")
def card(request, number):
    digits = _compact(number, what="card number", allowed="digits")
    if not digits.isdigit():
        raise invalid("A card number has digits only; spaces and dashes are ignored.")
    return JsonResponse(card_check(digits))


@json_endpoint("GET")
def vat(request, vat):
    return JsonResponse(vat_check(_compact(vat, what="VAT number", allowed="letters and digits")))


def _compact(raw: str, *, what: str, allowed: str) -> str:
    """The identifier without separators, uppercased; 422 when it cannot be one at all."""
    if len(raw) > MAX_INPUT_CHARS:
        raise invalid(f"A {what} has at most {MAX_INPUT_CHARS} characters with separators.")
    value = SEPARATORS.sub("", raw).upper()
    if not value or not re.fullmatch(r"[A-Z0-9]+", value):
        raise invalid(f"A {what} has {allowed} only; spaces, dashes and dots are ignored.")
    return value


def iban_check(value: str) -> dict:
    country, check_digits, bban = value[:2], value[2:4], value[4:]
    name, expected_length = IBAN_COUNTRIES.get(country, (None, None))
    reason = _iban_problem(value, name, expected_length)
    return {
        "iban": value,
        "valid": reason is None,
        "country": country if name else None,
        "country_name": name,
        "check_digits": check_digits if check_digits.isdigit() else None,
        "bban": bban or None,
        "formatted": " ".join(value[i : i + 4] for i in range(0, len(value), 4)),
        "length": len(value),
        "expected_length": expected_length,
        "reason": reason[0] if reason else None,
        "detail": reason[1] if reason else None,
    }


def _iban_problem(value: str, country_name, expected_length) -> tuple[str, str] | None:
    if not re.fullmatch(r"[A-Z]{2}\d{2}.*", value):
        return "invalid_start", "An IBAN starts with a country code and two check digits."
    if country_name is None:
        return "unknown_country", f"{value[:2]} is not a country in the IBAN registry."
    if len(value) != expected_length:
        return (
            "wrong_length",
            f"{country_name} IBANs have {expected_length} characters, not {len(value)}.",
        )
    if mod97(value[4:] + value[:4]) != 1:
        return "checksum_failed", "The check digits do not match (ISO 7064 mod 97-10)."
    return None


def mod97(value: str) -> int:
    # int(char, 36) maps 0-9 to themselves and A-Z to 10-35, as ISO 13616 asks.
    return int("".join(str(int(char, 36)) for char in value)) % 97


def card_check(digits: str) -> dict:
    brand, lengths = card_brand(digits)
    reason = _card_problem(digits, brand, lengths)
    # The last four of a short input would be most of it: show them only for card lengths.
    last4 = digits[-4:] if len(digits) >= min(ANY_CARD_LENGTHS) else ""
    return {
        "valid": reason is None,
        "luhn_valid": luhn_ok(digits),
        "brand": brand,
        "length": len(digits),
        "expected_lengths": list(lengths),
        "masked": "*" * (len(digits) - len(last4)) + last4,
        "last4": last4 or None,
        "reason": reason[0] if reason else None,
        "detail": reason[1] if reason else None,
    }


def _card_problem(digits: str, brand, lengths) -> tuple[str, str] | None:
    if len(digits) not in lengths:
        owner = f"{brand} card numbers" if brand else "Card numbers"
        return "wrong_length", f"{owner} have {_lengths_text(lengths)}."
    if not luhn_ok(digits):
        return "luhn_failed", "The last digit does not match the Luhn checksum."
    return None


def card_brand(digits: str) -> tuple[str | None, tuple[int, ...]]:
    best = (0, None, ANY_CARD_LENGTHS)
    for brand, ranges, lengths in CARD_BRANDS:
        for first, last in ranges:
            prefix = digits[: len(first)]
            if len(first) > best[0] and len(prefix) == len(first) and first <= prefix <= last:
                best = (len(first), brand, lengths)
    return best[1], best[2]


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _lengths_text(lengths: tuple[int, ...]) -> str:
    if len(lengths) == 1:
        return f"{lengths[0]} digits"
    if lengths == tuple(range(lengths[0], lengths[-1] + 1)):
        return f"{lengths[0]} to {lengths[-1]} digits"
    return f"{', '.join(map(str, lengths[:-1]))} or {lengths[-1]} digits"


def vat_check(value: str) -> dict:
    country, number = value[:2], value[2:]
    name, pattern, expected = VAT_FORMATS.get(country, (None, None, None))
    reason = _vat_problem(country, number, name, pattern, expected)
    return {
        "vat": value,
        "format_valid": reason is None,
        "country": country if name else None,
        "country_name": name,
        "number": number if name else None,
        "expected_format": expected,
        "reason": reason[0] if reason else None,
        "detail": reason[1] if reason else None,
        "checks": "format_only",
        "note": VAT_NOTE,
    }


def _vat_problem(country, number, name, pattern, expected) -> tuple[str, str] | None:
    if name is None:
        if country == "GR":
            return "unknown_country", "Greek VAT numbers use the prefix EL, not GR."
        return "unknown_country", "A VAT number starts with an EU member state's prefix."
    if not re.fullmatch(pattern, number):
        return "wrong_format", f"{name} VAT numbers are {expected} after {country}."
    return None
