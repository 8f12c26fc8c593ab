"""OpenAPI import: loading, validation, endpoint extraction, diffs and the consumer document.

The module is pure, so these tests need no database: specs live in tests/catalog/specs/, and
the large and hostile ones are generated here.
"""

import copy
import gc
import http.server
import json
import threading
import tracemalloc
import weakref
from pathlib import Path

import pytest

from apps.catalog.openapi import (
    DESCRIPTION_LIMIT,
    SUMMARY_LIMIT,
    EndpointSpec,
    SpecError,
    consumer_document,
    diff_endpoints,
    extract_endpoints,
    load_document,
    validate_document,
)

SPECS = Path(__file__).parent / "specs"
GATEWAY = "https://tollgate.example.com/gw/petstore"


def load(name: str) -> dict:
    return load_document((SPECS / name).read_bytes())


def endpoints_by_key(document: dict) -> dict[tuple[str, str], EndpointSpec]:
    return {endpoint.key: endpoint for endpoint in extract_endpoints(document)}


def minimal_spec(paths: dict, **extra) -> dict:
    return {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": paths, **extra}


def ok_response(schema: dict | None = None) -> dict:
    response = {"description": "ok"}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    return {"200": response}


@pytest.fixture
def petstore() -> dict:
    return load("petstore.yaml")


@pytest.fixture
def recording_server():
    """A real HTTP server on loopback that records every request it gets."""
    requests: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.requests = requests
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


# --- Loading ---------------------------------------------------------------------------------


def test_it_loads_yaml_and_json_into_the_same_document(petstore):
    assert load_document(json.dumps(petstore)) == petstore


def test_it_keeps_yaml_keys_and_dates_as_written(petstore):
    responses = petstore["paths"]["/pets"]["get"]["responses"]
    assert set(responses) == {"200", "default"}
    example = responses["200"]["content"]["application/json"]["example"]
    assert example[0]["born"] == "2019-04-01"
    json.dumps(petstore)  # storable as JSON as it is


def test_it_reports_the_line_of_malformed_yaml():
    with pytest.raises(SpecError) as caught:
        load("broken.yaml")
    assert caught.value.location.startswith("line 8, column ")
    assert "line 8" in caught.value.message
    assert caught.value.code == "invalid_spec" and caught.value.field == "spec"


def test_it_reports_the_line_of_malformed_json():
    with pytest.raises(SpecError) as caught:
        load("broken.json")
    assert caught.value.location.startswith("line 5, column ")
    assert "Invalid JSON" in caught.value.message


@pytest.mark.parametrize("source", ["", "just text", "42", "- a\n- b\n", "[1, 2]"])
def test_it_refuses_a_document_that_is_not_a_mapping(source):
    with pytest.raises(SpecError, match="must be a mapping"):
        load_document(source)


def test_it_refuses_a_list_at_the_top_of_a_file():
    with pytest.raises(SpecError, match="not a list"):
        load("list.yaml")


def test_it_refuses_documents_over_the_size_limit():
    comment_line = "#" * 1023 + "\n"  # 1 KB
    source = "openapi: 3.0.3\n" + comment_line * 5 * 1024
    with pytest.raises(SpecError, match="larger than 5 MB"):
        load_document(source)
    with pytest.raises(SpecError, match="larger than 5 MB"):
        load_document(source.encode())


def test_it_refuses_a_yaml_alias_bomb():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    with pytest.raises(SpecError, match="counting what its YAML aliases repeat"):
        load_document("\n".join(lines))


def test_it_refuses_a_merge_key_bomb():
    base = "base: &base {" + ", ".join(f"k{i}: {i}" for i in range(1000)) + "}"
    bomb = "bomb: {<<: [" + ", ".join(["*base"] * 500) + "]}"
    with pytest.raises(SpecError, match="merge keys"):
        load_document(f"{base}\n{bomb}\n")


def test_it_still_understands_ordinary_merge_keys():
    source = (
        "defaults: &defaults {type: string, maxLength: 20}\n"
        "name:\n  <<: *defaults\n  maxLength: 80\n"
    )
    assert load_document(source)["name"] == {"type": "string", "maxLength": 80}


def test_it_refuses_a_yaml_alias_that_contains_itself():
    with pytest.raises(SpecError, match="refers to itself"):
        load_document("loop: &loop [*loop]\n")


def test_it_refuses_duplicate_keys_instead_of_keeping_the_last():
    with pytest.raises(SpecError) as caught:
        load_document("paths:\n  /pets: {}\n  /pets: {}\n")
    assert "duplicate key '/pets'" in caught.value.message
    assert caught.value.location == "line 3, column 3"
    with pytest.raises(SpecError, match="duplicate key 'openapi'"):
        load_document('{"openapi": "3.0.3", "openapi": "3.1.0"}')


@pytest.mark.parametrize(
    "source",
    ["value: .nan\n", "value: -.inf\n", '{"value": NaN}', "blob: !!binary aGVsbG8=\n"],
)
def test_it_refuses_values_json_cannot_store(source):
    with pytest.raises(SpecError):
        load_document(source)


def test_it_refuses_tags_it_does_not_know():
    with pytest.raises(SpecError) as caught:
        load_document("openapi: 3.0.3\nservers: !Ref Servers\n")
    assert caught.value.location == "line 2, column 10"


def test_it_refuses_documents_nested_too_deeply():
    with pytest.raises(SpecError, match="nest"):
        load_document('{"a": ' * 100 + "1" + "}" * 100)
    with pytest.raises(SpecError, match="nest"):
        load_document("[" * 20_000 + "]" * 20_000)


def test_it_reads_utf8_bytes_with_a_byte_order_mark(petstore):
    source = "\ufeff" + json.dumps(petstore, ensure_ascii=False)
    assert load_document(source.encode("utf-8")) == petstore


def test_it_refuses_bytes_that_are_not_utf8():
    with pytest.raises(SpecError, match="UTF-8"):
        load_document("openapi: '3.0.3'\ntitle: café\n".encode("latin-1"))


# --- Validation ------------------------------------------------------------------------------


def test_it_detects_openapi_3_0_and_3_1(petstore):
    assert validate_document(petstore) == "3.0"
    assert validate_document(load("events.json")) == "3.1"


def test_it_reports_where_the_spec_is_invalid():
    with pytest.raises(SpecError) as caught:
        validate_document(load("missing-title.yaml"))
    assert caught.value.location == "info"
    assert caught.value.message == "info: 'title' is a required property"


def test_it_names_the_response_that_lacks_a_description():
    with pytest.raises(SpecError) as caught:
        validate_document(load("response-without-description.json"))
    assert caught.value.location == "paths./pets.get.responses.200"
    assert caught.value.message == (
        "paths./pets.get.responses.200: 'description' is a required property"
    )


def test_it_points_into_lists_when_reporting_a_problem():
    spec = minimal_spec(
        {"/pets": {"get": {"parameters": [{"name": "q"}], "responses": ok_response()}}}
    )
    with pytest.raises(SpecError) as caught:
        validate_document(spec)
    assert caught.value.location == "paths./pets.get.parameters[0]"
    assert "'in' is a required property" in caught.value.message


def test_it_refuses_swagger_2_with_a_way_to_convert_it():
    with pytest.raises(SpecError) as caught:
        validate_document(load("swagger2.json"))
    assert "Swagger 2.0 is not supported" in caught.value.message
    assert "swagger2openapi" in caught.value.message


@pytest.mark.parametrize(
    ("version", "message"),
    [("3.2.0", "not supported"), (3.0, "must be text"), (None, "no `openapi` field")],
)
def test_it_refuses_versions_it_cannot_validate(version, message):
    spec = minimal_spec({})
    spec["openapi"] = version
    if version is None:
        del spec["openapi"]
    with pytest.raises(SpecError, match=message):
        validate_document(spec)


def test_it_reports_a_ref_that_points_nowhere():
    schema = {"$ref": "#/components/schemas/Missing"}
    spec = minimal_spec({"/pets": {"get": {"responses": ok_response(schema)}}})
    with pytest.raises(SpecError) as caught:
        validate_document(spec)
    assert caught.value.location == "paths./pets.get.responses.200.content.application/json.schema"
    assert "'#/components/schemas/Missing' does not point to anything" in caught.value.message


def test_it_reports_a_path_parameter_that_is_never_declared():
    spec = minimal_spec({"/pets/{petId}": {"get": {"responses": ok_response()}}})
    with pytest.raises(SpecError, match="Path parameter 'petId'"):
        validate_document(spec)


def test_it_validates_recursive_schemas():
    assert validate_document(load("tree.yaml")) == "3.0"


def test_it_tolerates_extensions_among_the_paths():
    events = load("events.json")
    assert "x-generated-by" in events["paths"]
    assert validate_document(events) == "3.1"


def test_it_never_fetches_refs_from_the_network(recording_server):
    schema = {"$ref": f"{recording_server.url}/schemas/pet.json"}
    spec = minimal_spec({"/pets": {"get": {"responses": ok_response(schema)}}})
    spec["components"] = {"schemas": {"Local": {"$ref": "file:///etc/passwd"}}}
    assert validate_document(spec) == "3.0"
    [endpoint] = extract_endpoints(spec)
    content = endpoint.responses["200"]["content"]["application/json"]
    assert content["schema"] == schema
    assert recording_server.requests == []


def test_validation_does_not_keep_documents_in_memory(petstore):
    class Document(dict):
        pass  # a dict that can be weakly referenced

    document = Document(petstore)
    alive = weakref.ref(document)
    validate_document(document)
    del document
    gc.collect()
    assert alive() is None


def test_validation_bounds_documents_that_were_not_loaded_from_text():
    nested: dict = {}
    for _ in range(200):
        nested = {"nested": nested}
    spec = minimal_spec({}, **{"x-deep": nested})
    with pytest.raises(SpecError, match="nests deeper"):
        validate_document(spec)


# --- Endpoints -------------------------------------------------------------------------------


def test_it_extracts_one_endpoint_per_public_operation(petstore):
    # POST /admin/reindex is marked x-internal: it stays out, as in the consumer document
    assert [endpoint.key for endpoint in extract_endpoints(petstore)] == [
        ("GET", "/pets"),
        ("POST", "/pets"),
        ("GET", "/pets/{petId}"),
        ("DELETE", "/pets/{petId}"),
    ]
    create = endpoints_by_key(petstore)[("POST", "/pets")]
    assert (create.operation_id, create.summary, create.tags) == (
        "createPet",
        "Add a pet",
        ["pets"],
    )
    assert create.deprecated is False


def test_it_merges_path_and_operation_parameters_with_the_operation_winning(petstore):
    endpoints = endpoints_by_key(petstore)
    get_params = {p["name"]: p for p in endpoints[("GET", "/pets/{petId}")].parameters}
    assert set(get_params) == {"petId", "X-Request-Id"}
    assert get_params["petId"]["schema"] == {"type": "integer", "format": "int64"}
    assert get_params["petId"]["description"] == "Numeric id of the pet"
    assert get_params["X-Request-Id"]["in"] == "header"
    assert get_params["X-Request-Id"]["required"] is False

    delete_params = {p["name"]: p for p in endpoints[("DELETE", "/pets/{petId}")].parameters}
    assert delete_params["petId"]["schema"] == {"type": "string"}
    assert delete_params["petId"]["required"] is True


def test_it_inlines_refs_in_parameters_bodies_and_responses(petstore):
    endpoints = endpoints_by_key(petstore)
    listing = endpoints[("GET", "/pets")]
    assert listing.parameters[0]["name"] == "limit"
    assert listing.parameters[0]["schema"]["default"] == 20

    body_schema = endpoints[("POST", "/pets")].request_body["content"]["application/json"]["schema"]
    assert body_schema["properties"]["category"]["properties"]["name"] == {"type": "string"}
    assert body_schema["properties"]["tags"]["items"]["type"] == "object"

    pet = listing.responses["200"]["content"]["application/json"]["schema"]["items"]
    assert pet["allOf"][0]["required"] == ["name"]
    assert listing.responses["default"]["description"] == "Unexpected error"
    assert "$ref" not in json.dumps(listing.to_dict())


def test_it_keeps_examples_on_parameters_and_media_types(petstore):
    endpoints = endpoints_by_key(petstore)
    listing = endpoints[("GET", "/pets")]
    assert listing.parameters[0]["example"] == 20
    assert listing.parameters[1]["example"] == "available"
    media = listing.responses["200"]["content"]["application/json"]
    assert media["example"][0]["name"] == "Rex"

    body = endpoints[("POST", "/pets")].request_body
    assert body["required"] is True and body["description"] == "The pet to add"
    examples = body["content"]["application/json"]["examples"]
    assert examples["dog"]["value"]["name"] == "Rex"
    assert examples["cat"] == {"summary": "A cat", "value": {"name": "Tom"}}

    not_found = endpoints[("GET", "/pets/{petId}")].responses["404"]
    assert not_found["content"]["application/json"]["example"]["code"] == 404


def test_it_keeps_response_headers(petstore):
    listing = endpoints_by_key(petstore)[("GET", "/pets")]
    assert listing.responses["200"]["headers"]["X-Next-Page"]["schema"] == {"type": "string"}


def test_it_ignores_webhooks_and_extensions():
    endpoints = extract_endpoints(load("events.json"))
    assert [endpoint.key for endpoint in endpoints] == [
        ("GET", "/events"),
        ("GET", "/events/{eventId}"),
    ]


def test_it_keeps_3_1_type_lists_and_ref_siblings():
    endpoints = endpoints_by_key(load("events.json"))
    listing = endpoints[("GET", "/events")]
    cursor = listing.parameters[0]
    assert cursor["schema"] == {"type": ["string", "null"]}
    assert cursor["examples"]["first"]["value"] is None
    item = listing.responses["200"]["content"]["application/json"]["schema"]["items"]
    assert item["description"] == "One event"
    assert item["properties"]["note"] == {"type": ["string", "null"]}
    # A path item's summary and description stand in for an operation's missing ones.
    assert (listing.summary, listing.description) == ("The event feed", "Newest first.")
    assert endpoints[("GET", "/events/{eventId}")].deprecated is True


def test_it_marks_recursive_refs_instead_of_following_them():
    endpoints = endpoints_by_key(load("tree.yaml"))
    tree = endpoints[("GET", "/trees/{treeId}")]
    node = tree.responses["200"]["content"]["application/json"]["schema"]
    recursive = {"$ref": "#/components/schemas/TreeNode", "x-recursive": True}
    assert node["properties"]["parent"] == recursive
    assert node["properties"]["children"]["items"] == recursive

    hire = endpoints[("POST", "/employees")]
    employee = hire.request_body["content"]["application/json"]["schema"]
    manager = employee["properties"]["manager"]
    assert manager["properties"]["reports"]["items"] == {
        "$ref": "#/components/schemas/Employee",
        "x-recursive": True,
    }


def test_it_leaves_refs_to_other_files_as_they_are():
    schema = {"$ref": "schemas/pet.yaml#/Pet"}
    spec = minimal_spec(
        {
            "/pets": {
                "get": {
                    "parameters": [{"$ref": "parameters.yaml#/Limit"}],
                    "responses": {
                        "200": {"$ref": "responses.yaml#/Pets"},
                        "201": ok_response(schema)["200"],
                    },
                }
            }
        }
    )
    [endpoint] = extract_endpoints(spec)
    assert endpoint.parameters == [{"$ref": "parameters.yaml#/Limit"}]
    assert endpoint.responses["200"] == {"$ref": "responses.yaml#/Pets"}
    assert endpoint.responses["201"]["content"]["application/json"]["schema"] == schema


def test_it_bounds_schemas_that_fan_out_exponentially():
    # Each level refers to the next one ten times: fully inlined, level 0 would hold 10^7 copies.
    schemas = {
        f"L{level}": {
            "type": "object",
            "properties": {
                f"p{i}": {"$ref": f"#/components/schemas/L{level + 1}"} for i in range(10)
            },
        }
        for level in range(7)
    }
    schemas["L7"] = {"type": "string"}
    spec = minimal_spec(
        {"/fan": {"get": {"responses": ok_response({"$ref": "#/components/schemas/L0"})}}},
        components={"schemas": schemas},
    )
    [endpoint] = extract_endpoints(spec)
    stored = json.dumps(endpoint.to_dict())
    assert '"x-truncated": true' in stored
    assert len(stored) < 5_000_000


def test_it_extracts_thousands_of_operations_in_bounded_memory():
    spec = generated_spec(operations=3_000)
    tracemalloc.start()
    try:
        endpoints = extract_endpoints(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(endpoints) == 3_000
    assert peak < 200 * 1024 * 1024
    first = endpoints[0].responses["200"]["content"]["application/json"]["schema"]
    assert first["properties"]["children"]["items"]["x-recursive"] is True


def generated_spec(*, operations: int) -> dict:
    """A large spec in the shape generators produce: every operation refers to shared
    (and recursive) schemas, shared parameters and a shared error response."""
    paths = {}
    for index in range(operations // 4):
        item = {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ]
        }
        for method in ("get", "put", "patch", "delete"):
            item[method] = {
                "operationId": f"{method}Thing{index}",
                "summary": f"{method} thing {index}",
                "tags": [f"group{index % 20}"],
                "parameters": [{"$ref": "#/components/parameters/Limit"}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    },
                    "default": {"$ref": "#/components/responses/Error"},
                },
            }
        paths[f"/things{index}/{{id}}"] = item
    return minimal_spec(paths, components=generated_components())


def generated_components() -> dict:
    thing = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string", "maxLength": 80},
            "owner": {"$ref": "#/components/schemas/Owner"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
        },
    }
    owner = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "email": {"type": "string"}},
    }
    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    return {
        "schemas": {
            "Thing": thing,
            "Owner": owner,
            "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
        },
        "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}},
        "responses": {"Error": error},
    }


