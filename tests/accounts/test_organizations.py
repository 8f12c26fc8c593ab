import pytest

from apps.accounts import services
from apps.accounts.models import Membership, Organization
from apps.accounts.roles import Role
from apps.core.errors import Conflict, Forbidden, NotFound
from apps.core.models import AuditLog

pytestmark = pytest.mark.django_db


def test_creating_a_team_makes_the_creator_its_owner(owner_client, owner):
    response = owner_client.post("/console/organization/new/", {"name": "Rocket Team"})
    assert response.status_code == 302
    team = Organization.objects.get(name="Rocket Team")
    assert team.slug == "rocket-team"
    assert not team.is_personal
    assert Membership.objects.get(organization=team, user=owner).role == Role.OWNER
    # the new team becomes the active one
    assert owner_client.get("/console/organization/").context["active_organization"] == team


def test_switching_organization_changes_what_the_console_acts_for(owner_client, owner, other_org):
    Membership.objects.create(organization=other_org, user=owner, role=Role.DEVELOPER)
    response = owner_client.post(
        "/console/organization/switch/", {"organization": other_org.public_id, "next": "/console/"}
    )
    assert response.status_code == 302
    assert owner_client.get("/console/").context["active_organization"] == other_org


def test_switching_to_someone_elses_organization_is_404(owner_client, other_org):
    response = owner_client.post(
        "/console/organization/switch/", {"organization": other_org.public_id}
    )
    assert response.status_code == 404


def test_switch_ignores_offsite_next(owner_client, org):
    response = owner_client.post(
        "/console/organization/switch/",
        {"organization": org.public_id, "next": "https://evil.test/"},
    )
    assert response.url == "/console/"


def test_owner_changes_a_role_and_it_is_audited(owner, member, org):
    membership = Membership.objects.get(user=member, organization=org)
    services.membership_change_role(actor=owner, membership=membership, role=Role.BILLING)
    membership.refresh_from_db()
    assert membership.role == Role.BILLING
    entry = AuditLog.objects.get(action="membership.role_changed")
    assert entry.actor == owner and entry.organization == org
    assert entry.data == {"from": "developer", "to": "billing"}


def test_developers_cannot_change_roles(member, owner, org):
    membership = Membership.objects.get(user=owner, organization=org)
    with pytest.raises(Forbidden):
        services.membership_change_role(actor=member, membership=membership, role=Role.BILLING)


def test_admins_cannot_appoint_owners(owner, member, org):
    Membership.objects.filter(user=member).update(role=Role.ADMIN)
    target = Membership.objects.get(user=member)
    with pytest.raises(Forbidden):
        services.membership_change_role(actor=member, membership=target, role=Role.OWNER)


def test_the_last_owner_cannot_be_demoted_or_removed(owner, org):
    membership = Membership.objects.get(user=owner, organization=org)
    with pytest.raises(Conflict):
        services.membership_change_role(actor=owner, membership=membership, role=Role.ADMIN)
    with pytest.raises(Conflict):
        services.membership_remove(actor=owner, membership=membership)


def test_outsiders_cannot_touch_memberships(outsider, member, org):
    membership = Membership.objects.get(user=member, organization=org)
    with pytest.raises(NotFound):
        services.membership_change_role(actor=outsider, membership=membership, role=Role.OWNER)


def test_role_change_page_cannot_reach_another_organizations_member(outsider_client, member):
    membership = Membership.objects.get(user=member)
    response = outsider_client.post(
        f"/console/organization/members/{membership.pk}/role/", {"role": "owner"}
    )
    assert response.status_code == 404
    membership.refresh_from_db()
    assert membership.role == Role.DEVELOPER


def test_role_change_over_htmx_returns_the_updated_row(owner_client, member):
    membership = Membership.objects.get(user=member)
    response = owner_client.post(
        f"/console/organization/members/{membership.pk}/role/",
        {"role": "billing"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert f'id="member-{membership.pk}"'.encode() in response.content
    assert b'value="billing" selected' in response.content


def test_removing_a_member(owner_client, member):
    membership = Membership.objects.get(user=member)
    owner_client.post(f"/console/organization/members/{membership.pk}/remove/")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_settings_pages_render_for_members(owner_client):
    for path in [
        "/console/",
        "/console/account/",
        "/console/organization/",
        "/console/organization/members/",
        "/console/organization/tokens/",
        "/console/organization/audit/",
    ]:
        assert owner_client.get(path).status_code == 200, path


def test_developers_do_not_see_the_audit_log(client, member):
    client.force_login(member)
    assert client.get("/console/organization/audit/").status_code == 403
