from io import BytesIO

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.catalog import services
from apps.catalog.models import Api, ApiStatus
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.core.models import AuditLog
from tests.catalog.factories import ApiFactory, EndpointFactory

pytestmark = pytest.mark.django_db

UPSTREAM = "http://127.0.0.1:9100/v1"


def _png(size=(64, 64)) -> SimpleUploadedFile:
    buffer = BytesIO()
    Image.new("RGB", size, "purple").save(buffer, "PNG")
    return SimpleUploadedFile("logo.png", buffer.getvalue(), content_type="image/png")


def test_creating_a_listing_makes_a_draft_with_secrets(owner, org):
    api = services.api_create(
        actor=owner,
        organization=org,
        name="Invoice OCR",
        upstream_url=UPSTREAM + "/",
        summary="Reads invoices",
    )
    assert api.status == ApiStatus.DRAFT
    assert api.slug == "invoice-ocr"
    assert api.upstream_url == UPSTREAM  # normalised, no trailing slash
    assert api.proxy_secret.startswith("tgps_") and api.signing_secret.startswith("tgss_")
    assert AuditLog.objects.filter(action="api.created", target_id=api.public_id).exists()


def test_slugs_are_unique_and_reserved_words_refused(owner, org):
    first = services.api_create(actor=owner, organization=org, name="Maps", upstream_url=UPSTREAM)
    second = services.api_create(actor=owner, organization=org, name="Maps", upstream_url=UPSTREAM)
    assert (first.slug, second.slug) == ("maps", "maps-2")
    with pytest.raises(Conflict):
        services.api_create(
            actor=owner,
            organization=org,
            name="X",
            slug="maps",
            slug_strict=True,
            upstream_url=UPSTREAM,
        )
    with pytest.raises(ServiceError, match="reserved"):
        services.api_create(
            actor=owner, organization=org, name="X", slug="admin", upstream_url=UPSTREAM
        )


def test_private_upstreams_are_refused_unless_allowed(owner, org, settings):
    settings.UPSTREAM_ALLOW_PRIVATE = False
    with pytest.raises(ServiceError) as caught:
        services.api_create(
            actor=owner,
            organization=org,
            name="Sneaky",
            upstream_url="http://169.254.169.254/latest",
        )
    assert caught.value.field == "upstream_url"
    assert not Api.objects.exists()


def test_descriptions_are_rendered_and_sanitized(owner, org):
    api = services.api_create(
        actor=owner,
        organization=org,
        name="Xss",
        upstream_url=UPSTREAM,
        description="# Hi\n<script>alert(1)</script>\n[click](javascript:alert(1)) "
        "<img src=x onerror=alert(1)> [ok](https://example.com)",
    )
    html = api.description_html
    assert "<h1" in html and "<script" not in html and "javascript:" not in html
    assert "onerror" not in html
    assert 'href="https://example.com"' in html and "noopener" in html


def test_logos_must_be_real_small_images(owner, org):
    api = services.api_create(actor=owner, organization=org, name="Logo", upstream_url=UPSTREAM)
    fake = SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", content_type="image/png")
    with pytest.raises(ServiceError, match="not a PNG"):
        services.api_update(actor=owner, api=api, logo=fake)
    huge = SimpleUploadedFile("big.png", b"\x89PNG" + b"0" * 600_000, content_type="image/png")
    with pytest.raises(ServiceError, match="512 KB"):
        services.api_update(actor=owner, api=api, logo=huge)
    services.api_update(actor=owner, api=api, logo=_png())
    api.refresh_from_db()
    assert api.logo.name.startswith("logos/")


def test_members_without_develop_rights_and_outsiders_cannot_edit(owner, org, outsider):
    api = ApiFactory(organization=org, status=ApiStatus.DRAFT)
    with pytest.raises(NotFound):
        services.api_update(actor=outsider, api=api, name="Mine now")
    from apps.accounts.models import Membership

    billing = Membership.objects.create(organization=org, user=outsider, role="billing").user
    with pytest.raises(Forbidden):
        services.api_update(actor=billing, api=api, name="Nope")


