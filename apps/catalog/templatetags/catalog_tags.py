import json

from django import template
from django.utils.html import format_html

from apps.core.markdown import render_markdown

register = template.Library()

MAX_SCHEMA_ROWS = 60


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@register.filter
def markdown_safe(text: str):
    """Provider text rendered from Markdown and sanitized."""
    from django.utils.safestring import mark_safe

    return mark_safe(render_markdown(text or ""))


def _type_label(schema: dict) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if kind == "array":
        items = schema.get("items") or {}
        return f"array of {_type_label(items) if isinstance(items, dict) else 'items'}"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            return combinator
    label = kind or ("object" if "properties" in schema else "any")
    if schema.get("format"):
        label += f" ({schema['format']})"
    return label


@register.filter
def schema_rows(schema, prefix: str = "") -> list[dict]:
    """Flattens an object schema into rows (name, type, required, description) for a
    readable table; nested objects appear as dotted names, a few levels deep."""
    rows: list[dict] = []
    _collect(schema if isinstance(schema, dict) else {}, prefix or "", rows, depth=0)
    return rows[:MAX_SCHEMA_ROWS]


def _collect(schema: dict, prefix: str, rows: list, depth: int) -> None:
    if depth > 3 or len(rows) >= MAX_SCHEMA_ROWS:
        return
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        _collect(schema["items"], f"{prefix}[]" if prefix else "[]", rows, depth + 1)
        return
    required = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        full = f"{prefix}.{name}" if prefix else name
        rows.append(
            {
                "name": full,
                "type": _type_label(sub),
                "required": name in required,
                "description": sub.get("description", ""),
                "enum": sub.get("enum"),
                "example": sub.get("example"),
            }
        )
        _collect(sub, full, rows, depth + 1)


@register.filter
def media_schema(content: dict):
    """The first media type's schema of a request body or response content."""
    if not isinstance(content, dict):
        return None
    for media in content.values():
        if isinstance(media, dict) and media.get("schema"):
            return media["schema"]
    return None


@register.filter
def media_example(content: dict):
    if not isinstance(content, dict):
        return None
    for media in content.values():
        if not isinstance(media, dict):
            continue
        if "example" in media:
            return media["example"]
        examples = media.get("examples")
        if isinstance(examples, dict) and examples:
            first = next(iter(examples.values()))
            return first.get("value") if isinstance(first, dict) else first
    return None


@register.simple_tag
def api_logo(api, size: str = "lg"):
    if api.logo:
        return format_html(
            '<img class="avatar {} sq" src="{}" alt="" loading="lazy">', size, api.logo.url
        )
    return format_html(
        '<span class="avatar {} sq" aria-hidden="true">{}</span>',
        size,
        (api.name[:1] or "?").upper(),
    )


@register.simple_tag
def review_queue_count() -> int:
    """Listings waiting for a staff decision (the admin index shows it)."""
    from apps.catalog.models import Api, ApiStatus

    return Api.objects.filter(status=ApiStatus.PENDING_REVIEW).count()
