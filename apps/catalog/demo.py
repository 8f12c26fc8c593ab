"""Demo listings: the four APIs this app serves itself (apps.demo_upstreams), published, with
their OpenAPI documents imported, plus one draft waiting for review."""

from django.conf import settings
from django.utils import timezone

from apps.core.public_urls import gateway_url
from apps.demo_upstreams.registry import DEMO_APIS, GATEWAY_PLACEHOLDER

from . import services
from .categories import DEFAULT_CATEGORIES
from .models import Api, ApiStatus, Category

FEATURED = {"finance-validators", "echo-chat"}


def seed(demo: dict) -> None:
    for position, (name, slug, description, icon) in enumerate(DEFAULT_CATEGORIES):
        Category.objects.update_or_create(
            slug=slug,
            defaults={"name": name, "description": description, "icon": icon, "position": position},
        )
    provider, organization = demo["provider_user"], demo["provider_org"]
    demo["apis"] = {entry["key"]: _api(entry, provider, organization) for entry in DEMO_APIS}
    _pending_listing(provider, organization)


def _upstream(prefix: str) -> str:
    return f"{settings.SITE_URL}/demo-upstreams/{prefix}"


def _api(entry: dict, provider, organization) -> Api:
    api = Api.objects.filter(slug=entry["slug"]).first()
    fields = {
        "summary": entry["summary"],
        "description": entry["description"].replace(GATEWAY_PLACEHOLDER, gateway_url()),
        "category": Category.objects.get(name=entry["category"]),
        "tags": entry["tags"],
        "upstream_url": _upstream(entry["path_prefix"]),
        "support_email": "support@acme.test",
        "website_url": "https://example.com/",
    }
    if api is None:
        api = services.api_create(
            actor=provider,
            organization=organization,
            name=entry["name"],
            slug=entry["slug"],
            **fields,
        )
    else:
        api = services.api_update(actor=provider, api=api, **fields)
    pending = services.spec_import_prepare(
        actor=provider, api=api, source=entry["spec_file"].read_text()
    )
    services.spec_import_apply(actor=provider, spec_import=pending)
    Api.objects.filter(pk=api.pk).update(
        status=ApiStatus.PUBLISHED,
        featured=entry["slug"] in FEATURED,
        published_at=api.published_at or timezone.now(),
    )
    api.refresh_from_db()
    return api


def _pending_listing(provider, organization) -> None:
    """A listing in the review queue, so staff have something to moderate."""
    if Api.objects.filter(slug="weather-now").exists():
        return
    api = services.api_create(
        actor=provider,
        organization=organization,
        name="Weather Now",
        slug="weather-now",
        summary="Current conditions for any city (waiting for review).",
        description="Current temperature, wind and sky for a city name.",
        upstream_url=_upstream("textstats"),
        category=Category.objects.get(slug="data-enrichment"),
    )
    services.endpoint_save(
        actor=provider,
        api=api,
        method="GET",
        path="/weather/{city}",
        summary="Conditions in a city",
    )
    services.api_submit(actor=provider, api=api)
