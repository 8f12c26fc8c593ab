"""The slug field says which address it makes, before and after a slug is typed (never
"/gw//"), and the plan form says "(optional)" once."""

import pytest

from tests.catalog.factories import ApiFactory

pytestmark = pytest.mark.django_db


def test_a_new_listing_shows_a_placeholder_address_and_follows_the_name(owner_client):
    html = owner_client.get("/console/apis/new/").content.decode()
    assert "/gw/<span data-slug-preview>your-api</span>/…" in html
    assert "/gw//" not in html and "/apis//" not in html
    assert 'data-slug-from="id_name"' in html


def test_an_existing_listing_shows_its_own_address(owner_client, org):
    api = ApiFactory(organization=org, slug="iban-check")
    html = owner_client.get(f"/console/apis/{api.slug}/listing/").content.decode()
    assert "/gw/<span data-slug-preview>iban-check</span>/…" in html


def test_the_plan_form_says_optional_once(owner_client, org):
    api = ApiFactory(organization=org, slug="iban-check")
    html = owner_client.get(f"/console/apis/{api.slug}/plans/").content.decode()
    assert "Graduated tiers" in html
    assert "(optional) <span" not in html and "(optional) (optional)" not in html.replace(
        '<span class="muted">', ""
    ).replace("</span>", "")


def test_browsers_asking_for_favicon_ico_get_the_icon(client, staff):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/img/favicon.svg"
    client.force_login(staff)
    html = client.get("/admin/").content.decode()
    assert 'rel="icon" href="/static/img/favicon.svg"' in html
