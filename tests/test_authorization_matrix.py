"""Every route, requested as every role: the expected answer (200, redirect to login, 403, 404), from one table.

A new route fails `test_every_route_is_in_the_table` until someone decides who may use it.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

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
    "public.ready": EVERYONE,  # Issue 9: readiness
    "public.favicon": EVERYONE,  # issue 10: browser walk
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
    # Issue 3, area C. The world's attachment is the AMI's rules document, before the AMI opens: the staff only.
    "attachments.download": frozenset({ADMIN, PFRA, COMMITTEE}),
    "attachments.delete": ADMIN_ONLY,
    "attachments.storage": ADMIN_ONLY,
    "ami.public": EVERYONE,
    "ami.cycle_page": EVERYONE,
    "ami.edit": ADMIN_ONLY,
    "ami.rules_upload": ADMIN_ONLY,
    "listings.needs": frozenset({ADMIN, PFRA, COMMITTEE}),
    "listings.applications": frozenset({ADMIN, PFRA, COMMITTEE}),
    "listings.needs_export": frozenset({ADMIN, PFRA, COMMITTEE}),
    "listings.applications_export": frozenset({ADMIN, PFRA, COMMITTEE}),
    # Issue 3, area B. The world's company has a submitted answer (to a cycle whose AMI is not open) and a
    # pending request from a second person to join it.
    "companies.mine": frozenset({COMPANY}),
    "companies.register": frozenset({COMPANY}),
    "companies.join": frozenset({COMPANY}),
    "companies.join_cancel": frozenset({COMPANY}),
    "companies.detail": frozenset({ADMIN, COMPANY}),
    "companies.edit": frozenset({ADMIN, COMPANY}),
    "companies.join_decide": frozenset({ADMIN, COMPANY}),
    "applications.index": frozenset({COMPANY}),
    "applications.new": frozenset({COMPANY}),
    "applications.detail": frozenset({ADMIN, PFRA, COMMITTEE, COMPANY}),
    "applications.edit": frozenset({COMPANY}),
    "applications.submit": frozenset({COMPANY}),
    "applications.withdraw": frozenset({COMPANY}),
    "applications.screening": ADMIN_ONLY,
    "applications.screen": ADMIN_ONLY,
    # Issue 3, area A. The world's need is the buyer organization's, submitted (so the PFRA and admins see it;
    # the buyer's edit page explains it is no longer editable; refused moves answer with a redirect).
    "needs.index": frozenset({ADMIN, BUYER, PFRA, UGAP}),  # UGAP: the accepted needs from selection on
    "needs.new": frozenset({BUYER}),
    "needs.show": frozenset({ADMIN, BUYER, PFRA}),
    "needs.edit": frozenset({BUYER}),
    "needs.submit": frozenset({BUYER}),
    "needs.delete": frozenset({BUYER}),
    "needs.accept": frozenset({ADMIN, PFRA}),
    "needs.return_for_changes": frozenset({ADMIN, PFRA}),
    "needs.reject": frozenset({ADMIN, PFRA}),
    "needs.merge": frozenset({ADMIN, PFRA}),
    "needs.themes": ADMIN_ONLY,
    "needs.theme_rename": ADMIN_ONLY,
    "needs.theme_delete": ADMIN_ONLY,
    # Issue 4: notifications. The world's outbox row is pending, so a retry answers with a message.
    "admin.outbox_retry": ADMIN_ONLY,
    "admin.outbox_dispatch": ADMIN_ONLY,
    "notifications.preferences": LOGGED_IN,
    "notifications.calendar_reset": LOGGED_IN,
    "notifications.calendar_feed": EVERYONE,
    "notifications.subscribe": EVERYONE,
    "notifications.subscribe_confirm": EVERYONE,
    "notifications.unsubscribe": EVERYONE,
    # Issue 7: the selection stage's reviewing. The admin pages act on the world's cycle; the member and buyer
    # pages on a second cycle in selection, where the committee member is assigned the eligible answer, which
    # targets the buyer organization's need.
    "reviews.grid": ADMIN_ONLY,
    "reviews.grid_default": ADMIN_ONLY,
    "reviews.settings": ADMIN_ONLY,
    "reviews.criterion_new": ADMIN_ONLY,
    "reviews.criterion_edit": ADMIN_ONLY,
    "reviews.criterion_remove": ADMIN_ONLY,
    "reviews.criterion_move": ADMIN_ONLY,
    "reviews.assignments": ADMIN_ONLY,
    "reviews.assignments_propose": ADMIN_ONLY,
    "reviews.assignments_confirm": ADMIN_ONLY,
    "reviews.assignments_complete": ADMIN_ONLY,
    "reviews.assignment_add": ADMIN_ONLY,
    "reviews.assignment_remove": ADMIN_ONLY,
    "reviews.index": frozenset({BUYER, COMMITTEE}),
    "reviews.review": frozenset({ADMIN, BUYER, COMMITTEE}),
    "reviews.review_save": frozenset({COMMITTEE}),
    "reviews.interest": frozenset({BUYER}),
    "reviews.conflicts": frozenset({COMMITTEE}),
    "reviews.conflict_remove": frozenset({COMMITTEE}),
    # The figures are every convention member's from the selection stage on; the world's cycle is before it.
    "reviews.figures": ADMIN_ONLY,
    # Issue 7, items 6-10: the ranking (admins and the cycle's committee; the world's committee member is on
    # the world's cycle), and the secretariat's meetings, decisions, minutes and release.
    "selection.index": frozenset({ADMIN, COMMITTEE}),
    "selection.ranking": frozenset({ADMIN, COMMITTEE}),
    "selection.need_ranking": frozenset({ADMIN, COMMITTEE}),
    "selection.ranking_export": frozenset({ADMIN, COMMITTEE}),
    "selection.meetings": ADMIN_ONLY,
    "selection.meeting": ADMIN_ONLY,
    "selection.attendance": ADMIN_ONLY,
    "selection.meeting_open": ADMIN_ONLY,
    "selection.meeting_close": ADMIN_ONLY,
    "selection.decision": ADMIN_ONLY,
    "selection.minutes": ADMIN_ONLY,
    "selection.minutes_export": ADMIN_ONLY,
    "selection.release_page": ADMIN_ONLY,
    # Issue 8: the census and the results. The world's commitment is the buyer organization's declaration
    # (recorded by the buyer, not yet confirmed) about the company's answer, in a cycle not yet in its census
    # (so the edit page redirects with the reason); the cycle's bilan is published; nobody in the world is a
    # founding partner, so nobody approves.
    "commitments.index": frozenset({ADMIN, BUYER, PFRA, UGAP, COMPANY}),
    "commitments.new": frozenset({ADMIN, BUYER, PFRA, UGAP}),
    "commitments.show": frozenset({ADMIN, BUYER, PFRA, UGAP, COMPANY}),
    "commitments.edit": frozenset({ADMIN, BUYER, PFRA}),
    "commitments.move": frozenset({ADMIN, BUYER, PFRA}),
    "commitments.contract": frozenset({ADMIN, BUYER, PFRA}),
    "commitments.confirm": frozenset({ADMIN, PFRA}),
    "commitments.client_new": frozenset({ADMIN, UGAP}),
    "commitments.phases": ADMIN_ONLY,
    "commitments.carry_over": frozenset({BUYER}),
    "commitments.name_consent": frozenset({COMPANY}),
    "results.public": EVERYONE,
    "results.bilan_csv": EVERYONE,
    # Issue 8, item 6: the published bilan's open data (no login), and the same files for the admin's check
    # before publication (the world's preview key is the DECP file).
    "results.bilan_xlsx": EVERYONE,
    "results.decp": EVERYONE,
    "results.ocds": EVERYONE,
    "results.open_data_preview": ADMIN_ONLY,
    "results.preview": ADMIN_ONLY,
    "results.manage": ADMIN_ONLY,
    "results.approve": NOBODY,
    "results.publish": ADMIN_ONLY,
    # Issue 8: the secretariat's reference data. The world has a threshold row and the 2017 purchases.
    "admin.thresholds": ADMIN_ONLY,
    "admin.threshold_new": ADMIN_ONLY,
    "admin.threshold_edit": ADMIN_ONLY,
    "admin.baselines": ADMIN_ONLY,
    "admin.baseline_new": ADMIN_ONLY,
    "admin.baseline_edit": ADMIN_ONLY,
}
# What an allowed GET answers when it is not 200: forged tokens are refused with a page, not an error.
GET_STATUS = {
    # Issue 4: a forged calendar token is an unknown feed; a forged mailing-list link, a refusal page.
    "notifications.calendar_feed": 404,
    "notifications.subscribe_confirm": 400,
    "notifications.unsubscribe": 400,
    # Issue 3, area B: the company is already registered; the answer is read-only while the AMI is closed.
    "companies.register": 302,
    "applications.edit": 302,
    "accounts.reset_password": 400,
    "accounts.accept_invitation": 400,
    "accounts.confirm_email": 400,
    # Issue 8: the commitment's follow-up has not begun (the cycle is before its census).
    "commitments.edit": 302,
    "public.favicon": 301,  # issue 10: to the theme's icon
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
    area_c = _area_c_world(cycle)
    area_b = _area_b_world(cycle, users[COMPANY], make)
    params = {
        "cycle_id": cycle.id, "convention_id": convention.id, "organization_id": orgs[BUYER].id,
        "user_id": users[BUYER].id, "membership_id": membership.id, "member_id": cycle.committee[0].id,
        "message_id": message.id, "token": "jeton-falsifie", "filename": "app.css",
        **area_c,
        **area_b,
        **_area_a_world(cycle, orgs[BUYER], users[BUYER]),
        **_issue7_world(cycle),
    }
    params.update(_selection_world(cycle, convention, users, make))
    params.update(_census_world(cycle, orgs[BUYER], users[BUYER], area_b["application_id"]))
    return users, params


def _issue7_world(cycle) -> dict:
    """Issue 7, items 6-10: a meeting of the world's cycle, scheduled."""
    from innovation_cycle.models import Meeting

    meeting = Meeting(cycle=cycle, title="Séance", scheduled_at=cycle.created_at, status="scheduled",
                      created_at=cycle.created_at)
    db.session.add(meeting)
    db.session.commit()
    return {"meeting_id": meeting.id}


