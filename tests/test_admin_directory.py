"""The secretariat's directory: conventions and members, organizations, users and roles, and who may see what."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AuditEvent,
    Convention,
    ConventionMembership,
    Organization,
    OrganizationKind,
    OutboxMessage,
    Role,
    Tier,
    User,
)


def text(response) -> str:
    """The page as a reader sees it (entities such as &#39; decoded)."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def admin(make, login):
    user = make.user(Role.ADMIN, email="secretariat@orcp.example", name="Secrétariat ORCP")
    login(user)
    return user


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def _convention_data(**overrides) -> dict:
    data = {"name": "Convention État–UGAP 2017–2019", "region": "Hauts-de-France", "signed_on": "2017-01-10",
            "starts_on": "2017-01-01", "ends_on": "2019-12-31"}
    data.update(overrides)
    return data


def _org_data(**overrides) -> dict:
    data = {"name": "Métropole européenne de Lille", "kind": "local_authority", "siren": "", "siret": "",
            "department": "59"}
    data.update(overrides)
    return data


# --- conventions ---------------------------------------------------------------------------------------


def test_convention_create_list_edit_delete(client, admin, make):
    response = client.post("/admin/conventions/nouvelle", data=_convention_data())
    assert response.status_code == 302
    convention = db.session.scalar(select(Convention))
    assert response.headers["Location"].endswith(f"/admin/conventions/{convention.id}")
    assert (convention.starts_on, convention.ends_on) == (date(2017, 1, 1), date(2019, 12, 31))
    created = _events("convention.create")
    assert created[0].actor_id == admin.id and created[0].after["ends_on"] == "2019-12-31"

    make.membership(convention, make.organization("UGAP", kind=OrganizationKind.UGAP), Tier.FOUNDING_PARTNER)
    page = text(client.get("/admin/conventions"))
    assert "Convention État–UGAP 2017–2019" in page and "2017, 2018, 2019" in page
    assert "<td>1</td>" in page  # one member

    response = client.post(f"/admin/conventions/{convention.id}/modifier",
                           data=_convention_data(name="Convention renouvelée", region="Hauts-de-France"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Convention, convention.id).name == "Convention renouvelée"
    update = _events("convention.update")[0]
    assert update.before["name"] == "Convention État–UGAP 2017–2019"
    assert update.after["name"] == "Convention renouvelée"

    response = client.post(f"/admin/conventions/{convention.id}/supprimer")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Convention, convention.id) is None
    assert db.session.scalar(select(ConventionMembership)) is None
    assert _events("convention.delete")[0].before["memberships"][0]["tier"] == "founding_partner"


@pytest.mark.parametrize(("overrides", "field_message"), [
    ({"ends_on": "2020-12-31"}, "Une convention dure trois ans au plus"),  # four years
    ({"ends_on": "2020-01-01"}, "finir au plus tard le 31/12/2019"),      # three years and a day
    ({"ends_on": "2016-12-31"}, "La date de fin doit être postérieure à la date de début."),
    ({"ends_on": "2017-01-01"}, "La date de fin doit être postérieure à la date de début."),
    ({"signed_on": "2018-01-02"}, "plus d'un an après le début"),
    ({"starts_on": "32/12/2017"}, "Date invalide"),  # issue 10: 31/12/2017 is read the French way
    ({"name": ""}, "Ce champ est obligatoire."),
])
def test_convention_rules_refused_in_french(client, admin, overrides, field_message):
    response = client.post("/admin/conventions/nouvelle", data=_convention_data(**overrides))
    assert response.status_code == 422
    page = text(response)
    assert field_message in page
    assert "Le formulaire contient" in page  # the summary
    assert db.session.scalar(select(Convention)) is None
    assert _events("convention.create") == []


def test_convention_of_exactly_three_years_and_late_signature_within_a_year(client, admin):
    response = client.post("/admin/conventions/nouvelle",
                           data=_convention_data(starts_on="2016-02-29", ends_on="2019-02-27",
                                                 signed_on="2017-02-28"))
    assert response.status_code == 302


def test_convention_dates_cannot_leave_out_an_existing_cycle(client, admin, make):
    cycle = make.cycle(year=2019)
    convention = cycle.convention
    response = client.post(f"/admin/conventions/{convention.id}/modifier",
                           data=_convention_data(starts_on="2017-01-01", ends_on="2018-12-31"))
    assert response.status_code == 422
    assert "Le cycle 2019 de cette convention sortirait de ses nouvelles dates" in text(response)
    db.session.expire_all()
    assert db.session.get(Convention, convention.id).ends_on == date(2021, 12, 31)

    refused = client.post(f"/admin/conventions/{convention.id}/supprimer", follow_redirects=True)
    assert "Cette convention a des cycles" in text(refused)
    assert db.session.get(Convention, convention.id) is not None


def test_convention_page_lists_members_and_links_to_cycles(client, admin, make):
    cycle = make.cycle(year=2017)
    mel = make.organization("Métropole européenne de Lille")
    make.membership(cycle.convention, mel, Tier.ASSOCIATED_MEMBER, on_committee=True)
    other = make.organization("EuraTechnologies")
    page = text(client.get(f"/admin/conventions/{cycle.convention.id}"))
    assert f'href="/admin/cycles/{cycle.id}"' in page
    assert "Métropole européenne de Lille" in page and "Membre associé" in page
    # In the "add a member" list, members are greyed out and the others can be chosen.
    assert f'<option disabled value="{mel.id}">' in page and f'<option value="{other.id}">' in page


def test_membership_add_change_remove_and_duplicate(client, admin, make):
    convention = make.convention()
    prefecture = make.organization("Préfecture de la région Hauts-de-France", kind=OrganizationKind.STATE_SERVICE)
    url = f"/admin/conventions/{convention.id}/membres"

    response = client.post(url, data={"organization_id": prefecture.id, "tier": "founding_partner",
                                      "on_committee": "y"})
    assert response.status_code == 302
    membership = db.session.scalar(select(ConventionMembership))
    assert (membership.tier, membership.on_committee) == (Tier.FOUNDING_PARTNER, True)
    assert _events("membership.add")[0].after == {
        "convention_id": convention.id, "organization_id": prefecture.id, "tier": "founding_partner",
        "on_committee": True}

    duplicate = client.post(url, data={"organization_id": prefecture.id, "tier": "associated_member"})
    assert duplicate.status_code == 422
    assert "est déjà membre de cette convention" in text(duplicate)
    assert len(db.session.scalars(select(ConventionMembership)).all()) == 1

    bad_tier = client.post(url, data={"organization_id": prefecture.id, "tier": "sponsor"})
    assert bad_tier.status_code == 422

    prefix = f"m{membership.id}"
    response = client.post(f"{url}/{membership.id}", data={f"{prefix}-tier": "associated_member"})
    assert response.status_code == 302
    db.session.expire_all()
    membership = db.session.get(ConventionMembership, membership.id)
    assert (membership.tier, membership.on_committee) == (Tier.ASSOCIATED_MEMBER, False)
    change = _events("membership.update")[0]
    assert change.before["tier"] == "founding_partner" and change.after["tier"] == "associated_member"
    assert change.before["on_committee"] is True and change.after["on_committee"] is False

    response = client.post(f"{url}/{membership.id}/retirer")
    assert response.status_code == 302
    assert db.session.scalar(select(ConventionMembership)) is None
    assert _events("membership.remove")[0].before["organization_id"] == prefecture.id


def test_membership_of_another_convention_is_404(client, admin, make):
    first, second = make.convention(), make.convention(start_year=2020)
    membership = make.membership(first, make.organization())
    assert client.post(f"/admin/conventions/{second.id}/membres/{membership.id}/retirer").status_code == 404
    assert client.post(f"/admin/conventions/{first.id}/membres",
                       data={"organization_id": 999, "tier": "founding_partner"}).status_code == 422


# --- organizations -------------------------------------------------------------------------------------


def test_organization_siret_fills_siren(client, admin):
    response = client.post("/admin/organisations/nouvelle",
                           data=_org_data(name="Entreprise exemple", kind="company", siret="732 829 320 00074"))
    assert response.status_code == 302
    org = db.session.scalar(select(Organization))
    assert (org.siret, org.siren) == ("73282932000074", "732829320")
    assert _events("organization.create")[0].after["siret"] == "73282932000074"


def test_la_poste_siret_accepted(client, admin):
    response = client.post("/admin/organisations/nouvelle",
                           data=_org_data(name="La Poste — Lille", kind="public_body", siret="35600000009075"))
    assert response.status_code == 302
    assert db.session.scalar(select(Organization.siren)) == "356000000"


@pytest.mark.parametrize(("fields", "message"), [
    ({"siret": "73282932000075"}, "sa clé de contrôle est fausse"),
    ({"siren": "732829321"}, "Ce SIREN n'existe pas"),
    ({"siret": "7328293200007A"}, "Le SIRET doit comporter exactement 14 chiffres."),
    ({"siren": "ABCDEFGHI"}, "Le SIREN doit comporter exactement 9 chiffres."),
    ({"siret": "7328293200007"}, "Le SIRET doit comporter exactement 14 chiffres."),
    ({"siren": "356000000", "siret": "73282932000074"}, "Le SIRET doit commencer par le SIREN (356000000)"),
    ({"department": "20"}, "Département inconnu"),
    ({"department": "99"}, "Département inconnu"),
    ({"department": "977"}, "Département inconnu"),
    ({"name": ""}, "Ce champ est obligatoire."),
])
def test_organization_bad_input_refused_in_french(client, admin, fields, message):
    response = client.post("/admin/organisations/nouvelle", data=_org_data(**fields))
    assert response.status_code == 422
    assert message in text(response)
    assert db.session.scalar(select(Organization)) is None


@pytest.mark.parametrize(("typed", "stored"), [("2a", "2A"), ("2B", "2B"), ("974", "974"), ("01", "01")])
def test_organization_departments(client, admin, typed, stored):
    assert client.post("/admin/organisations/nouvelle", data=_org_data(department=typed)).status_code == 302
    assert db.session.scalar(select(Organization.department)) == stored


def test_organization_siret_unique_and_edit_audited(client, admin, make):
    first = make.organization("Première", siren="732829320", siret="73282932000074")
    second = make.organization("Seconde")
    response = client.post(f"/admin/organisations/{second.id}/modifier", data=_org_data(siret="73282932000074"))
    assert response.status_code == 422
    assert "Ce SIRET est déjà celui de l'organisation « Première »" in text(response)

    # Saving an organization with its own SIRET is not a duplicate.
    response = client.post(f"/admin/organisations/{first.id}/modifier",
                           data=_org_data(name="Première (renommée)", siret="73282932000074", kind="company"))
    assert response.status_code == 302
    event = _events("organization.update")[0]
    assert event.object_id == first.id
    assert event.before["name"] == "Première" and event.after["name"] == "Première (renommée)"
    assert event.before["kind"] == "local_authority" and event.after["kind"] == "company"


def test_organization_list_filters_and_pagination(client, admin, make, app):
    app.config["PAGE_SIZE"] = 2
    make.organization("Ville de Lille", department="59")
    make.organization("Ville d'Amiens", department="80")
    make.organization("EuraTechnologies", kind=OrganizationKind.DEVELOPMENT_AGENCY, department="59")
    make.organization("Entreprise 100%", kind=OrganizationKind.COMPANY, siren="732829320", siret="73282932000074")

    def names(query: str) -> str:
        response = client.get(f"/admin/organisations{query}")
        assert response.status_code == 200
        return text(response)

    page = names("?department=59")
    assert "Ville de Lille" in page and "EuraTechnologies" in page and "Amiens" not in page
    page = names("?kind=development_agency")
    assert "EuraTechnologies" in page and "Ville de Lille" not in page
    page = names("?q=ville")
    assert "Ville de Lille" in page and "Amiens" in page and "EuraTechnologies" not in page
    assert "Entreprise 100%" in names("?q=73282932")
    assert "Ville" not in names("?q=100%25")  # a % typed is a character, not a wildcard

    first, second, third = names(""), names("?page=2"), names("?page=3")
    assert "4 résultats" in first and 'aria-current="page"' in first
    assert "Entreprise 100%" in first and "EuraTechnologies" in first and "Ville" not in first
    assert "Ville d'Amiens" in second and "Ville de Lille" in second
    assert "Aucune organisation ne correspond." in third
    assert client.get("/admin/organisations?page=abc").status_code == 200
    assert client.get("/admin/organisations?kind=nope").status_code == 422


def test_organization_detail_lists_users_and_memberships(client, admin, make):
    org = make.organization("Ville de Lille")
    make.user(Role.BUYER, organization=org, name="Acheteuse de Lille")
    make.membership(make.convention(), org, Tier.ASSOCIATED_MEMBER, on_committee=True)
    page = text(client.get(f"/admin/organisations/{org.id}"))
    assert "Acheteuse de Lille" in page and "Convention État–UGAP 2017–2019" in page
    assert "Membre associé" in page


def test_organization_scoping(client, make, login):
    org_a, org_b = make.organization("Ville de Lille"), make.organization("Ville d'Amiens")
    login(make.user(Role.BUYER, organization=org_a))
    page = client.get(f"/admin/organisations/{org_a.id}")
    assert page.status_code == 200
    assert "Modifier l'organisation" not in text(page)
    assert client.get(f"/admin/organisations/{org_b.id}").status_code == 403
    assert client.get(f"/admin/organisations/{org_a.id}/modifier").status_code == 403
    assert client.get("/admin/organisations").status_code == 403


def test_organization_detail_needs_login(client, make):
    org = make.organization()
    response = client.get(f"/admin/organisations/{org.id}")
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


# --- users ---------------------------------------------------------------------------------------------


def test_invite_creates_user_and_outbox_row(client, admin, make):
    org = make.organization("Ville de Lille")
    form = text(client.get("/admin/utilisateurs/inviter"))
    assert '<input type="checkbox" id="roles-2" name="roles" value="buyer" >' in form
    assert "Acheteur public" in form
    response = client.post("/admin/utilisateurs/inviter", data={
        "email": "Acheteur@Lille.fr", "name": "Jeanne Acheteuse", "organization_id": org.id,
        "roles": ["buyer", "committee_member"]})
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(func.lower(User.email) == "acheteur@lille.fr"))
    assert user is not None and user.password_hash is None
    assert user.roles == {Role.BUYER, Role.COMMITTEE_MEMBER} and user.organization_id == org.id
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == user.email))
    assert mail is not None and "Jeanne Acheteuse" in mail.body_text
    assert _events("user.invite")[0].actor_id == admin.id

    duplicate = client.post("/admin/utilisateurs/inviter", data={
        "email": "ACHETEUR@lille.fr", "name": "Doublon", "organization_id": "", "roles": ["buyer"]})
    assert duplicate.status_code == 422
    assert "Un compte existe déjà avec l'adresse" in text(duplicate)
    assert len(db.session.scalars(select(User).where(User.name == "Doublon")).all()) == 0
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "pas-une-adresse", "name": "X", "roles": ["buyer"]}, "Adresse électronique invalide"),
    ({"email": "x@example.fr", "name": "X"}, "Choisissez au moins un rôle."),
    ({"email": "x@example.fr", "name": "X", "roles": ["emperor"]}, "Choix inconnu."),
    ({"email": "x@example.fr", "name": "", "roles": ["buyer"]}, "Ce champ est obligatoire."),
    ({"email": "x@example.fr", "name": "X", "roles": ["buyer"], "organization_id": "999"}, "Organisation"),
])
def test_invite_bad_input(client, admin, data, message):
    response = client.post("/admin/utilisateurs/inviter", data=data)
    assert response.status_code == 422
    assert message in text(response)
    assert db.session.scalar(select(User).where(User.email == "x@example.fr")) is None
    assert db.session.scalar(select(OutboxMessage)) is None


