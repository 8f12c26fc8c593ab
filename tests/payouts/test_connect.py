"""Stripe Connect onboarding from the provider console, and the account's status kept from
`account.updated` (or asked from Stripe when the provider comes back)."""

import json

import pytest
import responses

from apps.accounts.models import Notification
from apps.payouts import services, webhooks
from apps.payouts.models import ProviderAccount

from .stripe_objects import API, account_link, connected_account, error, form

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
ACCOUNT = "acct_1ProviderAcme0001"
PAGE = "/console/payouts/"


@pytest.fixture
def stripe_connect(stripe_mock):
    stripe_mock.add(responses.POST, f"{API}/v1/accounts", json=connected_account(ACCOUNT))
    stripe_mock.add_callback(
        responses.POST,
        f"{API}/v1/account_links",
        callback=lambda request: (200, {}, json.dumps(account_link(ACCOUNT))),
    )
    return stripe_mock


def calls_to(mock, path):
    return [call for call in mock.calls if call.request.url == f"{API}{path}"]


def test_onboarding_creates_the_account_once_and_returns_a_link(stripe_connect, org, owner):
    org.billing_email = "money@acme.test"
    org.save()
    url = services.connect_onboarding_url(
        org, "https://tollgate.test/refresh", "https://tollgate.test/back", actor=owner
    )
    again = services.connect_onboarding_url(org, "https://tollgate.test/r", "https://t.test/b")
    assert url.startswith(f"https://connect.stripe.com/setup/e/{ACCOUNT}/") and again
    [create] = calls_to(stripe_connect, "/v1/accounts")
    sent = form(create)
    assert sent["controller[fees][payer]"] == "application"
    assert sent["controller[losses][payments]"] == "application"
    assert sent["controller[stripe_dashboard][type]"] == "express"
    assert sent["capabilities[transfers][requested]"] == "true"
    assert sent["email"] == "money@acme.test"
    assert sent["metadata[tollgate_organization]"] == org.public_id
    assert create.request.headers["Idempotency-Key"] == f"tg-connect-{org.public_id}"
    first_link, _ = calls_to(stripe_connect, "/v1/account_links")
    assert form(first_link) == {
        "account": ACCOUNT,
        "refresh_url": "https://tollgate.test/refresh",
        "return_url": "https://tollgate.test/back",
        "type": "account_onboarding",
    }
    account = ProviderAccount.objects.get(organization=org)
    assert account.stripe_account_id == ACCOUNT and not account.payouts_enabled


def test_the_connect_button_sends_the_provider_to_stripe(stripe_connect, client, owner):
    client.force_login(owner)
    response = client.post(f"{PAGE}connect/")
    assert response.status_code == 302
    assert response.url.startswith("https://connect.stripe.com/setup/e/")
    link = form(calls_to(stripe_connect, "/v1/account_links")[0])
    assert link["return_url"] == "https://tollgate.test/console/payouts/connect/return/"
    assert link["refresh_url"] == "https://tollgate.test/console/payouts/connect/refresh/"


def test_an_expired_link_is_replaced(stripe_connect, client, owner, org):
    client.force_login(owner)
    response = client.get(f"{PAGE}connect/refresh/")
    assert response.status_code == 302 and "connect.stripe.com" in response.url


def test_only_members_who_handle_billing_connect(stripe_connect, client, member, billing_member):
    client.force_login(member)  # a developer
    assert client.post(f"{PAGE}connect/").status_code == 403
    client.force_login(billing_member)
    assert client.post(f"{PAGE}connect/").status_code == 302
    assert client.get(f"{PAGE}connect/").status_code == 405  # POST only


def test_stripe_refusing_leaves_the_provider_on_the_page_with_a_message(stripe_mock, client, owner):
    stripe_mock.add(
        responses.POST,
        f"{API}/v1/accounts",
        **error(400, "invalid_request_error", "Connect is not enabled"),
    )
    client.force_login(owner)
    response = client.post(f"{PAGE}connect/", follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert "Stripe could not start onboarding" in response.content.decode()
    assert not ProviderAccount.objects.filter(stripe_account_id__gt="").exists()


def test_without_stripe_there_is_nothing_to_connect(client, owner):
    client.force_login(owner)
    response = client.post(f"{PAGE}connect/", follow=True)
    assert "payouts are made by bank transfer" in response.content.decode()


def test_account_updated_records_the_status_and_tells_the_provider(org):
    ProviderAccount.objects.create(organization=org, stripe_account_id=ACCOUNT)
    webhooks.handle_account_updated(connected_account(ACCOUNT, details_submitted=True))
    account = ProviderAccount.objects.get(organization=org)
    assert account.details_submitted and not account.payouts_enabled
    ready = connected_account(ACCOUNT, details_submitted=True, payouts_enabled=True)
    webhooks.handle_account_updated(ready)
    webhooks.handle_account_updated(ready)  # delivered twice: one notice
    account.refresh_from_db()
    assert account.payouts_enabled and account.status_updated_at
    assert (
        Notification.objects.filter(organization=org, title="Stripe payouts enabled").count() == 1
    )
    webhooks.handle_account_updated(connected_account(ACCOUNT, details_submitted=True))
    assert Notification.objects.filter(
        organization=org, title="Stripe paused payouts to your account"
    ).exists()


def test_account_updated_for_an_unknown_account_changes_nothing(org):
    assert webhooks.handle_account_updated(connected_account("acct_1SomeoneElse00000")) is None
    assert not ProviderAccount.objects.exists()


def test_coming_back_from_stripe_refreshes_the_status(stripe_mock, client, owner, org):
    ProviderAccount.objects.create(organization=org, stripe_account_id=ACCOUNT)
    stripe_mock.add(
        responses.GET,
        f"{API}/v1/accounts/{ACCOUNT}",
        json=connected_account(ACCOUNT, details_submitted=True, payouts_enabled=True),
    )
    client.force_login(owner)
    response = client.get(f"{PAGE}connect/return/", follow=True)
    assert "Your Stripe account is ready" in response.content.decode()
    assert ProviderAccount.objects.get(organization=org).payouts_enabled


def test_a_signed_account_updated_webhook_reaches_the_handler(org, client, settings, monkeypatch):
    """End to end: signed by Stripe's scheme, verified and re-fetched by dj-stripe, routed by
    billing's registry to our handler (billing's Stripe fake answers dj-stripe's GETs)."""
    import stripe
    from djstripe.models import WebhookEndpoint
    from djstripe.settings import djstripe_settings

    from tests.billing import stripe_fixtures as billing_stripe

    settings.STRIPE_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY = billing_stripe.SECRET_KEY
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient())
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    ProviderAccount.objects.create(organization=org, stripe_account_id=ACCOUNT)
    webhooks.connect()
    endpoint = WebhookEndpoint.objects.create(
        id=billing_stripe.new_id("we", 24),
        url="https://tollgate.test/stripe/webhook/",
        livemode=False,
        api_version=djstripe_settings.STRIPE_API_VERSION,
        enabled_events=["*"],
        secret=billing_stripe.WEBHOOK_SECRET,
        status="enabled",
    )
    ready = connected_account(ACCOUNT, details_submitted=True, payouts_enabled=True)
    stub = billing_stripe.StripeStub()
    stub.put(ready)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stub.install(mock)
        payload = billing_stripe.event("account.updated", ready, account=ACCOUNT)
        response = billing_stripe.WebhookSender(client, endpoint).post(payload)
    assert response.status_code == 200, response.content
    assert ProviderAccount.objects.get(organization=org).payouts_enabled
