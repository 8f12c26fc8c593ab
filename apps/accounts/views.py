from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound, ServiceError
from apps.core.forms import add_service_error
from apps.core.models import AuditLog

from . import services
from .adapters import remember_invited_email
from .decorators import member_required
from .forms import (
    AccessTokenForm,
    InvitationForm,
    OrganizationCreateForm,
    OrganizationForm,
    ProfileForm,
    RoleForm,
)
from .models import Membership
from .roles import ROLE_HELP, Role
from .selectors import SESSION_KEY, organization_for_member


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@require_POST
@login_required
def switch_organization(request):
    organization = organization_for_member(request.user, request.POST.get("organization", ""))
    if organization is None:
        raise NotFound("No such organization.")
    request.session[SESSION_KEY] = organization.public_id
    messages.info(request, f"Now acting as {organization.name}.")
    target = request.POST.get("next") or reverse("console:home")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = reverse("console:home")
    return HttpResponseRedirect(target)


@login_required
def organization_create(request):
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(
                owner=request.user, name=form.cleaned_data["name"]
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            request.session[SESSION_KEY] = organization.public_id
            messages.success(request, f"{organization.name} is ready. Invite your teammates.")
            return redirect("accounts:members")
    return render(request, "accounts/organization_create.html", {"form": form})


@member_required("view")
def organization_settings(request):
    organization = request.organization
    can_edit = request.membership.can("manage_members")
    form = OrganizationForm(request.POST or None, instance=organization)
    if request.method == "POST" and can_edit and form.is_valid():
        try:
            services.organization_update(
                actor=request.user,
                organization=organization,
                name=form.cleaned_data["name"],
                billing_email=form.cleaned_data["billing_email"],
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Organization settings saved.")
            return redirect("accounts:organization_settings")
    return render(
        request, "accounts/organization_settings.html", {"form": form, "can_edit": can_edit}
    )


@require_POST
@member_required("view")
def organization_leave(request):
    try:
        services.membership_remove(actor=request.user, membership=request.membership)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("accounts:organization_settings")
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"You left {request.organization.name}.")
    return redirect("console:home")


# --- Members and invitations -------------------------------------------------------------
@member_required("view")
def members(request):
    organization = request.organization
    can_manage = request.membership.can("manage_members")
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and can_manage and form.is_valid():
        try:
            invitation = services.invitation_create(
                actor=request.user, organization=organization, **form.cleaned_data
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("accounts:members")
    context = {
        "form": form,
        "can_manage": can_manage,
        "memberships": organization.memberships.select_related("user").order_by("user__email"),
        "invitations": organization.invitations.filter(
            accepted_at=None, canceled_at=None
        ).select_related("invited_by"),
        "roles": Role.choices,
        "role_help": ROLE_HELP,
        "now": timezone.now(),
    }
    return render(request, "accounts/members.html", context)


def _membership_in_active_org(request, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "organization"),
        pk=membership_id,
        organization=request.organization,
    )


@require_POST
@member_required("manage_members")
def member_role(request, membership_id: int):
    membership = _membership_in_active_org(request, membership_id)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceError("Pick a role.")
        membership = services.membership_change_role(
            actor=request.user, membership=membership, role=form.cleaned_data["role"]
        )
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display()}."
        )
    except ServiceError as error:
        membership.refresh_from_db()
        messages.error(request, error.message)
    if request.htmx:
        return render(
            request,
            "accounts/_member_row.html",
            {
                "m": membership,
                "can_manage": True,
                "roles": Role.choices,
                "swap_messages": True,
            },
        )
    return redirect("accounts:members")


@require_POST
@member_required("manage_members")
def member_remove(request, membership_id: int):
    membership = _membership_in_active_org(request, membership_id)
    try:
        services.membership_remove(actor=request.user, membership=membership)
        messages.success(request, f"{membership.user.email} was removed.")
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("accounts:members")


@require_POST
@member_required("manage_members")
def invitation_cancel(request, public_id: str):
    invitation = get_object_or_404(request.organization.invitations, public_id=public_id)
    services.invitation_cancel(actor=request.user, invitation=invitation)
    messages.success(request, f"Invitation to {invitation.email} withdrawn.")
    return redirect("accounts:members")


def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_by_token(token)
    except NotFound:
        return render(request, "accounts/invitation_invalid.html", status=404)
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = services.invitation_accept(user=request.user, token=token)
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            request.session[SESSION_KEY] = membership.organization.public_id
            messages.success(request, f"Welcome to {membership.organization.name}.")
            return redirect("console:home")
    if not request.user.is_authenticated and invitation.is_pending and not invitation.is_expired:
        remember_invited_email(request, invitation.email)
    return render(request, "accounts/invitation_accept.html", {"invitation": invitation})


# --- Access tokens -----------------------------------------------------------------------
@member_required("view")
def tokens(request):
    organization = request.organization
    can_create = request.membership.can("view")  # a token acts with its creator's role
    form = AccessTokenForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and can_create and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=int(days)) if days else None
        try:
            token, new_secret = services.access_token_create(
                actor=request.user,
                organization=organization,
                name=form.cleaned_data["name"],
                expires_at=expires_at,
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            form = AccessTokenForm()
            messages.success(request, f"Token “{token.name}” created. Copy it now.")
    context = {
        "form": form,
        "can_create": can_create,
        "new_secret": new_secret,
        "tokens": organization.access_tokens.select_related("created_by"),
    }
    return render(request, "accounts/tokens.html", context)


@require_POST
@member_required("view")
def token_revoke(request, public_id: str):
    token = get_object_or_404(request.organization.access_tokens, public_id=public_id)
    services.access_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked; it stops working now.")
    return redirect("accounts:tokens")


@member_required("manage_members")
def audit(request):
    entries = AuditLog.objects.filter(organization=request.organization).select_related("actor")[
        :200
    ]
    return render(request, "accounts/audit.html", {"entries": entries})