def _area_a_world(cycle, organization, buyer) -> dict:
    """Issue 3, area A: a theme of the cycle and the buyer organization's submitted need."""
    from innovation_cycle.models import Need, Theme

    now = cycle.created_at
    theme = Theme(cycle=cycle, name="Mobilité", position=1)
    need = Need(cycle=cycle, organization=organization, author=buyer, status="submitted", title="Besoin",
                problem="Problème", themes=[theme], created_at=now, updated_at=now, submitted_at=now)
    db.session.add_all([theme, need])
    db.session.commit()
    return {"need_id": need.id, "theme_id": theme.id}


def _census_world(cycle, organization, buyer, application_id) -> dict:
    """Issue 8: a buyer's declared commitment, the cycle's published bilan, a threshold row and the year's
    purchases (the reference data's edit pages)."""
    from datetime import date
    from decimal import Decimal

    from innovation_cycle.models import Application, Commitment, ProcedureThreshold, PurchaseBaseline, ResultsReport

    now = cycle.created_at
    application = db.session.get(Application, application_id)
    commitment = Commitment(cycle_id=cycle.id, application_id=application.id, company_id=application.company_id,
                            buyer_organization_id=organization.id, channel="pfra_regional", status="interest",
                            declared_by_buyer=True, recorded_by_id=buyer.id, created_at=now, updated_at=now)
    threshold = ProcedureThreshold(kind="innovative_no_competition", amount=Decimal(100000),
                                   valid_from=date(2021, 12, 16), legal_source="R2122-9-1")
    db.session.add_all([commitment, ResultsReport(cycle_id=cycle.id, editorial="Bilan", updated_at=now,
                                                  published_at=now), threshold,
                        PurchaseBaseline(year=cycle.year, amount=Decimal(1000000), source="Rapport")])
    db.session.commit()
    return {"commitment_id": commitment.id, "year": cycle.year, "threshold_id": threshold.id, "key": "decp"}


