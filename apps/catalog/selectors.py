"""Reads for the catalog: what the public sees, what a provider sees, search."""

from collections import OrderedDict

from django.conf import settings
from django.contrib.postgres.aggregates import StringAgg
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import CharField, Count, F, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Cast, Coalesce

from apps.accounts.models import Organization, User

from .models import Api, ApiStatus, Category, Endpoint, Visibility

# Extra annotations later apps contribute to catalog cards (subscriber counts, quality).
listing_annotators: list = []


def live_apis() -> QuerySet[Api]:
    """Published by a provider that is not suspended: callable, subscribable, visible by
    link (a suspended provider's listings are hidden until staff lift the suspension)."""
    return Api.objects.filter(status=ApiStatus.PUBLISHED, organization__suspended_at=None)


def listed_apis() -> QuerySet[Api]:
    """Live and public: what the catalog and search show."""
    return live_apis().filter(visibility=Visibility.PUBLIC)


def catalog_cards(queryset: QuerySet[Api]) -> QuerySet[Api]:
    queryset = queryset.select_related("category", "organization")
    for annotate in listing_annotators:
        queryset = annotate(queryset)
    return queryset


def search_apis(query: str = "", category: str = "") -> QuerySet[Api]:
    queryset = listed_apis()
    if category:
        queryset = queryset.filter(category__slug=category)
    query = (query or "").strip()[:200]
    if not query:
        return catalog_cards(queryset).order_by("-featured", "name")
    if settings.USING_POSTGRES:
        return catalog_cards(_postgres_search(queryset, query))
    return catalog_cards(_simple_search(queryset, query))


def _postgres_search(queryset: QuerySet[Api], query: str) -> QuerySet[Api]:
    """Full-text search weighted name > summary and tags > endpoint summaries; prefix
    matching so results update while people type."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
    if not words:
        return queryset.none()
    search_query = SearchQuery(
        " & ".join(f"{w}:*" for w in words), search_type="raw", config="english"
    )
    summaries = (
        Endpoint.objects.filter(api=OuterRef("pk"), removed_at=None)
        .values("api")
        .annotate(text=StringAgg("summary", delimiter=" "))
        .values("text")[:1]
    )
    endpoint_text = Coalesce(
        Subquery(summaries, output_field=TextField()), Value(""), output_field=TextField()
    )
    vector = (
        SearchVector("name", weight="A", config="english")
        + SearchVector("summary", Cast("tags", CharField()), weight="B", config="english")
        + SearchVector(endpoint_text, weight="C", config="english")
        + SearchVector("description", weight="D", config="english")
    )
    # match with @@ (ts_rank is never exactly 0, so it cannot filter), order by rank
    return (
        queryset.annotate(document=vector, rank=SearchRank(vector, search_query))
        .filter(document=search_query)
        .order_by(F("rank").desc(), "name")
    )


def _simple_search(queryset: QuerySet[Api], query: str) -> QuerySet[Api]:
    condition = Q()
    for word in query.split()[:8]:
        condition &= (
            Q(name__icontains=word)
            | Q(summary__icontains=word)
            | Q(tags__icontains=word)
            | Q(description__icontains=word)
            | Q(endpoints__summary__icontains=word)
        )
    matching = queryset.filter(condition).values("pk")
    return queryset.filter(pk__in=matching).order_by("-featured", "name")


def categories_with_counts() -> QuerySet[Category]:
    listed = Q(
        apis__status=ApiStatus.PUBLISHED,
        apis__visibility=Visibility.PUBLIC,
        apis__organization__suspended_at=None,
    )
    return Category.objects.annotate(api_count=Count("apis", filter=listed))


def newest_apis(limit: int = 6) -> QuerySet[Api]:
    return catalog_cards(listed_apis()).order_by("-published_at", "-id")[:limit]


def popular_apis(limit: int = 6) -> QuerySet[Api]:
    """Most subscribed, once the subscriptions app annotates `subscriber_count`."""
    cards = catalog_cards(listed_apis())
    if "subscriber_count" not in cards.query.annotations:
        return cards.none()
    return cards.filter(subscriber_count__gt=0).order_by("-subscriber_count", "name")[:limit]


def featured_apis(limit: int = 6) -> QuerySet[Api]:
    return catalog_cards(listed_apis().filter(featured=True)).order_by("name")[:limit]


def api_for_viewer(slug: str, user: User) -> Api | None:
    """The API page: live ones for everybody (unlisted by link), anything for members of
    the owning organization and staff; None means 404."""
    api = Api.objects.select_related("organization", "category").filter(slug=slug).first()
    if api is None:
        return None
    if api.status == ApiStatus.PUBLISHED and not api.organization.is_suspended:
        return api
    if user.is_authenticated and (
        user.is_staff or api.organization.memberships.filter(user=user).exists()
    ):
        return api
    return None


def provider_apis(organization: Organization) -> QuerySet[Api]:
    return (
        organization.apis.select_related("category")
        .annotate(endpoint_count=Count("endpoints", filter=Q(endpoints__removed_at=None)))
        .order_by("name")
    )


def provider_api(organization: Organization, slug: str) -> Api | None:
    return organization.apis.select_related("category").filter(slug=slug).first()


def endpoints_by_tag(api: Api, *, include_removed: bool = False) -> "OrderedDict[str, list]":
    endpoints = api.endpoints.all()
    if not include_removed:
        endpoints = endpoints.filter(removed_at=None)
    groups: OrderedDict[str, list[Endpoint]] = OrderedDict()
    for endpoint in endpoints:
        groups.setdefault(endpoint.primary_tag or "Endpoints", []).append(endpoint)
    return groups


def review_queue() -> QuerySet[Api]:
    return (
        Api.objects.filter(status=ApiStatus.PENDING_REVIEW)
        .select_related("organization")
        .order_by("submitted_at")
    )