def test_a_generated_spec_with_thousands_of_operations_is_valid():
    assert validate_document(generated_spec(operations=400)) == "3.0"


def test_it_refuses_two_paths_that_are_the_same_route():
    spec = minimal_spec(
        {
            "/users/{id}": {"get": {"responses": ok_response()}},
            "/users/{userId}": {"get": {"responses": ok_response()}},
        }
    )
    with pytest.raises(SpecError, match="are the same route") as caught:
        extract_endpoints(spec)
    assert caught.value.location == "paths./users/{userId}.get"


def test_it_refuses_a_path_that_does_not_start_with_a_slash():
    with pytest.raises(SpecError, match="must start with '/'"):
        extract_endpoints(minimal_spec({"pets": {"get": {"responses": ok_response()}}}))


def test_it_truncates_absurdly_long_text():
    operation = {
        "summary": "s" * 10_000,
        "description": "d" * 100_000,
        "parameters": [{"name": "q", "in": "query", "description": "p" * 100_000}],
        "responses": ok_response(),
    }
    [endpoint] = extract_endpoints(minimal_spec({"/long": {"get": operation}}))
    assert len(endpoint.summary) == SUMMARY_LIMIT and endpoint.summary.endswith("…")
    assert len(endpoint.description) == DESCRIPTION_LIMIT
    assert len(endpoint.parameters[0]["description"]) == DESCRIPTION_LIMIT


