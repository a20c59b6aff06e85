"""Every route, requested as every role: the expected answer (200, redirect to login, 403, 404), from one table.

A new route fails `test_every_route_is_in_the_table` until someone decides who may use it.
"""

from __future__ import annotations

import pytest

from innovation_cycle.extensions import db
from innovation_cycle.models import CommitteeMember, OrganizationKind, OutboxMessage, Role

ANON, ADMIN, BUYER, COMMITTEE, PFRA, UGAP, COMPANY = (
    "anonymous", "admin", "buyer", "committee_member", "pfra_agent", "ugap_agent", "company")
ROLES = [ANON, ADMIN, BUYER, COMMITTEE, PFRA, UGAP, COMPANY]
EVERYONE = frozenset(ROLES)
LOGGED_IN = EVERYONE - {ANON}
ADMIN_ONLY = frozenset({ADMIN})
NOBODY = frozenset()

# endpoint -> who may use it. The clock is nobody's here: the matrix runs outside demo mode.
ACCESS: dict[str, frozenset[str]] = {
    "public.home": EVERYONE,
    "public.accessibility": EVERYONE,
    "public.health": EVERYONE,
    "public.set_language": EVERYONE,
    "accounts.login": EVERYONE,
    "accounts.logout": LOGGED_IN,
    "accounts.signup": frozenset({ANON}),
    "accounts.forgot_password": EVERYONE,
    "accounts.reset_password": EVERYONE,
    "accounts.accept_invitation": EVERYONE,
    "accounts.confirm_email": EVERYONE,
    "accounts.resend_confirmation": EVERYONE,
    "accounts.profile": LOGGED_IN,
    "accounts.change_password": LOGGED_IN,
    "accounts.change_language": LOGGED_IN,
    "dashboard.index": LOGGED_IN,
    "admin.audit": ADMIN_ONLY,
    "admin.clock": NOBODY,
    "admin.clock_advance": NOBODY,
    "admin.clock_reset": NOBODY,
    "admin.clock_set": NOBODY,
    "admin.conventions": ADMIN_ONLY,
    "admin.convention": ADMIN_ONLY,
    "admin.convention_new": ADMIN_ONLY,
    "admin.convention_edit": ADMIN_ONLY,
    "admin.convention_delete": ADMIN_ONLY,
    "admin.membership_add": ADMIN_ONLY,
    "admin.membership_update": ADMIN_ONLY,
    "admin.membership_remove": ADMIN_ONLY,
    "admin.organizations": ADMIN_ONLY,
    "admin.organization_new": ADMIN_ONLY,
    "admin.organization_edit": ADMIN_ONLY,
    # An organization's page: the admins, and the people of that organization (the buyer's, below).
    "admin.organization": frozenset({ADMIN, BUYER}),
    "admin.users": ADMIN_ONLY,
    "admin.user_invite": ADMIN_ONLY,
    "admin.user_edit": ADMIN_ONLY,
    "admin.user_resend": ADMIN_ONLY,
    "admin.outbox": ADMIN_ONLY,
    "admin.outbox_message": ADMIN_ONLY,
    "admin.cycles": ADMIN_ONLY,
    "admin.cycle": ADMIN_ONLY,
    "admin.cycle_new": ADMIN_ONLY,
    "admin.cycle_calendar": ADMIN_ONLY,
    "admin.cycle_move": ADMIN_ONLY,
    "admin.cycle_prepare_next": ADMIN_ONLY,
    "admin.cycle_committee_add": ADMIN_ONLY,
    "admin.cycle_committee_remove": ADMIN_ONLY,
}
# What an allowed GET answers when it is not 200: forged tokens are refused with a page, not an error.
GET_STATUS = {
    "accounts.reset_password": 400,
    "accounts.accept_invitation": 400,
    "accounts.confirm_email": 400,
}
# Requests that end the session are checked on their own, not in the loop.
SKIP = {("accounts.logout", "POST")}


