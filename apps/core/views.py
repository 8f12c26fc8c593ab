from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache

from .health import run_checks
from .markdown import render_markdown

DOCS_DIR = Path(settings.BASE_DIR) / "docs"
DOC_PAGES = {
    "index": ("README.md", "Documentation"),
    "consumers": ("consumers.md", "Guide for consumers"),
    "providers": ("providers.md", "Guide for providers"),
    "operators": ("operators.md", "Guide for operators"),
    "errors": ("errors.md", "Error codes"),
    "pricing": ("pricing.md", "How pricing works"),
    "stripe": ("stripe.md", "Taking payments with Stripe"),
    "payouts": ("payouts.md", "Payouts"),
    "webhooks": ("webhooks.md", "Webhooks for providers"),
    "operations": ("operations/README.md", "Monitoring and alerts"),
    "architecture": ("ARCHITECTURE.md", "Architecture"),
    "benchmarks": ("BENCHMARKS.md", "Benchmarks"),
}


@never_cache
def favicon(request):
    """Browsers ask for /favicon.ico where a page names no icon (JSON answers, downloads).
    Resolved per request: production's hashed name exists only after collectstatic."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    healthy, checks = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def docs(request, page: str):
    if page not in DOC_PAGES:
        raise Http404("No such page.")
    filename, title = DOC_PAGES[page]
    path = DOCS_DIR / filename
    if not path.exists():
        raise Http404("No such page.")
    html = render_markdown(path.read_text(), trusted=True)
    return render(
        request,
        "core/doc_page.html",
        {
            "title": title,
            "body": mark_safe(html),
            "pages": DOC_PAGES,
            "current": page,
        },
    )