def test_it_keeps_markup_in_text_exactly_as_written():
    document = load("xss.yaml")
    assert validate_document(document) == "3.0"
    [endpoint] = extract_endpoints(document)
    assert endpoint.summary == "<script>alert(document.cookie)</script>"
    assert '<iframe src="https://evil.example.com"></iframe>' in endpoint.description
    assert '"><svg onload=alert(3)>' in endpoint.description
    assert endpoint.tags == ["<b>bold</b>"]
    assert endpoint.parameters[0]["description"] == '<a href="javascript:alert(4)">query</a>'
    assert endpoint.parameters[0]["example"] == "'; DROP TABLE apis; --"
    assert endpoint.responses["200"]["description"] == "<style>body{display:none}</style>"
    consumer = consumer_document(document, gateway_base_url=GATEWAY, api_name="<i>x</i>")
    assert consumer["info"]["title"] == "<script>alert('title')</script>"


def test_endpoints_survive_a_round_trip_through_json(petstore):
    endpoints = extract_endpoints(petstore)
    stored = json.loads(json.dumps([endpoint.to_dict() for endpoint in endpoints]))
    assert [EndpointSpec.from_dict(data) for data in stored] == endpoints


def test_an_endpoint_upper_cases_its_method_and_needs_an_absolute_path():
    assert EndpointSpec.from_dict({"method": "get", "path": "/pets"}).method == "GET"
    with pytest.raises(ValueError, match="start with '/'"):
        EndpointSpec(method="GET", path="pets")
    with pytest.raises(ValueError, match="Unknown HTTP method"):
        EndpointSpec(method="FETCH", path="/pets")


