"""Payout details: where staff send a provider's manual payouts. Checked with schwifty
(IBAN, BIC) and python-stdnum (US routing numbers), shown masked to the provider, every
change audited and emailed to the owners, the API answering problem+json."""

import csv
import io

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from apps.accounts.roles import Role
from apps.core.models import AuditLog
from apps.payouts import bank, services
from apps.payouts.models import PayoutDetails
from tests.conftest import bearer_client
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.payouts.urls")]
PAGE = "/console/payouts/details/"
API = "/api/v1/provider/payout-details/"
IBAN = "DE89370400440532013000"  # the textbook German IBAN (Commerzbank, COBADEFFXXX)
MASKED = "DE89 •••• •••• •••• 3000"
FULL = "DE89 3704 0044 0532 0130 00"


def iban_values(**overrides) -> dict:
    values = {
        "account_type": "iban",
        "holder_name": "Acme GmbH",
        "currency": "EUR",
        "iban": "de89 3704 0044 0532 0130 00",
    }
    return values | overrides


def us_values(**overrides) -> dict:
    values = {
        "account_type": "us",
        "holder_name": "Acme Inc",
        "currency": "USD",
        "routing_number": "021000021",  # JPMorgan Chase, a valid ABA checksum
        "account_number": "123456789",
    }
    return values | overrides


def errors_of(values: dict) -> dict:
    with pytest.raises(ValidationError) as caught:
        bank.clean_bank_details(values)
    return caught.value.message_dict


# --- Validation ----------------------------------------------------------------------------
def test_a_valid_iban_is_stored_compact_with_its_country_and_bank_filled_in():
    cleaned = bank.clean_bank_details(iban_values())
    assert cleaned["iban"] == IBAN
    assert cleaned["country"] == "DE" and cleaned["bic"] == "COBADEFFXXX"
    assert cleaned["bank_name"] == "Commerzbank"


def test_an_iban_with_a_wrong_check_digit_is_refused_without_echoing_it():
    errors = errors_of(iban_values(iban="DE89370400440532013001"))
    assert errors["iban"] == ["This is not a valid IBAN: its check digits do not match (a typo?)."]


@pytest.mark.parametrize(
    "iban,reason",
    [
        ("DE8937040044053201300", "the wrong number of characters"),
        ("XX89370400440532013000", "does not start with the code of a country"),
        ("hello", "format is wrong"),
    ],
)
def test_malformed_ibans_are_refused_with_the_reason(iban, reason):
    assert reason in errors_of(iban_values(iban=iban))["iban"][0]


def test_a_bic_of_another_country_than_the_iban_is_refused():
    errors = errors_of(iban_values(bic="NWBKGB2L"))
    assert errors == {
        "bic": ["This BIC is of a bank in GB, the IBAN of an account in DE: check both."]
    }


@pytest.mark.parametrize("bic", ["DEUT", "1234DEFF", "DEUTXXFF"])
def test_a_malformed_bic_is_refused(bic):
    assert errors_of(iban_values(bic=bic))["bic"][0].startswith("This is not a valid SWIFT/BIC")


def test_a_uk_account_is_entered_as_its_iban():
    cleaned = bank.clean_bank_details(
        iban_values(iban="GB29 NWBK 6016 1331 9268 19", bic="nwbkgb2l", currency="gbp")
    )
    assert (cleaned["country"], cleaned["bic"], cleaned["currency"]) == ("GB", "NWBKGB2L", "GBP")


def test_a_us_account_needs_a_routing_number_that_passes_the_aba_checksum():
    assert bank.clean_bank_details(us_values())["country"] == "US"
    errors = errors_of(us_values(routing_number="021000022", account_number="12"))
    assert set(errors) == {"routing_number", "account_number"}
    assert "checksum" in errors["routing_number"][0]


