"""A newcomer signs up, verifies, creates a team, invites a colleague who signs up from the
invitation (no second verification of the invited address) and accepts."""

import re

import pytest
from django.core import mail

from apps.accounts.models import Membership
from tests.browser.fixtures import shoot

pytestmark = pytest.mark.browser


def _link(pattern: str) -> str:
    return re.search(pattern, mail.outbox[-1].body).group(0)


def _signup_and_verify(page, email: str, next_path: str = "") -> None:
    page.goto("/accounts/signup/" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", "a-long-pass-phrase-9")
    page.fill("input[name=password2]", "a-long-pass-phrase-9")
    page.click("#content form button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")
    page.goto(_link(r"https?://\S+/accounts/confirm-email/\S+/"))
    page.click("#content form button[type=submit]")


def test_signup_verify_team_invite_accept(browser, page, live_site):
    _signup_and_verify(page, "founder@example.com")
    page.wait_for_url("**/console/")
    assert "Welcome" in page.inner_text("h1")

    page.goto("/console/organization/new/")
    page.fill("input[name=name]", "Rocket Team")
    page.click("#content form button[type=submit]")
    page.wait_for_url("**/console/organization/members/")
    assert "Rocket Team" in page.inner_text("#org-switcher summary")

    page.fill("input[name=email]", "colleague@example.com")
    page.select_option("select[name=role]", "admin")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("text=Invitation sent to colleague@example.com")
    shoot(page, "members-desktop")
    accept_url = _link(r"https?://\S+/invitations/\S+/")

    other = browser.new_context(base_url=live_site.url, viewport={"width": 390, "height": 844})
    colleague = other.new_page()
    colleague.goto(accept_url)
    assert "Join Rocket Team" in colleague.inner_text("h1")
    colleague.click("text=Sign up as colleague@example.com")
    # the invited address is filled in, and holding the emailed link verified it
    assert colleague.input_value("input[name=email]") == "colleague@example.com"
    sent = len(mail.outbox)
    colleague.fill("input[name=password1]", "another-long-pass-7")
    colleague.fill("input[name=password2]", "another-long-pass-7")
    colleague.click("#content form button[type=submit]")
    colleague.wait_for_url(accept_url.split("://", 1)[1].split("/", 1)[1].join(["**/", ""]))
    assert len(mail.outbox) == sent  # no second verification email
    shoot(colleague, "invitation-after-signup-phone")
    colleague.click("text=Accept invitation")
    colleague.wait_for_url("**/console/")
    shoot(colleague, "after-accept-phone")
    assert (
        Membership.objects.get(
            user__email="colleague@example.com", organization__name="Rocket Team"
        ).role
        == "admin"
    )
    other.close()
