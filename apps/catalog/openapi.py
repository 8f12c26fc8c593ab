"""OpenAPI import for the catalog: parse a provider's document, validate it, extract its
endpoints, diff two imports, and rewrite the document for consumers.

Pure functions over plain dicts: no models, no network, no files. Everything a provider uploads
is hostile until proven otherwise, so every step is bounded in size, depth and time, and nothing
here ever follows a URL found in the document.
"""

import copy
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import yaml
from jsonschema.exceptions import best_match
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from referencing.exceptions import Unresolvable

from apps.core.errors import ServiceError

MAX_SOURCE_BYTES = 5 * 1024 * 1024
# Values (mappings, lists, scalars) once YAML aliases are expanded: a 5 MB source can alias its
# way to billions ("billion laughs"), and everything downstream expands them. A realistic 4 MB
# spec holds about 250,000; validation costs roughly 1 s of CPU per 15,000 structured values.
MAX_DOCUMENT_VALUES = 500_000
# Real specs nest 20-30 levels; the cap keeps every recursive walk far from Python's limit.
MAX_DEPTH = 64
# Pairs copied by YAML merge keys ("<<: *base"): they are copied while loading, before any
# check on the loaded document could run.
MAX_MERGED_PAIRS = 100_000

# Bounds on inlining $refs into endpoints: how deep a ref may sit, and how many values one
# endpoint and one extraction may copy. Past them refs stay as {"$ref", "x-truncated": true}.
MAX_INLINE_DEPTH = 32
ENDPOINT_VALUE_BUDGET = 25_000
EXTRACTION_VALUE_BUDGET = 1_000_000

SUMMARY_LIMIT = 300
DESCRIPTION_LIMIT = 20_000
NAME_LIMIT = 300

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
API_KEY_SCHEME = "ApiKeyAuth"
API_KEY_HEADER = "X-Api-Key"
SWAGGER_2_MESSAGE = (
    "Swagger 2.0 is not supported; convert it with swagger2openapi or editor.swagger.io first."
)

_MISSING = object()


class SpecError(ServiceError):
    """A provider's document cannot be imported; `location` says where in it."""

    default_code = "invalid_spec"

    def __init__(self, message: str, *, location: str = "document"):
        super().__init__(message, code="invalid_spec", field="spec")
        self.location = location


# --- Loading ---------------------------------------------------------------------------------


