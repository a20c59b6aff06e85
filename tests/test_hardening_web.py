"""Issue 9 (hardening), as an attacker and a careless user would try it: emailed links that follow the Host
header, refusals that tell which hidden records exist, rate limits behind proxies, sessions after logout, the
AMI mailing list as a mail bomb, account enumeration, weak passwords and cache headers.

Every test here failed on the main branch it was written against."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD
from sqlalchemy import func, select

from innovation_cycle import create_app
from innovation_cycle.extensions import db
from innovation_cycle.models import Notification, OrganizationKind, Role, User
from innovation_cycle.services import accounts, notifications

EVIL = "http://evil.example"
PUBLIC = "https://cycle.example.fr"
NEW_PASSWORD = "Un-nouveau-mot-de-passe-2017"


def mails() -> list[Notification]:
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def links(row: Notification) -> list[str]:
    return re.findall(r"https?://[^\s<>\"']+", row.body_text + row.body_html)


def assert_public_links(rows: list[Notification]) -> None:
    assert rows
    for row in rows:
        found = links(row)
        assert found, row.body_text
        assert all(link.startswith(PUBLIC + "/") for link in found), found
        assert "evil.example" not in row.body_text + row.body_html


# --- 1. links in mails come from the configuration, never from the Host header -----------------------------


@pytest.fixture
def public_url(app):
    app.config["PUBLIC_URL"] = PUBLIC
    return PUBLIC


def test_reset_link_ignores_a_forged_host_header(client, make, public_url):
    user = make.user(Role.BUYER, email="cible@example.fr")
    response = client.post("/compte/mot-de-passe-oublie", data={"email": user.email}, base_url=EVIL)
    assert response.status_code == 302
    assert_public_links(mails())
    # The path of the link works on the real site.
    path = links(mails()[-1])[0].removeprefix(PUBLIC)
    assert client.get(path).status_code == 200


def test_confirmation_and_mailing_list_links_ignore_the_host_header(client, public_url):
    assert client.post("/compte/inscription", base_url=EVIL, data={
        "name": "Inès Leroy", "email": "ines@robotique-nord.fr", "company_name": "Robotique du Nord",
        "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "accept_terms": "y"}).status_code == 302
    assert client.post("/liste-ami", data={"email": "veille@pme.fr"}, base_url=EVIL).status_code == 200
    assert client.post("/compte/renvoyer-confirmation", data={"email": "ines@robotique-nord.fr"},
                       base_url=EVIL).status_code == 302
    assert len(mails()) == 3
    assert_public_links(mails())


def test_invitation_and_join_links_ignore_the_host_header(app, client, make, public_url):
    from test_companies import FORM, VALID_SIRET

    admin = make.user(Role.ADMIN)
    with app.test_request_context("/admin/utilisateurs", base_url=EVIL):
        accounts.invite_user("nouveau@example.fr", "Nouvelle Personne", None, [Role.BUYER], admin)
        db.session.commit()
    org = make.organization("Lumière", OrganizationKind.COMPANY)
    first = make.user(Role.COMPANY, organization=org, email="alice@lumiere.fr")
    second = make.user(Role.COMPANY, organization=make.organization("Autre", OrganizationKind.COMPANY),
                       email="bruno@lumiere.fr")
    for user, url, data in ((first, "/entreprise/inscription", FORM),
                            (second, "/entreprise/rejoindre", {"siret": VALID_SIRET})):
        client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD}, base_url=EVIL)
        assert client.post(url, data=data, base_url=EVIL).status_code == 302
        client.post("/compte/deconnexion", base_url=EVIL)
    rows = mails()
    assert {r.recipient for r in rows} >= {"nouveau@example.fr", "alice@lumiere.fr"}
    assert_public_links(rows)


def test_links_use_server_name_and_scheme_without_public_url(app):
    app.config.update(PUBLIC_URL=None, SERVER_NAME="cycle.example.fr", PREFERRED_URL_SCHEME="https")
    with app.test_request_context("/", base_url=EVIL):
        assert notifications.external_url("accounts.login") == "https://cycle.example.fr/compte/connexion"


def test_a_public_url_with_a_path_prefix_keeps_it(app):
    app.config["PUBLIC_URL"] = "https://portail.example.fr/cycle"
    assert notifications.external_url("accounts.login") == "https://portail.example.fr/cycle/compte/connexion"


# --- 3. rate limits, proxies, known browsers ----------------------------------------------------------------


@pytest.fixture
def limited(app_config):
    def build(**extra):
        app = create_app({**app_config, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", **extra})
        return app

    return build


@pytest.fixture
def limited_app(limited):
    app = limited(PROXY_COUNT=1)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _wrong(client, email, address):
    return client.post("/compte/connexion", data={"email": email, "password": "faux-mot-de-passe"},
                       headers={"X-Forwarded-For": address})


def test_behind_a_proxy_each_client_address_has_its_own_limits(limited_app):
    from conftest import Factory

    target = Factory().user(Role.BUYER, email="cible@example.fr")
    attacker, owner = limited_app.test_client(), limited_app.test_client()
    for _ in range(10):
        assert _wrong(attacker, target.email, "203.0.113.9").status_code == 422
    assert _wrong(attacker, target.email, "203.0.113.9").status_code == 429
    # The owner, elsewhere, still signs in: the proxy's own address is not everyone's.
    answer = owner.post("/compte/connexion", data={"email": target.email, "password": PASSWORD},
                        headers={"X-Forwarded-For": "198.51.100.7"})
    assert answer.status_code == 302


def test_a_forged_forwarded_header_does_not_escape_the_limit(limited_app):
    """With one trusted proxy, only the address that proxy appended counts: a client cannot prepend others."""
    client = limited_app.test_client()
    for n in range(10):
        _wrong(client, "cible@example.fr", f"10.0.0.{n}, 203.0.113.9")
    assert _wrong(client, "cible@example.fr", "10.0.0.99, 203.0.113.9").status_code == 429


def test_without_configured_proxies_the_forwarded_header_is_ignored(limited):
    app = limited(PROXY_COUNT=0)
    with app.app_context():
        client = app.test_client()
        for n in range(10):
            _wrong(client, "cible@example.fr", f"203.0.113.{n}")
        assert _wrong(client, "cible@example.fr", "203.0.113.200").status_code == 429
        db.session.remove()
        db.engine.dispose()


def test_successful_sign_ins_do_not_consume_the_limit(limited_app):
    """A team behind one address signs in all morning: only failures count."""
    from conftest import Factory

    user = Factory().user(Role.BUYER, email="equipe@example.fr")
    client = limited_app.test_client()
    for _ in range(25):
        answer = client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD},
                             headers={"X-Forwarded-For": "192.0.2.1"})
        assert answer.status_code == 302
        client.post("/compte/deconnexion", headers={"X-Forwarded-For": "192.0.2.1"})


def test_the_owner_with_a_known_browser_is_not_locked_out_by_strangers(limited_app):
    from conftest import Factory

    user = Factory().user(Role.BUYER, email="cible@example.fr")
    owner, stranger = limited_app.test_client(), limited_app.test_client()
    office = "192.0.2.50"  # the stranger shares the owner's address (same office, same NAT)
    assert owner.post("/compte/connexion", data={"email": user.email, "password": PASSWORD},
                      headers={"X-Forwarded-For": office}).status_code == 302
    assert owner.get_cookie("appareil_connu", path="/compte/connexion") is not None
    owner.post("/compte/deconnexion", headers={"X-Forwarded-For": office})
    for _ in range(11):
        _wrong(stranger, user.email, office)
    assert _wrong(stranger, user.email, office).status_code == 429
    # The owner's browser, known to this account, signs in with the right password.
    assert owner.post("/compte/connexion", data={"email": user.email, "password": PASSWORD},
                      headers={"X-Forwarded-For": office}).status_code == 302
    # A forged cookie is no such pass.
    stranger.set_cookie("appareil_connu", "forged.value", path="/compte/connexion")
    assert _wrong(stranger, user.email, office).status_code == 429


def test_the_429_page_says_the_real_wait_consistent_with_retry_after(limited_app):
    client = limited_app.test_client()
    for _ in range(10):
        _wrong(client, "cible@example.fr", "203.0.113.9")
    held = _wrong(client, "cible@example.fr", "203.0.113.9")
    assert held.status_code == 429
    retry_after = int(held.headers["Retry-After"])
    assert 14 * 60 <= retry_after <= 15 * 60
    page = held.get_data(as_text=True)
    assert "quelques minutes" not in page
    assert re.search(r"Patientez (14|15)\s+minutes", page), page


# --- 4. logout ends sessions server side ---------------------------------------------------------------------


def test_a_replayed_remember_me_or_session_cookie_no_longer_signs_in_after_logout(app, make):
    user = make.user(Role.BUYER, email="acheteur@example.fr")
    browser = app.test_client()
    assert browser.post("/compte/connexion", data={"email": user.email, "password": PASSWORD,
                                                   "remember": "y"}).status_code == 302
    remember = browser.get_cookie("remember_token")
    session_cookie = browser.get_cookie("session")
    assert remember is not None and session_cookie is not None
    assert browser.post("/compte/deconnexion").status_code == 302

    for name, cookie in (("remember_token", remember), ("session", session_cookie)):
        thief = app.test_client()
        thief.set_cookie(name, cookie.value)
        assert thief.get("/tableau-de-bord/").status_code == 302, name  # sent to the login page
    # Signing in again works, with a new stamp.
    assert browser.post("/compte/connexion", data={"email": user.email, "password": PASSWORD}).status_code == 302
    assert browser.get("/tableau-de-bord/").status_code == 200


# --- 5. the AMI mailing list ------------------------------------------------------------------------------


def test_the_mailing_list_sends_one_confirmation_per_address_per_day(client, clock):
    for _ in range(5):
        assert client.post("/liste-ami", data={"email": "victime@example.fr"}).status_code == 200
    assert len(mails()) == 1
    clock.advance(hours=23)
    client.post("/liste-ami", data={"email": "VICTIME@example.fr"})
    assert len(mails()) == 1
    clock.advance(hours=2)
    client.post("/liste-ami", data={"email": "victime@example.fr"})
    assert len(mails()) == 2


def test_the_mailing_list_is_rate_limited(limited_app):
    client = limited_app.test_client()
    statuses = [client.post("/liste-ami", data={"email": f"adresse{n}@example.fr"},
                            headers={"X-Forwarded-For": "203.0.113.9"}).status_code for n in range(21)]
    assert 429 in statuses and statuses[0] == 200
    assert db.session.scalar(select(func.count(Notification.id))) == statuses.count(200)



# --- 10. enumeration, timing, password policy, cache headers ------------------------------------------------

SIGNUP = {"name": "Inès Moreau", "email": "ines@robotique-nord.fr", "company_name": "Robotique du Nord",
          "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "accept_terms": "y"}


def test_sign_up_answers_the_same_whether_the_address_has_an_account(app, make):
    owner = make.user(Role.BUYER, email="ines@robotique-nord.fr", name="Inès Propriétaire")
    answers = []
    for email in ("INES@Robotique-Nord.fr", "nouvelle@robotique-nord.fr"):
        browser = app.test_client()
        response = browser.post("/compte/inscription", data={**SIGNUP, "email": email})
        page = browser.get(response.headers["Location"]).get_data(as_text=True)
        answers.append((response.status_code, response.headers["Location"],
                        page.replace(email, "<adresse>").replace(email.lower(), "<adresse>")))
    assert answers[0] == answers[1]
    assert "existe déjà" not in answers[0][2]
    # The owner is told by mail; no second account, no organization for the intruder.
    rows = mails()
    to_owner = [r for r in rows if r.recipient == owner.email]
    assert len(to_owner) == 1 and "/compte/mot-de-passe-oublie" in to_owner[0].body_text
    assert db.session.scalar(select(func.count(User.id)).where(
        func.lower(User.email) == "ines@robotique-nord.fr")) == 1


def test_reset_does_the_same_work_for_real_and_unknown_accounts(app, client, make):
    """The same templates are rendered (the costly part) and the same answer given; only the real account's
    mail is written."""
    from flask import template_rendered

    make.user(Role.BUYER, email="reel@example.fr")
    rendered: list[str] = []

    def record(_sender, template, **_extra):
        rendered.append(template.name)

    answers = {}
    with template_rendered.connected_to(record, app):
        for email in ("reel@example.fr", "inconnu@example.fr"):
            rendered.clear()
            response = client.post("/compte/mot-de-passe-oublie", data={"email": email})
            answers[email] = (response.status_code, sorted(t for t in rendered if t.startswith("emails/")))
    assert answers["reel@example.fr"] == answers["inconnu@example.fr"]
    assert answers["inconnu@example.fr"][1] == ["emails/reset_password.html", "emails/reset_password.txt"]
    assert [r.recipient for r in mails()] == ["reel@example.fr"]


@pytest.mark.parametrize("password, message", [
    ("password1234", "trop courant"),
    ("azertyuiop123", "trop courant"),
    ("123456789012", "trop courant"),
    ("iloveyou2017", "trop courant"),
    ("ines@robotique-nord.fr", "adresse électronique"),
    ("ines.moreau-2017!", "adresse électronique"),  # the local part of the address
    ("Vélo-cargo-sous-la-pluie", None),
])
def test_sign_up_refuses_common_and_breached_passwords_and_the_own_address(client, password, message):
    data = {**SIGNUP, "password": password, "password_confirm": password}
    response = client.post("/compte/inscription", data=data)
    page = response.get_data(as_text=True).replace("&#39;", "'")
    if message is None:
        assert response.status_code == 302
    else:
        assert response.status_code == 422 and message in page
        assert db.session.scalar(select(func.count(User.id))) == 0


def test_a_password_built_on_ones_own_address_is_refused_on_reset_and_change(app, client, make):
    user = make.user(Role.BUYER, email="jeanne.martin@example.fr")
    client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD})
    refused = client.post("/compte/mot-de-passe", data={
        "current_password": PASSWORD, "password": "jeanne.martin2017", "password_confirm": "jeanne.martin2017"})
    assert refused.status_code == 422 and "adresse électronique" in refused.get_data(as_text=True)
    with app.test_request_context():
        token = accounts.make_token(user, accounts.RESET_PASSWORD)
    weak = client.post(f"/compte/reinitialiser/{token}", data={"password": "Password1234",
                                                              "password_confirm": "Password1234"})
    assert weak.status_code == 422 and "trop courant" in weak.get_data(as_text=True)


def test_pages_for_signed_in_people_are_not_cached(client, make):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    user = make.user(Role.BUYER)
    client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD})
    for path in ("/", "/tableau-de-bord/", "/compte/"):
        assert client.get(path).headers.get("Cache-Control") == "no-store", path
    assert "Strict-Transport-Security" not in client.get("/").headers  # only in production (test_config)


def test_reset_answers_in_the_same_time_for_real_and_unknown_accounts(app, client, make):
    """Measured: the real account's mail is written and sent in the request (about 150 ms against 25 ms on
    SQLite); the answer waits for a floor either way."""
    import statistics
    import time

    app.config["RESET_RESPONSE_FLOOR_SECONDS"] = 0.4
    make.user(Role.BUYER, email="reel@example.fr")
    durations: dict[str, list[float]] = {"reel@example.fr": [], "inconnu@example.fr": []}
    for _ in range(3):
        for email, times in durations.items():
            started = time.perf_counter()
            assert client.post("/compte/mot-de-passe-oublie", data={"email": email}).status_code == 302
            times.append(time.perf_counter() - started)
    real, unknown = (statistics.median(t) for t in durations.values())
    assert real >= 0.4 and unknown >= 0.4
    assert abs(real - unknown) < 0.1, (real, unknown)
