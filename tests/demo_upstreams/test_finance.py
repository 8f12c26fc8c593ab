import pytest

pytestmark = pytest.mark.urls("tests.demo_upstreams.urls")

FINANCE = "/demo-upstreams/finance"


def check(client, kind, value):
    return client.get(f"{FINANCE}/{kind}/{value}")


# --- IBAN -------------------------------------------------------------------------------


def test_a_valid_iban_is_split_and_formatted(client):
    response = check(client, "iban", "GB82WEST12345698765432")

    assert response.status_code == 200
    assert response.json() == {
        "iban": "GB82WEST12345698765432",
        "valid": True,
        "country": "GB",
        "country_name": "United Kingdom",
        "check_digits": "82",
        "bban": "WEST12345698765432",
        "formatted": "GB82 WEST 1234 5698 7654 32",
        "length": 22,
        "expected_length": 22,
        "reason": None,
        "detail": None,
    }


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013000",
        "NL91ABNA0417164300",
        "FR1420041010050500013M02606",
        "BE68539007547034",
        "NO9386011117947",  # the shortest, 15
        "MT84MALT011000012345MTLCAST001S",  # letters inside the BBAN
        "LC55HEMM000100010012001200023015",  # the longest, 32
    ],
)
def test_registry_examples_are_valid(client, iban):
    assert check(client, "iban", iban).json()["valid"] is True


def test_spaces_dashes_and_lower_case_are_ignored(client):
    result = check(client, "iban", "gb82%20west-1234%205698%207654%2032").json()

    assert result["valid"] is True
    assert result["iban"] == "GB82WEST12345698765432"


@pytest.mark.parametrize(
    ("iban", "reason"),
    [
        ("GB82WEST12345698765433", "checksum_failed"),  # last digit changed
        ("GB82WEST12345698765423", "checksum_failed"),  # two digits swapped
        ("GB82WEST1234569876543", "wrong_length"),
        ("GB82WEST123456987654321", "wrong_length"),
        ("XX82WEST12345698765432", "unknown_country"),
        ("US12345678901234567890", "unknown_country"),
        ("GBXXWEST12345698765432", "invalid_start"),
        ("1234", "invalid_start"),
    ],
)
def test_invalid_ibans_say_why(client, iban, reason):
    response = check(client, "iban", iban)

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert response.json()["reason"] == reason
    assert response.json()["detail"]


def test_wrong_length_names_the_expected_length(client):
    result = check(client, "iban", "DE8937040044053201300").json()

    assert result["expected_length"] == 22
    assert result["detail"] == "Germany IBANs have 22 characters, not 21."


@pytest.mark.parametrize("iban", ["GB82WEST1234!698765432", "GB82_WEST", "É" * 10, "G" * 65])
def test_what_cannot_be_an_iban_is_422(client, iban):
    response = check(client, "iban", iban)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_field"


# --- Cards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "Visa"),
        ("4012888888881881", "Visa"),
        ("4222222222222", "Visa"),  # 13 digits
        ("5555555555554444", "Mastercard"),
        ("2223003122003222", "Mastercard"),  # 2-series
        ("378282246310005", "American Express"),
        ("371449635398431", "American Express"),
        ("6011111111111117", "Discover"),
        ("6011000990139424", "Discover"),
        ("3566002020360505", "JCB"),
        ("30569309025904", "Diners Club"),
        ("36227206271667", "Diners Club"),
        ("6200000000000005", "UnionPay"),
        ("6759649826438453", "Maestro"),
        ("5018000000000009", "Maestro"),
    ],
)
def test_test_cards_are_valid_with_their_brand(client, number, brand):
    response = check(client, "card", number)
    result = response.json()

    assert result["valid"] is True and result["luhn_valid"] is True
    assert result["brand"] == brand
    assert result["last4"] == number[-4:]
    assert result["masked"] == "*" * (len(number) - 4) + number[-4:]
    assert number not in response.content.decode()


def test_discover_range_inside_unionpay_62_goes_to_discover(client):
    assert check(client, "card", "6221260000000000").json()["brand"] == "Discover"


def test_spaces_and_dashes_in_a_card_number_are_ignored(client):
    result = check(client, "card", "4242%204242-4242%204242").json()

    assert result["valid"] is True and result["length"] == 16


