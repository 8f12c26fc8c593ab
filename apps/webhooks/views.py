"""The provider console's webhooks pages. Every action is a plain form post that works
without JavaScript; with htmx, sending a test event or replaying swaps the delivery log,
rotating swaps the secret card, and a delivery's details open inside the log."""

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from apps.accounts.decorators import member_required, require_role
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error

from . import selectors, services
from .forms import EndpointForm, RotateForm
from .models import EventType, WebhookDelivery, WebhookEndpoint
from .services import MAX_ATTEMPTS

LOG_PAGE_SIZE = 25
LOG_TARGET = "delivery-log"


def _endpoint_or_404(request, public_id: str) -> WebhookEndpoint:
    endpoint = selectors.endpoint_for(request.organization, public_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint in this organization.")
    return endpoint


def _delivery_or_404(request, endpoint: WebhookEndpoint, public_id: str) -> WebhookDelivery:
    delivery = selectors.delivery_for(request.organization, public_id)
    if delivery is None or delivery.endpoint_id != endpoint.pk:
        raise Http404("No such delivery.")
    return delivery


def _can_develop(request) -> bool:
    return request.membership.can("develop")


def _labels(endpoint: WebhookEndpoint) -> list[str]:
    return [EventType(value).label for value in endpoint.event_types]


# --- Endpoints --------------------------------------------------------------------------
@member_required("view")
def endpoint_list(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST":
        require_role(request, "develop")
        if form.is_valid():
            try:
                endpoint = services.endpoint_create(
                    actor=request.user, organization=request.organization, **form.cleaned_data
                )
            except ServiceError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request, "Endpoint added. Copy its signing secret, then send a test event."
                )
                return redirect(reverse("webhooks:endpoint", args=[endpoint.public_id]) + "?new=1")
    context = {
        "endpoints": selectors.endpoints_for(request.organization),
        "form": form,
        "can_develop": _can_develop(request),
    }
    return render(request, "webhooks/endpoints.html", context)


@member_required("view")
def endpoint_detail(request, public_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    if request.htmx and request.htmx.target == LOG_TARGET:
        return _render_log(request, endpoint)
    context = {
        **_log_context(request, endpoint),
        "endpoint": endpoint,
        "event_labels": _labels(endpoint),
        "can_develop": _can_develop(request),
        "rotate_form": RotateForm(),
        "just_created": request.GET.get("new") == "1",
    }
    response = render(request, "webhooks/endpoint.html", context)
    add_never_cache_headers(response)  # the page carries the signing secret
    return response


def _log_context(request, endpoint: WebhookEndpoint, *, fresh: bool = False) -> dict:
    """The log's page and filter from the query string; `fresh` is the first page, unfiltered
    (after a send, so the new delivery shows on top)."""
    status = "" if fresh else request.GET.get("status", "")
    status = status if status in selectors.LOG_FILTERS else ""
    deliveries = selectors.deliveries_of(endpoint, status)
    page_number = 1 if fresh else request.GET.get("page")
    page = Paginator(deliveries, LOG_PAGE_SIZE).get_page(page_number)
    params = {"status": status, "page": page.number if page.number > 1 else ""}
    query = urlencode({key: value for key, value in params.items() if value})
    return {
        "endpoint": endpoint,
        "page": page,
        "deliveries": page.object_list,
        "status": status,
        "log_url": reverse("webhooks:endpoint", args=[endpoint.public_id])
        + (f"?{query}" if query else ""),
        "in_flight": any(d.status == "pending" and not d.attempt_count for d in page.object_list),
        "max_attempts": MAX_ATTEMPTS,
        "can_develop": _can_develop(request),
        "filters": [
            ("", "All"),
            ("failed", "Failed"),
            ("retrying", "Retrying"),
            ("succeeded", "Succeeded"),
        ],
    }


def _render_log(request, endpoint: WebhookEndpoint, *, fresh: bool = False):
    """The delivery log card alone; after an action (`fresh`) with the messages as toasts."""
    context = {**_log_context(request, endpoint, fresh=fresh), "swap_messages": fresh}
    return render(request, "webhooks/_log.html", context)


@member_required("develop")
def endpoint_edit(request, public_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
    }
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(actor=request.user, endpoint=endpoint, **form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("webhooks:endpoint", endpoint.public_id)
    return render(request, "webhooks/endpoint_form.html", {"endpoint": endpoint, "form": form})


@require_POST
@member_required("develop")
def endpoint_enabled(request, public_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    enabled = request.POST.get("enabled") == "1"
    services.endpoint_set_enabled(actor=request.user, endpoint=endpoint, enabled=enabled)
    if enabled:
        messages.success(request, "Endpoint enabled; new events will be sent to it.")
    else:
        messages.success(request, "Endpoint disabled; it receives nothing until you enable it.")
    return redirect("webhooks:endpoint", endpoint.public_id)


@require_POST
@member_required("develop")
def endpoint_delete(request, public_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    services.endpoint_delete(actor=request.user, endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted, with its delivery log.")
    return redirect("webhooks:endpoints")


@require_POST
@member_required("develop")
def endpoint_rotate(request, public_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    form = RotateForm(request.POST)
    if form.is_valid():
        keep_old_for = form.keep_old_for()
        endpoint = services.endpoint_rotate_secret(
            actor=request.user, endpoint=endpoint, keep_old_for=keep_old_for
        )
        if keep_old_for:
            messages.success(request, "New secret issued; the old one also signs for 24 hours.")
        else:
            messages.success(request, "New secret issued; the old one stopped signing.")
    else:
        messages.error(request, "Choose how long the old secret keeps signing.")
    if not request.htmx:
        return redirect(reverse("webhooks:endpoint", args=[endpoint.public_id]) + "#secret")
    context = {
        "endpoint": endpoint,
        "rotate_form": RotateForm(),
        "revealed": True,
        "swap_messages": True,
    }
    response = render(request, "webhooks/_secret.html", context)
    add_never_cache_headers(response)
    return response


@require_POST
@member_required("develop")
def endpoint_test(request, public_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    try:
        delivery = services.endpoint_send_test(actor=request.user, endpoint=endpoint)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _sent_message(delivery, "Test event"))
    if request.htmx:
        return _render_log(request, endpoint, fresh=True)
    return redirect(reverse("webhooks:endpoint", args=[endpoint.public_id]) + "#delivery-log")


def _sent_message(delivery: WebhookDelivery, what: str) -> str:
    delivery.refresh_from_db()  # with an eager task queue it was sent already
    if delivery.status == "succeeded":
        return f"{what} delivered: your endpoint answered {delivery.last_status_code}."
    if delivery.attempt_count:
        return f"{what} sent, but it failed: {delivery.last_error} It will be retried."
    return f"{what} queued; it appears in the log below in a moment."


# --- Deliveries -------------------------------------------------------------------------
@member_required("view")
def delivery_detail(request, public_id: str, delivery_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    delivery = _delivery_or_404(request, endpoint, delivery_id)
    context = {
        "endpoint": endpoint,
        "delivery": delivery,
        "payload": json.dumps(delivery.event.payload, indent=2),
        "max_attempts": MAX_ATTEMPTS,
        "can_develop": _can_develop(request),
        "expanded": request.GET.get("row") != "1",
    }
    if request.htmx:
        return render(request, "webhooks/_delivery.html", context)
    return render(request, "webhooks/delivery.html", context)


@require_POST
@member_required("develop")
def delivery_replay(request, public_id: str, delivery_id: str):
    endpoint = _endpoint_or_404(request, public_id)
    delivery = _delivery_or_404(request, endpoint, delivery_id)
    try:
        replay = services.delivery_replay(actor=request.user, delivery=delivery)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _sent_message(replay, "Replay"))
    if request.htmx:
        return _render_log(request, endpoint, fresh=True)
    return redirect(reverse("webhooks:endpoint", args=[endpoint.public_id]) + "#delivery-log")