def test_user_edit_audits_roles_before_and_after(client, admin, make):
    org = make.organization("Ville de Lille")
    user = make.user(Role.BUYER, name="Paul Acheteur")
    response = client.post(f"/admin/utilisateurs/{user.id}", data={
        "name": "Paul Acheteur", "organization_id": org.id, "roles": ["buyer", "committee_member"],
        "active": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.roles == {Role.BUYER, Role.COMMITTEE_MEMBER} and user.organization_id == org.id
    event = _events("user.update")[0]
    assert event.actor_id == admin.id and event.object_id == user.id
    assert event.before == {"name": "Paul Acheteur", "organization_id": None, "roles": ["buyer"], "active": True}
    assert event.after == {"name": "Paul Acheteur", "organization_id": org.id,
                           "roles": ["buyer", "committee_member"], "active": True}

    # Deactivating someone else is fine; saving without change writes nothing.
    client.post(f"/admin/utilisateurs/{user.id}", data={"name": "Paul Acheteur", "organization_id": org.id,
                                                        "roles": ["buyer", "committee_member"]})
    db.session.expire_all()
    assert db.session.get(User, user.id).active is False
    client.post(f"/admin/utilisateurs/{user.id}", data={"name": "Paul Acheteur", "organization_id": org.id,
                                                        "roles": ["buyer", "committee_member"]})
    assert len(_events("user.update")) == 2


def test_admin_cannot_demote_or_deactivate_themself(client, admin):
    url = f"/admin/utilisateurs/{admin.id}"
    demote = client.post(url, data={"name": admin.name, "roles": ["buyer"], "active": "y"})
    assert demote.status_code == 422
    assert "Vous ne pouvez pas retirer votre propre rôle d'administrateur" in text(demote)
    deactivate = client.post(url, data={"name": admin.name, "roles": ["admin"]})
    assert deactivate.status_code == 422
    assert "Vous ne pouvez pas désactiver votre propre compte." in text(deactivate)
    db.session.expire_all()
    me = db.session.get(User, admin.id)
    assert me.roles == {Role.ADMIN} and me.active
    assert _events("user.update") == []
    # Adding a role to oneself stays possible.
    assert client.post(url, data={"name": admin.name, "roles": ["admin", "pfra_agent"],
                                  "active": "y"}).status_code == 302


def test_resend_invitation(client, admin, make):
    pending = make.user(Role.BUYER, password=None, confirmed=False)
    response = client.post(f"/admin/utilisateurs/{pending.id}/renvoyer-invitation")
    assert response.status_code == 302
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == pending.email)) is not None
    assert _events("user.resend_invitation")[0].object_id == pending.id

    settled = make.user(Role.BUYER)
    page = client.post(f"/admin/utilisateurs/{settled.id}/renvoyer-invitation", follow_redirects=True)
    assert "a déjà choisi son mot de passe" in text(page)
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == settled.email)) is None


