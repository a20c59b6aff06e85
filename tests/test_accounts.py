"""Accounts: login and logout, password reset, invitations, company sign-up and confirmation, "Mon compte".

Mails are read where people read them: on the real loopback SMTP server (`smtp` fixture), or in the outbox
rows when no server is configured.
"""

from __future__ import annotations

import html
import re

import pytest
from conftest import PASSWORD, body_of
from sqlalchemy import select

from innovation_cycle import transaction
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Organization, OrganizationKind, OutboxMessage, Role, User
from innovation_cycle.services import accounts

NEW_PASSWORD = "Un-nouveau-mot-de-passe-2017"
GENERIC_REFUSAL = "Adresse électronique ou mot de passe incorrect."
DASHBOARD = "/tableau-de-bord/"
LINK = re.compile(r"http://localhost(/compte/[^\s<>\"]+)")


def link_in(text: str, prefix: str) -> str:
    """The path of the first link to `/compte/<prefix>/…` in a mail body."""
    paths = [p for p in LINK.findall(text) if p.startswith(f"/compte/{prefix}/")]
    assert paths, text
    return paths[0]


def audit_actions(user: User) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "users", AuditEvent.object_id == user.id).order_by(AuditEvent.id)))


def outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def text_of(response) -> str:
    """The page's text with entities decoded (apostrophes come out as &#39;)."""
    return html.unescape(response.get_data(as_text=True))


def plain(text: str) -> str:
    """French typography puts no-break spaces in "2\u00a0jours"; compare with ordinary spaces."""
    return re.sub(r"\s", " ", text)


# --- login ----------------------------------------------------------------------------------------------


def test_login_page_is_french_and_has_its_links(client):
    page = text_of(client.get("/compte/connexion"))
    assert "Adresse électronique" in page and "Mot de passe" in page
    assert "/compte/mot-de-passe-oublie" in page and "/compte/inscription" in page


