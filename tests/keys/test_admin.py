"""Staff read keys in the admin: never the hash, never editable; a leaked key can be traced
by pasting it into the search box."""

from datetime import timedelta

import pytest

from apps.keys import services

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/keys/apikey/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_the_list_shows_keys_without_their_hash(staff_client, make_key):
    key, secret = make_key("backend")
    html = staff_client.get(CHANGELIST).content.decode()
    assert "backend" in html and f"{key.prefix}…" in html and "Acme" in html
    assert key.key_hash not in html and secret not in html


def test_a_key_page_is_read_only_and_hides_the_hash(staff_client, make_key):
    key, _ = make_key("backend")
    response = staff_client.get(f"{CHANGELIST}{key.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert key.key_hash not in html and 'name="name"' not in html
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    assert staff_client.post(f"{CHANGELIST}{key.pk}/delete/").status_code == 403


def test_pasting_a_leaked_key_into_the_search_finds_its_owner(staff_client, make_key):
    make_key("other")
    key, secret = make_key("leaked one")
    response = staff_client.get(CHANGELIST, {"q": secret})
    assert list(response.context["cl"].result_list) == [key]


def test_the_status_filter_separates_working_and_stopped_keys(staff_client, make_key, owner):
    make_key("working")
    rotated, _ = make_key("rotated")
    services.api_key_rotate(actor=owner, key=rotated, grace=timedelta(hours=1))
    revoked, _ = make_key("revoked")
    services.api_key_revoke(actor=owner, key=revoked)

    def names(status: str) -> set[str]:
        response = staff_client.get(CHANGELIST, {"status": status})
        return {key.name for key in response.context["cl"].result_list}

    assert names("working") == {"working", "rotated"}  # the old one in its grace, and the new
    assert names("grace") == {"rotated"}
    assert names("revoked") == {"revoked"}
    assert names("expired") == set()


def test_members_without_staff_rights_cannot_open_the_admin(client, owner):
    client.force_login(owner)
    assert client.get(CHANGELIST).status_code == 302