def _area_c_world(cycle) -> dict:
    """Issue 3, area C: the cycle's AMI text and its rules document."""
    import io

    from werkzeug.datastructures import FileStorage

    from innovation_cycle.models import AmiCall
    from innovation_cycle.services import uploads

    ami = AmiCall(cycle=cycle, title="AMI", introduction="i", eligibility="e", innovation_definition="d",
                  evaluation_criteria="c", legal_notice="n", created_at=cycle.created_at, updated_at=cycle.created_at)
    db.session.add(ami)
    rules = uploads.save_upload(FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="reglement.pdf"), ami, None)
    db.session.commit()
    return {"attachment_id": rules.id}


def _area_b_world(cycle, representative, make) -> dict:
    """Issue 3, area B: the company user's registered company, its submitted answer, a join request."""
    from innovation_cycle.models import Application, Company, CompanyJoinRequest

    now = cycle.created_at
    org = representative.organization
    org.siret, org.siren = "73282932000074", "732829320"
    company = Company(organization=org, created_at=now, updated_at=now)
    application = Application(cycle=cycle, company=company, author=representative, status="submitted",
                              solution_name="Solution", created_at=now, updated_at=now, submitted_at=now)
    newcomer = make.user(Role.COMPANY, organization=make.organization("Nouvelle", OrganizationKind.COMPANY))
    join = CompanyJoinRequest(company=company, user=newcomer, created_at=now)
    db.session.add_all([company, application, join])
    db.session.commit()
    return {"company_id": company.id, "application_id": application.id, "request_id": join.id}


