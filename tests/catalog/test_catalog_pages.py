import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.models import ApiStatus, Visibility
from tests.catalog.factories import ApiFactory, CategoryFactory, EndpointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(org):
    finance = CategoryFactory(name="Finance", slug="finance")
    text = CategoryFactory(name="Text", slug="text")
    iban = ApiFactory(
        organization=org,
        name="IBAN Check",
        slug="iban-check",
        category=finance,
        summary="Validate bank accounts",
        tags=["iban", "banking"],
    )
    EndpointFactory(api=iban, path="/iban/{iban}", summary="Validate an IBAN number")
    words = ApiFactory(
        organization=org,
        name="Word Counter",
        slug="word-counter",
        category=text,
        summary="Counts words",
        tags=["text"],
    )
    EndpointFactory(api=words, path="/count", summary="Count readability of prose")
    draft = ApiFactory(
        organization=org,
        name="Secret Draft",
        slug="secret-draft",
        status=ApiStatus.DRAFT,
        summary="Validate things too",
    )
    unlisted = ApiFactory(
        organization=org,
        name="Hidden Gem",
        slug="hidden-gem",
        visibility=Visibility.UNLISTED,
        summary="Validate quietly",
    )
    return {"iban": iban, "words": words, "draft": draft, "unlisted": unlisted}


def _names(response) -> list[str]:
    return [api.name for api in response.context["page"].object_list]


def test_the_catalog_lists_published_public_apis_only(client, catalog):
    response = client.get("/apis/")
    assert _names(response) == ["IBAN Check", "Word Counter"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("iban", ["IBAN Check"]),
        ("bank", ["IBAN Check"]),
        ("readability", ["Word Counter"]),
        ("validate", ["IBAN Check"]),
        ("nothing-like-this", []),
    ],
)
def test_search_matches_names_summaries_tags_and_endpoint_summaries(
    client, catalog, query, expected
):
    assert _names(client.get("/apis/", {"q": query})) == expected


def test_category_filter(client, catalog):
    assert _names(client.get("/apis/", {"category": "text"})) == ["Word Counter"]


def test_htmx_search_returns_only_the_results_fragment(client, catalog):
    response = client.get("/apis/", {"q": "iban"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "IBAN Check" in html and "<html" not in html


def test_empty_results_say_what_to_do(client, catalog):
    response = client.get("/apis/", {"q": "zzzz"})
    assert b"Nothing matches that" in response.content and b"Show all APIs" in response.content


def test_the_api_page_renders_endpoints_and_snippets(client, catalog):
    response = client.get("/apis/iban-check/")
    html = response.content.decode()
    assert "/iban/{iban}" in html and "Validate an IBAN number" in html
    assert "X-Api-Key: YOUR_API_KEY" in html
    assert "/gw/iban-check/iban/" in html
    assert "import requests" in html and "await fetch(" in html


def test_drafts_are_404_to_outsiders_and_visible_to_their_owners(client, catalog, outsider, owner):
    assert client.get("/apis/secret-draft/").status_code == 404
    client.force_login(outsider)
    assert client.get("/apis/secret-draft/").status_code == 404
    client.force_login(owner)
    response = client.get("/apis/secret-draft/")
    assert response.status_code == 200 and b"Preview" in response.content


def test_unlisted_apis_open_by_link_but_stay_out_of_search(client, catalog):
    assert client.get("/apis/hidden-gem/").status_code == 200
    assert "Hidden Gem" not in _names(client.get("/apis/", {"q": "validate"}))


def test_the_consumer_openapi_document_points_at_the_gateway(client, catalog):
    api = catalog["iban"]
    api.openapi_document = {
        "openapi": "3.0.3",
        "info": {"title": "x", "version": "1"},
        "servers": [{"url": "https://internal.example.com"}],
        "paths": {},
    }
    api.save()
    response = client.get("/apis/iban-check/openapi.json", HTTP_HOST="127.0.0.1:8301")
    document = response.json()
    assert document["servers"] == [{"url": "http://127.0.0.1:8301/gw/iban-check"}]
    assert document["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-Api-Key"
    assert "attachment" in response["Content-Disposition"]


def test_catalog_and_api_pages_use_a_fixed_number_of_queries(client, org):
    category = CategoryFactory(slug="many")
    for _ in range(30):
        api = ApiFactory(organization=org, category=category)
        EndpointFactory(api=api)
    with CaptureQueriesContext(connection) as few:
        client.get("/apis/")
    for _ in range(30):
        ApiFactory(organization=org, category=category)
    with CaptureQueriesContext(connection) as more:
        client.get("/apis/")
    assert len(few) == len(more) <= 8
    api = ApiFactory(organization=org)
    for n in range(40):
        EndpointFactory(api=api, tags=[f"group {n % 4}"])
    with CaptureQueriesContext(connection) as page:
        assert client.get(f"/apis/{api.slug}/").status_code == 200
    assert len(page) <= 8
    with CaptureQueriesContext(connection) as home:
        client.get("/")
    assert len(home) <= 8