@pytest.fixture
def world(app, make):
    """One user per role, each in an organization of its own; ids for every URL parameter."""
    orgs = {role: make.organization(f"Organisation {role}", OrganizationKind.COMPANY if role == COMPANY
                                    else OrganizationKind.LOCAL_AUTHORITY) for role in ROLES if role != ANON}
    users = {role: make.user(Role(role), organization=orgs[role]) for role in ROLES if role != ANON}
    convention = make.convention(2017)
    cycle = make.cycle(convention, 2017, state="needs_collection")
    cycle.committee.append(CommitteeMember(user_id=users[COMMITTEE].id))
    membership = make.membership(convention, orgs[ADMIN])
    message = OutboxMessage(recipient="x@example.fr", subject="s", body_text="b", created_at=cycle.created_at)
    db.session.add(message)
    db.session.commit()
    params = {
        "cycle_id": cycle.id, "convention_id": convention.id, "organization_id": orgs[BUYER].id,
        "user_id": users[BUYER].id, "membership_id": membership.id, "member_id": cycle.committee[0].id,
        "message_id": message.id, "token": "jeton-falsifie", "filename": "app.css",
    }
    return users, params


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _url(rule, params, unknown: bool = False) -> str:
    values = {}
    for name in rule.arguments:
        assert name in params, f"add a value for URL parameter {name!r} in the world fixture"
        converter = rule._converters[name].__class__.__name__
        values[name] = 999_999 if unknown and converter == "IntegerConverter" else params[name]
    return rule.build(values)[1]


def test_every_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule, _ in _routes(app)}
    assert endpoints == set(ACCESS), (endpoints - set(ACCESS), set(ACCESS) - endpoints)


def test_every_view_goes_through_the_policy(app):
    missing = [rule.endpoint for rule, _ in _routes(app)
               if not hasattr(app.view_functions[rule.endpoint], "required_action")]
    assert missing == []


@pytest.mark.parametrize("role", ROLES)
def test_every_route_as_every_role(app, client, world, login, role):
    users, params = world
    if role != ANON:
        login(users[role])
    problems = []
    for rule, method in _routes(app):
        if (rule.endpoint, method) in SKIP:
            continue
        url = _url(rule, params)
        response = client.open(url, method=method, data={})
        allowed = role in ACCESS[rule.endpoint]
        status = response.status_code
        if not allowed:
            if role == ANON:
                ok = status == 302 and "/compte/connexion" in response.headers["Location"]
            else:
                ok = status == 403
        elif method == "GET" and rule.endpoint == "accounts.login" and role != ANON:
            ok = status == 302  # already logged in: on to the dashboard
        elif method == "GET":
            ok = status == GET_STATUS.get(rule.endpoint, 200)
        else:
            ok = status not in (403, 404, 405) and status < 500
        if not ok:
            problems.append(f"{role} {method} {url} -> {status}")
    assert problems == []
    if role != ANON:  # nothing in the loop ended the session
        assert client.get("/tableau-de-bord/").status_code == 200


@pytest.mark.parametrize("role", [ADMIN, BUYER])
def test_unknown_ids_are_404_for_those_who_may_see_them(app, client, world, login, role):
    users, params = world
    login(users[role])
    problems = []
    for rule, method in _routes(app):
        if role not in ACCESS[rule.endpoint] or not any(
                rule._converters[a].__class__.__name__ == "IntegerConverter" for a in rule.arguments):
            continue
        status = client.open(_url(rule, params, unknown=True), method=method, data={}).status_code
        if status != 404:
            problems.append(f"{method} {rule.rule} -> {status}")
    assert problems == []


def test_logout_is_post_only_and_ends_the_session(client, world, login):
    users, _ = world
    login(users[BUYER])
    assert client.get("/compte/deconnexion").status_code == 405
    assert client.post("/compte/deconnexion").status_code == 302
    assert client.get("/tableau-de-bord/").status_code == 302


def test_forbidden_page_is_french_and_offers_a_way_back(client, world, login):
    users, _ = world
    login(users[COMPANY])
    response = client.get("/admin/cycles")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Accès refusé" in page and "Votre rôle ne vous permet pas" in page


def test_csrf_is_required_on_every_post(app, client, world, login):
    users, params = world
    app.config["WTF_CSRF_ENABLED"] = True
    refused = []
    for rule, method in _routes(app):
        if method == "POST":
            response = client.post(_url(rule, params), data={})
            if response.status_code == 400 and "jeton de sécurité" in response.get_data(as_text=True):
                refused.append(rule.endpoint)
    posts = {rule.endpoint for rule, method in _routes(app) if method == "POST"}
    assert set(refused) == posts
