"""Organization roles and what each may see and do: the role matrix, written once.

Everything that decides by role reads it: `member_required(capability)` on console pages,
`RoleAllows` (via `OrganizationScopedMixin.required_capability`) in the platform API,
`require_capability` in services, `{% if can.<capability> %}` in templates (the
`organizations` context processor), and the notifications' email recipients. The docs'
table (docs/consumers.md "Roles") and the invite form's help are written from it."""

from dataclasses import dataclass

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    BILLING = "billing", "Billing"


@dataclass(frozen=True)
class Capability:
    name: str
    roles: frozenset[str]
    covers: str  # what it lets a member see or do, console and platform API alike


EVERYONE = frozenset(Role)
MATRIX: tuple[Capability, ...] = (
    Capability(
        "view",
        EVERYONE,
        "see the organization's subscriptions (plan and status), keys, usage counts and "
        "request logs, its APIs and their traffic, webhooks, members and tokens; make "
        "access tokens, which act with the maker's role",
    ),
    Capability(
        "develop",
        frozenset({Role.OWNER, Role.ADMIN, Role.DEVELOPER}),
        "create and change API keys, listings, plans, endpoints, the listing's secrets and "
        "webhooks; revoke anyone's access token; subscribe to free plans",
    ),
    Capability(
        "see_money",
        frozenset({Role.OWNER, Role.ADMIN, Role.BILLING}),
        "see invoices, billing settings, estimated charges and spend, spend caps, payouts, "
        "earnings statements, the provider balance and ledger, and revenue figures",
    ),
    Capability(
        "billing",
        frozenset({Role.OWNER, Role.ADMIN, Role.BILLING}),
        "subscribe to paid plans, change or cancel plans, set spend caps and alerts, manage "
        "cards, connect Stripe and enter payout details",
    ),
    Capability(
        "manage_members",
        frozenset({Role.OWNER, Role.ADMIN}),
        "invite and remove members, change roles, edit the organization, read the audit log",
    ),
)
CAPABILITIES: dict[str, frozenset[str]] = {c.name: c.roles for c in MATRIX}

ROLE_HELP = {
    Role.OWNER: "Everything, including deleting the organization and appointing owners.",
    Role.ADMIN: "Everything except appointing or removing owners.",
    Role.DEVELOPER: "APIs, plans, keys and tokens; no money (invoices, payouts, spend) "
    "and no members.",
    Role.BILLING: "Subscriptions, invoices, cards, spend caps and payouts; no keys or APIs.",
}


def role_can(role: str, capability: str) -> bool:
    return role in CAPABILITIES[capability]


def refusal(role: str, capability: str) -> str:
    """What a member is told when the matrix refuses them (pages and the API alike)."""
    names = [Role(r).label.lower() for r in Role if r in CAPABILITIES[capability]]
    allowed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    label = Role(role).label if role in Role.values else role
    return (
        f"Your role ({label}) does not allow this: it needs the {allowed} role. "
        "Ask an owner or admin of the organization."
    )