# --- Diff ------------------------------------------------------------------------------------


def test_diff_reports_added_removed_changed_and_unchanged(petstore):
    existing = extract_endpoints(petstore)
    changed = copy.deepcopy(petstore)
    del changed["paths"]["/pets/{petId}"]["delete"]
    changed["paths"]["/pets"]["get"]["summary"] = "List all pets"
    changed["paths"]["/owners"] = {"get": {"operationId": "listOwners", "responses": ok_response()}}

    diff = diff_endpoints(existing, extract_endpoints(changed))

    assert [endpoint.key for endpoint in diff.added] == [("GET", "/owners")]
    assert [endpoint.key for endpoint in diff.removed] == [("DELETE", "/pets/{petId}")]
    assert [change.key for change in diff.changed] == [("GET", "/pets")]
    assert diff.unchanged == 2
    assert diff.has_changes


def test_diff_names_the_fields_that_changed(petstore):
    existing = extract_endpoints(petstore)
    changed = copy.deepcopy(petstore)
    operation = changed["paths"]["/pets/{petId}"]["get"]
    operation["deprecated"] = True
    operation["tags"] = ["pets", "legacy"]
    changed["components"]["schemas"]["Error"]["properties"]["detail"] = {"type": "string"}

    diff = diff_endpoints(existing, extract_endpoints(changed))

    fields = {change.key: change.fields for change in diff.changed}
    assert fields[("GET", "/pets/{petId}")] == ["tags", "responses", "deprecated"]
    # A shared schema changed: every endpoint whose responses use it changed too.
    assert fields[("GET", "/pets")] == ["responses"]
    change = next(change for change in diff.changed if change.key == ("GET", "/pets/{petId}"))
    assert change.old.deprecated is False and change.new.deprecated is True


