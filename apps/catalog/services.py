"""Writes for listings, endpoints, spec imports and moderation."""

from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import Organization, User
from apps.accounts.notifications import notify, notify_staff
from apps.accounts.services import require_active, require_capability
from apps.core.audit import audit_record
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.core.invalidation import publish_invalidation
from apps.core.markdown import render_markdown
from apps.core.url_safety import check_upstream_url

from . import openapi
from .models import (
    Api,
    ApiStatus,
    Category,
    Endpoint,
    EndpointSource,
    SpecImport,
    new_proxy_secret,
    new_signing_secret,
)

RESERVED_SLUGS = {"new", "admin", "api", "apis", "static", "media", "console", "docs", "gw"}
EDITABLE_FIELDS = {
    "name",
    "slug",
    "summary",
    "description",
    "category",
    "tags",
    "logo",
    "website_url",
    "terms_url",
    "support_email",
    "support_url",
    "upstream_url",
    "upstream_timeout_s",
    "upstream_connect_timeout_s",
    "visibility",
}
LOGO_MAX_BYTES = 512 * 1024
LOGO_TYPES = {"PNG", "JPEG", "GIF", "WEBP"}

# Later apps tell the catalog which endpoints have recorded usage (metering registers one).
endpoint_usage_checkers: list[Callable[[list[int]], set[int]]] = []


# --- Listing ----------------------------------------------------------------------------
def _require_developer(actor: User, api_or_org) -> None:
    organization = api_or_org if isinstance(api_or_org, Organization) else api_or_org.organization
    require_capability(actor, organization, "develop")
    require_active(organization)


def clean_slug(value: str) -> str:
    slug = slugify(value)[:60].strip("-")
    if not slug:
        raise ServiceError("The slug needs at least one letter or digit.", field="slug")
    if slug in RESERVED_SLUGS:
        raise ServiceError(f"“{slug}” is reserved; pick another.", field="slug")
    return slug


def _unique_slug(base: str) -> str:
    slug, n = base, 1
    while Api.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base[:56]}-{n}"
    return slug


def clean_upstream(url: str) -> str:
    return check_upstream_url(url, allow_private=settings.UPSTREAM_ALLOW_PRIVATE)


