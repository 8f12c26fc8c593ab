"""Code samples per endpoint (curl, Python, JavaScript), calling the gateway with X-Api-Key.
Example values come from the endpoint's parameters and request body examples."""

import json
import re
import shlex
from urllib.parse import quote, urlencode

KEY_PLACEHOLDER = "YOUR_API_KEY"


def _example(item: dict):
    if "example" in item:
        return item["example"]
    examples = item.get("examples")
    if isinstance(examples, dict) and examples:
        first = next(iter(examples.values()))
        return first.get("value") if isinstance(first, dict) else first
    schema = item.get("schema") or {}
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(schema.get("type"), "value")


def _body_example(request_body: dict | None):
    if not request_body:
        return None, None
    content = request_body.get("content") or {}
    for media_type in ("application/json", *content.keys()):
        if media_type in content:
            media = content[media_type] or {}
            value = _example(media) if any(k in media for k in ("example", "examples")) else None
            if value is None:
                value = _schema_example(media.get("schema") or {})
            return media_type, value
    return None, None


def _schema_example(schema: dict, depth: int = 0):
    if depth > 4 or not isinstance(schema, dict):
        return None
    if "example" in schema:
        return schema["example"]
    if schema.get("type") == "object" or "properties" in schema:
        return {
            name: _schema_example(sub, depth + 1)
            for name, sub in list((schema.get("properties") or {}).items())[:8]
        }
    if schema.get("type") == "array":
        return [_schema_example(schema.get("items") or {}, depth + 1)]
    return _example({"schema": schema})


def body_example(request_body: dict | None):
    """An example request body (JSON value), for the Try it console."""
    media_type, value = _body_example(request_body)
    return value if media_type and media_type.endswith("json") else None


def build_url(gateway_base: str, endpoint) -> str:
    path = endpoint.path
    query = {}
    for parameter in endpoint.parameters or []:
        value = _example(parameter)
        if parameter.get("in") == "path":
            path = path.replace("{" + parameter["name"] + "}", quote(str(value), safe=""))
        elif parameter.get("in") == "query" and (parameter.get("required") or len(query) < 2):
            query[parameter["name"]] = value
    path = re.sub(r"\{(\w+)\}", lambda m: m.group(1), path)
    url = gateway_base.rstrip("/") + path
    return f"{url}?{urlencode(query, doseq=True)}" if query else url


def snippets_for(endpoint, gateway_base: str) -> dict[str, str]:
    url = build_url(gateway_base, endpoint)
    media_type, body = _body_example(endpoint.request_body)
    return {
        "curl": _curl(endpoint.method, url, media_type, body),
        "python": _python(endpoint.method, url, media_type, body),
        "javascript": _javascript(endpoint.method, url, media_type, body),
    }


def _json_text(body, indent=None) -> str:
    return json.dumps(body, indent=indent, ensure_ascii=False)


def _curl(method: str, url: str, media_type, body) -> str:
    lines = [f"curl -X {method} {shlex.quote(url)}", f'  -H "X-Api-Key: {KEY_PLACEHOLDER}"']
    if media_type:
        lines.append(f'  -H "Content-Type: {media_type}"')
        payload = _json_text(body) if media_type.endswith("json") else str(body or "")
        lines.append(f"  --data {shlex.quote(payload)}")
    return " \\\n".join(lines)


def _python(method: str, url: str, media_type, body) -> str:
    lines = [
        "import requests",
        "",
        "response = requests.request(",
        f"    {method!r},",
        f"    {url!r},",
        f'    headers={{"X-Api-Key": "{KEY_PLACEHOLDER}"}},',
    ]
    if media_type and media_type.endswith("json"):
        lines.append(f"    json={_json_text(body)},")
    elif media_type:
        lines.append(f"    data={str(body or '')!r},")
    lines += ["    timeout=30,", ")", "response.raise_for_status()", "print(response.json())"]
    return "\n".join(lines)


def _javascript(method: str, url: str, media_type, body) -> str:
    headers = {"X-Api-Key": KEY_PLACEHOLDER}
    if media_type:
        headers["Content-Type"] = media_type
    lines = [
        f"const response = await fetch({_json_text(url)}, {{",
        f"  method: {_json_text(method)},",
        f"  headers: {_json_text(headers)},",
    ]
    if media_type:
        payload = (
            f"JSON.stringify({_json_text(body)})"
            if media_type.endswith("json")
            else _json_text(str(body or ""))
        )
        lines.append(f"  body: {payload},")
    lines += ["});", "console.log(await response.json());"]
    return "\n".join(lines)
