"""Organization roles and what each may do. One table, read by services and templates."""

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    BILLING = "billing", "Billing"


CAPABILITIES: dict[str, set[str]] = {
    # members, invitations, roles, organization settings
    "manage_members": {Role.OWNER, Role.ADMIN},
    # access tokens, API keys, listings, plans, endpoints, webhooks
    "develop": {Role.OWNER, Role.ADMIN, Role.DEVELOPER},
    # subscriptions, invoices, cards, spend caps, payouts
    "billing": {Role.OWNER, Role.ADMIN, Role.BILLING},
    # everything read-only inside the organization
    "view": {Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.BILLING},
}

ROLE_HELP = {
    Role.OWNER: "Everything, including deleting the organization and appointing owners.",
    Role.ADMIN: "Everything except appointing or removing owners.",
    Role.DEVELOPER: "APIs, plans, keys and tokens; no billing or members.",
    Role.BILLING: "Subscriptions, invoices, cards and payouts; no keys or APIs.",
}


def role_can(role: str, capability: str) -> bool:
    return role in CAPABILITIES[capability]
