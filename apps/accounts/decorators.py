from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from .roles import CAPABILITIES, refusal


def member_required(capability: str = "view"):
    """Page views acting for the active organization, allowed to the roles the matrix
    (roles.py) gives `capability`. Other members get a 403 page saying which roles may;
    people with no organization are sent to create one."""
    if capability not in CAPABILITIES:
        raise ValueError(f"Unknown capability {capability!r}")

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            membership = request.membership
            if membership is None:
                return redirect("accounts:organization_create")
            require_role(request, capability)
            return view(request, *args, **kwargs)

        wrapper.required_capability = capability
        return wrapper

    return decorator


def require_role(request, capability: str) -> None:
    """For a view that allows more to some roles (a page everyone reads, a form only some
    may post): the same refusal as `member_required`."""
    if not request.membership.can(capability):
        raise PermissionDenied(refusal(request.membership.role, capability))
