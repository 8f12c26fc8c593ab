"""What a key looks like, and that the database never holds one in plain text."""

from datetime import timedelta

import pytest
from django.db import connection

from apps.core.secrets import has_valid_checksum, hash_secret
from apps.keys import selectors, services
from apps.keys.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_key_is_tg_then_40_random_url_safe_characters_then_a_checksum(make_key):
    _, secret = make_key()
    assert secret.startswith("tg_")
    body = secret[len("tg_") :]
    assert len(body) >= 40 + 6
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in body)
    assert has_valid_checksum(secret, "tg")


def test_every_key_is_different(make_key):
    secrets = {make_key(f"k{n}")[1] for n in range(20)}
    assert len(secrets) == 20


def test_a_typo_in_a_key_is_caught_by_its_checksum_without_a_query(
    make_key, django_assert_num_queries
):
    _, secret = make_key()
    position = 10
    typo = secret[:position] + ("A" if secret[position] != "A" else "B") + secret[position + 1 :]
    assert not has_valid_checksum(typo, "tg")
    with django_assert_num_queries(0):
        assert selectors.key_by_secret(typo) is None
        assert selectors.key_by_secret("tg_short") is None
        assert selectors.key_by_secret("") is None


def test_only_the_hash_and_a_display_prefix_are_stored(make_key):
    key, secret = make_key()
    key.refresh_from_db()
    assert key.key_hash == hash_secret(secret)
    assert key.prefix == secret[:11] and secret.startswith(key.prefix)
    assert len(key.prefix) < len(secret) // 4


def _every_text_value_in_the_database():
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
            ]
            quoted = ", ".join(connection.ops.quote_name(name) for name in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if value is not None:
                        yield table, value if isinstance(value, str) else str(value)


@pytest.mark.urls("tests.keys.urls")
def test_no_column_of_any_table_holds_a_plain_key(make_key, owner, org, weather, client):
    secrets = [make_key(f"service {n}", allowed_apis=[weather])[1] for n in range(3)]
    first = ApiKey.objects.get(key_hash=hash_secret(secrets[0]))
    secrets.append(services.api_key_rotate(actor=owner, key=first, grace=timedelta(0))[1])
    client.force_login(owner)
    response = client.post("/console/keys/", {"name": "from the console"})
    secrets.append(response.context["new_secret"])
    response = client.post(
        "/api/v1/keys/", {"name": "from the API"}, content_type="application/json"
    )
    secrets.append(response.json()["key"])
    assert len(set(secrets)) == 6 and all(s.startswith("tg_") for s in secrets)

    # The random part alone must not appear either (say, stored without its "tg_").
    needles = [s for secret in secrets for s in (secret, secret[3:], secret[3:43])]
    leaks = [
        (table, needle)
        for table, value in _every_text_value_in_the_database()
        for needle in needles
        if needle in value
    ]
    assert leaks == []


def test_the_lookup_by_secret_finds_the_key_with_its_organization_and_apis(
    make_key, org, weather, django_assert_num_queries
):
    key, secret = make_key(allowed_apis=[weather])
    with django_assert_num_queries(2):
        found = selectors.key_by_secret(secret)
        assert found.pk == key.pk
        assert found.organization.public_id == org.public_id
        assert found.allowed_api_ids == frozenset({weather.pk})
        assert selectors.key_allows_api(found, weather.pk)


def test_the_lookup_of_an_unrestricted_key_is_one_query(make_key, django_assert_num_queries):
    _, secret = make_key()
    with django_assert_num_queries(1):
        found = selectors.key_by_hash(hash_secret(secret))
        assert found.organization.name == "Acme"
        assert found.allowed_api_ids is None


def test_the_lookup_of_an_unknown_key_is_none(db):
    assert selectors.key_by_hash(hash_secret("tg_nothing")) is None
