"""Each demo API's OpenAPI document is valid, and describes what the views do: every
documented operation answers its documented example with the documented status and shape,
and every routed endpoint is documented."""

import re
from urllib.parse import quote

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from apps.demo_upstreams import urls as demo_urls
from apps.demo_upstreams.registry import DEMO_APIS, GATEWAY_PLACEHOLDER

pytestmark = pytest.mark.urls("tests.demo_upstreams.urls")

CATEGORIES = {"Text & NLP", "Finance", "Images & Media", "AI & LLM"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
# Responses carrying a fresh id and timestamp cannot equal a stored example.
VARYING_OPERATIONS = {"createChatCompletion"}


def load_spec(api: dict) -> dict:
    return yaml.safe_load(api["spec_file"].read_text())


def operations():
    for api in DEMO_APIS:
        spec = load_spec(api)
        for path, item in spec["paths"].items():
            for method in sorted(HTTP_METHODS & set(item)):  # xdist needs a stable order
                yield pytest.param(api, spec, path, method, id=f"{api['key']} {method} {path}")


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        _, *parts = node["$ref"].split("/")
        node = spec
        for part in parts:
            node = node[part]
    return node


def schema_validator(spec: dict, schema: dict) -> OAS30Validator:
    # Refs point at #/components/...: give the schema the spec's components as its root.
    return OAS30Validator({**schema, "components": spec["components"]})


def first_example(spec: dict, holder: dict):
    if "example" in holder:
        return holder["example"]
    if "examples" in holder:
        return resolve(spec, next(iter(holder["examples"].values())))["value"]
    return None


def request_for(api: dict, spec: dict, path: str, operation: dict) -> tuple[str, dict]:
    """The URL and query an operation's parameter examples make."""
    url = f"/demo-upstreams/{api['path_prefix']}{path}"
    query = {}
    for parameter in (resolve(spec, p) for p in operation.get("parameters", [])):
        example = parameter.get("example")
        if parameter["in"] == "path":
            url = url.replace(f"{{{parameter['name']}}}", quote(str(example), safe=""))
        elif example is not None:
            query[parameter["name"]] = example
    return url, query


def call(client, api, spec, path, method, operation):
    url, query = request_for(api, spec, path, operation)
    body = operation.get("requestBody")
    if method == "post" and body:
        media = resolve(spec, body)["content"]["application/json"]
        return client.post(url, first_example(spec, media), content_type="application/json")
    return getattr(client, method)(url, query)


@pytest.mark.parametrize("api", DEMO_APIS, ids=lambda api: api["key"])
def test_each_spec_is_valid_openapi_3_0(api):
    spec = load_spec(api)

    validate_spec(spec)
    assert spec["openapi"] == "3.0.3"
    assert spec["info"]["title"] == api["name"]
    assert spec["info"]["description"] and spec["info"]["version"] and spec["tags"]
    assert spec["servers"][0]["url"].endswith(f"/demo-upstreams/{api['path_prefix']}")


@pytest.mark.parametrize(("api", "spec", "path", "method"), operations())
def test_each_documented_operation_answers_as_documented(client, api, spec, path, method):
    operation = spec["paths"][path][method]
    assert operation["operationId"] and operation["summary"] and operation["description"]
    assert operation["tags"]

    response = call(client, api, spec, path, method, operation)

    success = min(code for code in operation["responses"] if code.startswith("2"))
    assert response.status_code == int(success)
    documented = resolve(spec, operation["responses"][success])
    content_type = response["Content-Type"].split(";")[0]
    assert content_type in documented["content"]
    if content_type == "application/json":
        media = documented["content"][content_type]
        schema_validator(spec, media["schema"]).validate(response.json())
        if operation["operationId"] not in VARYING_OPERATIONS:
            assert response.json() == first_example(spec, media)


@pytest.mark.parametrize(("api", "spec", "path", "method"), operations())
def test_each_operation_refuses_other_methods_as_documented(client, api, spec, path, method):
    operation = spec["paths"][path][method]
    documented_methods = HTTP_METHODS & set(spec["paths"][path])
    other = "delete" if "delete" not in documented_methods else "patch"
    url, _ = request_for(api, spec, path, operation)

    response = getattr(client, other)(url)

    assert response.status_code == 405
    assert "405" in operation["responses"]
    schema_validator(spec, resolve(spec, {"$ref": "#/components/schemas/Error"})).validate(
        response.json()
    )


@pytest.mark.parametrize("api", DEMO_APIS, ids=lambda api: api["key"])
def test_every_example_in_a_spec_fits_its_schema(api):
    spec = load_spec(api)

    for media in json_media_types(spec):
        validator = schema_validator(spec, media["schema"])
        examples = [media["example"]] if "example" in media else []
        examples += [resolve(spec, e)["value"] for e in media.get("examples", {}).values()]
        for example in examples:
            validator.validate(example)


def json_media_types(spec: dict):
    responses = [r for item in spec["paths"].values() for op in item.values() for r in
                 op.get("responses", {}).values()]  # fmt: skip
    bodies = [op["requestBody"] for item in spec["paths"].values() for op in item.values()
              if "requestBody" in op]  # fmt: skip
    for holder in (resolve(spec, node) for node in responses + bodies):
        media = holder.get("content", {}).get("application/json")
        if media:
            yield media


def test_every_routed_endpoint_is_documented():
    documented = {
        f"{api['path_prefix']}{re.sub(r'{[^}]+}', '<>', path)}"
        for api in DEMO_APIS
        for path in load_spec(api)["paths"]
    }
    routed = {
        re.sub(r"<[^>]+>", "<>", str(pattern.pattern))
        for pattern in demo_urls.urlpatterns
        if pattern.name != "not-found"
    }

    assert routed == documented


@pytest.mark.parametrize("api", DEMO_APIS, ids=lambda api: api["key"])
def test_registry_entries_are_complete(api):
    assert set(api) == {
        "key", "name", "slug", "summary", "description", "category", "tags", "path_prefix",
        "spec_file", "units",
    }  # fmt: skip
    assert len(api["summary"]) <= 140
    assert api["category"] in CATEGORIES
    assert api["tags"] and all(isinstance(tag, str) for tag in api["tags"])
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", api["slug"])
    assert api["spec_file"].is_absolute() and api["spec_file"].is_file()
    assert api["units"] in {"call", "second"} or api["units"].strip()
    # The usage example calls the API through the gateway (seeding writes its address)
    # under its own slug.
    assert f"{GATEWAY_PLACEHOLDER}/{api['slug']}/" in api["description"]
    assert "```" in api["description"]


def test_registry_keys_slugs_and_prefixes_are_unique():
    for field in ("key", "slug", "path_prefix"):
        assert len({api[field] for api in DEMO_APIS}) == len(DEMO_APIS)