def test_a_wrong_last_digit_fails_luhn(client):
    result = check(client, "card", "4242424242424241").json()

    assert result == {
        "valid": False,
        "luhn_valid": False,
        "brand": "Visa",
        "length": 16,
        "expected_lengths": [13, 16, 19],
        "masked": "************4241",
        "last4": "4241",
        "reason": "luhn_failed",
        "detail": "The last digit does not match the Luhn checksum.",
    }


def test_a_length_the_brand_does_not_use_is_invalid_even_if_luhn_passes(client):
    # 16 digits starting 37 pass Luhn, but American Express numbers have 15.
    result = check(client, "card", "3782822463100003").json()

    assert result["luhn_valid"] is True
    assert result["valid"] is False
    assert result["reason"] == "wrong_length"
    assert result["detail"] == "American Express card numbers have 15 digits."


def test_an_unknown_brand_is_valid_when_luhn_and_length_hold(client):
    result = check(client, "card", "9999999999999995").json()

    assert result["valid"] is True and result["brand"] is None


def test_a_short_input_is_masked_completely(client):
    response = check(client, "card", "12345678")

    assert response.json()["masked"] == "********"
    assert response.json()["last4"] is None
    assert "12345678" not in response.content.decode()


@pytest.mark.parametrize("number", ["4242abcd42424242", "4242+4242+4242", "1" * 65])
def test_what_cannot_be_a_card_number_is_422(client, number):
    response = check(client, "card", number)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_field"


# --- VAT --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vat", "country_name"),
    [
        ("ATU12345678", "Austria"),
        ("BE0123456789", "Belgium"),
        ("BG123456789", "Bulgaria"),
        ("CY12345678X", "Cyprus"),
        ("CZ12345678", "Czechia"),
        ("DE123456789", "Germany"),
        ("DK12345678", "Denmark"),
        ("EL123456789", "Greece"),
        ("ESX1234567X", "Spain"),
        ("FI12345678", "Finland"),
        ("FRXX123456789", "France"),
        ("HR12345678901", "Croatia"),
        ("IE1234567WA", "Ireland"),
        ("IE1A23456B", "Ireland"),
        ("IT12345678901", "Italy"),
        ("LT123456789012", "Lithuania"),
        ("NL123456789B01", "Netherlands"),
        ("PL1234567890", "Poland"),
        ("RO12", "Romania"),
        ("SE123456789001", "Sweden"),
        ("XIGD123", "Northern Ireland (United Kingdom)"),
    ],
)
def test_well_formed_vat_numbers_pass_the_format_check(client, vat, country_name):
    result = check(client, "vat", vat).json()

    assert result["format_valid"] is True
    assert result["country_name"] == country_name
    assert result["number"] == vat[2:]


@pytest.mark.parametrize(
    ("vat", "reason"),
    [
        ("DE12345678", "wrong_format"),
        ("AT12345678", "wrong_format"),  # the U is missing
        ("NL123456789A01", "wrong_format"),
        ("SE123456789002", "wrong_format"),
        ("FRIO123456789", "wrong_format"),
        ("RO0123", "wrong_format"),
        ("GB123456789", "unknown_country"),
        ("US123456789", "unknown_country"),
    ],
)
def test_malformed_vat_numbers_fail_with_a_reason(client, vat, reason):
    result = check(client, "vat", vat).json()

    assert result["format_valid"] is False
    assert result["reason"] == reason


def test_greek_numbers_are_told_to_use_el(client):
    result = check(client, "vat", "GR123456789").json()

    assert result["format_valid"] is False
    assert "EL" in result["detail"]


def test_vat_answers_say_they_check_the_format_only(client):
    result = check(client, "vat", "de%20123.456.789").json()

    assert result["vat"] == "DE123456789" and result["format_valid"] is True
    assert result["checks"] == "format_only"
    assert "does not check that the number is registered" in result["note"]


def test_what_cannot_be_a_vat_number_is_422(client):
    response = check(client, "vat", "DE123!456")

    assert response.status_code == 422
    assert set(response.json()) == {"error", "detail"}


# --- HTTP -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["iban", "card", "vat"])
def test_only_get_is_allowed(client, kind):
    response = client.post(f"{FINANCE}/{kind}/DE123456789")

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["error"] == "method_not_allowed"


def test_a_missing_identifier_is_a_json_404(client):
    response = client.get(f"{FINANCE}/iban/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
