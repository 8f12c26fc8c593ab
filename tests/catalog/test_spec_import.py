from pathlib import Path

import pytest

from apps.catalog import services
from apps.catalog.models import Endpoint, SpecImport
from apps.catalog.openapi import SpecError
from apps.core.errors import Conflict
from tests.catalog.factories import ApiFactory

pytestmark = pytest.mark.django_db
SPECS = Path(__file__).parent / "specs"

V1 = """
openapi: 3.0.3
info: {title: Users, version: "1"}
paths:
  /users:
    get: {summary: List users, tags: [Users], responses: {"200": {description: ok}}}
    post: {summary: Create a user, tags: [Users], responses: {"201": {description: created}}}
  /users/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {summary: One user, tags: [Users], responses: {"200": {description: ok}}}
"""
V2 = """
openapi: 3.0.3
info: {title: Users, version: "2"}
paths:
  /users:
    get: {summary: List all users, tags: [Users], responses: {"200": {description: ok}}}
  /users/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {summary: One user, tags: [Users], responses: {"200": {description: ok}}}
  /teams:
    get: {summary: List teams, tags: [Teams], responses: {"200": {description: ok}}}
"""


@pytest.fixture
def api(org):
    return ApiFactory(organization=org)


def _import(owner, api, source):
    pending = services.spec_import_prepare(actor=owner, api=api, source=source)
    return services.spec_import_apply(actor=owner, spec_import=pending)


def test_importing_creates_endpoints_and_stores_the_document(owner, api):
    diff = _import(owner, api, V1)
    assert len(diff.added) == 3
    assert set(api.endpoints.values_list("method", "path")) == {
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", "/users/{id}"),
    }
    endpoint = api.endpoints.get(method="GET", path="/users/{id}")
    assert endpoint.parameters[0]["name"] == "id" and endpoint.tags == ["Users"]
    api.refresh_from_db()
    assert api.openapi_version == "3.0" and api.openapi_document["info"]["version"] == "1"


def test_reimport_previews_added_removed_and_changed_before_anything_changes(owner, api):
    _import(owner, api, V1)
    pending = services.spec_import_prepare(actor=owner, api=api, source=V2)
    diff = services.spec_import_diff(pending)
    assert [(e.method, e.path) for e in diff.added] == [("GET", "/teams")]
    assert [(e.method, e.path) for e in diff.removed] == [("POST", "/users")]
    assert [(c.new.path, c.fields) for c in diff.changed] == [("/users", ["summary"])]
    assert diff.unchanged == 1
    assert api.endpoints.count() == 3  # nothing applied yet
    services.spec_import_apply(actor=owner, spec_import=pending)
    assert set(api.endpoints.values_list("method", "path")) == {
        ("GET", "/users"),
        ("GET", "/users/{id}"),
        ("GET", "/teams"),
    }
    assert api.endpoints.get(path="/users", method="GET").summary == "List all users"


def test_removed_endpoints_with_usage_are_kept_as_deprecated(owner, api, monkeypatch):
    _import(owner, api, V1)
    post = api.endpoints.get(method="POST", path="/users")
    monkeypatch.setattr(services, "endpoint_usage_checkers", [lambda ids: {post.pk} & set(ids)])
    _import(owner, api, V2)
    post.refresh_from_db()
    assert post.deprecated and post.removed_at is not None
    # re-adding it later brings it back to life
    _import(owner, api, V1)
    post.refresh_from_db()
    assert post.removed_at is None


def test_a_malformed_spec_saves_nothing_and_says_where(owner, api):
    with pytest.raises(SpecError) as caught:
        services.spec_import_prepare(actor=owner, api=api, source="openapi: 3.0.3\npaths: [")
    assert "line" in caught.value.message
    bad = (SPECS / "response-without-description.json").read_text()
    with pytest.raises(SpecError) as caught:
        services.spec_import_prepare(actor=owner, api=api, source=bad)
    assert "description" in caught.value.message and "paths" in caught.value.message
    assert not SpecImport.objects.exists() and not Endpoint.objects.exists()


def test_an_import_applies_once(owner, api):
    pending = services.spec_import_prepare(actor=owner, api=api, source=V1)
    services.spec_import_apply(actor=owner, spec_import=pending)
    with pytest.raises(Conflict):
        services.spec_import_apply(actor=owner, spec_import=pending)


def test_outsiders_cannot_import_into_someone_elses_api(outsider, api):
    from apps.core.errors import NotFound

    with pytest.raises(NotFound):
        services.spec_import_prepare(actor=outsider, api=api, source=V1)
