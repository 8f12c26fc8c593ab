"""The console's keys page: every action with JavaScript off (plain posts) and with htmx
(fragments of the same views), for owners, billing members and outsiders."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.secrets import hash_secret
from apps.keys import services
from apps.keys.models import ApiKey, KeyStatus
from apps.subscriptions.models import Subscription, SubscriptionStatus

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.keys.urls")]

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def key(make_key):
    return make_key("billing worker")[0]


def _html(response) -> str:
    return response.content.decode()


# --- Reading ------------------------------------------------------------------------------
def test_the_keys_page_shows_each_keys_details(owner_client, make_key, owner, weather):
    restricted, _ = make_key("weather cron", allowed_apis=[weather])
    services.api_keys_touch_last_used({restricted.public_id: timezone.now() - timedelta(hours=2)})
    old, _ = make_key("old backend")
    services.api_key_rotate(actor=owner, key=old, grace=timedelta(hours=1))
    expiring, _ = make_key("trial", expires_at=timezone.now() + timedelta(days=3))
    response = owner_client.get("/console/keys/")
    html = _html(response)
    assert response.status_code == 200
    assert f"{restricted.prefix}…" in html and "weather cron" in html
    assert "Weather" in html and "All APIs" in html
    assert "2\xa0hours ago" in html and "never" in html
    assert "by " + owner.display_name in html
    assert "in grace</span>" in html and "replaced by" in html
    assert "expires soon" in html and expiring.expires_at.strftime("%b") in html
    assert "badge-active" in html
    assert "tg_" in html and "X-Api-Key" in html


def test_an_empty_keys_page_says_what_to_do(owner_client):
    html = _html(owner_client.get("/console/keys/"))
    assert "No API keys yet" in html and "Create a key" in html
    assert 'id="create-key"' in html


def test_the_keys_page_takes_the_same_queries_for_two_keys_or_twelve(
    owner_client, make_key, weather, ocr
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert owner_client.get("/console/keys/").status_code == 200
        return len(context)

    for n in range(2):
        make_key(f"k{n}", allowed_apis=[weather, ocr])
    two = queries()
    for n in range(10):
        make_key(f"more{n}", allowed_apis=[weather])
    assert queries() == two


def test_signed_out_visitors_are_sent_to_log_in(client):
    response = client.get("/console/keys/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Creating -----------------------------------------------------------------------------
def test_creating_a_key_without_javascript_shows_it_once(owner_client, org):
    response = owner_client.post("/console/keys/", {"name": "backend", "expires_in_days": "30"})
    assert response.status_code == 200
    secret = response.context["new_secret"]
    html = _html(response)
    assert "see it again" in html
    assert f'value="{secret}"' in html and 'data-copy="#new-key-secret"' in html
    assert f'X-Api-Key: {secret}"' in html and 'curl "http' in html
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(key_hash=hash_secret(secret))
    assert key.organization == org and key.expires_at is not None
    assert secret not in _html(owner_client.get("/console/keys/"))


def test_the_curl_line_names_the_api_a_restricted_key_is_for(owner_client, weather):
    weather.endpoints.create(method="GET", path="/forecast/{city}")
    weather.endpoints.create(method="GET", path="/stations", position=1)
    response = owner_client.post("/console/keys/", {"name": "cron", "apis": [weather.pk]})
    assert '/gw/weather/stations" -H' in _html(response)


def test_the_curl_line_of_an_unrestricted_key_names_an_api_the_organization_subscribes_to(
    owner_client, org, weather
):
    response = owner_client.post("/console/keys/", {"name": "backend"})
    html = _html(response)
    assert '/gw/weather/" -H' in html and "&lt;api-slug&gt;" not in html


def test_creating_a_key_with_htmx_swaps_the_panel(owner_client):
    response = owner_client.post("/console/keys/", {"name": "backend"}, **HTMX)
    html = _html(response)
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div id="keys-panel">')
    assert response.context["new_secret"] in html
    assert response["HX-Retarget"] == "#keys-panel"
    assert 'hx-swap-oob="true"' in html and "Copy it now" in html


def test_a_key_without_a_name_is_refused_next_to_the_field(owner_client):
    response = owner_client.post("/console/keys/", {"name": ""}, **HTMX)
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert response.context["new_secret"] is None
    assert not ApiKey.objects.exists()


def test_the_cap_is_reported_on_the_form(owner_client, make_key):
    for n in range(services.MAX_LIVE_KEYS):
        make_key(f"k{n}")
    response = owner_client.post("/console/keys/", {"name": "one more"})
    assert "50 live keys" in _html(response)
    assert ApiKey.objects.count() == services.MAX_LIVE_KEYS


def test_a_key_can_be_restricted_when_created(owner_client, weather, ocr):
    response = owner_client.post("/console/keys/", {"name": "ocr only", "apis": [ocr.pk]})
    key = ApiKey.objects.get(key_hash=hash_secret(response.context["new_secret"]))
    assert key.allowed_api_ids == frozenset({ocr.pk})


def test_only_apis_the_organization_subscribes_to_are_offered(owner_client, owner, org, weather):
    """Unlisted APIs are published but not for everyone's eyes: the key forms used to list
    every published API, unlisted ones included, to anybody signed in."""
    from apps.catalog.models import ApiStatus, Visibility
    from tests.catalog.factories import ApiFactory

    unlisted = ApiFactory(name="Hidden gem", slug="hidden-gem", visibility=Visibility.UNLISTED)
    listed = ApiFactory(name="Public other", slug="public-other")
    own = ApiFactory(organization=org, name="Our own", slug="our-own")
    suspended = ApiFactory(name="Gone quiet", slug="gone-quiet", status=ApiStatus.SUSPENDED)
    key, _ = services.api_key_create(actor=owner, organization=org, name="k")
    pages = [
        _html(owner_client.get("/console/keys/")),
        _html(owner_client.get(f"/console/keys/{key.public_id}/restrict/")),
        _html(owner_client.get(f"/console/keys/{key.public_id}/restrict/", **HTMX)),
    ]
    for html in pages:
        assert f'value="{weather.pk}"' in html
        for api in (unlisted, listed, own, suspended):
            assert api.name not in html and f'value="{api.pk}"' not in html
    response = owner_client.post("/console/keys/", {"name": "x", "apis": [unlisted.pk]})
    assert response.context["form"].errors["apis"]
    response = owner_client.post(f"/console/keys/{key.public_id}/restrict/", {"apis": [listed.pk]})
    assert response.context["form"].errors["apis"]
    key.refresh_from_db()
    assert not key.restricted
    assert not ApiKey.objects.filter(restricted=True).exists()


def test_a_restriction_to_an_api_no_longer_subscribed_is_kept_when_edited(
    owner_client, make_key, weather, ocr
):
    """Otherwise the form would show nothing checked, and saving it would lift the
    restriction: the key could call every API."""
    key, _ = make_key(allowed_apis=[weather])
    Subscription.objects.filter(api=weather).update(status=SubscriptionStatus.CANCELED)
    url = f"/console/keys/{key.public_id}/restrict/"
    html = _html(owner_client.get(url))
    assert f'value="{weather.pk}"' in html and "checked" in html
    assert owner_client.post(url, {"apis": [weather.pk, ocr.pk]}).status_code == 302
    key.refresh_from_db()
    assert key.allowed_api_ids == frozenset({weather.pk, ocr.pk})


def test_an_unpublished_api_of_another_provider_is_not_offered(owner_client, draft_of_others):
    html = _html(owner_client.get("/console/keys/"))
    assert "Secret project" not in html
    response = owner_client.post("/console/keys/", {"name": "x", "apis": [draft_of_others.pk]})
    assert response.context["form"].errors["apis"]


# --- Rotating -----------------------------------------------------------------------------
def test_rotating_without_javascript_offers_the_grace_choices(owner_client, key):
    html = _html(owner_client.get(f"/console/keys/{key.public_id}/rotate/"))
    for value in ("none", "1h", "24h", "7d"):
        assert f'value="{value}"' in html
    assert "<html" in html


def test_rotating_shows_the_new_key_once_and_keeps_the_old_one_in_grace(owner_client, key):
    response = owner_client.post(f"/console/keys/{key.public_id}/rotate/", {"grace": "24h"})
    assert response.status_code == 200
    secret = response.context["new_secret"]
    new = ApiKey.objects.get(key_hash=hash_secret(secret))
    key.refresh_from_db()
    assert key.rotated_to == new and key.status == KeyStatus.GRACE
    assert key.grace_until - timezone.now() > timedelta(hours=23)
    html = _html(response)
    assert secret in html and "in grace</span>" in html


def test_rotating_with_htmx_edits_in_the_row_then_swaps_the_panel(owner_client, key):
    url = f"/console/keys/{key.public_id}/rotate/"
    form_row = _html(owner_client.get(url, **HTMX))
    assert form_row.lstrip().startswith(f'<tr id="key-{key.public_id}">')
    assert 'name="grace"' in form_row and "<html" not in form_row
    response = owner_client.post(url, {"grace": "none"}, **HTMX)
    assert response["HX-Retarget"] == "#keys-panel"
    assert response.context["new_secret"] in _html(response)
    key.refresh_from_db()
    assert not key.is_valid


def test_a_second_rotation_of_the_same_key_shows_why_in_the_row(owner_client, key, owner):
    services.api_key_rotate(actor=owner, key=key, grace=timedelta(hours=1))
    response = owner_client.post(f"/console/keys/{key.public_id}/rotate/", {"grace": "1h"}, **HTMX)
    html = _html(response)
    assert "already rotated" in html and "HX-Retarget" not in response
    assert ApiKey.objects.count() == 2


def test_a_cancelled_edit_swaps_the_row_back(owner_client, key):
    response = owner_client.get(f"/console/keys/{key.public_id}/", **HTMX)
    html = _html(response)
    assert html.lstrip().startswith(f'<tr id="key-{key.public_id}">') and "Rotate" in html
    plain = owner_client.get(f"/console/keys/{key.public_id}/")
    assert plain.status_code == 302 and plain["Location"].endswith(f"#key-{key.public_id}")


# --- Revoking and restricting -------------------------------------------------------------
def test_revoking_without_javascript_redirects_to_the_list(owner_client, key):
    response = owner_client.post(f"/console/keys/{key.public_id}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/console/keys/"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "revoked; it stops working now" in _html(owner_client.get("/console/keys/"))


def test_revoking_with_htmx_swaps_the_row(owner_client, key):
    response = owner_client.post(f"/console/keys/{key.public_id}/revoke/", **HTMX)
    html = _html(response)
    assert html.lstrip().startswith(f'<tr id="key-{key.public_id}">')
    assert "badge-revoked" in html and ">Revoke<" not in html
    assert 'hx-swap-oob="true"' in html and "stops working now" in html


def test_a_key_can_only_be_revoked_with_a_post(owner_client, key):
    assert owner_client.get(f"/console/keys/{key.public_id}/revoke/").status_code == 405


def test_restricting_with_htmx_edits_in_the_row_then_swaps_it(owner_client, key, weather):
    url = f"/console/keys/{key.public_id}/restrict/"
    form_row = _html(owner_client.get(url, **HTMX))
    assert form_row.lstrip().startswith(f'<tr id="key-{key.public_id}">')
    assert f'value="{weather.pk}"' in form_row
    response = owner_client.post(url, {"apis": [weather.pk]}, **HTMX)
    html = _html(response)
    assert html.lstrip().startswith(f'<tr id="key-{key.public_id}">')
    assert "Weather" in html and "All APIs" not in html
    key.refresh_from_db()
    assert key.allowed_api_ids == frozenset({weather.pk})


def test_restricting_without_javascript_uses_a_page(owner_client, key, weather, ocr):
    url = f"/console/keys/{key.public_id}/restrict/"
    assert "<html" in _html(owner_client.get(url))
    response = owner_client.post(url, {"apis": [weather.pk, ocr.pk]})
    assert response.status_code == 302
    response = owner_client.post(url, {})
    key.refresh_from_db()
    assert key.allowed_api_ids is None


# --- Who sees what ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("get", "rotate/"),
        ("post", "rotate/"),
        ("post", "revoke/"),
        ("get", "restrict/"),
        ("post", "restrict/"),
    ],
)
def test_an_outsider_gets_404_for_another_organizations_key(outsider_client, key, method, suffix):
    url = f"/console/keys/{key.public_id}/{suffix}"
    data = {"grace": "none"} if "rotate" in suffix else {}
    response = getattr(outsider_client, method)(url, data)
    assert response.status_code == 404
    response = getattr(outsider_client, method)(url, data, **HTMX)
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.is_valid and key.rotated_to is None


def test_an_outsider_never_sees_another_organizations_keys(outsider_client, key):
    html = _html(outsider_client.get("/console/keys/"))
    assert key.prefix not in html and "billing worker" not in html


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("post", ""),
        ("get", "rotate/"),
        ("post", "rotate/"),
        ("post", "revoke/"),
        ("get", "restrict/"),
        ("post", "restrict/"),
    ],
)
def test_a_billing_member_reads_keys_but_gets_403_on_changes(
    client, billing_member, key, method, suffix
):
    client.force_login(billing_member)
    listing = client.get("/console/keys/")
    assert listing.status_code == 200 and key.prefix in _html(listing)
    assert 'id="create-key"' not in _html(listing) and ">Revoke<" not in _html(listing)
    url = "/console/keys/" + (f"{key.public_id}/{suffix}" if suffix else "")
    data = {"name": "sneaky", "grace": "none"}
    assert getattr(client, method)(url, data).status_code == 403
    key.refresh_from_db()
    assert key.is_valid and ApiKey.objects.count() == 1