def test_user_list_filters(client, admin, make, app):
    lille = make.organization("Ville de Lille")
    make.user(Role.BUYER, organization=lille, name="Alice Acheteuse", email="alice@lille.fr")
    make.user(Role.COMMITTEE_MEMBER, name="Bruno Comité", email="bruno@mel.fr")
    make.user(Role.BUYER, name="Chloé Partie", email="chloe@amiens.fr", active=False)

    def listing(query: str) -> str:
        response = client.get(f"/admin/utilisateurs{query}")
        assert response.status_code == 200
        return text(response)

    shown = listing("?role=buyer")
    assert "Alice Acheteuse" in shown and "Chloé Partie" in shown and "Bruno Comité" not in shown
    shown = listing(f"?organization_id={lille.id}")
    assert "Alice Acheteuse" in shown and "Chloé Partie" not in shown
    shown = listing("?active=0")
    assert "Chloé Partie" in shown and "Alice Acheteuse" not in shown
    shown = listing("?q=MEL.FR")
    assert "Bruno Comité" in shown and "Alice" not in shown
    app.config["PAGE_SIZE"] = 2
    assert "4 résultats" in listing("")
    assert client.get("/admin/utilisateurs?role=emperor").status_code == 422


# --- who may see the directory -------------------------------------------------------------------------


