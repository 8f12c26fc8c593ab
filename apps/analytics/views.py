from datetime import timedelta

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.decorators import member_required
from apps.core.errors import ServiceError
from apps.keys.services import api_key_create

TRY_KEY_LIFETIME = timedelta(hours=1)


@require_POST
@member_required("develop")
def try_key(request):
    """A key for the Try it console that expires in an hour (secrets are never stored, so
    the console cannot reuse an existing key's secret)."""
    try:
        _, secret = api_key_create(
            actor=request.user,
            organization=request.organization,
            name="Try it console (temporary)",
            expires_at=timezone.now() + TRY_KEY_LIFETIME,
        )
    except ServiceError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    return JsonResponse({"key": secret})