# libyaml's parser when PyYAML was built with it: several times faster on large documents.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_SafeLoader):
    """yaml.SafeLoader made to produce JSON-shaped data.

    Mapping keys stay the text written (`200:` is "200", `on:` is "on"), timestamps stay
    strings, duplicate keys are refused instead of silently keeping the last one, and merge
    keys are bounded.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self.merged_pairs = 0
        self.checked_nodes: set[int] = set()

    def flatten_mapping(self, node):
        if id(node) not in self.checked_nodes:
            # Before merging: a merged key may legitimately repeat one of the mapping's own.
            self.checked_nodes.add(id(node))
            _refuse_duplicate_keys(node)
        for source in _merge_sources(node):
            self.flatten_mapping(source)
            self.merged_pairs += len(source.value)
        if self.merged_pairs > MAX_MERGED_PAIRS:
            raise _construct_error("too many keys copied by merge keys (<<)", node)
        super().flatten_mapping(node)

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise _construct_error(f"expected a mapping, found {node.id}", node)
        self.flatten_mapping(node)
        mapping = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _construct_error("mapping keys must be plain text", key_node)
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping


_SpecLoader.yaml_implicit_resolvers = {
    first_char: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
    for first_char, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    # Not JSON: refused with the line they are on rather than stored as Python objects.
    _SpecLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _SpecLoader.construct_undefined)


def _construct_error(problem: str, node) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _merge_sources(node) -> list:
    sources = []
    for key_node, value_node in node.value:
        if key_node.tag != "tag:yaml.org,2002:merge":
            continue
        if isinstance(value_node, yaml.SequenceNode):
            sources += [item for item in value_node.value if isinstance(item, yaml.MappingNode)]
        elif isinstance(value_node, yaml.MappingNode):
            sources.append(value_node)
    return sources


def _refuse_duplicate_keys(node) -> None:
    seen = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
            continue
        if key_node.value in seen:
            raise _construct_error(f"duplicate key {key_node.value!r}", key_node)
        seen.add(key_node.value)


def load_document(source: str | bytes) -> dict:
    """Parse an uploaded or pasted OpenAPI document (JSON or YAML) into a dict.

    Refuses documents over MAX_SOURCE_BYTES, alias bombs, and anything that is not a mapping
    at the top. Parse errors carry the line and column.
    """
    text = _decode(source)
    stripped = text.lstrip()
    document = _parse_json(text) if stripped[:1] in ("{", "[") else _parse_yaml(text)
    if not isinstance(document, dict):
        raise SpecError(
            "The document must be a mapping with an `openapi` field at the top, "
            f"not {_describe_type(document)}.",
            location="line 1, column 1",
        )
    _measure(document)
    return document


def _decode(source: str | bytes) -> str:
    size = len(source) if isinstance(source, bytes) else len(source.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        limit_mb = MAX_SOURCE_BYTES // (1024 * 1024)
        raise SpecError(f"The document is larger than {limit_mb} MB.")
    if isinstance(source, str):
        return source.removeprefix("\ufeff")
    try:
        return source.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError(
            "The document must be UTF-8 text.", location=f"byte {error.start}"
        ) from None


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as error:
        location = f"line {error.lineno}, column {error.colno}"
        raise SpecError(f"Invalid JSON at {location}: {error.msg}.", location=location) from None
    except ValueError as error:  # duplicate keys, numbers too long to convert
        raise SpecError(f"Invalid JSON: {error}") from None
    except RecursionError:
        raise SpecError("The document nests too deeply.") from None


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        keys = [key for key, _ in pairs]
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {duplicate!r}")
    return mapping


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        raise _yaml_error(error) from None
    except (yaml.YAMLError, ValueError) as error:
        raise SpecError(f"Invalid YAML: {error}") from None
    except RecursionError:
        raise SpecError("The document nests too deeply.") from None


def _yaml_error(error: yaml.MarkedYAMLError) -> SpecError:
    mark = error.problem_mark or error.context_mark
    location = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
    problem = error.problem or error.context or "cannot be parsed"
    return SpecError(f"Invalid YAML at {location}: {problem}.", location=location)


def _describe_type(value: Any) -> str:
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    return f"a single {type(value).__name__} value"


def _measure(document: dict) -> None:
    """Refuse documents too big or too deep once aliases are expanded, and alias cycles.

    Aliased YAML nodes load as one shared object, so sizes are memoised by identity: the walk
    costs the size of the file, while it counts the size everything downstream will see.
    """
    sizes: dict[int, tuple[int, int] | None] = {}
    values, depth = _measure_node(document, sizes, 0)
    if depth > MAX_DEPTH:
        raise SpecError(f"The document nests deeper than {MAX_DEPTH} levels.")
    if values > MAX_DOCUMENT_VALUES:
        raise SpecError(
            f"The document holds more than {MAX_DOCUMENT_VALUES:,} values "
            "(counting what its YAML aliases repeat)."
        )


def _measure_node(node: Any, sizes: dict, level: int) -> tuple[int, int]:
    """(values, depth) of `node`; stops early once either is clearly over its limit."""
    if isinstance(node, float) and not math.isfinite(node):
        raise SpecError("NaN and infinity cannot be stored as JSON.")
    if not isinstance(node, dict | list):
        return 1, 0
    if id(node) in sizes:
        if sizes[id(node)] is None:
            raise SpecError("The document refers to itself through a YAML alias.")
        return sizes[id(node)]
    if level > MAX_DEPTH:
        return 1, MAX_DEPTH + 1
    sizes[id(node)] = None
    values, depth = 1, 0
    if isinstance(node, dict) and not all(isinstance(key, str) for key in node):
        raise SpecError("Mapping keys must be text.")
    for child in node.values() if isinstance(node, dict) else node:
        child_values, child_depth = _measure_node(child, sizes, level + 1)
        values, depth = values + child_values, max(depth, child_depth + 1)
        if values > MAX_DOCUMENT_VALUES or depth > MAX_DEPTH:
            break
    sizes[id(node)] = (values, depth)
    return values, depth


# --- Validation ------------------------------------------------------------------------------


def _refuse_fetch(uri: str) -> Any:
    raise LookupError(f"{uri} is outside the document")


class _NoFetchHandlers(dict):
    """Every URI scheme maps to a handler that refuses. The validator's default handlers fetch
    http(s) and file: refs, which would let an uploaded spec make the server read internal URLs
    or local files; schemes it has no handler for fall back to urlopen, hence "every"."""

    def __contains__(self, scheme: object) -> bool:
        return True

    def __getitem__(self, scheme: str):
        return _refuse_fetch


class _OfflineV30Validator(OpenAPIV30SpecValidator):
    resolver_handlers = _NoFetchHandlers()


class _OfflineV31Validator(OpenAPIV31SpecValidator):
    resolver_handlers = _NoFetchHandlers()


_VALIDATORS = {"3.0": _OfflineV30Validator, "3.1": _OfflineV31Validator}
_VERSION_PATTERN = re.compile(r"^3\.([01])\.\d+(-.+)?$")


def validate_document(document: dict) -> str:
    """Check `document` against the OpenAPI 3.0 or 3.1 schema; return "3.0" or "3.1".

    Raises SpecError naming the first problem's place, e.g.
    "paths./pets.get.responses.200: 'description' is a required property".
    """
    _measure(document)  # documents that did not come through load_document get the same bounds
    version = _detect_version(document)
    problem = _first_problem(document, version)
    if problem is not None:
        location, message = problem
        text = f"{location}: {message}" if location != "document" else message
        raise SpecError(text, location=location)
    return version


def _detect_version(document: dict) -> str:
    if "swagger" in document:
        raise SpecError(SWAGGER_2_MESSAGE, location="swagger")
    declared = document.get("openapi")
    if declared is None:
        raise SpecError("The document has no `openapi` field; is it an OpenAPI document?")
    if not isinstance(declared, str):
        raise SpecError(
            f'`openapi` must be text like "3.0.3" (in YAML, quote it), not {declared!r}.',
            location="openapi",
        )
    match = _VERSION_PATTERN.match(declared)
    if match is None:
        raise SpecError(
            f"OpenAPI {_text(declared, 40)} is not supported; use 3.0.x or 3.1.x.",
            location="openapi",
        )
    return f"3.{match.group(1)}"


def _first_problem(document: dict, version: str) -> tuple[str, str] | None:
    # The validator's own iter_errors() caches every validator it ever ran (an lru_cache on
    # the method, so each uploaded document would stay in memory) and rewraps errors in a way
    # that breaks best_match; its two passes are run directly instead.
    validator = _VALIDATORS[version](document)
    error = next(validator.schema_validator.iter_errors(document), None)
    if error is not None:
        error = _most_specific(error)
        return _format_path(error.absolute_path), error.message
    if _has_external_refs(document):
        # The semantic pass follows $refs, and those would need the other files.
        return None
    return _first_semantic_problem(document, version)


def _first_semantic_problem(document: dict, version: str) -> tuple[str, str] | None:
    """Checks the schema cannot express: path parameters declared, operationIds unique,
    defaults matching their schema, $refs resolving."""
    # openapi-spec-validator 0.7.2 treats every key under `paths` as a path, x- extensions too.
    paths = document.get("paths") or {}
    view = {**document, "paths": {key: item for key, item in paths.items() if key[:2] != "x-"}}
    validator = _VALIDATORS[version](view)
    try:
        error = next(validator.root_validator(validator.schema_path), None)
    except Unresolvable as error:
        location, ref = _find_ref(document, str(error.ref))
        return location, f"$ref {ref!r} does not point to anything"
    except RecursionError:
        return "document", "A schema refers to itself in a way that cannot be checked."
    except (AttributeError, KeyError, TypeError):
        # The schema pass accepted the document; this is the library tripping on a shape it
        # does not expect, not something the provider can act on.
        return None
    return None if error is None else (_format_path(error.absolute_path), error.message)


def _most_specific(error):
    """oneOf/anyOf errors ("is not valid under any of the given schemas") hide the useful
    message among their causes; the branch that only asks for a $ref is never the one meant."""
    while error.context:
        causes = [cause for cause in error.context if not _only_wants_ref(cause)]
        if not causes:
            break
        error = best_match(causes)
    return error


def _only_wants_ref(error) -> bool:
    return error.validator == "required" and list(error.validator_value) == ["$ref"]


def _format_path(parts) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "document"


def _iter_refs(node: Any, path: tuple = ()):
    """Yield (path, ref) for every $ref, depth first in document order."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield path, ref
        for key, child in node.items():
            yield from _iter_refs(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _iter_refs(child, (*path, index))


def _has_external_refs(document: dict) -> bool:
    return any(not ref.startswith("#") for _, ref in _iter_refs(document))


def _find_ref(document: dict, ref: str) -> tuple[str, str]:
    """Where the unresolvable `ref` is written, and how: the resolver reports only the
    fragment of local refs ("/components/schemas/Pet")."""
    for path, written in _iter_refs(document):
        if written in (ref, f"#{ref}"):
            return _format_path(path), written
    return "document", ref


# --- Endpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointSpec:
    """One operation of an imported API, with its local $refs inlined. JSON-safe via to_dict()."""

    method: str
    path: str
    operation_id: str = ""
    summary: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    parameters: list[dict] = field(default_factory=list)
    request_body: dict | None = None
    responses: dict = field(default_factory=dict)
    deprecated: bool = False

    def __post_init__(self):
        method = self.method.upper()
        if method.lower() not in HTTP_METHODS:
            raise ValueError(f"Unknown HTTP method {self.method!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"Path {self.path!r} must start with '/'")
        object.__setattr__(self, "method", method)

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EndpointSpec":
        known = {spec_field.name for spec_field in dataclasses.fields(cls)}
        return cls(**{key: copy.deepcopy(data[key]) for key in known if key in data})


def extract_endpoints(document: dict) -> list[EndpointSpec]:
    """One EndpointSpec per (method, path) under `paths`, in document order.

    Path-level parameters are merged into each operation's (the operation wins on the same
    name and location). Local $refs are inlined within the bounds above; refs to other files
    are kept as they are. `webhooks` and `x-` extensions are not endpoints and are skipped.
    """
    paths = document.get("paths") or {}
    if not isinstance(paths, dict):
        raise SpecError("`paths` must be a mapping.", location="paths")
    inliner = _RefInliner(document)
    endpoints: list[EndpointSpec] = []
    routes: dict[tuple[str, str], str] = {}
    for path, path_item in paths.items():
        if path.startswith("x-"):
            continue
        if not path.startswith("/"):
            raise SpecError(f"Path {path!r} must start with '/'.", location=f"paths.{path}")
        path_item = inliner.target(path_item)
        for method, operation in _operations(path_item):
            _claim_route(routes, method, path)
            endpoints.append(_endpoint(method, path, path_item, operation, inliner))
    return endpoints


def _operations(path_item: Any) -> list[tuple[str, dict]]:
    if not isinstance(path_item, dict):
        return []
    return [
        (method, path_item[method])
        for method in HTTP_METHODS
        # operations marked internal stay out of the public reference, as they do out of
        # consumer_document, so the endpoint list and the downloadable spec agree
        if isinstance(path_item.get(method), dict)
        and path_item[method].get("x-internal") is not True
    ]


def _claim_route(routes: dict, method: str, path: str) -> None:
    """/users/{id} and /users/{userId} are one route to the gateway: refuse the second."""
    route = (method, re.sub(r"\{[^}]*\}", "{}", path))
    if route in routes:
        raise SpecError(
            f"{method.upper()} {path} and {method.upper()} {routes[route]} are the same route.",
            location=f"paths.{path}.{method}",
        )
    routes[route] = path


def _endpoint(method: str, path: str, path_item: dict, operation: dict, inliner) -> EndpointSpec:
    inliner.start_endpoint()
    tags = operation.get("tags")
    return EndpointSpec(
        method=method,
        path=path,
        operation_id=_text(operation.get("operationId"), NAME_LIMIT),
        summary=_text(operation.get("summary") or path_item.get("summary"), SUMMARY_LIMIT),
        description=_text(
            operation.get("description") or path_item.get("description"), DESCRIPTION_LIMIT
        ),
        tags=[_text(tag, NAME_LIMIT) for tag in tags] if isinstance(tags, list) else [],
        parameters=_parameters(path_item, operation, inliner),
        request_body=_request_body(operation.get("requestBody"), inliner),
        responses=_responses(operation.get("responses"), inliner),
        deprecated=operation.get("deprecated") is True,
    )


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PARAMETER_EXTRAS = (
    "deprecated",
    "style",
    "explode",
    "allowEmptyValue",
    "allowReserved",
    "content",
    "example",
    "examples",
)
_MEDIA_TYPE_FIELDS = ("schema", "example", "examples", "encoding")


def _parameters(path_item: dict, operation: dict, inliner) -> list[dict]:
    merged: dict[tuple, dict] = {}
    for raw in [*_as_list(path_item.get("parameters")), *_as_list(operation.get("parameters"))]:
        parameter = inliner.expand(raw)
        if not isinstance(parameter, dict):
            continue
        if "name" not in parameter:  # a ref left as it is: keep it, keyed by where it points
            merged[("$ref", str(parameter.get("$ref")))] = parameter
            continue
        normalised = _parameter(parameter)
        merged[(normalised["name"], normalised["in"])] = normalised
    return list(merged.values())


def _parameter(parameter: dict) -> dict:
    location = _text(parameter.get("in"), NAME_LIMIT)
    normalised = {
        "name": _text(parameter["name"], NAME_LIMIT),
        "in": location,
        "required": location == "path" or parameter.get("required") is True,
        "description": _text(parameter.get("description"), DESCRIPTION_LIMIT),
        "schema": parameter.get("schema"),
    }
    normalised.update({key: parameter[key] for key in _PARAMETER_EXTRAS if key in parameter})
    return normalised


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _request_body(raw: Any, inliner) -> dict | None:
    if raw is None:
        return None
    body = inliner.expand(raw)
    if not isinstance(body, dict):
        return None
    if "$ref" in body:  # a ref left as it is
        return body
    return {
        "description": _text(body.get("description"), DESCRIPTION_LIMIT),
        "required": body.get("required") is True,
        "content": _content(body.get("content")),
    }


def _responses(raw: Any, inliner) -> dict:
    if not isinstance(raw, dict):
        return {}
    responses = {}
    for status, response in raw.items():
        if str(status).startswith("x-"):
            continue
        responses[str(status)] = _response(inliner.expand(response))
    return responses


def _response(response: Any) -> Any:
    if not isinstance(response, dict) or "$ref" in response:
        return response
    normalised = {
        "description": _text(response.get("description"), DESCRIPTION_LIMIT),
        "content": _content(response.get("content")),
    }
    if isinstance(response.get("headers"), dict):
        normalised["headers"] = response["headers"]
    return normalised


def _content(content: Any) -> dict:
    if not isinstance(content, dict):
        return {}
    return {
        media_type: {key: media[key] for key in _MEDIA_TYPE_FIELDS if key in media}
        for media_type, media in content.items()
        if isinstance(media, dict)
    }


class _RefInliner:
    """Copies parts of the document with their local $refs ("#/...") inlined.

    A ref already being expanded further up is left as {"$ref", "x-recursive": true}. A ref
    deeper than MAX_INLINE_DEPTH, or met once the endpoint or the whole extraction has used up
    its budget of copied values, is left as {"$ref", "x-truncated": true}: a recursive or
    fan-out schema repeated over thousands of operations stays bounded in time and memory.
    Refs to other files, and local refs that point nowhere, are kept as they are.
    """

    def __init__(self, document: dict):
        self.document = document
        self.extraction_budget = EXTRACTION_VALUE_BUDGET
        self.endpoint_budget = ENDPOINT_VALUE_BUDGET

    def start_endpoint(self) -> None:
        self.endpoint_budget = ENDPOINT_VALUE_BUDGET

    def target(self, node: Any) -> Any:
        """The node a local {"$ref"} points to (uncopied), or the node itself."""
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#"):
            return node
        found = _lookup(self.document, ref)
        return node if found is _MISSING else found

    def expand(self, node: Any, active_refs: tuple[str, ...] = (), depth: int = 0) -> Any:
        self.endpoint_budget -= 1
        self.extraction_budget -= 1
        if isinstance(node, list):
            return [self.expand(item, active_refs, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            return self._inline(node, ref, active_refs, depth)
        return {key: self.expand(value, active_refs, depth + 1) for key, value in node.items()}

    def _inline(self, node: dict, ref: str, active_refs: tuple[str, ...], depth: int) -> Any:
        if ref in active_refs:
            return {"$ref": ref, "x-recursive": True}
        if depth > MAX_INLINE_DEPTH or min(self.endpoint_budget, self.extraction_budget) <= 0:
            return {"$ref": ref, "x-truncated": True}
        target = _lookup(self.document, ref)
        if target is _MISSING:
            return copy.deepcopy(node)
        inlined = self.expand(target, (*active_refs, ref), depth)
        # OpenAPI 3.1 lets a reference carry its own summary/description next to $ref.
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        if siblings and isinstance(inlined, dict):
            return {**inlined, **self.expand(siblings, active_refs, depth)}
        return inlined


def _lookup(document: dict, ref: str) -> Any:
    """Follow a local JSON pointer ("#/components/schemas/Pet"); _MISSING if it leads nowhere."""
    if ref == "#":
        return document
    if not ref.startswith("#/"):
        return _MISSING
    node: Any = document
    for raw_part in unquote(ref[2:]).split("/"):
        part = raw_part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


# --- Diff ------------------------------------------------------------------------------------

_COMPARED_FIELDS = tuple(
    spec_field.name
    for spec_field in dataclasses.fields(EndpointSpec)
    if spec_field.name not in ("method", "path")
)


@dataclass(frozen=True)
class EndpointChange:
    old: EndpointSpec
    new: EndpointSpec
    fields: list[str]  # names of the EndpointSpec fields that differ

    @property
    def key(self) -> tuple[str, str]:
        return self.new.key


@dataclass(frozen=True)
class SpecDiff:
    added: list[EndpointSpec]
    removed: list[EndpointSpec]
    changed: list[EndpointChange]
    unchanged: int

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff_endpoints(existing: list[EndpointSpec], incoming: list[EndpointSpec]) -> SpecDiff:
    """What re-importing a spec would do to an API's endpoints, keyed by (METHOD, path)."""
    before = _by_key(existing)
    after = _by_key(incoming)
    changed = []
    for key, endpoint in after.items():
        if key in before:
            differing = _differing_fields(before[key], endpoint)
            if differing:
                changed.append(EndpointChange(before[key], endpoint, differing))
    return SpecDiff(
        added=[endpoint for key, endpoint in after.items() if key not in before],
        removed=[endpoint for key, endpoint in before.items() if key not in after],
        changed=changed,
        unchanged=sum(1 for key in after if key in before) - len(changed),
    )


def _by_key(endpoints: list[EndpointSpec]) -> dict[tuple[str, str], EndpointSpec]:
    keyed = {}
    for endpoint in endpoints:
        if endpoint.key in keyed:
            raise ValueError(f"Endpoint {endpoint.method} {endpoint.path} is listed twice")
        keyed[endpoint.key] = endpoint
    return keyed


def _differing_fields(before: EndpointSpec, after: EndpointSpec) -> list[str]:
    return [name for name in _COMPARED_FIELDS if getattr(before, name) != getattr(after, name)]


# --- Consumer document -----------------------------------------------------------------------


def consumer_document(document: dict, *, gateway_base_url: str, api_name: str) -> dict:
    """A copy of the provider's document as consumers see it: served from the gateway,
    authenticated with a Tollgate API key, without anything marked internal.

    The gateway does the authentication, so the provider's own security schemes and
    per-operation security go, as do path- and operation-level `servers` (they would send
    consumers around the gateway). Any mapping marked `x-internal: true` is removed, then
    every `x-internal*` extension.
    """
    consumer = copy.deepcopy(document)
    _drop_internal(consumer)
    for path_item in _path_items(consumer):
        path_item.pop("servers", None)
        for _, operation in _operations(path_item):
            operation.pop("security", None)
            operation.pop("servers", None)
    consumer["servers"] = [{"url": gateway_base_url}]
    if not isinstance(consumer.get("components"), dict):
        consumer["components"] = {}
    consumer["components"]["securitySchemes"] = {API_KEY_SCHEME: _api_key_scheme(api_name)}
    consumer["security"] = [{API_KEY_SCHEME: []}]
    return consumer


def _api_key_scheme(api_name: str) -> dict:
    return {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": f"Your API key for {api_name}, sent in the {API_KEY_HEADER} header.",
    }


def _path_items(document: dict) -> list[dict]:
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return []
    return [
        item for key, item in paths.items() if not key.startswith("x-") and isinstance(item, dict)
    ]


def _drop_internal(node: Any) -> None:
    if isinstance(node, dict):
        for key in [key for key in node if _is_internal_key(key) or _is_internal(node[key])]:
            del node[key]
        for child in node.values():
            _drop_internal(child)
    elif isinstance(node, list):
        node[:] = [item for item in node if not _is_internal(item)]
        for item in node:
            _drop_internal(item)


def _is_internal_key(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("x-internal")


def _is_internal(value: Any) -> bool:
    return isinstance(value, dict) and value.get("x-internal") is True