def _admin_urls(make) -> list[tuple[str, str]]:
    convention = make.convention()
    org = make.organization()
    membership = make.membership(convention, org)
    user = make.user(Role.BUYER, password=None)
    m = f"/admin/conventions/{convention.id}/membres/{membership.id}"
    return [
        ("GET", "/admin/conventions"), ("GET", "/admin/conventions/nouvelle"),
        ("POST", "/admin/conventions/nouvelle"), ("GET", f"/admin/conventions/{convention.id}"),
        ("GET", f"/admin/conventions/{convention.id}/modifier"),
        ("POST", f"/admin/conventions/{convention.id}/supprimer"),
        ("POST", f"/admin/conventions/{convention.id}/membres"), ("POST", m), ("POST", f"{m}/retirer"),
        ("GET", "/admin/organisations"), ("GET", "/admin/organisations/nouvelle"),
        ("POST", "/admin/organisations/nouvelle"), ("GET", f"/admin/organisations/{org.id}"),
        ("GET", f"/admin/organisations/{org.id}/modifier"),
        ("GET", "/admin/utilisateurs"), ("GET", "/admin/utilisateurs/inviter"),
        ("POST", "/admin/utilisateurs/inviter"), ("GET", f"/admin/utilisateurs/{user.id}"),
        ("POST", f"/admin/utilisateurs/{user.id}"), ("POST", f"/admin/utilisateurs/{user.id}/renvoyer-invitation"),
        ("GET", "/admin/journal"), ("GET", "/admin/courriels"), ("GET", "/admin/horloge"),
        ("POST", "/admin/horloge/avancer"), ("POST", "/admin/horloge/date"),
        ("POST", "/admin/horloge/reinitialiser"),
    ]


