"""The provider console: my APIs, listing editor, spec import with diff, endpoints, secrets."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.decorators import member_required
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error

from . import selectors, services
from .forms import ApiForm, EndpointForm, SpecImportForm
from .models import SpecImport

# Later apps add tabs to a listing's console pages: (label, url name taking the slug).
provider_api_tabs: list[tuple[str, str]] = []


def provider_api_or_404(request, slug: str):
    api = selectors.provider_api(request.organization, slug)
    if api is None:
        raise Http404("No such API in this organization.")
    return api


def _tabs(api) -> list[tuple[str, str]]:
    return [
        ("Overview", "catalog:provider_api"),
        ("Listing", "catalog:provider_api_edit"),
        ("Endpoints", "catalog:provider_endpoints"),
        ("OpenAPI import", "catalog:provider_spec"),
        *provider_api_tabs,
    ]


def render_provider_page(request, template: str, api, context: dict):
    return render(request, template, {"api": api, "tabs": _tabs(api), **context})


@member_required("view")
def api_list(request):
    apis = selectors.provider_apis(request.organization)
    return render(request, "catalog/console/api_list.html", {"apis": apis})


def _form_fields(form: ApiForm) -> dict:
    data = dict(form.cleaned_data)
    if not data.get("logo"):
        data.pop("logo", None)
    return data


@member_required("develop")
def api_create(request):
    form = ApiForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        fields = _form_fields(form)
        try:
            api = services.api_create(
                actor=request.user,
                organization=request.organization,
                slug_strict=bool(fields.get("slug")),
                **fields,
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request, f"{api.name} was created as a draft. Import its OpenAPI document next."
            )
            return redirect("catalog:provider_spec", api.slug)
    return render(request, "catalog/console/api_form.html", {"form": form, "api": None})


@member_required("view")
def api_overview(request, slug: str):
    api = provider_api_or_404(request, slug)
    context = {
        "endpoint_count": api.endpoints.filter(removed_at=None).count(),
        "can_develop": request.membership.can("develop"),
        "checklist": _submission_checklist(api),
    }
    return render_provider_page(request, "catalog/console/api_overview.html", api, context)


def _submission_checklist(api) -> list[tuple[str, bool]]:
    return [
        ("A one-line summary", bool(api.summary.strip())),
        ("A description", bool(api.description.strip())),
        ("At least one endpoint", api.endpoints.filter(removed_at=None).exists()),
        ("A category", api.category_id is not None),
    ]


@member_required("develop")
def api_edit(request, slug: str):
    api = provider_api_or_404(request, slug)
    form = ApiForm(request.POST or None, request.FILES or None, instance=api)
    if request.method == "POST" and form.is_valid():
        try:
            api = services.api_update(actor=request.user, api=api, **_form_fields(form))
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Listing saved.")
            return redirect("catalog:provider_api_edit", api.slug)
    return render_provider_page(request, "catalog/console/api_form.html", api, {"form": form})


ACTIONS = {"submit": services.api_submit, "withdraw": services.api_withdraw}


@require_POST
@member_required("develop")
def api_action(request, slug: str, action: str):
    api = provider_api_or_404(request, slug)
    if action not in ACTIONS:
        raise Http404("Unknown action.")
    try:
        api = ACTIONS[action](actor=request.user, api=api)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            {
                "submit": "Submitted for review. We'll email you the outcome.",
                "withdraw": "Withdrawn; it is a draft again.",
            }[action],
        )
    return redirect("catalog:provider_api", api.slug)


@require_POST
@member_required("develop")
def api_rotate_secret(request, slug: str, which: str):
    api = services.api_rotate_secret(
        actor=request.user, api=provider_api_or_404(request, slug), which=which
    )
    messages.success(request, f"New {which} secret issued; the old one stopped working.")
    if request.htmx:
        return render(request, "catalog/console/_secrets.html", {"api": api, "rotated": which})
    return redirect("catalog:provider_api", api.slug)


# --- OpenAPI import ---------------------------------------------------------------------
@member_required("develop")
def spec_import(request, slug: str):
    api = provider_api_or_404(request, slug)
    form = SpecImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            pending = services.spec_import_prepare(
                actor=request.user, api=api, source=form.source()
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            return redirect("catalog:provider_spec_preview", api.slug, pending.public_id)
    return render_provider_page(request, "catalog/console/spec_import.html", api, {"form": form})


@member_required("develop")
def spec_preview(request, slug: str, import_id: str):
    api = provider_api_or_404(request, slug)
    pending = get_object_or_404(api.spec_imports, public_id=import_id)
    if request.method == "POST":
        if request.POST.get("decision") == "discard":
            services.spec_import_discard(actor=request.user, spec_import=pending)
            messages.info(request, "Import discarded; nothing changed.")
            return redirect("catalog:provider_spec", api.slug)
        try:
            diff = services.spec_import_apply(actor=request.user, spec_import=pending)
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                f"Imported: {len(diff.added)} added, {len(diff.changed)} "
                f"changed, {len(diff.removed)} removed.",
            )
            return redirect("catalog:provider_endpoints", api.slug)
    diff = services.spec_import_diff(pending)
    context = {
        "pending": pending,
        "diff": diff,
        "is_pending": pending.status == SpecImport.Status.PENDING,
    }
    return render_provider_page(request, "catalog/console/spec_preview.html", api, context)


# --- Endpoints --------------------------------------------------------------------------
@member_required("view")
def endpoints(request, slug: str):
    api = provider_api_or_404(request, slug)
    form = EndpointForm(request.POST or None)
    can_develop = request.membership.can("develop")
    if request.method == "POST" and can_develop and form.is_valid():
        try:
            endpoint = services.endpoint_save(actor=request.user, api=api, **form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{endpoint} added.")
            return redirect("catalog:provider_endpoints", api.slug)
    context = {
        "groups": selectors.endpoints_by_tag(api, include_removed=True),
        "form": form,
        "can_develop": can_develop,
    }
    return render_provider_page(request, "catalog/console/endpoints.html", api, context)


@member_required("develop")
def endpoint_edit(request, slug: str, endpoint_id: str):
    api = provider_api_or_404(request, slug)
    endpoint = get_object_or_404(api.endpoints, public_id=endpoint_id)
    form = EndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and request.POST.get("delete"):
        services.endpoint_delete(actor=request.user, endpoint=endpoint)
        messages.success(request, f"{endpoint} removed.")
        return redirect("catalog:provider_endpoints", api.slug)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_save(
                actor=request.user, api=api, endpoint=endpoint, **form.cleaned_data
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{endpoint} saved.")
            return redirect("catalog:provider_endpoints", api.slug)
    return render_provider_page(
        request, "catalog/console/endpoint_form.html", api, {"form": form, "endpoint": endpoint}
    )
