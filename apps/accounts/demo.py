"""Demo people: staff, a provider team and a consumer team, each with an access token."""

from allauth.account.models import EmailAddress

from apps.core.demo_secrets import demo_secret
from apps.core.secrets import display_prefix, hash_secret

from .models import AccessToken, Membership, Organization, User
from .roles import Role
from .services import ACCESS_TOKEN_PREFIX

PEOPLE = {
    "staff": ("staff@tollgate.local", "Sam Staff", "Tollgate Staff", True),
    "provider": ("provider@tollgate.local", "Priya Provider", "Acme APIs", False),
    "consumer": ("consumer@tollgate.local", "Carlos Consumer", "Globex Apps", False),
}
PASSWORD = "tollgate-demo"


def seed(demo: dict) -> None:
    for role, (email, name, org_name, is_staff) in PEOPLE.items():
        user = _user(email, name, is_staff)
        organization = _organization(org_name, user)
        demo[role] = {
            "email": email,
            "password": PASSWORD,
            "token": _token(organization, user, role),
        }
        demo[f"{role}_user"], demo[f"{role}_org"] = user, organization


def _user(email: str, name: str, is_staff: bool) -> User:
    user, _ = User.objects.get_or_create(email=email, defaults={"name": name})
    user.name, user.is_staff, user.is_superuser = name, is_staff, is_staff
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def _organization(name: str, owner: User) -> Organization:
    slug = name.lower().replace(" ", "-")
    organization, _ = Organization.objects.get_or_create(
        slug=slug, defaults={"name": name, "billing_email": owner.email}
    )
    Membership.objects.update_or_create(
        organization=organization, user=owner, defaults={"role": Role.OWNER}
    )
    return organization


def _token(organization: Organization, user: User, label: str) -> str:
    secret = demo_secret(ACCESS_TOKEN_PREFIX, label)
    AccessToken.objects.update_or_create(
        token_hash=hash_secret(secret),
        defaults={
            "organization": organization,
            "name": "Demo token",
            "created_by": user,
            "prefix": display_prefix(secret, ACCESS_TOKEN_PREFIX),
            "revoked_at": None,
        },
    )
    return secret
