"""Shared pieces of the platform API views."""

from functools import cached_property

from rest_framework.exceptions import NotFound

from .permissions import RoleAllows
from .selectors import active_membership


class OrganizationScopedMixin:
    """Views acting for the request's organization: the access token's, or the session's
    active one. Objects of other organizations are simply not in the queryset (404).
    `required_capability` (roles.py) says which roles may call the view at all; writes
    are checked again by their services."""

    required_capability = "view"

    def get_permissions(self):
        return [*super().get_permissions(), RoleAllows()]

    @cached_property
    def membership(self):
        membership = active_membership(self.request)
        if membership is None:
            raise NotFound("You belong to no organization.")
        return membership

    @property
    def organization(self):
        return self.membership.organization

    def validated(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
