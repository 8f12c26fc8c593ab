from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect

from .errors import Forbidden, NotFound, ServiceError
from .public_urls import gateway_origin


class ServiceErrorMiddleware:
    """Pages map business errors once: NotFound → 404, Forbidden → 403, anything else →
    back to the page with the message (the API maps them in core.problems)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ServiceError) or request.path.startswith("/api/"):
            return None
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, Forbidden):
            raise PermissionDenied(exception.message) from exception
        messages.error(request, exception.message)
        return HttpResponseRedirect(request.META.get("HTTP_REFERER") or request.path)


class ContentSecurityPolicyMiddleware:
    """A strict Content-Security-Policy on every page we render: scripts and styles only
    from our own origin (no CDN, no inline scripts). Inline style *attributes* stay allowed
    for progress bars and chart colours. The Django admin keeps its own defaults."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and not request.path.startswith("/admin/"):
            response.headers.setdefault("Content-Security-Policy", _with_gateway(policy))
        return response


def _with_gateway(policy: str) -> str:
    """Try it fetches from the gateway: allow its origin when it has one of its own."""
    origin = gateway_origin()
    if not origin:
        return policy
    return policy.replace("connect-src 'self'", f"connect-src 'self' {origin}", 1)