def test_diff_of_a_reimport_of_the_same_spec_is_empty(petstore):
    stored = [
        EndpointSpec.from_dict(json.loads(json.dumps(e.to_dict())))
        for e in extract_endpoints(petstore)
    ]
    diff = diff_endpoints(stored, extract_endpoints(load_document(json.dumps(petstore))))
    assert not diff.has_changes
    assert diff.unchanged == 4


def test_diff_refuses_a_list_with_the_same_endpoint_twice():
    endpoint = EndpointSpec(method="GET", path="/pets")
    with pytest.raises(ValueError, match="listed twice"):
        diff_endpoints([endpoint, endpoint], [])


# --- Consumer document -----------------------------------------------------------------------


def test_consumer_document_sends_every_call_through_the_gateway(petstore):
    consumer = consumer_document(petstore, gateway_base_url=GATEWAY, api_name="Petstore")
    assert consumer["servers"] == [{"url": GATEWAY}]
    pet_item = consumer["paths"]["/pets/{petId}"]
    assert "servers" not in pet_item
    assert "servers" not in pet_item["delete"]
    assert "internal.example.com" not in json.dumps(consumer)


def test_consumer_document_asks_for_an_api_key_and_nothing_else(petstore):
    consumer = consumer_document(petstore, gateway_base_url=GATEWAY, api_name="Petstore")
    schemes = consumer["components"]["securitySchemes"]
    assert list(schemes) == ["ApiKeyAuth"]
    assert {key: schemes["ApiKeyAuth"][key] for key in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }
    assert consumer["security"] == [{"ApiKeyAuth": []}]
    assert "security" not in consumer["paths"]["/pets"]["post"]


