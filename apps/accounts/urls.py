from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("account/", views.profile, name="profile"),
    path("organization/", views.organization_settings, name="organization_settings"),
    path("organization/new/", views.organization_create, name="organization_create"),
    path("organization/switch/", views.switch_organization, name="switch_organization"),
    path("organization/leave/", views.organization_leave, name="organization_leave"),
    path("organization/members/", views.members, name="members"),
    path("organization/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "organization/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "organization/invitations/<str:public_id>/cancel/",
        views.invitation_cancel,
        name="invitation_cancel",
    ),
    path("organization/tokens/", views.tokens, name="tokens"),
    path("organization/tokens/<str:public_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("organization/audit/", views.audit, name="audit"),
]

invitation_urlpatterns = [
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
