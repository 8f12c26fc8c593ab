from decimal import Decimal

import pytest

from apps.core.ids import make_public_id
from apps.core.money import Money, format_money, round_money, to_minor_units
from apps.core.secrets import generate_secret, has_valid_checksum


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.125", "0.13"),
        ("0.124999", "0.12"),
        ("2.005", "2.01"),
        ("-0.125", "-0.13"),
        ("10", "10.00"),
    ],
)
def test_rounding_is_half_up_to_the_cent(amount, expected):
    assert round_money(Decimal(amount), "USD") == Decimal(expected)


def test_zero_decimal_currencies_round_to_units():
    assert round_money(Decimal("12.5"), "JPY") == Decimal("13")
    assert to_minor_units(Decimal("13"), "JPY") == 13


def test_minor_units_refuse_unrounded_amounts():
    assert to_minor_units(Decimal("12.34"), "USD") == 1234
    with pytest.raises(ValueError):
        to_minor_units(Decimal("12.345"), "USD")


def test_formatting_for_people():
    assert format_money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert format_money(Decimal("0.0004"), "USD", places=4) == "$0.0004"
    assert format_money(Decimal("-3"), "EUR") == "-€3.00"


def test_money_refuses_to_mix_currencies():
    with pytest.raises(ValueError):
        Money.of("1", "USD") + Money.of("1", "EUR")
    assert (Money.of("1.10", "USD") + Money.of("2.205", "USD")).rounded().amount == Decimal("3.31")


def test_public_ids_are_prefixed_and_unique():
    ids = {make_public_id("org") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("org_") and len(i) == 20 for i in ids)


def test_secrets_carry_a_checksum_that_catches_typos():
    secret = generate_secret("tg")
    assert len(secret) >= 3 + 40
    assert has_valid_checksum(secret, "tg")
    typo = secret[:10] + ("A" if secret[10] != "A" else "B") + secret[11:]
    assert not has_valid_checksum(typo, "tg")
    assert not has_valid_checksum(secret, "tgp")
