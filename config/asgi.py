"""ASGI entry point: `/gw/` goes to the lean gateway application (no Django middleware,
see apps/gateway/app.py); everything else to Django's ASGI handler."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_application = get_asgi_application()

from apps.gateway.app import GatewayRouter  # noqa: E402  (needs Django set up first)

application = GatewayRouter(django_application)