def _selection_world(cycle, convention, users, make) -> dict:
    """Issue 7: a criterion and a declared conflict on the world's cycle; a 2018 cycle in selection where the
    committee member is assigned an eligible answer targeting the buyer organization's accepted need."""
    from innovation_cycle.models import Application, ApplicationNeed, Assignment, Company, Conflict, Criterion, Need

    now = cycle.created_at
    criterion = Criterion(cycle_id=cycle.id, position=1, label="Innovation", weight=1, scale_min=0, scale_max=1,
                          level_labels=["Non", "Oui"])
    other = make.organization("Autre entreprise", OrganizationKind.COMPANY)
    other_company = Company(organization=other, created_at=now, updated_at=now)
    db.session.add_all([criterion, other_company])
    db.session.flush()
    conflict = Conflict(cycle_id=cycle.id, user_id=users[COMMITTEE].id, company_id=other_company.id,
                        source="declared", reason="Ancien employeur", created_at=now)
    selection = make.cycle(convention, 2018, state="selection")
    selection.committee.append(CommitteeMember(user_id=users[COMMITTEE].id))
    need = Need(cycle=selection, organization=users[BUYER].organization, status="accepted", title="Besoin 2018",
                problem="Problème", created_at=now, updated_at=now, submitted_at=now)
    answer = Application(cycle=selection, company=other_company, status="eligible", solution_name="Solution 2018",
                         created_at=now, updated_at=now, submitted_at=now)
    answer.targets.append(ApplicationNeed(need=need, fit="Adéquation"))
    db.session.add_all([conflict, need, answer])
    db.session.flush()
    assignment = Assignment(cycle_id=selection.id, application_id=answer.id, user_id=users[COMMITTEE].id,
                            status="confirmed", created_at=now)
    db.session.add(assignment)
    db.session.commit()
    return {"criterion_id": criterion.id, "conflict_id": conflict.id, "answer_id": answer.id,
            "assignment_id": assignment.id}


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
        is_int = isinstance(rule._converters[name], IntegerConverter)
        values[name] = 999_999 if unknown and is_int else params[name]
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
                isinstance(rule._converters[a], IntegerConverter) for a in rule.arguments):
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


# --- Issue 7, item 12: the partner tier is a dimension of the matrix -------------------------------------


@pytest.mark.parametrize(("tier", "kind", "targeted", "untargeted", "figures"), [
    ("founding_partner", OrganizationKind.UGAP, 200, 200, 200),
    ("associated_member", OrganizationKind.LOCAL_AUTHORITY, 200, 403, 200),
    ("associated_member", OrganizationKind.DEVELOPMENT_AGENCY, 403, 403, 200),
    (None, OrganizationKind.LOCAL_AUTHORITY, 200, 403, 403),
], ids=["founding-partner", "associated-buyer", "associated-agency", "no-membership"])
def test_a_buyers_reach_depends_on_its_organizations_tier(client, world, login, make, tier, kind, targeted,
                                                         untargeted, figures):
    """From the selection stage: founding partners see every eligible answer; associated buyer members the
    answers to their own needs; associated development agencies only the aggregate figures."""
    from innovation_cycle.models import Application, Cycle, Tier

    users, params = world
    buyer = users[BUYER]
    answer = db.session.get(Application, params["answer_id"])
    cycle = db.session.get(Cycle, answer.cycle_id)
    buyer.organization.kind = kind
    if tier:
        make.membership(cycle.convention, buyer.organization, Tier(tier))
    other = Application(cycle=cycle, company=answer.company, status="eligible", solution_name="Autre",
                        created_at=answer.created_at, updated_at=answer.created_at)
    db.session.add(other)
    db.session.commit()
    login(buyer)
    assert client.get(f"/reponses/{answer.id}").status_code == targeted
    assert client.get(f"/reponses/{other.id}").status_code == untargeted
    assert client.get(f"/evaluation/cycles/{cycle.id}/chiffres").status_code == figures
