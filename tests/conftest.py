"""Personas and shared fixtures: an owner, a member of the same organization, an outsider
from another organization who must see nothing."""

import os

import pytest
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytest_plugins = ["tests.browser.fixtures", "tests.servers"]

# Property tests check amounts, not speed: on a shared, busy machine Hypothesis's default
# 200 ms deadline fails examples that are merely slow (speed is bench/'s business).
hypothesis_settings.register_profile("tollgate", deadline=None)
hypothesis_settings.load_profile("tollgate")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """allauth's rate limits and our caches live in the cache: each test starts clean."""
    from django.core.cache import cache

    cache.clear()
    yield


def pytest_collection_modifyitems(config, items):
    """Browser tests run last (Playwright keeps an event loop in the main thread while it
    runs). Tests that need a real Redis or PostgreSQL (row locks, concurrent transactions)
    are skipped, visibly, when REDIS_URL or DATABASE_URL is unset."""
    items.sort(key=lambda item: "browser" in item.keywords)
    needs = [
        ("redis", "REDIS_URL", "needs Redis: set REDIS_URL (CI does)"),
        ("postgres", "DATABASE_URL", "needs PostgreSQL: set DATABASE_URL (CI does)"),
    ]
    for marker, variable, reason in needs:
        if os.environ.get(variable):
            continue
        for item in items:
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def owner(org):
    return MembershipFactory(organization=org, role=Role.OWNER, user__email="owner@acme.test").user


@pytest.fixture
def member(org):
    return MembershipFactory(
        organization=org, role=Role.DEVELOPER, user__email="dev@acme.test"
    ).user


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Initech", slug="initech")


@pytest.fixture
def outsider(other_org):
    return MembershipFactory(
        organization=other_org, role=Role.OWNER, user__email="outsider@initech.test"
    ).user


@pytest.fixture
def staff(db):
    user = UserFactory(email="staff@tollgate.test", is_staff=True, is_superuser=True)
    return user


@pytest.fixture
def api_client():
    return APIClient()


def bearer_client(user, organization, name="test") -> tuple[APIClient, str]:
    _, secret = account_services.access_token_create(
        actor=user, organization=organization, name=name
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, secret


@pytest.fixture
def owner_api(owner, org):
    return bearer_client(owner, org)[0]


@pytest.fixture
def outsider_api(outsider, other_org):
    return bearer_client(outsider, other_org)[0]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(client, outsider):
    client.force_login(outsider)
    return client