def test_login_matches_the_email_case_insensitively(client, make):
    user = make.user(Role.BUYER, email="Alice.Martin@Lille.fr", name="Alice Martin")
    response = client.post("/compte/connexion", data={"email": "  alice.martin@LILLE.FR ", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == DASHBOARD
    page = text_of(client.get("/compte/"))
    assert "Alice Martin" in page and user.email in page


@pytest.mark.parametrize("email, password", [
    ("alice@lille.fr", "pas-le-bon-mot-de-passe"),   # wrong password
    ("personne@lille.fr", PASSWORD),                   # no such account
])
def test_wrong_credentials_get_one_generic_message(client, make, email, password):
    make.user(Role.BUYER, email="alice@lille.fr")
    response = client.post("/compte/connexion", data={"email": email, "password": password})
    assert response.status_code == 422
    assert GENERIC_REFUSAL in text_of(response)
    assert client.get("/compte/").status_code == 302  # still anonymous


def test_empty_login_form_gets_field_messages(client):
    response = client.post("/compte/connexion", data={"email": "", "password": ""})
    assert response.status_code == 422
    page = text_of(response)
    assert "Indiquez votre adresse électronique." in page and "Indiquez votre mot de passe." in page


def test_inactive_user_is_refused(client, make):
    user = make.user(Role.BUYER, active=False)
    response = client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 422
    assert "désactivé" in text_of(response)
    # With a wrong password the deactivation is not revealed.
    response = client.post("/compte/connexion", data={"email": user.email, "password": "mauvais-mot-de-passe"})
    assert GENERIC_REFUSAL in text_of(response) and "désactivé" not in text_of(response)


def test_unconfirmed_company_user_is_refused_with_a_resend_offer(client, make):
    user = make.user(Role.COMPANY, confirmed=False)
    response = client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 422
    page = text_of(response)
    assert "Adresse électronique non confirmée" in page
    assert "/compte/renvoyer-confirmation" in page


def test_confirmation_is_only_asked_of_company_users(client, make, login):
    """Agents are invited, and the invitation proves their address."""
    login(make.user(Role.BUYER, confirmed=False))


@pytest.mark.parametrize("target, expected", [
    ("/compte/", "/compte/"),
    ("//evil.example", DASHBOARD),
    ("https://evil.example/piege", DASHBOARD),
    ("/\\evil.example", DASHBOARD),
    ("javascript:alert(1)", DASHBOARD),
])
def test_next_is_kept_on_this_site(client, make, target, expected):
    user = make.user(Role.BUYER)
    response = client.post("/compte/connexion", query_string={"next": target},
                           data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_a_protected_page_sends_to_login_and_back(client, make):
    user = make.user(Role.BUYER)
    response = client.get("/compte/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/compte/connexion?next=")
    response = client.post(response.headers["Location"], data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/compte/"


def test_logout_is_post_only(client, make, login):
    login(make.user(Role.BUYER))
    assert client.get("/compte/deconnexion").status_code == 405
    assert client.get("/compte/").status_code == 200
    response = client.post("/compte/deconnexion")
    assert response.status_code == 302
    assert client.get("/compte/").status_code == 302


def test_login_without_csrf_token_is_refused(app, client, make):
    app.config["WTF_CSRF_ENABLED"] = True
    user = make.user(Role.BUYER)
    response = client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "jeton de sécurité" in text_of(response)


def test_login_with_csrf_token_works(app, client, make):
    app.config["WTF_CSRF_ENABLED"] = True
    user = make.user(Role.BUYER)
    page = text_of(client.get("/compte/connexion"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    response = client.post("/compte/connexion",
                           data={"email": user.email, "password": PASSWORD, "csrf_token": token.group(1)})
    assert response.status_code == 302


# --- password reset -------------------------------------------------------------------------------------


def test_password_reset_end_to_end_over_smtp(client, make, smtp):
    user = make.user(Role.BUYER, email="claire@mel.fr", name="Claire Dubois")
    response = client.post("/compte/mot-de-passe-oublie", data={"email": "CLAIRE@mel.fr"}, follow_redirects=True)
    assert "un courriel vient d'y être envoyé" in text_of(response)

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "claire@mel.fr"
    assert message["Subject"] == "Réinitialisation de votre mot de passe"
    body = body_of(message)
    assert "Bonjour Claire Dubois" in body
    assert "valable 1 heure, jusqu'au 15 janvier 2017 à 11:00" in plain(body)
    assert "Cycle innovation" in body  # the service's name
    link = link_in(body, "reinitialiser")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert link in html

    page = client.get(link)
    assert page.status_code == 200 and "claire@mel.fr" in text_of(page)
    refused = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": "autre-chose-encore"})
    assert refused.status_code == 422
    assert "Les deux mots de passe ne sont pas identiques." in text_of(refused)
    response = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/compte/connexion"

    assert client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD}).status_code == 422
    assert client.post("/compte/connexion",
                       data={"email": user.email, "password": NEW_PASSWORD}).status_code == 302
    assert "user.reset_password" in audit_actions(user)


def test_reset_link_works_only_once(client, make, smtp):
    user = make.user(Role.BUYER)
    client.post("/compte/mot-de-passe-oublie", data={"email": user.email})
    link = link_in(body_of(smtp.messages[0]), "reinitialiser")
    assert client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}).status_code == 302

    again = client.post(link, data={"password": "Encore-un-autre-2017", "password_confirm": "Encore-un-autre-2017"})
    assert again.status_code == 410
    page = text_of(again)
    assert "Lien invalide ou expiré" in page and "déjà servi" in page
    assert "/compte/mot-de-passe-oublie" in page
    assert accounts.check_password(db.session.get(User, user.id), NEW_PASSWORD)


def test_reset_link_expires_with_the_application_clock(client, make, clock):
    user = make.user(Role.BUYER)
    client.post("/compte/mot-de-passe-oublie", data={"email": user.email})
    link = link_in(outbox()[-1].body_text, "reinitialiser")
    clock.advance(minutes=59)
    assert client.get(link).status_code == 200
    clock.advance(minutes=2)
    response = client.get(link)
    assert response.status_code == 410
    assert "Ce lien a expiré" in text_of(response)
    assert client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}).status_code == 410


