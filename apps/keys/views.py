"""The console's keys page. Every action is a normal form post that works without
JavaScript; with htmx, revoke and restrict swap the key's row, and create and rotate swap
the keys panel (the new secret shows in it, once)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from apps.accounts.decorators import member_required, require_role
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error

from . import selectors, services
from .forms import ApiKeyForm, RestrictForm, RotateForm
from .models import GRACE_PERIODS, ApiKey

PAGE_SIZE = 25


def _key_or_404(request, public_id: str) -> ApiKey:
    key = selectors.key_for(request.organization, public_id)
    if key is None:
        raise Http404("No such key in this organization.")
    return key


def _posted(request):
    """The POST data to bind, even when empty (nothing checked is a valid answer)."""
    return request.POST if request.method == "POST" else None


def _can_develop(request) -> bool:
    return request.membership.can("develop")


def _render_row(request, key: ApiKey, *, swap_messages: bool = True):
    key = selectors.key_for(request.organization, key.public_id)
    context = {"key": key, "can_develop": _can_develop(request), "swap_messages": swap_messages}
    return render(request, "keys/_key_row.html", context)


def _render_keys(request, *, form=None, new_key=None, new_secret=None):
    """The keys page, or with htmx its panel (secret callout, list, create form)."""
    organization = request.organization
    page = Paginator(selectors.keys_for(organization), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "keys": page.object_list,
        "can_develop": _can_develop(request),
        "form": form or ApiKeyForm(organization=organization),
        "new_key": new_key,
        "new_secret": new_secret,
        "example": selectors.example_call(new_key) if new_key else None,
        "swap_messages": bool(request.htmx),
    }
    template = "keys/_panel.html" if request.htmx else "keys/keys.html"
    return render(request, template, context)


def _shown_once(request, *, new_key: ApiKey, new_secret: str):
    """The list with the new secret on top. Rendered, never redirected: the secret must not
    travel through the session or a URL."""
    response = _render_keys(request, new_key=new_key, new_secret=new_secret)
    add_never_cache_headers(response)  # keep the secret out of the browser's cache
    if request.htmx:
        response = reswap(retarget(response, "#keys-panel"), "outerHTML show:#keys-panel:top")
    return response


@member_required("view")
def key_list(request):
    if request.method != "POST":
        return _render_keys(request)
    require_role(request, "develop")
    form = ApiKeyForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            key, secret = services.api_key_create(
                actor=request.user,
                organization=request.organization,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                allowed_apis=form.cleaned_data["apis"],
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Key “{key.name}” created. Copy it now.")
            return _shown_once(request, new_key=key, new_secret=secret)
    return _render_keys(request, form=form)


@member_required("view")
def key_detail(request, public_id: str):
    """With htmx: the key's row (a cancelled edit swaps it back). Otherwise: the list."""
    key = _key_or_404(request, public_id)
    if request.htmx:
        return _render_row(request, key, swap_messages=False)
    return redirect(reverse("keys:list") + f"#key-{key.public_id}")


@member_required("develop")
def key_rotate(request, public_id: str):
    key = _key_or_404(request, public_id)
    form = RotateForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        grace = GRACE_PERIODS[form.cleaned_data["grace"]]
        try:
            new_key, secret = services.api_key_rotate(actor=request.user, key=key, grace=grace)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            if grace:
                messages.success(request, f"“{key.name}” rotated. The old key works until then.")
            else:
                messages.success(request, f"“{key.name}” rotated. The old key stopped working.")
            return _shown_once(request, new_key=new_key, new_secret=secret)
    context = {"key": key, "form": form}
    if request.htmx:
        return render(request, "keys/_rotate_row.html", context)
    return render(request, "keys/rotate.html", context)


@require_POST
@member_required("develop")
def key_revoke(request, public_id: str):
    key = _key_or_404(request, public_id)
    services.api_key_revoke(actor=request.user, key=key)
    messages.success(request, f"Key “{key.name}” revoked; it stops working now.")
    if request.htmx:
        return _render_row(request, key)
    return redirect("keys:list")


@member_required("develop")
def key_restrict(request, public_id: str):
    key = _key_or_404(request, public_id)
    current = list(key.allowed_apis.all())
    form = RestrictForm(
        _posted(request),
        organization=request.organization,
        initial={"apis": current},
        keep=[api.pk for api in current],
    )
    if request.method == "POST" and form.is_valid():
        try:
            key = services.api_key_restrict(
                actor=request.user, key=key, apis=form.cleaned_data["apis"]
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            if key.restricted:
                messages.success(request, f"“{key.name}” now calls only the APIs you picked.")
            else:
                messages.success(request, f"“{key.name}” may call every API again.")
            if request.htmx:
                return _render_row(request, key)
            return redirect("keys:list")
    context = {"key": key, "form": form}
    if request.htmx:
        return render(request, "keys/_restrict_row.html", context)
    return render(request, "keys/restrict.html", context)
