"""The role matrix (roles.py) in the platform API."""

from rest_framework import permissions

from .roles import refusal


class RoleAllows(permissions.BasePermission):
    """Allows a request when the member it acts as (the access token's creator, or the
    signed-in user in the active organization) has the view's `required_capability`.
    The refusal is a 403 problem with code `forbidden`, naming the roles that may."""

    code = "forbidden"

    def has_permission(self, request, view) -> bool:
        capability = getattr(view, "required_capability", None)
        if capability in (None, "view") or not request.user.is_authenticated:
            return True  # every member may; authentication (or AllowAny) decides
        membership = view.membership  # 404 for people in no organization
        if membership.can(capability):
            return True
        self.message = refusal(membership.role, capability)
        return False
