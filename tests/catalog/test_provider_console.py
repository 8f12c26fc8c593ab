import pytest

from apps.catalog.models import Api, ApiStatus
from tests.catalog.factories import ApiFactory, CategoryFactory

pytestmark = pytest.mark.django_db

SPEC = """openapi: 3.0.3
info: {title: Demo, version: "1"}
paths:
  /hello:
    get: {summary: Say hello, responses: {"200": {description: ok}}}
"""


def test_a_provider_creates_a_listing_imports_a_spec_and_submits(owner_client, org):
    category = CategoryFactory(slug="text")
    response = owner_client.post(
        "/console/apis/new/",
        {
            "name": "Hello API",
            "summary": "Greets",
            "category": category.pk,
            "tags": "greeting, fun",
            "description": "Says **hello**.",
            "upstream_url": "http://127.0.0.1:9000/",
            "upstream_timeout_s": "10",
            "upstream_connect_timeout_s": "2",
            "visibility": "public",
        },
    )
    assert response.status_code == 302
    api = Api.objects.get(slug="hello-api")
    assert api.tags == ["greeting", "fun"] and api.organization == org
    response = owner_client.post(f"/console/apis/{api.slug}/openapi/", {"text": SPEC})
    assert response.status_code == 302
    preview = owner_client.get(response.url)
    assert b"/hello" in preview.content and b"Apply import" in preview.content
    assert api.endpoints.count() == 0
    owner_client.post(response.url, {"decision": "apply"})
    assert api.endpoints.get().summary == "Say hello"
    owner_client.post(f"/console/apis/{api.slug}/status/submit/")
    api.refresh_from_db()
    assert api.status == ApiStatus.PENDING_REVIEW


def test_form_errors_show_next_to_the_field_and_save_nothing(owner_client, settings):
    settings.UPSTREAM_ALLOW_PRIVATE = False
    response = owner_client.post(
        "/console/apis/new/",
        {
            "name": "Bad",
            "upstream_url": "http://10.0.0.1/",
            "upstream_timeout_s": "10",
            "upstream_connect_timeout_s": "2",
            "visibility": "public",
        },
    )
    assert response.status_code == 200
    assert b"private or reserved address" in response.content
    assert not Api.objects.exists()


def test_a_broken_spec_is_reported_where_it_breaks(owner_client, org):
    api = ApiFactory(organization=org)
    response = owner_client.post(
        f"/console/apis/{api.slug}/openapi/", {"text": "openapi: 3.0.3\ninfo: [unclosed"}
    )
    assert response.status_code == 200 and b"line" in response.content


def test_outsiders_get_404_on_every_console_page(outsider_client, org):
    api = ApiFactory(organization=org)
    for path in ["", "listing/", "openapi/", "endpoints/"]:
        assert outsider_client.get(f"/console/apis/{api.slug}/{path}").status_code == 404
    assert outsider_client.post(f"/console/apis/{api.slug}/status/submit/").status_code == 404
    assert (
        outsider_client.post(f"/console/apis/{api.slug}/secrets/proxy/rotate/").status_code == 404
    )


def test_rotating_a_secret_over_htmx_swaps_the_secrets_card(owner_client, org):
    api = ApiFactory(organization=org)
    response = owner_client.post(
        f"/console/apis/{api.slug}/secrets/proxy/rotate/", HTTP_HX_REQUEST="true"
    )
    api.refresh_from_db()
    assert api.proxy_secret.encode() in response.content
    assert b"Rotated just now" in response.content


def test_console_pages_render(owner_client, org):
    api = ApiFactory(organization=org, status=ApiStatus.REJECTED, rejection_reason="Fix docs")
    assert b"Fix docs" in owner_client.get(f"/console/apis/{api.slug}/").content
    for path in [
        "/console/apis/",
        "/console/apis/new/",
        f"/console/apis/{api.slug}/listing/",
        f"/console/apis/{api.slug}/endpoints/",
        f"/console/apis/{api.slug}/openapi/",
    ]:
        assert owner_client.get(path).status_code == 200, path
