def organizations(request):
    return {
        "memberships": getattr(request, "memberships", []),
        "active_membership": getattr(request, "membership", None),
        "active_organization": getattr(request, "organization", None),
    }