@pytest.mark.parametrize("token", ["nimporte-quoi", "eyJ1IjoxLCJzIjoieCJ9.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_forged_reset_link_is_refused_without_error(client, token):
    response = client.get(f"/compte/reinitialiser/{token}")
    assert response.status_code == 400
    assert "Ce lien est invalide" in text_of(response)


def test_a_token_only_works_for_its_purpose(client, make):
    user = make.user(Role.BUYER)
    confirmation = accounts.make_token(user, accounts.CONFIRM_EMAIL)
    assert client.get(f"/compte/reinitialiser/{confirmation}").status_code == 400
    assert client.get(f"/compte/invitation/{confirmation}").status_code == 400


def test_reset_request_gives_the_same_answer_for_unknown_and_inactive_accounts(client, make, smtp):
    inactive = make.user(Role.BUYER, active=False)
    answers = set()
    for email in ("inconnu@nulle-part.fr", inactive.email):
        response = client.post("/compte/mot-de-passe-oublie", data={"email": email})
        assert response.status_code == 302
        with client.session_transaction() as session:
            flashes = session.pop("_flashes")
        answers.add(flashes[0][1].replace(email, "<email>"))
    assert len(answers) == 1
    assert smtp.messages == []


def test_reset_refuses_a_short_password(client, make):
    user = make.user(Role.BUYER)
    link = f"/compte/reinitialiser/{accounts.make_token(user, accounts.RESET_PASSWORD)}"
    response = client.post(link, data={"password": "court", "password_confirm": "court"})
    assert response.status_code == 422
    assert "Le mot de passe doit contenir au moins 12 caractères." in text_of(response)


def test_reset_request_validates_the_address(client):
    response = client.post("/compte/mot-de-passe-oublie", data={"email": "pas-une-adresse"})
    assert response.status_code == 422
    assert "Adresse électronique invalide" in text_of(response)


# --- invitations ----------------------------------------------------------------------------------------


def test_invitation_end_to_end_over_smtp(client, make, smtp, clock):
    admin = make.user(Role.ADMIN, name="Secrétariat ORCP")
    mairie = make.organization("Ville de Lille")
    invited = accounts.invite_user("Bruno.Petit@Lille.fr", "Bruno Petit", mairie, [Role.BUYER], admin)
    transaction.commit()

    assert invited.password_hash is None and invited.active
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.invite"))
    assert event.actor_id == admin.id and event.object_id == invited.id
    assert event.after["roles"] == ["buyer"]

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "Bruno.Petit@Lille.fr"
    assert "Invitation" in message["Subject"]
    body = body_of(message)
    assert "Secrétariat ORCP vous invite" in body
    assert "Ville de Lille" in body and "Acheteur public" in body
    assert "valable 1 semaine, jusqu'au 22 janvier 2017 à 10:00" in plain(body)
    link = link_in(body, "invitation")

    page = client.get(link)
    assert page.status_code == 200 and "Bruno Petit" in text_of(page)
    response = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == DASHBOARD

    profile = text_of(client.get("/compte/"))  # logged in
    assert "Bruno Petit" in profile and "Acheteur public" in profile
    invited = db.session.get(User, invited.id)
    assert invited.email_confirmed_at == clock.now()
    assert audit_actions(invited) == ["user.invite", "user.accept_invitation"]

    assert client.get(link).status_code == 410  # used
    client.post("/compte/deconnexion")
    assert client.post("/compte/connexion",
                       data={"email": "bruno.petit@lille.fr", "password": NEW_PASSWORD}).status_code == 302


def test_invitation_refuses_a_taken_address(make):
    make.user(Role.BUYER, email="deja@mel.fr")
    with pytest.raises(ValueError, match="Un compte existe déjà avec l'adresse DEJA@MEL.FR"):
        accounts.invite_user("DEJA@MEL.FR", "Quelqu'un", None, [Role.BUYER], None)
    with pytest.raises(accounts.DuplicateEmail):
        accounts.invite_user(" deja@mel.fr ", "Quelqu'un", None, [Role.BUYER], None)


def test_resending_an_invitation_voids_the_previous_link(client, make):
    admin = make.user(Role.ADMIN)
    invited = accounts.invite_user("eve@ugap.fr", "Ève", None, [Role.UGAP_AGENT], admin)
    transaction.commit()
    first = link_in(outbox()[-1].body_text, "invitation")
    accounts.resend_invitation(invited, admin)
    transaction.commit()
    second = link_in(outbox()[-1].body_text, "invitation")
    assert first != second
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200
    assert outbox()[-1].transport == "console"
    assert "user.resend_invitation" in audit_actions(invited)


def test_an_accepted_invitation_cannot_be_resent(make):
    user = make.user(Role.BUYER)
    with pytest.raises(accounts.InvitationAlreadyAccepted):
        accounts.resend_invitation(user)


def test_invitation_link_expires(client, make, clock):
    accounts.invite_user("tardif@mel.fr", "Tardif", None, [Role.BUYER], None)
    transaction.commit()
    link = link_in(outbox()[-1].body_text, "invitation")
    clock.advance(days=7, seconds=1)
    assert client.get(link).status_code == 410


# --- company sign-up and confirmation -------------------------------------------------------------------

SIGNUP = {
    "name": "Inès Moreau",
    "email": "ines@robotique-nord.fr",
    "company_name": "Robotique du Nord",
    "password": NEW_PASSWORD,
    "password_confirm": NEW_PASSWORD,
    "accept_terms": "y",
}


def test_signup_then_confirmation(client, clock):
    response = client.post("/compte/inscription", data=SIGNUP)
    assert response.status_code == 302 and response.headers["Location"] == "/compte/connexion"

    user = db.session.scalar(select(User).where(User.email == "ines@robotique-nord.fr"))
    assert user.roles == {Role.COMPANY} and user.email_confirmed_at is None
    assert user.organization.name == "Robotique du Nord"
    assert user.organization.kind == OrganizationKind.COMPANY

    login = {"email": SIGNUP["email"], "password": NEW_PASSWORD}
    refused = client.post("/compte/connexion", data=login)
    assert refused.status_code == 422 and "non confirmée" in text_of(refused)

    mail = outbox()[-1]
    assert mail.recipient == "ines@robotique-nord.fr" and mail.transport == "console"
    assert mail.subject == "Confirmez votre adresse électronique"
    assert "valable 2 jours, jusqu'au 17 janvier 2017 à 10:00" in plain(mail.body_text)
    link = link_in(mail.body_text, "confirmer")

    page = client.get(link)
    assert page.status_code == 200 and "Confirmer mon adresse" in text_of(page)
    db.session.refresh(user)
    assert user.email_confirmed_at is None  # opening the link alone confirms nothing
    assert client.post(link).status_code == 302
    db.session.refresh(user)
    assert user.email_confirmed_at == clock.now()
    assert audit_actions(user) == ["user.signup", "user.confirm_email"]

    assert client.post("/compte/connexion", data=login).status_code == 302
    # Following the link again is harmless.
    assert client.get(link).status_code == 302


def test_signup_with_a_taken_address_mails_its_owner_and_says_nothing(client, make):
    """Issue 9: the page answers as for a new account (no enumeration); the owner is told by mail."""
    make.user(Role.BUYER, email="ines@robotique-nord.fr")
    response = client.post("/compte/inscription", data={**SIGNUP, "email": "INES@Robotique-Nord.fr"})
    assert response.status_code == 302
    assert "existe déjà" not in text_of(client.get(response.headers["Location"]))
    assert db.session.scalar(select(Organization).where(Organization.name == "Robotique du Nord")) is None
    assert [m.recipient for m in outbox()] == ["ines@robotique-nord.fr"]


def test_signup_validates_every_field_in_french(client):
    response = client.post("/compte/inscription", data={
        "name": "", "email": "pas-une-adresse", "company_name": "", "password": "court", "password_confirm": "x"})
    assert response.status_code == 422
    page = text_of(response)
    for message in ("Indiquez vos prénom et nom.", "Adresse électronique invalide",
                    "Indiquez le nom de votre entreprise.", "au moins 12 caractères",
                    "Les deux mots de passe ne sont pas identiques.", "Vous devez accepter les conditions"):
        assert message in page, message
    assert db.session.scalar(select(User)) is None


def test_signup_is_for_anonymous_visitors(client, make, login):
    login(make.user(Role.BUYER))
    assert client.get("/compte/inscription").status_code == 403


def test_resend_confirmation_does_not_reveal_accounts(client, make):
    waiting = make.user(Role.COMPANY, confirmed=False)
    make.user(Role.COMPANY, email="confirme@pme.fr")
    for email in ("inconnu@pme.fr", "confirme@pme.fr"):
        assert client.post("/compte/renvoyer-confirmation", data={"email": email}).status_code == 302
    assert outbox() == []
    client.post("/compte/renvoyer-confirmation", data={"email": waiting.email.upper()})
    assert [m.recipient for m in outbox()] == [waiting.email]
    link = link_in(outbox()[0].body_text, "confirmer")
    assert client.post(link).status_code == 302
    assert client.post("/compte/connexion", data={"email": waiting.email, "password": PASSWORD}).status_code == 302


def test_confirmation_link_expires(client, clock):
    client.post("/compte/inscription", data=SIGNUP)
    link = link_in(outbox()[-1].body_text, "confirmer")
    clock.advance(days=2, minutes=1)
    response = client.post(link)
    assert response.status_code == 410
    assert "/compte/renvoyer-confirmation" in text_of(response)


# --- "Mon compte" ---------------------------------------------------------------------------------------


def test_profile_shows_the_account_in_french(client, make, login):
    org = make.organization("Préfecture de la région Hauts-de-France", kind=OrganizationKind.PFRA)
    login(make.user(Role.PFRA_AGENT, Role.COMMITTEE_MEMBER, organization=org, name="Paul Agent"))
    page = text_of(client.get("/compte/"))
    for text in ("Paul Agent", "Préfecture de la région Hauts-de-France", "Agent de la PFRA",
                 "Membre du comité de pilotage", "Mot de passe actuel"):
        assert text in page


def test_change_password_needs_the_current_one(client, make, login):
    user = make.user(Role.BUYER)
    login(user)
    response = client.post("/compte/mot-de-passe", data={
        "current_password": "pas-le-bon", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 422
    assert "Le mot de passe actuel est incorrect." in text_of(response)

    response = client.post("/compte/mot-de-passe", data={
        "current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert accounts.check_password(db.session.get(User, user.id), NEW_PASSWORD)
    assert audit_actions(user) == ["user.change_password"]


def test_change_language(client, make, login):
    user = make.user(Role.BUYER)
    login(user)
    assert client.post("/compte/langue", data={"locale": "de"}).status_code == 422
    assert client.post("/compte/langue", data={"locale": "en"}).status_code == 302
    assert db.session.get(User, user.id).locale == "en"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.change_locale"))
    assert event.before == {"locale": None} and event.after == {"locale": "en"}


def test_role_labels_cover_every_role():
    assert set(accounts.ROLE_LABELS) == set(Role)


def test_a_password_change_ends_the_other_sessions(app, make, login):
    from innovation_cycle.models import Role

    user = make.user(Role.BUYER)
    other = app.test_client()
    assert other.post("/compte/connexion", data={"email": user.email, "password": PASSWORD}).status_code == 302
    assert other.get("/tableau-de-bord/").status_code == 200
    this = app.test_client()
    this.post("/compte/connexion", data={"email": user.email, "password": PASSWORD})
    new = "Un-nouveau-mot-de-passe-2017"
    response = this.post("/compte/mot-de-passe", data={
        "current_password": PASSWORD, "password": new, "password_confirm": new, "confirm": new})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert this.get("/tableau-de-bord/").status_code == 200
    assert other.get("/tableau-de-bord/").status_code == 302  # back to the login page