def test_submitting_needs_a_description_and_an_endpoint(owner, org):
    api = ApiFactory(organization=org, status=ApiStatus.DRAFT, description="")
    with pytest.raises(ServiceError, match="description"):
        services.api_submit(actor=owner, api=api)
    api.description = "Now described"
    api.save()
    with pytest.raises(ServiceError, match="endpoint"):
        services.api_submit(actor=owner, api=api)
    EndpointFactory(api=api)
    assert services.api_submit(actor=owner, api=api).status == ApiStatus.PENDING_REVIEW


def test_the_whole_moderation_lifecycle_is_audited_and_emailed(
    owner, org, staff, django_capture_on_commit_callbacks
):
    api = ApiFactory(organization=org, status=ApiStatus.DRAFT)
    EndpointFactory(api=api)
    with django_capture_on_commit_callbacks(execute=True):
        services.api_submit(actor=owner, api=api)
        services.api_reject(actor=staff, api=api, reason="Add rate limits to the docs")
    api.refresh_from_db()
    assert api.status == ApiStatus.REJECTED and "rate limits" in api.rejection_reason
    assert any("rate limits" in m.body for m in mail.outbox)
    assert mail.outbox[-1].to == [owner.email]
    with django_capture_on_commit_callbacks(execute=True):
        services.api_submit(actor=owner, api=api)
        services.api_approve(actor=staff, api=api)
        services.api_suspend(actor=staff, api=api, reason="Abuse report")
        services.api_restore(actor=staff, api=api)
    api.refresh_from_db()
    assert api.status == ApiStatus.PUBLISHED and api.published_at is not None
    actions = list(
        AuditLog.objects.filter(target_id=api.public_id).values_list("action", flat=True)
    )
    for action in ["api.submit", "api.reject", "api.approve", "api.suspend", "api.restore"]:
        assert action in actions
    assert len([m for m in mail.outbox if m.subject.endswith("is published")]) == 1


def test_providers_cannot_approve_themselves(owner, org):
    api = ApiFactory(organization=org, status=ApiStatus.PENDING_REVIEW)
    with pytest.raises(Forbidden):
        services.api_approve(actor=owner, api=api)


def test_refused_transitions_say_so(staff, org):
    api = ApiFactory(organization=org, status=ApiStatus.DRAFT)
    with pytest.raises(Conflict):
        services.api_approve(actor=staff, api=api)
    with pytest.raises(ServiceError, match="why"):
        services.api_reject(
            actor=staff, api=ApiFactory(status=ApiStatus.PENDING_REVIEW), reason=" "
        )


def test_rotating_a_secret_replaces_it(owner, org):
    api = ApiFactory(organization=org)
    old_proxy, old_signing = api.proxy_secret, api.signing_secret
    api = services.api_rotate_secret(actor=owner, api=api, which="signing")
    assert api.signing_secret != old_signing and api.proxy_secret == old_proxy


def test_manual_endpoints_validate_method_path_and_duplicates(owner, org):
    api = ApiFactory(organization=org)
    services.endpoint_save(
        actor=owner,
        api=api,
        method="get",
        path="/users/{id}",
        summary="One user",
        tags="Users, People",
    )
    with pytest.raises(Conflict):
        services.endpoint_save(actor=owner, api=api, method="GET", path="/users/{id}")
    with pytest.raises(ServiceError, match="starts with /"):
        services.endpoint_save(actor=owner, api=api, method="GET", path="users")
    with pytest.raises(ServiceError, match="Method"):
        services.endpoint_save(actor=owner, api=api, method="BREW", path="/coffee")
    endpoint = api.endpoints.get()
    assert endpoint.method == "GET" and endpoint.tags == ["Users", "People"]
