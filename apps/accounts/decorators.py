from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect


def member_required(capability: str = "view"):
    """Page views acting for the active organization. Members without the capability get a
    403 page; people with no organization are sent to create one."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            membership = request.membership
            if membership is None:
                return redirect("accounts:organization_create")
            if not membership.can(capability):
                raise PermissionDenied("Your role in this organization does not allow that.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
