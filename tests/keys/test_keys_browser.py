"""A consumer creates a key, copies it, rotates it with a one-hour grace and sees both keys
with the right badges, in headless Chromium."""

import pytest

from apps.core.secrets import has_valid_checksum
from apps.keys.models import ApiKey, KeyStatus
from tests.browser.fixtures import login, shoot
from tests.factories import PASSWORD
from tests.keys.conftest import subscribed

pytestmark = pytest.mark.browser


def _clean_shot(page, name: str) -> None:
    """Full-page shots of a scrolled page repeat the sticky header; toasts cover the top."""
    page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, name)


def test_create_copy_rotate_with_grace(page, live_site, settings, owner, org):
    settings.ROOT_URLCONF = "tests.keys.urls"  # until config/urls.py mounts the keys app
    subscribed(org, name="Weather", slug="weather")  # keys restrict to subscribed APIs only
    subscribed(org, name="Invoice OCR", slug="invoice-ocr")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, owner.email, PASSWORD)

    page.goto("/console/keys/")
    page.wait_for_selector("text=No API keys yet")
    shoot(page, "keys-empty")

    page.fill("input[name=name]", "Production backend")
    page.click("#create-key button[type=submit]")
    secret_box = page.locator("#new-key-secret")
    secret_box.wait_for()
    secret = secret_box.input_value()
    assert has_valid_checksum(secret, "tg")
    assert secret in page.inner_text("#new-key-curl")

    page.click("[data-copy='#new-key-secret']")
    page.wait_for_selector("[data-copy='#new-key-secret']:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    first = ApiKey.objects.get()
    row = page.locator(f"#key-{first.public_id}")
    row.get_by_role("link", name="Rotate").click()
    page.wait_for_selector("input[name=grace][value='1h']")
    page.check("input[name=grace][value='1h']")
    _clean_shot(page, "keys-rotate")
    page.click(f"#key-{first.public_id} button[type=submit]")
    page.wait_for_selector(f"#key-{first.public_id} .badge:has-text('in grace')")

    new_secret = page.locator("#new-key-secret").input_value()
    assert new_secret != secret and has_valid_checksum(new_secret, "tg")
    rotated = ApiKey.objects.get(pk=first.pk)
    replacement = rotated.rotated_to
    assert rotated.status == KeyStatus.GRACE and replacement.status == KeyStatus.ACTIVE
    old_row = page.inner_text(f"#key-{first.public_id}")
    assert "until" in old_row and "UTC" in old_row and "replaced by" in old_row
    assert "active" in page.inner_text(f"#key-{replacement.public_id}")
    assert page.locator("tbody tr").count() == 2
    _clean_shot(page, "keys-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    _clean_shot(page, "keys-phone")

    # Restricting edits the row in place and swaps it back.
    page.set_viewport_size({"width": 1280, "height": 860})
    new_row = page.locator(f"#key-{replacement.public_id}")
    new_row.get_by_role("link", name="Restrict").click()
    page.wait_for_selector(f"#key-{replacement.public_id} input[name=apis]")
    _clean_shot(page, "keys-restrict")
    page.get_by_label("Weather").check()
    page.click(f"#key-{replacement.public_id} button[type=submit]")
    page.wait_for_selector(f"#key-{replacement.public_id} td[data-label=APIs]:has-text('Weather')")
    assert ApiKey.objects.get(pk=replacement.pk).restricted

    # Revoking asks first, then swaps the row.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#key-{first.public_id}").get_by_role("button", name="Revoke").click()
    page.wait_for_selector(f"#key-{first.public_id} .badge-revoked")
    assert not ApiKey.objects.get(pk=first.pk).is_valid
    _clean_shot(page, "keys-after-revoke")


def test_with_javascript_off_keys_are_created_rotated_and_revoked_by_plain_pages(
    browser, live_site, settings, owner
):
    settings.ROOT_URLCONF = "tests.keys.urls"
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, base_url=live_site.url, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        login(page, owner.email, PASSWORD)
        page.goto("/console/keys/")
        page.fill("input[name=name]", "Nightly export")
        page.select_option("select[name=expires_in_days]", "30")
        page.click("#create-key button[type=submit]")
        secret = page.locator("#new-key-secret").input_value()
        assert has_valid_checksum(secret, "tg")
        key = ApiKey.objects.get()

        page.locator(f"#key-{key.public_id}").get_by_role("link", name="Rotate").click()
        page.wait_for_url(f"**/keys/{key.public_id}/rotate/")
        page.check("input[name=grace][value='24h']")
        _clean_shot(page, "keys-rotate-page")
        page.click("#content form button[type=submit]")
        assert page.locator("#new-key-secret").input_value() != secret
        assert ApiKey.objects.get(pk=key.pk).status == KeyStatus.GRACE

        page.locator(f"#key-{key.public_id}").get_by_role("button", name="Revoke").click()
        page.wait_for_selector(f"#key-{key.public_id} .badge-revoked")
        assert not ApiKey.objects.get(pk=key.pk).is_valid
    finally:
        context.close()
