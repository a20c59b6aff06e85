"""Companies: SIRET rules, the size category of décret 2008-1354, registration, and joining a registered company."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import body_of
from sqlalchemy import select

from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Company, CompanyJoinRequest, Organization, OrganizationKind, Role
from innovation_cycle.services import companies
from innovation_cycle.services.companies import ETI, GE, MICRO, PME, size_category

VALID_SIRET = "73282932000074"
OTHER_SIRET = "55208131766522"  # another valid SIRET (Luhn)
LA_POSTE_SIRET = "35600000009075"

# --- SIRET ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [VALID_SIRET, "732 829 320 00074", LA_POSTE_SIRET, OTHER_SIRET])
def test_valid_sirets_are_accepted(app, value):
    assert companies.siret_error(value) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("73282932000075", "clé de contrôle est fausse"),  # Luhn key wrong
    ("35600000009076", "clé de contrôle est fausse"),  # La Poste: digit sum not a multiple of 5
    ("7328293200007", "exactement 14 chiffres (13 saisis)"),
    ("732829320000740", "exactement 14 chiffres (15 saisis)"),
    ("7328293200007A", "ne contient que des chiffres"),
    ("", "Indiquez le SIRET"),
])
def test_invalid_sirets_are_refused_in_french(app, value, expected):
    assert expected in companies.siret_error(value)


def test_la_poste_establishment_passes_although_its_luhn_key_fails(app):
    from stdnum import luhn

    assert not luhn.is_valid(LA_POSTE_SIRET)  # an ordinary Luhn check would refuse it
    assert sum(int(d) for d in LA_POSTE_SIRET) % 5 == 0
    assert companies.siret_error(LA_POSTE_SIRET) is None


def test_siren_is_the_first_nine_digits():
    assert companies.siren_of("732 829 320 00074") == "732829320"


# --- size category (décret 2008-1354, art. 3) -------------------------------------------------------------

M = Decimal(1_000_000)
CENT = Decimal("0.01")


@pytest.mark.parametrize(("headcount", "turnover", "balance", "expected"), [
    # Micro-entreprise: fewer than 10 people, and turnover OR balance sheet not above 2 M€.
    (Decimal("9.9"), 2 * M, 2 * M, MICRO),
    (Decimal("10"), 2 * M, 2 * M, PME),  # 10 people is no longer micro
    (Decimal("9"), 2 * M + CENT, 2 * M, MICRO),  # balance sheet at the ceiling suffices
    (Decimal("9"), 2 * M, 2 * M + CENT, MICRO),  # turnover at the ceiling suffices
    (Decimal("9"), 2 * M + CENT, 2 * M + CENT, PME),  # both above: PME
    (Decimal("0"), 0, 0, MICRO),
    # PME: fewer than 250 people, and turnover not above 50 M€ OR balance sheet not above 43 M€.
    (Decimal("249.9"), 50 * M, 43 * M, PME),
    (Decimal("250"), 50 * M, 43 * M, ETI),
    (Decimal("249"), 50 * M + CENT, 43 * M, PME),
    (Decimal("249"), 50 * M, 43 * M + CENT, PME),
    (Decimal("249"), 50 * M + CENT, 43 * M + CENT, ETI),
    # ETI: fewer than 5,000 people, and turnover not above 1,500 M€ OR balance sheet not above 2,000 M€.
    (Decimal("4999.9"), 1500 * M, 2000 * M, ETI),
    (Decimal("5000"), 1500 * M, 2000 * M, GE),
    (Decimal("4999"), 1500 * M + CENT, 2000 * M, ETI),
    (Decimal("4999"), 1500 * M, 2000 * M + CENT, ETI),
    (Decimal("4999"), 1500 * M + CENT, 2000 * M + CENT, GE),
    (Decimal("100000"), 0, 0, GE),
])
def test_size_category_at_each_threshold_edge(headcount, turnover, balance, expected):
    assert size_category(headcount, turnover, balance) == expected


def test_size_category_accepts_plain_numbers():
    assert size_category(12, 1_500_000, 900_000) == PME


# --- codes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("62.01Z", "62.01Z"), ("6201z", "62.01Z"), ("62.01 z", "62.01Z"),
                                                 ("", None)])
def test_naf_codes_are_normalised(value, expected):
    assert companies.normalise_naf(value) == expected


@pytest.mark.parametrize("value", ["62.1Z", "620.1Z", "62.01", "AB.CDE"])
def test_bad_naf_codes_are_refused(value):
    with pytest.raises(ValueError):
        companies.normalise_naf(value)


@pytest.mark.parametrize(("postal_code", "department"), [
    ("59000", "59"), ("02100", "02"), ("20000", "2A"), ("20200", "2B"), ("97400", "974"), ("00000", None),
    ("5900", None)])
def test_department_from_postal_code(app, postal_code, department):
    assert companies.department_from_postal_code(postal_code) == department


# --- registration ---------------------------------------------------------------------------------------

FORM = {
    "siret": "732 829 320 00074", "name": "Lumière Numérique SAS", "address": "12 rue Faidherbe",
    "postal_code": "59000", "city": "Lille", "department": "", "website": "www.lumiere-numerique.fr",
    "naf_code": "6201Z", "created_on": "2014-03-01", "fiscal_year": "2016", "headcount": "12,5",
    "turnover": "1 250 000", "balance_sheet": "800 000", "declared_size": "micro", "young_innovative_company": "y",
}


@pytest.fixture
def representative(make):
    org = make.organization("Lumière (inscription)", OrganizationKind.COMPANY)
    return make.user(Role.COMPANY, organization=org, name="Alice Martin", email="alice@lumiere.fr")


def _register(client, login, user, **changes):
    login(user)
    return client.post("/entreprise/inscription", data={**FORM, **changes})


def test_a_representative_registers_the_company(client, login, representative):
    response = _register(client, login, representative)
    assert response.status_code == 302
    company = db.session.scalar(select(Company))
    org = company.organization
    assert (org.name, org.siret, org.siren, org.department) == (
        "Lumière Numérique SAS", VALID_SIRET, "732829320", "59")
    assert company.naf_code == "62.01Z"
    assert company.website == "https://www.lumiere-numerique.fr"
    assert company.headcount == Decimal("12.5") and company.turnover == Decimal("1250000")
    assert company.young_innovative_company
    # 12.5 FTE is not micro (fewer than 10): computed PME, shown beside the declared "micro", with a warning.
    assert (company.declared_size, company.computed_size) == ("micro", "pme")
    page = client.get("/entreprise/").get_data(as_text=True)
    assert "Micro-entreprise" in page and "PME" in page and 'id="size-mismatch"' in page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "company.register"))
    assert event.actor_id == representative.id and event.after["organization.siret"] == VALID_SIRET


def test_a_matching_declaration_shows_no_warning(client, login, representative):
    _register(client, login, representative, declared_size="pme")
    assert 'id="size-mismatch"' not in client.get("/entreprise/").get_data(as_text=True)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"siret": "73282932000075"}, "siret", "clé de contrôle est fausse"),
    ({"siret": "7328293200007A"}, "siret", "ne contient que des chiffres"),
    ({"naf_code": "62-01"}, "naf_code", "62.01Z"),
    ({"postal_code": "5900"}, "postal_code", "5 chiffres"),
    ({"headcount": "douze"}, "headcount", "Indiquez un nombre"),
    ({"turnover": "-5"}, "turnover", "montant positif"),
    ({"created_on": "2030-01-01"}, "created_on", "dans le futur"),
    ({"fiscal_year": "2012"}, "fiscal_year", "précéder la création"),
    ({"department": "20"}, "department", "Département inconnu"),
    ({"website": "pas une adresse"}, "website", "Adresse de site invalide"),
    ({"declared_size": ""}, "declared_size", "Choisissez la catégorie"),
])
def test_bad_input_is_refused_next_to_its_field(client, login, representative, changes, field, message):
    response = _register(client, login, representative, **changes)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="error-summary"' in page and f'href="#{field}"' in page and message in page
    assert db.session.scalar(select(Company)) is None


def test_html_in_text_fields_is_shown_as_text(client, login, representative):
    _register(client, login, representative, name="<script>alert(1)</script> SAS")
    page = client.get("/entreprise/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; SAS" in page


def test_only_company_representatives_register(client, login, make):
    buyer = make.user(Role.BUYER, organization=make.organization())
    login(buyer)
    assert client.get("/entreprise/inscription").status_code == 403


def test_registering_twice_is_not_possible(client, login, representative):
    _register(client, login, representative)
    response = client.get("/entreprise/inscription")
    assert response.status_code == 302
    assert client.post("/entreprise/inscription", data={**FORM, "siret": OTHER_SIRET}).status_code == 302
    assert db.session.scalar(select(Organization.siret).where(Organization.id == representative.organization_id)) \
        == VALID_SIRET


def test_an_unregistered_representative_is_told_what_to_do(client, login, representative):
    login(representative)
    page = client.get("/entreprise/").get_data(as_text=True)
    assert "Enregistrez votre entreprise" in page


# --- a second person of a registered company --------------------------------------------------------------


@pytest.fixture
def registered(client, login, representative):
    _register(client, login, representative)
    client.post("/compte/deconnexion")
    return db.session.scalar(select(Company))


@pytest.fixture
def colleague(make):
    org = make.organization("Lumière", OrganizationKind.COMPANY)  # what the colleague's sign-up made
    return make.user(Role.COMPANY, organization=org, name="Bruno Petit", email="bruno@lumiere.fr")


def test_a_second_person_asks_to_join_instead_of_duplicating(app, client, login, registered, representative,
                                                             colleague, smtp):
    response = _register(client, login, colleague)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "déjà inscrit par l&#39;entreprise « Lumière Numérique SAS »" in page
    assert 'action="/entreprise/rejoindre"' in page
    assert db.session.scalar(select(Company).where(Company.organization_id == colleague.organization_id)) is None

    response = client.post("/entreprise/rejoindre", data={"siret": VALID_SIRET})
    assert response.status_code == 302
    join = db.session.scalar(select(CompanyJoinRequest))
    assert (join.company_id, join.user_id, join.status) == (registered.id, colleague.id, "pending")
    assert "Demande en attente" in client.get("/entreprise/").get_data(as_text=True)
    # Asked twice (double click): one request.
    client.post("/entreprise/rejoindre", data={"siret": VALID_SIRET})
    assert len(db.session.scalars(select(CompanyJoinRequest)).all()) == 1
    # The first representative is told by email.
    assert [m["To"] for m in smtp.messages] == ["alice@lumiere.fr"]
    assert "Bruno Petit" in body_of(smtp.messages[0])


def test_the_first_representative_approves_and_the_sign_up_organization_goes(app, client, login, registered,
                                                                          representative, colleague, smtp):
    placeholder_id = colleague.organization_id
    login(colleague)
    client.post("/entreprise/rejoindre", data={"siret": VALID_SIRET})
    client.post("/compte/deconnexion")
    login(representative)
    page = client.get(f"/entreprise/{registered.id}").get_data(as_text=True)
    assert "Bruno Petit" in page and "Accepter" in page
    join = db.session.scalar(select(CompanyJoinRequest))
    response = client.post(f"/entreprise/demandes/{join.id}", data={"decision": "approve"})
    assert response.status_code == 302
    db.session.expire_all()
    assert colleague.organization_id == registered.organization_id
    assert db.session.get(Organization, placeholder_id) is None
    assert db.session.get(CompanyJoinRequest, join.id).status == "approved"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "company.join_approve"))
    assert event.actor_id == representative.id and event.after["removed_organization"]["id"] == placeholder_id
    assert smtp.messages[-1]["To"] == "bruno@lumiere.fr" and "acceptée" in body_of(smtp.messages[-1])
    # The newcomer now sees the company's page.
    client.post("/compte/deconnexion")
    login(colleague)
    assert client.get(f"/entreprise/{registered.id}").status_code == 200
    # A request cannot be decided twice.
    login(representative)
    client.post(f"/entreprise/demandes/{join.id}", data={"decision": "refuse"})
    assert db.session.get(CompanyJoinRequest, join.id).status == "approved"


def test_a_refused_request_leaves_the_person_outside(app, client, login, registered, representative, colleague,
                                                     smtp):
    login(colleague)
    client.post("/entreprise/rejoindre", data={"siret": VALID_SIRET})
    client.post("/compte/deconnexion")
    login(representative)
    join = db.session.scalar(select(CompanyJoinRequest))
    client.post(f"/entreprise/demandes/{join.id}", data={"decision": "refuse"})
    db.session.expire_all()
    assert colleague.organization_id != registered.organization_id
    assert db.session.get(CompanyJoinRequest, join.id).status == "refused"
    assert "refusée" in body_of(smtp.messages[-1])
    client.post("/compte/deconnexion")
    login(colleague)
    assert client.get(f"/entreprise/{registered.id}").status_code == 403


def test_only_the_companys_representatives_or_an_admin_decide(client, login, registered, colleague, make):
    login(colleague)
    client.post("/entreprise/rejoindre", data={"siret": VALID_SIRET})
    join = db.session.scalar(select(CompanyJoinRequest))
    # The requester cannot approve itself; another company's representative neither.
    assert client.post(f"/entreprise/demandes/{join.id}", data={"decision": "approve"}).status_code == 403
    client.post("/compte/deconnexion")
    stranger = make.user(Role.COMPANY, organization=make.organization("Autre", OrganizationKind.COMPANY))
    login(stranger)
    assert client.post(f"/entreprise/demandes/{join.id}", data={"decision": "approve"}).status_code == 403
    client.post("/compte/deconnexion")
    login(make.user(Role.ADMIN))
    assert client.post(f"/entreprise/demandes/{join.id}", data={"decision": "approve"}).status_code == 302
    assert db.session.get(CompanyJoinRequest, join.id).status == "approved"


def test_the_requester_may_cancel(client, login, registered, colleague):
    login(colleague)
    client.post("/entreprise/rejoindre", data={"siret": VALID_SIRET})
    client.post("/entreprise/rejoindre/annuler")
    assert db.session.scalar(select(CompanyJoinRequest)).status == "refused"
    assert "Enregistrez votre entreprise" in client.get("/entreprise/").get_data(as_text=True)


def test_a_company_page_is_private_to_its_representatives_and_admins(client, login, registered, make):
    for role in (Role.BUYER, Role.PFRA_AGENT, Role.COMMITTEE_MEMBER):
        login(make.user(role, organization=make.organization()))
        assert client.get(f"/entreprise/{registered.id}").status_code == 403
        client.post("/compte/deconnexion")
    login(make.user(Role.ADMIN))
    assert client.get(f"/entreprise/{registered.id}").status_code == 200


def test_editing_the_company_recomputes_its_size_and_is_audited(client, login, registered, representative):
    login(representative)
    response = client.post(f"/entreprise/{registered.id}/modifier", data={**FORM, "headcount": "8"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Company, registered.id).computed_size == "micro"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "company.update"))
    assert event.before["headcount"] == "12.5" and event.after["headcount"] == "8"
    # Nothing changed: no second audit row.
    client.post(f"/entreprise/{registered.id}/modifier", data={**FORM, "headcount": "8"})
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "company.update")).all()) == 1


def test_the_edit_form_shows_french_numbers(client, login, registered, representative):
    login(representative)
    page = client.get(f"/entreprise/{registered.id}/modifier").get_data(as_text=True)
    assert 'value="12,5"' in page and 'value="1250000"' in page
