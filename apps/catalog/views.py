"""Public pages: the catalog home, search, and each API's page."""

from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import render

from apps.core.public_urls import gateway_url

from . import openapi, selectors
from .snippets import snippets_for

PAGE_SIZE = 12

# Later apps add sections to the API page: each is a function (request, api) -> dict or None;
# the dict has "template" (included on the page), "tab" (label, or None for the sidebar)
# and whatever context the template needs.
api_page_sections: list = []


def home(request):
    context = {
        "categories": selectors.categories_with_counts(),
        "featured": selectors.featured_apis(),
        "newest": selectors.newest_apis(),
        "popular": selectors.popular_apis(),
    }
    return render(request, "catalog/home.html", context)


def sell(request):
    """Why and how to sell an API here, for anybody: the pricing models, the platform fee,
    payouts and review, with the settings' numbers. Sign up, or go on to the console."""
    from apps.payouts.selectors import provider_terms

    return render(request, "catalog/sell.html", {"terms": provider_terms()})


def catalog(request):
    query = request.GET.get("q", "")
    category = request.GET.get("category", "")
    page = Paginator(selectors.search_apis(query, category), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "query": query,
        "category": category,
        "categories": selectors.categories_with_counts(),
    }
    template = (
        "catalog/_results.html"
        if request.htmx and not request.htmx.boosted
        else "catalog/catalog.html"
    )
    return render(request, template, context)


def api_page(request, slug: str):
    api = selectors.api_for_viewer(slug, request.user)
    if api is None:
        raise Http404("No such API.")
    gateway_base = f"{gateway_url(request)}/{api.slug}"
    groups = selectors.endpoints_by_tag(api)
    for endpoints in groups.values():
        for endpoint in endpoints:
            endpoint.snippets = snippets_for(endpoint, gateway_base)
    sections = [s for s in (section(request, api) for section in api_page_sections) if s]
    context = {
        "api": api,
        "groups": groups,
        "gateway_base": gateway_base,
        "sections": sections,
        "is_owner": request.user.is_authenticated and request.organization == api.organization,
        "endpoint_count": sum(len(v) for v in groups.values()),
    }
    return render(request, "catalog/api_page.html", context)


def api_openapi(request, slug: str):
    """The API's OpenAPI document rewritten for consumers: servers point at the gateway and
    an X-Api-Key security scheme is declared, so clients can be generated from it."""
    api = selectors.api_for_viewer(slug, request.user)
    if api is None or not api.openapi_document:
        raise Http404("This API has no OpenAPI document.")
    document = openapi.consumer_document(
        api.openapi_document,
        gateway_base_url=f"{gateway_url(request)}/{api.slug}",
        api_name=api.name,
    )
    response = JsonResponse(document, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="{api.slug}-openapi.json"'
    return response
