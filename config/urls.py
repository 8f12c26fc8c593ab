from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.urls import invitation_urlpatterns
from apps.catalog import views as catalog_views
from apps.core import metrics as core_metrics
from apps.core import views as core_views

admin.site.site_header = f"{settings.SITE_NAME} administration"
admin.site.site_title = f"{settings.SITE_NAME} admin"
admin.site.index_title = "Marketplace"

urlpatterns = [
    path("", catalog_views.home, name="home"),
    path("", include("apps.catalog.urls")),
    path("", include("apps.subscriptions.urls")),
    path("", include("apps.analytics.urls")),
    path("", include("apps.billing.urls")),
    path("demo-upstreams/", include("apps.demo_upstreams.urls")),
    path("favicon.ico", core_views.favicon),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_metrics.metrics, name="metrics"),
    path("docs/", core_views.docs, {"page": "index"}, name="docs_index"),
    path("docs/<slug:page>/", core_views.docs, name="docs"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("console/", include("config.console_urls")),
    path("console/", include("apps.accounts.urls")),
    path("console/", include("apps.keys.urls")),
    path("console/", include("apps.payouts.urls")),
    path("console/", include("apps.webhooks.urls")),
    path("", include(invitation_urlpatterns)),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}),
]
