from .roles import CAPABILITIES


def organizations(request):
    membership = getattr(request, "membership", None)
    return {
        "memberships": getattr(request, "memberships", []),
        "active_membership": membership,
        "active_organization": getattr(request, "organization", None),
        # the role matrix for templates: {% if can.see_money %}
        "can": {name: bool(membership and membership.can(name)) for name in CAPABILITIES},
    }