def test_buyer_gets_403_on_every_admin_page(client, make, login, app):
    app.config["DEMO_MODE"] = True
    urls = _admin_urls(make)
    login(make.user(Role.BUYER, organization=make.organization("Autre")))
    for method, url in urls:
        assert client.open(url, method=method).status_code == 403, (method, url)
    assert db.session.scalar(select(AuditEvent)) is None


def test_anonymous_is_sent_to_login(client, make):
    for method, url in _admin_urls(make):
        response = client.open(url, method=method)
        assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"], (method, url)


@pytest.mark.parametrize("url", [
    "/admin/conventions/999", "/admin/conventions/999/modifier", "/admin/organisations/999",
    "/admin/organisations/999/modifier", "/admin/utilisateurs/999", "/admin/courriels/999",
])
def test_unknown_ids_are_404(client, admin, url):
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("url", [
    "/admin/conventions/999/supprimer", "/admin/conventions/999/membres", "/admin/conventions/999/membres/1",
    "/admin/conventions/999/membres/1/retirer", "/admin/utilisateurs/999/renvoyer-invitation",
])
def test_unknown_ids_are_404_on_post(client, admin, url):
    assert client.post(url).status_code == 404


def test_forms_carry_a_csrf_token(client, admin, make, app):
    app.config["WTF_CSRF_ENABLED"] = True
    convention = make.convention()
    make.membership(convention, make.organization())
    user = make.user(Role.BUYER, password=None)
    for url in ("/admin/conventions/nouvelle", f"/admin/conventions/{convention.id}", "/admin/organisations/nouvelle",
                "/admin/utilisateurs/inviter", f"/admin/utilisateurs/{user.id}"):
        page = text(client.get(url))
        assert page.count('method="post"') == len(re.findall(r'name="[\w-]*csrf_token" ', page)), url
    assert client.post("/admin/conventions/nouvelle", data=_convention_data()).status_code == 400
    assert len(db.session.scalars(select(Convention)).all()) == 1
