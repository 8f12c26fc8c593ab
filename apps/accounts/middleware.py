from .selectors import active_membership, memberships_cached


class ActiveOrganizationMiddleware:
    """Sets `request.memberships`, `request.membership` and `request.organization` for
    signed-in users with one query (the header's organization switcher needs them)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.memberships = []
        request.membership = request.organization = None
        if request.user.is_authenticated:
            request.memberships = memberships_cached(request, request.user)
            request.membership = active_membership(request)
            request.organization = request.membership.organization if request.membership else None
        return self.get_response(request)