def clean_tags(tags: Iterable[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = []
    for tag in tags:
        tag = slugify(str(tag))[:30]
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return cleaned[:10]


def check_logo(logo) -> None:
    """Only real, small raster images: the type is read from the bytes, not the name."""
    if not logo:
        return
    from PIL import Image, UnidentifiedImageError

    if logo.size > LOGO_MAX_BYTES:
        raise ServiceError("The logo must be 512 KB or smaller.", field="logo")
    try:
        logo.seek(0)
        with Image.open(logo) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ServiceError(
            "The logo is not a PNG, JPEG, GIF or WebP image.", field="logo"
        ) from error
    finally:
        logo.seek(0)
    if image_format not in LOGO_TYPES:
        raise ServiceError("The logo is not a PNG, JPEG, GIF or WebP image.", field="logo")


def _apply_fields(api: Api, data: dict) -> list[str]:
    changed = []
    for field, value in data.items():
        if field not in EDITABLE_FIELDS:
            continue
        if field == "slug":
            value = clean_slug(value)
        elif field == "upstream_url":
            value = clean_upstream(value)
        elif field == "tags":
            value = clean_tags(value)
        elif field == "logo":
            check_logo(value)
        if getattr(api, field) != value:
            setattr(api, field, value)
            changed.append(field)
    if "description" in changed or not api.description_html:
        api.description_html = render_markdown(api.description)
        changed.append("description_html")
    return changed


@transaction.atomic
def api_create(
    *,
    actor: User,
    organization: Organization,
    name: str,
    upstream_url: str,
    openapi_source: str | dict | None = None,
    **fields,
) -> Api:
    _require_developer(actor, organization)
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the API a name.", field="name")
    slug = clean_slug(fields.pop("slug", "") or name)
    if Api.objects.filter(slug=slug).exists():
        if fields.get("slug_strict"):
            raise Conflict(f"The slug “{slug}” is taken.", field="slug")
        slug = _unique_slug(slug)
    fields.pop("slug_strict", None)
    api = Api(organization=organization, name=name[:80], slug=slug, upstream_url="")
    _apply_fields(api, {"upstream_url": upstream_url, **fields})
    try:
        with transaction.atomic():
            api.save()
    except IntegrityError as error:
        raise Conflict(f"The slug “{slug}” is taken.", field="slug") from error
    audit_record(action="api.created", actor=actor, organization=organization, target=api)
    if openapi_source:
        spec_import = spec_import_prepare(actor=actor, api=api, source=openapi_source)
        spec_import_apply(actor=actor, spec_import=spec_import)
    return api


@transaction.atomic
def api_update(*, actor: User, api: Api, **fields) -> Api:
    _require_developer(actor, api)
    api = Api.objects.select_for_update().get(pk=api.pk)
    old_slug = api.slug
    changed = _apply_fields(api, fields)
    if "slug" in changed and Api.objects.filter(slug=api.slug).exclude(pk=api.pk).exists():
        raise Conflict(f"The slug “{api.slug}” is taken.", field="slug")
    if not changed:
        return api
    api.save()
    audit_record(
        action="api.updated",
        actor=actor,
        organization=api.organization,
        target=api,
        data={"fields": sorted(set(changed) - {"description_html", "logo"})},
    )
    _invalidate(api, old_slug)
    return api


def _invalidate(api: Api, *old_slugs: str) -> None:
    for slug in {api.slug, *old_slugs}:
        publish_invalidation("api", slug)


def provider_suspension_changed(organization: Organization, suspended: bool) -> None:
    """A suspended provider's APIs stop at the gateway within a second (the API snapshot
    says "not published" while its organization is suspended) and leave the catalog (the
    selectors filter them); restoring brings both back. Registered in CatalogConfig.ready."""
    for slug in organization.apis.values_list("slug", flat=True):
        publish_invalidation("api", slug)


@transaction.atomic
def api_rotate_secret(*, actor: User, api: Api, which: str) -> Api:
    _require_developer(actor, api)
    if which not in {"proxy", "signing"}:
        raise ServiceError("Rotate the proxy or the signing secret.")
    api = Api.objects.select_for_update().get(pk=api.pk)
    if which == "proxy":
        api.proxy_secret = new_proxy_secret()
    else:
        api.signing_secret = new_signing_secret()
    api.save(update_fields=[f"{which}_secret", "updated_at"])
    audit_record(
        action=f"api.{which}_secret_rotated", actor=actor, organization=api.organization, target=api
    )
    _invalidate(api)
    return api


# --- Moderation -------------------------------------------------------------------------
TRANSITIONS = {
    "submit": ({ApiStatus.DRAFT, ApiStatus.REJECTED}, ApiStatus.PENDING_REVIEW),
    "withdraw": ({ApiStatus.PENDING_REVIEW}, ApiStatus.DRAFT),
    "approve": ({ApiStatus.PENDING_REVIEW}, ApiStatus.PUBLISHED),
    "reject": ({ApiStatus.PENDING_REVIEW}, ApiStatus.REJECTED),
    "suspend": ({ApiStatus.PUBLISHED}, ApiStatus.SUSPENDED),
    "restore": ({ApiStatus.SUSPENDED}, ApiStatus.PUBLISHED),
}
MESSAGES = {
    "submit": ("{name} was submitted for review", "Staff will review it shortly."),
    "withdraw": ("{name} was withdrawn from review", "It is a draft again."),
    "approve": (
        "{name} is published",
        "It is live in the catalog and callable through the gateway.",
    ),
    "reject": ("{name} needs changes before it can be published", "Reason: {reason}"),
    "suspend": ("{name} was suspended", "Gateway traffic to it has stopped. Reason: {reason}"),
    "restore": ("{name} is live again", "Gateway traffic flows again."),
}


def _transition(*, actor: User, api: Api, action: str, reason: str = "") -> Api:
    allowed_from, target = TRANSITIONS[action]
    api = Api.objects.select_for_update().get(pk=api.pk)
    if api.status not in allowed_from:
        raise Conflict(
            f"A listing that is {api.get_status_display().lower()} cannot be "
            f"{action.rstrip('e')}ed.",
            code="invalid_transition",
        )
    previous, api.status = api.status, target
    _stamp(api, action, reason)
    api.save()
    audit_record(
        action=f"api.{action}",
        actor=actor,
        organization=api.organization,
        target=api,
        data={"from": previous, "to": target, "reason": reason},
    )
    title, body = MESSAGES[action]
    notify(
        organization=api.organization,
        kind=f"api.{action}",
        title=title.format(name=api.name),
        body=body.format(reason=reason or "—"),
        url=reverse("catalog:provider_api", args=[api.slug]),
    )
    _invalidate(api)
    return api


def _stamp(api: Api, action: str, reason: str) -> None:
    now = timezone.now()
    if action == "submit":
        api.submitted_at, api.rejection_reason = now, ""
    elif action == "approve":
        api.published_at = api.published_at or now
    elif action == "reject":
        api.rejection_reason = reason
    elif action == "suspend":
        api.suspension_reason = reason
    elif action == "restore":
        api.suspension_reason = ""


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise Forbidden("Only staff moderate listings.")


@transaction.atomic
def api_submit(*, actor: User, api: Api) -> Api:
    _require_developer(actor, api)
    if not api.description.strip():
        raise ServiceError(
            "Write a description before submitting.", field="description", code="incomplete"
        )
    if not api.endpoints.filter(removed_at=None).exists():
        raise ServiceError(
            "Add at least one endpoint (import an OpenAPI document or add one "
            "by hand) before submitting.",
            code="incomplete",
        )
    api = _transition(actor=actor, api=api, action="submit")
    _tell_staff_of_review(api)
    return api


def _tell_staff_of_review(api: Api) -> None:
    """Staff hear that a listing waits for them (an email after commit; the admin index
    shows the queue's length). The name is the provider's text: one line, in the body."""
    name = " ".join(api.name.split())[:80]
    notify_staff(
        subject="A listing waits for review",
        body=f"{name} by {' '.join(api.organization.name.split())} was submitted for review.",
        url=reverse("admin:catalog_pendingreview_change", args=[api.pk]),
    )


@transaction.atomic
def api_withdraw(*, actor: User, api: Api) -> Api:
    _require_developer(actor, api)
    return _transition(actor=actor, api=api, action="withdraw")


@transaction.atomic
def api_approve(*, actor: User, api: Api) -> Api:
    _require_staff(actor)
    return _transition(actor=actor, api=api, action="approve")


@transaction.atomic
def api_reject(*, actor: User, api: Api, reason: str) -> Api:
    _require_staff(actor)
    if not (reason or "").strip():
        raise ServiceError("Say why, so the provider can fix it.", field="reason")
    return _transition(actor=actor, api=api, action="reject", reason=reason.strip())


@transaction.atomic
def api_suspend(*, actor: User, api: Api, reason: str = "") -> Api:
    _require_staff(actor)
    return _transition(
        actor=actor, api=api, action="suspend", reason=(reason or "Suspended by staff").strip()
    )


@transaction.atomic
def api_restore(*, actor: User, api: Api) -> Api:
    _require_staff(actor)
    return _transition(actor=actor, api=api, action="restore")


# --- OpenAPI import ---------------------------------------------------------------------
def spec_import_prepare(*, actor: User, api: Api, source: str | bytes | dict) -> SpecImport:
    """Parse and validate; saves a pending import holding the extracted endpoints. Nothing
    about the listing changes until `spec_import_apply`."""
    _require_developer(actor, api)
    document = source if isinstance(source, dict) else openapi.load_document(source)
    version = openapi.validate_document(document)
    endpoints = openapi.extract_endpoints(document)
    if not endpoints:
        raise openapi.SpecError(
            "The document describes no operations under `paths`.", location="paths"
        )
    api.spec_imports.filter(status=SpecImport.Status.PENDING).update(
        status=SpecImport.Status.DISCARDED
    )
    return SpecImport.objects.create(
        api=api,
        created_by=actor,
        document=document,
        version=version,
        endpoints=[endpoint.to_dict() for endpoint in endpoints],
    )


def _current_specs(api: Api) -> list[openapi.EndpointSpec]:
    return [endpoint_to_spec(e) for e in api.endpoints.filter(removed_at=None)]


def endpoint_to_spec(endpoint: Endpoint) -> openapi.EndpointSpec:
    return openapi.EndpointSpec.from_dict(
        {
            "method": endpoint.method,
            "path": endpoint.path,
            "operation_id": endpoint.operation_id,
            "summary": endpoint.summary,
            "description": endpoint.description,
            "tags": endpoint.tags,
            "parameters": endpoint.parameters,
            "request_body": endpoint.request_body,
            "responses": endpoint.responses,
            "deprecated": endpoint.deprecated,
        }
    )


def spec_import_diff(spec_import: SpecImport) -> openapi.SpecDiff:
    incoming = [openapi.EndpointSpec.from_dict(d) for d in spec_import.endpoints]
    return openapi.diff_endpoints(_current_specs(spec_import.api), incoming)


@transaction.atomic
def spec_import_apply(*, actor: User, spec_import: SpecImport) -> openapi.SpecDiff:
    spec_import = (
        SpecImport.objects.select_for_update().select_related("api").get(pk=spec_import.pk)
    )
    api = spec_import.api
    _require_developer(actor, api)
    if spec_import.status != SpecImport.Status.PENDING:
        raise Conflict("This import was already applied or discarded.")
    diff = spec_import_diff(spec_import)
    incoming = [openapi.EndpointSpec.from_dict(d) for d in spec_import.endpoints]
    _upsert_endpoints(api, incoming)
    _retire_endpoints(api, {(spec.method, spec.path) for spec in incoming})
    api.openapi_document, api.openapi_version = spec_import.document, spec_import.version
    api.save(update_fields=["openapi_document", "openapi_version", "updated_at"])
    spec_import.status = SpecImport.Status.APPLIED
    spec_import.save(update_fields=["status", "updated_at"])
    audit_record(
        action="api.spec_imported",
        actor=actor,
        organization=api.organization,
        target=api,
        data={"added": len(diff.added), "removed": len(diff.removed), "changed": len(diff.changed)},
    )
    _invalidate(api)
    return diff


def _spec_fields(spec: openapi.EndpointSpec) -> dict:
    data = spec.to_dict()
    data.pop("method"), data.pop("path")
    return {
        key: ("" if value is None and key in {"operation_id", "summary", "description"} else value)
        for key, value in data.items()
    }


def _upsert_endpoints(api: Api, specs: list[openapi.EndpointSpec]) -> None:
    existing = {(e.method, e.path): e for e in api.endpoints.all()}
    for position, spec in enumerate(specs):
        fields = {
            **_spec_fields(spec),
            "position": position,
            "removed_at": None,
            "source": EndpointSource.IMPORT,
        }
        endpoint = existing.get((spec.method, spec.path))
        if endpoint is None:
            Endpoint.objects.create(api=api, method=spec.method, path=spec.path, **fields)
            continue
        for field, value in fields.items():
            setattr(endpoint, field, value)
        endpoint.save()


def _retire_endpoints(api: Api, keep: set[tuple[str, str]]) -> None:
    """Endpoints gone from the spec are deleted, unless usage refers to them: those stay,
    marked deprecated and removed, so history and invoices still name them."""
    gone = [e for e in api.endpoints.filter(removed_at=None) if (e.method, e.path) not in keep]
    if not gone:
        return
    used = endpoints_with_usage([e.pk for e in gone])
    now = timezone.now()
    for endpoint in gone:
        if endpoint.pk in used:
            endpoint.deprecated, endpoint.removed_at = True, now
            endpoint.save(update_fields=["deprecated", "removed_at", "updated_at"])
        else:
            endpoint.delete()


def endpoints_with_usage(endpoint_ids: list[int]) -> set[int]:
    used: set[int] = set()
    for checker in endpoint_usage_checkers:
        used |= checker(endpoint_ids)
    return used


@transaction.atomic
def spec_import_discard(*, actor: User, spec_import: SpecImport) -> None:
    _require_developer(actor, spec_import.api)
    SpecImport.objects.filter(pk=spec_import.pk, status=SpecImport.Status.PENDING).update(
        status=SpecImport.Status.DISCARDED
    )


# --- Endpoints by hand ------------------------------------------------------------------
ENDPOINT_FIELDS = {
    "method",
    "path",
    "summary",
    "description",
    "tags",
    "operation_id",
    "deprecated",
    "parameters",
    "request_body",
    "responses",
}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def _clean_endpoint(data: dict) -> dict:
    data = {k: v for k, v in data.items() if k in ENDPOINT_FIELDS}
    if "method" in data:
        data["method"] = str(data["method"]).upper()
        if data["method"] not in METHODS:
            raise ServiceError(
                f"Method must be one of {', '.join(sorted(METHODS))}.", field="method"
            )
    if "path" in data:
        path = str(data["path"]).strip()
        if not path.startswith("/") or " " in path or len(path) > 300:
            raise ServiceError(
                "The path starts with / and has no spaces, e.g. /users/{id}.", field="path"
            )
        data["path"] = path
    if "tags" in data:
        data["tags"] = [
            t.strip()
            for t in (data["tags"].split(",") if isinstance(data["tags"], str) else data["tags"])
            if t.strip()
        ][:5]
    return data


@transaction.atomic
def endpoint_save(*, actor: User, api: Api, endpoint: Endpoint | None = None, **data) -> Endpoint:
    _require_developer(actor, api)
    data = _clean_endpoint(data)
    if endpoint is None:
        endpoint = Endpoint(api=api, source=EndpointSource.MANUAL, position=api.endpoints.count())
    for field, value in data.items():
        setattr(endpoint, field, value)
    duplicate = api.endpoints.filter(method=endpoint.method, path=endpoint.path).exclude(
        pk=endpoint.pk
    )
    if duplicate.exists():
        raise Conflict(f"{endpoint.method} {endpoint.path} already exists.", field="path")
    endpoint.save()
    audit_record(
        action="endpoint.saved", actor=actor, organization=api.organization, target=endpoint
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor: User, endpoint: Endpoint) -> None:
    _require_developer(actor, endpoint.api)
    audit_record(
        action="endpoint.deleted",
        actor=actor,
        organization=endpoint.api.organization,
        target=endpoint,
    )
    _retire_endpoints(
        endpoint.api,
        keep={(e.method, e.path) for e in endpoint.api.endpoints.exclude(pk=endpoint.pk)},
    )


def category_for(slug_or_name: str | None) -> Category | None:
    if not slug_or_name:
        return None
    return (
        Category.objects.filter(slug=slug_or_name).first()
        or Category.objects.filter(name__iexact=slug_or_name).first()
    )