def test_consumer_document_removes_what_is_marked_internal(petstore):
    consumer = consumer_document(petstore, gateway_base_url=GATEWAY, api_name="Petstore")
    assert "post" not in consumer["paths"]["/admin/reindex"]
    assert [tag["name"] for tag in consumer["tags"]] == ["pets"]
    assert "x-internal" not in json.dumps(consumer)
    assert set(consumer["paths"]["/pets"]) == {"get", "post"}


def test_consumer_document_is_still_valid_openapi(petstore):
    consumer = consumer_document(petstore, gateway_base_url=GATEWAY, api_name="Petstore")
    assert validate_document(consumer) == "3.0"


def test_consumer_document_leaves_the_original_untouched(petstore):
    original = copy.deepcopy(petstore)
    consumer_document(petstore, gateway_base_url=GATEWAY, api_name="Petstore")
    assert petstore == original


def test_consumer_document_works_for_3_1():
    events = load("events.json")
    consumer = consumer_document(events, gateway_base_url=GATEWAY, api_name="Events")
    assert validate_document(consumer) == "3.1"
    assert consumer["servers"] == [{"url": GATEWAY}]
    assert consumer["components"]["schemas"] == events["components"]["schemas"]
    assert "eventCreated" in consumer["webhooks"]


def test_consumer_document_adds_components_when_there_are_none():
    spec = minimal_spec({"/ping": {"get": {"responses": ok_response()}}})
    consumer = consumer_document(spec, gateway_base_url=GATEWAY, api_name="Ping")
    assert list(consumer["components"]["securitySchemes"]) == ["ApiKeyAuth"]
    assert "components" not in spec