def test_another_country_needs_bank_account_and_a_bic_of_that_country():
    values = {
        "account_type": "other",
        "holder_name": "Acme KK",
        "currency": "JPY",
        "country": "jp",
        "bank_name": "MUFG Bank",
        "account_number": "1234567",
        "bic": "BOTKJPJT",
    }
    assert bank.clean_bank_details(values)["country"] == "JP"
    assert errors_of(values | {"bic": "DEUTDEFF"}) == {
        "bic": ["This BIC is of a bank in DE, not JP."]
    }
    assert set(errors_of(values | {"bank_name": "", "country": "ZZ"})) == {"bank_name", "country"}


def test_a_currency_must_be_an_iso_code():
    assert "currency" in errors_of(iban_values(currency="EURO"))


def test_masks_keep_only_the_country_check_digits_and_last_four():
    assert bank.mask_iban(IBAN) == MASKED
    assert bank.mask_iban("GB29NWBK60161331926819") == "GB29 •••• •••• •••• 6819"
    assert bank.mask_account_number("123456789") == "•••• 6789"


# --- The page ------------------------------------------------------------------------------
def test_an_invalid_iban_is_an_error_beside_the_field_and_saves_nothing(owner_client):
    response = owner_client.post(PAGE, iban_values(iban="DE89370400440532013001"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "its check digits do not match" in html
    assert not PayoutDetails.objects.exists() and not AuditLog.objects.exists()


def test_saved_details_are_shown_masked_and_never_whole(owner_client, org):
    response = owner_client.post(PAGE, iban_values(), follow=True)
    html = response.content.decode()
    assert MASKED in html and "COBADEFFXXX" in html and "Acme GmbH" in html
    assert IBAN not in html and FULL not in html and "0532" not in html
    details = PayoutDetails.objects.get(organization=org)
    assert details.iban == IBAN and details.full_number == FULL


def test_the_form_asks_for_the_number_again_when_changing(owner, owner_client, org):
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    html = owner_client.get(PAGE).content.decode()
    assert 'name="iban"' in html and IBAN not in html and "0532" not in html
    assert 'value="Acme GmbH"' in html  # the rest is filled in
    response = owner_client.post(PAGE, iban_values(iban="", holder_name="Acme AG"))
    assert "This is not a valid IBAN" in response.content.decode()
    assert PayoutDetails.objects.get().holder_name == "Acme GmbH"


def test_a_us_account_is_saved_from_the_page(owner_client, org):
    form = us_values()
    form["us_account_number"] = form.pop("account_number")
    owner_client.post(PAGE, form)
    details = PayoutDetails.objects.get(organization=org)
    assert (details.routing_number, details.account_number) == ("021000021", "123456789")
    html = owner_client.get(PAGE).content.decode()
    assert "•••• 6789" in html and "123456789" not in html


def test_an_error_on_a_us_field_shows_beside_the_us_input(owner_client):
    form = us_values(routing_number="021000022")
    form["us_account_number"] = form.pop("account_number")
    html = owner_client.post(PAGE, form).content.decode()
    assert "fails its checksum" in html


# --- Audit and email ---------------------------------------------------------------------
@pytest.fixture
def team(org, owner):
    """A second owner, an admin, a billing member and a developer beside the first owner."""
    for role, email in [
        (Role.OWNER, "cofounder@acme.test"),
        (Role.ADMIN, "admin@acme.test"),
        (Role.BILLING, "books@acme.test"),
        (Role.DEVELOPER, "dev@acme.test"),
    ]:
        MembershipFactory(organization=org, role=role, user__email=email)
    org.billing_email = "invoices@acme.test"
    org.save()


def test_a_change_is_audited_masked_with_who_and_where(
    owner_client, owner, org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(PAGE, iban_values(), REMOTE_ADDR="203.0.113.7")
    entry = AuditLog.objects.get(action="payouts.details_changed")
    assert entry.actor == owner and entry.organization == org
    assert entry.data["ip"] == "203.0.113.7"
    changed = {change.pop("field"): change for change in entry.data["changes"]}
    assert changed["iban"] == {"label": "IBAN", "from": "", "to": MASKED}
    assert [c["label"] for c in entry.data["changes"]][:3] == [
        "Account type",
        "Account holder",
        "Currency",
    ]
    assert IBAN not in str(entry.data)
    html = owner_client.get(PAGE).content.decode()
    assert "203.0.113.7" in html and "owner@acme.test" in html


def test_every_owner_is_emailed_and_nobody_else(
    team, owner, org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.payout_details_save(
            actor=owner, organization=org, values=iban_values(), ip="203.0.113.7"
        )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["cofounder@acme.test", "owner@acme.test"]
    assert message.subject == "[Tollgate] Payout details changed"
    assert "owner@acme.test changed where Acme's payouts are sent" in message.body
    assert "203.0.113.7" in message.body and MASKED in message.body
    assert IBAN not in message.body and "0532" not in message.body


def test_a_change_emails_the_old_and_new_account_masked(
    owner, org, django_capture_on_commit_callbacks
):
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    with django_capture_on_commit_callbacks(execute=True):
        services.payout_details_save(
            actor=owner,
            organization=org,
            values=iban_values(iban="FR1420041010050500013M02606", bic=""),
        )
    body = mail.outbox[-1].body
    assert f"IBAN: {MASKED} → FR14 •••• •••• •••• 2606" in body
    assert "Country: DE → FR" in body


def test_saving_the_same_details_again_records_and_sends_nothing(
    owner, org, django_capture_on_commit_callbacks
):
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    with django_capture_on_commit_callbacks(execute=True):
        _, changes = services.payout_details_save(
            actor=owner, organization=org, values=iban_values()
        )
    assert changes == [] and AuditLog.objects.count() == 1 and not mail.outbox


# --- Who may --------------------------------------------------------------------------------
def test_a_developer_can_neither_see_nor_change_them(client, member, owner, org):
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    client.force_login(member)
    page = client.get(PAGE)
    assert page.status_code == 403 and "0532" not in page.content.decode()
    assert "3000" not in page.content.decode()
    refused = client.post(PAGE, iban_values(iban="FR1420041010050500013M02606", bic=""))
    assert refused.status_code == 403
    assert PayoutDetails.objects.get().iban == IBAN


def test_another_organization_sees_only_its_own(outsider_client, outsider_api, owner, org):
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    html = outsider_client.get(PAGE).content.decode()
    assert "3000" not in html and "Acme GmbH" not in html and "No bank account yet" in html
    response = outsider_api.get(API).json()
    assert response["on_file"] is False and response["number"] == ""
    assert response["holder_name"] == "" and "3000" not in str(response)


# --- Platform API ---------------------------------------------------------------------------
def test_the_api_sets_and_reads_them_masked(owner_api, org):
    saved = owner_api.put(API, iban_values(), format="json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["number"] == MASKED and saved.json()["bic"] == "COBADEFFXXX"
    assert saved.json()["on_file"] is True
    read = owner_api.get(API)
    assert read.json()["number"] == MASKED and IBAN not in read.content.decode()
    assert read.json()["updated_by"] == "owner@acme.test"


def test_the_api_refuses_an_invalid_iban_as_a_problem_with_field_errors(owner_api):
    response = owner_api.put(API, iban_values(iban="DE89370400440532013001"), format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid"
    assert problem["errors"]["iban"] == [
        "This is not a valid IBAN: its check digits do not match (a typo?)."
    ]
    assert not PayoutDetails.objects.exists()


def test_the_api_refuses_a_developer(member, org):
    api = bearer_client(member, org)[0]
    for response in (api.get(API), api.put(API, iban_values(), format="json")):
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert not PayoutDetails.objects.exists()


# --- Staff: the statements they pay from ---------------------------------------------------
PAYOUTS = "/admin/payouts/payout/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def two_payouts(pay, ocr, rival_api, owner, org):
    """Acme has payout details, Initech has none; both get a manual payout."""
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    pay(ocr, "49.00")
    pay(rival_api, "20.00")
    return services.run_payouts("2026-11")


def test_staff_see_the_details_whole_in_the_payouts_list_and_the_missing_flagged(
    staff_client, two_payouts
):
    html = staff_client.get(PAYOUTS).content.decode()
    assert FULL in html and "Acme GmbH" in html
    assert "No payout details" in html  # Initech's
    missing = staff_client.get(PAYOUTS, {"details": "missing"}).content.decode()
    assert "Initech" in missing and FULL not in missing


def test_a_payouts_admin_page_shows_where_to_send_it(staff_client, two_payouts, org):
    payout = next(p for p in two_payouts.created if p.organization == org)
    html = staff_client.get(f"{PAYOUTS}{payout.pk}/change/").content.decode()
    assert FULL in html and "COBADEFFXXX" in html and "Commerzbank" in html
    assert "after this payout was made" not in html


def test_a_change_after_the_payout_was_made_is_pointed_out(staff_client, two_payouts, org, owner):
    payout = next(p for p in two_payouts.created if p.organization == org)
    services.payout_details_save(
        actor=owner, organization=org, values=iban_values(holder_name="Acme Holding")
    )
    html = staff_client.get(f"{PAYOUTS}{payout.pk}/change/").content.decode()
    assert "after this payout was made" in html


def test_the_statements_csv_carries_the_details_to_pay_to(staff_client, two_payouts):
    ids = [p.pk for p in two_payouts.created]
    response = staff_client.post(
        PAYOUTS, {"action": "download_statements", "_selected_action": ids}
    )
    rows = {row["provider"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    acme = rows["Acme"]
    assert (acme["payout_details"], acme["account_holder"]) == ("on file", "Acme GmbH")
    assert (acme["iban"], acme["bic"], acme["country"]) == (IBAN, "COBADEFFXXX", "DE")
    assert rows["Initech"]["payout_details"] == "missing" and rows["Initech"]["iban"] == ""


def test_the_run_flags_payouts_without_details_to_staff_and_the_provider(
    pay, ocr, rival_api, owner, org, outsider, staff, django_capture_on_commit_callbacks
):
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    pay(ocr, "49.00")
    pay(rival_api, "20.00")
    with django_capture_on_commit_callbacks(execute=True):
        report = services.run_payouts("2026-11")
    assert [p.organization.name for p in report.without_details] == ["Initech"]
    to_staff = [m for m in mail.outbox if m.to == ["staff@tollgate.test"]]
    assert len(to_staff) == 1
    assert to_staff[0].subject == "[Tollgate staff] 1 payout(s) of 2026-11 have no payout details"
    assert "Initech: $16.00" in to_staff[0].body and "Acme" not in to_staff[0].body
    told = [m for m in mail.outbox if "outsider@initech.test" in m.to]
    assert "Add your payout details" in told[0].body
    acme = [m for m in mail.outbox if "owner@acme.test" in m.to and "scheduled" in m.subject]
    assert "Add your payout details" not in acme[0].body


def test_run_payouts_now_says_how_many_have_no_details(staff_client, pay, rival_api):
    pay(rival_api, "20.00")
    response = staff_client.post(f"{PAYOUTS}run/", follow=True)
    assert "1 provider(s) have no payout details yet" in response.content.decode()


def test_the_provider_page_says_what_to_do_without_details(owner_client, owner, org):
    html = owner_client.get("/console/payouts/").content.decode()
    assert "Add your payout details" in html and 'href="/console/payouts/details/"' in html
    services.payout_details_save(actor=owner, organization=org, values=iban_values())
    html = owner_client.get("/console/payouts/").content.decode()
    assert MASKED in html and "Add your payout details" not in html
