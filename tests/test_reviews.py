"""Issue 7, items 1–5, 11, 12: the grid, conflicts, assignments, reviews, buyers' interest, visibility and
partner tiers, walked through the web client where a person would use them."""

from __future__ import annotations

import html
from dataclasses import dataclass

import pytest
from conftest import PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query_count import count_queries
from selection_factories import company, eligible_answer, partner, seat
from sqlalchemy import func, select

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    Assignment,
    AuditEvent,
    BuyerInterest,
    CommitteeMember,
    Company,
    Conflict,
    Criterion,
    Cycle,
    Need,
    Notification,
    OrganizationKind,
    Review,
    Role,
    Score,
    SelectionSettings,
    Tier,
    User,
)
from innovation_cycle.services import cycles as cycle_service
from innovation_cycle.services import reviews as service


@dataclass
class World:
    cycle: Cycle
    admin: User
    members: list[User]
    buyer: User  # of the MEL (associated buyer member), whose need the answers target
    other_buyer: User  # of an associated buyer member whose need nobody targets
    ugap_buyer: User  # of UGAP (founding partner)
    agency_user: User  # of EuraTechnologies (associated development agency)
    ugap_agent: User
    pfra_agent: User
    need: Need
    answers: list[Application]
    companies: list[Company]


@pytest.fixture
def world(app, make) -> World:
    convention = make.convention(2017)
    founding, associated = Tier.FOUNDING_PARTNER, Tier.ASSOCIATED_MEMBER
    ugap = partner(make, convention, "UGAP", OrganizationKind.UGAP, founding, on_committee=True, siren="180070039")
    state = partner(make, convention, "SGAR Hauts-de-France", OrganizationKind.STATE_SERVICE, founding,
                    on_committee=True)
    mel = partner(make, convention, "Métropole européenne de Lille", OrganizationKind.LOCAL_AUTHORITY, associated,
                  on_committee=True)
    lille = partner(make, convention, "Ville de Lille", OrganizationKind.LOCAL_AUTHORITY, associated,
                    on_committee=False)
    agency = partner(make, convention, "EuraTechnologies", OrganizationKind.DEVELOPMENT_AGENCY, associated,
                     on_committee=False)
    cycle = make.cycle(convention, 2017, state="selection")
    members = [make.user(Role.COMMITTEE_MEMBER, organization=org, name=f"Membre {i}")
               for i, org in enumerate([ugap, state, mel, state], start=1)]
    seat(cycle, members)
    need = make.need(cycle, mel, status="accepted", title="Réduire l'attente à l'accueil")
    companies = [company(make, f"Entreprise {i}") for i in range(1, 4)]
    answers = [eligible_answer(cycle, firm, [need], f"Solution {i}", fit="Adéquation")
               for i, firm in enumerate(companies, start=1)]
    db.session.commit()
    return World(cycle=cycle, admin=make.user(Role.ADMIN), members=members,
                 buyer=make.user(Role.BUYER, organization=mel), other_buyer=make.user(Role.BUYER, organization=lille),
                 ugap_buyer=make.user(Role.BUYER, organization=ugap),
                 agency_user=make.user(Role.BUYER, organization=agency),
                 ugap_agent=make.user(Role.UGAP_AGENT), pfra_agent=make.user(Role.PFRA_AGENT), need=need,
                 answers=answers, companies=companies)


def _grid(world: World) -> list[Criterion]:
    rows = service.propose_default_grid(world.cycle)
    db.session.commit()
    return rows


def _assign(world: World, pairs: list[tuple[int, int]]) -> None:
    """(answer index, member index) pairs, confirmed."""
    for a, m in pairs:
        db.session.add(Assignment(cycle_id=world.cycle.id, application_id=world.answers[a].id,
                                  user_id=world.members[m].id, status="confirmed",
                                  created_at=paris_datetime(2017, 5, 2)))
    db.session.commit()


def _review_form(criteria: list[Criterion], value: int | None = 3, action: str = "submit", **extra) -> dict:
    data = {"action": action, "recommendation": "select", "committee_comment": "Solide",
            "company_comment": "Belle solution", **extra}
    for c in criteria:
        if value is not None:
            data[f"score_{c.id}"] = str(value)
        data[f"comment_{c.id}"] = f"Sur {c.label}"
    return data


def _switch(client, login, user: User) -> None:
    client.post("/compte/deconnexion")
    login(user)


# --- 1. the grid -----------------------------------------------------------------------------------------


def test_the_default_grid_has_six_worded_criteria_and_the_admin_edits_it(client, login, world):
    login(world.admin)
    assert client.get(f"/evaluation/admin/cycles/{world.cycle.id}/grille").status_code == 200
    client.post(f"/evaluation/admin/cycles/{world.cycle.id}/grille/proposer")
    criteria = service.criteria_of(world.cycle)
    assert [c.label for c in criteria][:2] == ["Degré d'innovation", "Adéquation aux besoins visés"]
    assert len(criteria) == 6 and all(len(c.level_labels) == 5 and c.help_text for c in criteria)
    assert "L2172-3" in criteria[0].help_text
    page = client.get(f"/evaluation/admin/cycles/{world.cycle.id}/grille").get_data(as_text=True)
    assert "Rupture, sans équivalent connu" in page

    # Add: bad input is refused next to its field, nothing written.
    url = f"/evaluation/admin/cycles/{world.cycle.id}/grille/critere"
    bad = client.post(url, data={"label": "Maturité", "weight": "0", "scale_min": "0", "scale_max": "2",
                                 "level_labels": "Bas\nHaut"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "déjà un critère « Maturité »" in text and "strictement positif" in text and "3 libellés" in text
    assert len(service.criteria_of(world.cycle)) == 6
    ok = client.post(url, data={"label": "Accessibilité", "weight": "0.5", "scale_min": "0", "scale_max": "2",
                                "level_labels": "Non\nPartielle\nComplète"})
    assert ok.status_code == 302
    added = service.criteria_of(world.cycle)[-1]
    assert (added.label, added.weight, added.level_labels) == ("Accessibilité", 0.5, ["Non", "Partielle", "Complète"])
    # Reorder and remove.
    client.post(f"/evaluation/admin/cycles/{world.cycle.id}/grille/{added.id}/deplacer", data={"direction": "-1"})
    assert [c.id for c in service.criteria_of(world.cycle)][-2] == added.id
    client.post(f"/evaluation/admin/cycles/{world.cycle.id}/grille/{added.id}/supprimer", data={})
    assert len(service.criteria_of(world.cycle)) == 6
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("grid.%"))))
    assert actions == {"grid.propose_default", "grid.criterion_add", "grid.reorder", "grid.criterion_remove"}


def test_after_a_submitted_review_the_grid_changes_only_with_a_reason_and_reviews_keep_their_values(
        client, login, world):
    criteria = _grid(world)
    _assign(world, [(0, 0)])
    login(world.members[0])
    assert client.post(f"/evaluation/reponses/{world.answers[0].id}", data=_review_form(criteria)).status_code == 302
    _switch(client, login, world.admin)
    url = f"/evaluation/admin/cycles/{world.cycle.id}/grille"
    refused = client.post(f"{url}/critere", data={"label": "Nouveau", "weight": "1", "scale_min": "0",
                                                  "scale_max": "1", "level_labels": "Non\nOui"})
    assert refused.status_code == 422 and "indiquez la raison" in refused.get_data(as_text=True)
    client.post(f"{url}/{criteria[5].id}/supprimer", data={})
    assert len(service.criteria_of(world.cycle)) == 6  # refused without a reason
    assert client.post(f"{url}/critere", data={"label": "Nouveau", "weight": "1", "scale_min": "0", "scale_max": "1",
                                               "level_labels": "Non\nOui", "reason": "Demande du comité"}
                       ).status_code == 302
    # The scale of a scored criterion cannot change; its label can.
    changed = client.post(f"{url}/{criteria[0].id}", data={
        "label": "Innovation", "weight": "2", "scale_min": "0", "scale_max": "5",
        "level_labels": "a\nb\nc\nd\ne\nf", "reason": "Échelle plus fine"})
    assert changed.status_code == 422 and "déjà été noté" in changed.get_data(as_text=True)
    review = db.session.scalar(select(Review))
    values = {s.criterion_id: s.value for s in review.scores}
    assert values == {c.id: 3 for c in criteria}  # the new criterion is simply empty in it
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "grid.criterion_add"))
    assert event.reason == "Demande du comité"


def test_settings_keep_reviews_close_inside_the_selection_window(client, login, world):
    login(world.admin)
    url = f"/evaluation/admin/cycles/{world.cycle.id}/parametres"
    bad = client.post(url, data={"reviewers_per_answer": "2", "reviews_close_at": "2017-09-01T12:00",
                                 "disagreement_threshold": "1"})
    assert bad.status_code == 422 and "dans la période de sélection" in bad.get_data(as_text=True)
    assert client.post(url, data={"reviewers_per_answer": "2", "reviews_close_at": "2017-07-10T18:00",
                                  "disagreement_threshold": "1"}).status_code == 302
    settings_row = db.session.get(SelectionSettings, world.cycle.id)
    assert settings_row.reviewers_per_answer == 2
    assert settings_row.reviews_close_at == paris_datetime(2017, 7, 10, 18, 0)


def test_prepare_next_year_copies_the_grid_and_the_settings(app, world):
    _grid(world)
    service.settings_of(world.cycle).reviewers_per_answer = 2
    db.session.commit()
    nxt = cycle_service.prepare_next(world.cycle)
    db.session.commit()
    assert [c.label for c in service.criteria_of(nxt)] == [c.label for c in service.criteria_of(world.cycle)]
    assert db.session.get(SelectionSettings, nxt.id).reviewers_per_answer == 2


# --- 2. conflicts ------------------------------------------------------------------------------------------


def test_automatic_conflicts_same_organization_and_same_siren(app, make, world):
    # Member 1 (UGAP) and a company sharing UGAP's SIREN; member 3 is of the MEL, which also answers.
    twin_answer = eligible_answer(world.cycle, company(make, "Filiale UGAP", siren="180070039"), [], "Jumelle")
    now = paris_datetime(2017, 4, 20)
    mel_company = Company(organization=world.buyer.organization, created_at=now, updated_at=now)
    mel_answer = eligible_answer(world.cycle, mel_company, [], "MEL")
    db.session.add(mel_company)
    db.session.commit()
    twin = twin_answer.company
    assert service.is_conflicted(world.members[0], twin_answer)  # checked live, before any row exists
    assert service.sync_automatic_conflicts(world.cycle) == 2
    db.session.commit()
    rows = {(c.user_id, c.company_id, c.source) for c in db.session.scalars(select(Conflict))}
    assert rows == {(world.members[0].id, twin.id, "same_siren"),
                    (world.members[2].id, mel_company.id, "same_organization")}
    assert not service.is_conflicted(world.members[1], twin_answer)
    assert not service.is_conflicted(world.admin, mel_answer)


def test_a_conflicted_member_sees_nothing_of_the_answer_even_by_url(client, login, world):
    criteria = _grid(world)
    _assign(world, [(0, 0), (0, 1)])
    login(world.members[1])
    client.post(f"/evaluation/reponses/{world.answers[0].id}", data=_review_form(criteria))
    _switch(client, login, world.members[0])
    declared = client.post(f"/evaluation/cycles/{world.cycle.id}/conflits",
                           data={"company_id": str(world.companies[0].id), "reason": "Mon beau-frère la dirige"})
    assert declared.status_code == 302
    # The assignment went with the declaration; every door is now a 404.
    assert db.session.scalar(select(Assignment).where(Assignment.user_id == world.members[0].id)) is None
    answer = world.answers[0]
    for url in (f"/evaluation/reponses/{answer.id}", f"/reponses/{answer.id}"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/evaluation/reponses/{answer.id}", data=_review_form(criteria)).status_code == 404
    listing = client.get(f"/suivi/reponses?cycle={world.cycle.id}").get_data(as_text=True)
    assert "Solution 1" not in listing and "Solution 2" in listing
    export = client.get(f"/suivi/reponses/export?cycle={world.cycle.id}&format=csv").get_data(as_text=True)
    assert "Solution 1" not in export and "Solution 2" in export
    # The admin sees who is conflicted, and why.
    _switch(client, login, world.admin)
    page = client.get(f"/evaluation/admin/cycles/{world.cycle.id}/affectations").get_data(as_text=True)
    assert "Mon beau-frère la dirige" in page and "Membre 1" in page
    # A declared conflict needs a reason.
    _switch(client, login, world.members[2])
    refused = client.post(f"/evaluation/cycles/{world.cycle.id}/conflits",
                          data={"company_id": str(world.companies[1].id), "reason": ""})
    assert refused.status_code == 422 and "raison du conflit" in refused.get_data(as_text=True)


# --- 3. assignments ----------------------------------------------------------------------------------------


def test_the_admin_proposes_edits_and_confirms_and_each_member_gets_one_mail(client, login, world, make):
    make.user  # noqa: B018 - the factory is the world's
    service.settings_of(world.cycle).reviewers_per_answer = 2
    db.session.add(Conflict(cycle_id=world.cycle.id, user_id=world.members[3].id, company_id=world.companies[0].id,
                            source="declared", reason="Ancien associé", created_at=paris_datetime(2017, 5, 1)))
    db.session.commit()
    login(world.admin)
    url = f"/evaluation/admin/cycles/{world.cycle.id}/affectations"
    assert client.post(f"{url}/proposer").status_code == 302
    rows = db.session.scalars(select(Assignment)).all()
    assert len(rows) == 6 and all(r.status == "proposed" for r in rows)
    assert (world.answers[0].id, world.members[3].id) not in {(r.application_id, r.user_id) for r in rows}
    loads = service.loads(world.cycle)
    assert max(loads.values()) - min(loads.values()) <= 1 and len(loads) == 4
    # Hand edits: a conflicted member is refused; removing and adding work.
    refused = client.post(f"/evaluation/admin/affectations/{world.answers[0].id}/ajouter",
                          data={"user_id": str(world.members[3].id)}, follow_redirects=True)
    assert "en conflit d'intérêts" in refused.get_data(as_text=True)
    row = rows[0]
    client.post(f"/evaluation/admin/affectations/retirer/{row.id}")
    assert db.session.get(Assignment, row.id) is None
    client.post(f"/evaluation/admin/affectations/{row.application_id}/ajouter", data={"user_id": str(row.user_id)})
    assert client.post(f"{url}/confirmer").status_code == 302
    mails = db.session.scalars(select(Notification).where(Notification.key.like("event:reviews.assigned:%"))).all()
    assert sorted(m.user_id for m in mails) == sorted({r.user_id for r in db.session.scalars(select(Assignment))})
    assert all("vos réponses à évaluer" in m.subject for m in mails)
    member_mail = next(m for m in mails if m.user_id == row.user_id)
    assert "Solution" in member_mail.body_text and "/evaluation/" in member_mail.body_text
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "assignment.confirm")) == 1
    # Confirming twice is refused; nobody gets a second mail.
    client.post(f"{url}/confirmer")
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.key.like("event:reviews.assigned:%"))) == len(mails)


def test_too_few_unconflicted_members_is_explained_in_french(client, login, world):
    for m in world.members[:2]:
        db.session.add(Conflict(cycle_id=world.cycle.id, user_id=m.id, company_id=world.companies[1].id,
                                source="declared", reason="Lien", created_at=paris_datetime(2017, 5, 1)))
    db.session.commit()
    login(world.admin)
    page = client.post(f"/evaluation/admin/cycles/{world.cycle.id}/affectations/proposer",
                       follow_redirects=True).get_data(as_text=True)
    assert "Affectation impossible" in page and f"n° {world.answers[1].id}" in page
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 0


def _confirmed_world(client, login, world) -> dict[int, list[int]]:
    """Two reviewers per answer, proposed by the solver and confirmed by the admin: {answer id: member ids}."""
    service.settings_of(world.cycle).reviewers_per_answer = 2
    db.session.commit()
    login(world.admin)
    url = f"/evaluation/admin/cycles/{world.cycle.id}/affectations"
    assert client.post(f"{url}/proposer").status_code == 302
    assert client.post(f"{url}/confirmer").status_code == 302
    by_answer: dict[int, list[int]] = {}
    for row in db.session.scalars(select(Assignment).order_by(Assignment.user_id)):
        by_answer.setdefault(row.application_id, []).append(row.user_id)
    return by_answer


def test_a_conflict_found_after_confirmation_is_audited_mailed_and_shown_for_reassignment(client, login, world):
    before = _confirmed_world(client, login, world)
    answer = world.answers[0]
    member = next(m for m in world.members if m.id == before[answer.id][0])
    _switch(client, login, member)
    assert client.post(f"/evaluation/cycles/{world.cycle.id}/conflits", data={
        "company_id": str(world.companies[0].id), "reason": "Actionnaire de l'entreprise"}).status_code == 302
    # Recorded: the assignment is gone, with an audit row that says whose, which answer and why.
    assert db.session.scalar(select(Assignment).where(Assignment.application_id == answer.id,
                                                      Assignment.user_id == member.id)) is None
    drop = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assignment.drop_conflict"))
    assert drop.before["application_id"] == answer.id and drop.before["user_id"] == member.id
    assert drop.before["status"] == "confirmed" and drop.reason == "Actionnaire de l'entreprise"
    # Mailed: the member learns which answers are withdrawn (the outbox, one mail).
    mails = db.session.scalars(select(Notification).where(Notification.key.like("event:reviews.withdrawn:%"))).all()
    assert [m.user_id for m in mails] == [member.id]
    assert "conflit d'intérêts" in mails[0].subject and "Solution 1" in mails[0].body_text
    # Shown: the admin's assignments page lists the answer short of a reviewer, with the solver's button.
    _switch(client, login, world.admin)
    url = f"/evaluation/admin/cycles/{world.cycle.id}/affectations"
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert "1 réponse manque d'évaluateur" in page and "Compléter avec le solveur" in page
    assert f'href="#reponse-{answer.id}">Solution 1</a>' in page
    # The solver completes it: another unconflicted member, confirmed at once and told by mail.
    assert client.post(f"{url}/completer").status_code == 302
    db.session.expire_all()
    now = sorted(db.session.scalars(select(Assignment.user_id).where(Assignment.application_id == answer.id)))
    assert len(now) == 2 and member.id not in now
    added = (set(now) - set(before[answer.id])).pop()
    assert db.session.scalar(select(Assignment.status).where(Assignment.application_id == answer.id,
                                                             Assignment.user_id == added)) == "confirmed"
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.key.like("event:reviews.assigned:%"), Notification.user_id == added)) == 2  # confirm, complete
    loads = service.loads(world.cycle)
    assert max(loads.values()) - min(loads.values()) <= 1
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "assignment.complete")) == 1
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert "manque d'évaluateur" not in page
    # Nothing left to complete: said in French, nothing written.
    refused = client.post(f"{url}/completer", follow_redirects=True)
    assert "Aucune réponse ne manque d'évaluateur" in html.unescape(refused.get_data(as_text=True))


def test_a_late_automatic_conflict_drops_the_assignment_the_same_way(client, login, world, make):
    before = _confirmed_world(client, login, world)
    answer = world.answers[1]
    member = db.session.get(User, before[answer.id][0])
    # The company turns out to share the member's organization's SIREN.
    member.organization.siren = "130000000"
    world.companies[1].organization.siren = "130000000"
    db.session.commit()
    assert service.sync_automatic_conflicts(world.cycle) >= 1
    db.session.commit()
    assert db.session.scalar(select(Assignment).where(Assignment.application_id == answer.id,
                                                      Assignment.user_id == member.id)) is None
    assert db.session.scalar(select(AuditEvent.reason).where(AuditEvent.action == "assignment.drop_conflict")) is None
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.key.like("event:reviews.withdrawn:%"), Notification.user_id == member.id)) == 1
    assert [u.application.id for u in service.understaffed(world.cycle)] == [answer.id]
    # A hand edit works too: the admin adds a member; the answer is no longer short.
    other = next(m for m in world.members if m.id not in before[answer.id]
                 and not service.is_conflicted(m, answer))
    client.post(f"/evaluation/admin/affectations/{answer.id}/ajouter", data={"user_id": str(other.id)})
    assert service.understaffed(world.cycle) == []


@st.composite
def _problems(draw):
    """A committee, answers and a hidden balanced assignment; conflicts are drawn only outside it, so a
    balanced, conflict-free assignment with coverage N always exists."""
    members = draw(st.integers(min_value=1, max_value=9))
    n = draw(st.integers(min_value=1, max_value=min(members, 4)))
    answers = draw(st.integers(min_value=0, max_value=14))
    order = draw(st.permutations(list(range(members))))
    hidden = {(a, order[(a * n + k) % members]) for a in range(answers) for k in range(n)}
    others = [(a, m) for a in range(answers) for m in range(members) if (a, m) not in hidden]
    conflicts = set(draw(st.lists(st.sampled_from(others), unique=True))) if others else set()
    themes = set(draw(st.lists(st.sampled_from(others), unique=True))) if others else set()
    return service.Problem(list(range(answers)), list(range(members)), n, conflicts, themes,
                           {m for _a, m in themes})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=_problems())
def test_the_solver_covers_every_answer_respects_conflicts_and_balances_loads(problem):
    result = service.solve(problem)
    assert set(result) == set(problem.answers)
    load = {m: 0 for m in problem.members}
    for a, chosen in result.items():
        assert len(chosen) == len(set(chosen)) == problem.per_answer
        assert not any((a, m) in problem.conflicts for m in chosen)
        for m in chosen:
            load[m] += 1
    if problem.answers:
        assert max(load.values()) - min(load.values()) <= 1


def test_the_solver_prefers_members_of_the_answers_themes():
    problem = service.Problem([1, 2], [10, 20], 1, set(), {(1, 20), (2, 10)}, {10, 20})
    assert service.solve(problem) == {1: [20], 2: [10]}


# --- 4 and 5. the review form, blind until one's own, buyers' interest -------------------------------------


def test_draft_submit_revise_each_version_audited_and_closed_after_the_date(client, login, world, clock):
    criteria = _grid(world)
    _assign(world, [(0, 0)])
    login(world.members[0])
    assert "Solution 1" in client.get("/evaluation/").get_data(as_text=True)
    url = f"/evaluation/reponses/{world.answers[0].id}"
    page = client.get(url).get_data(as_text=True)
    assert "Excellent" in page and "Rupture, sans équivalent connu" in page
    assert client.post(url, data=_review_form(criteria, value=None, action="draft")).status_code == 302
    review = db.session.scalar(select(Review))
    assert review.status == "draft"
    refused = client.post(url, data=_review_form(criteria, value=None, action="submit", version=str(review.version)))
    assert refused.status_code == 422
    assert "Notez le critère « Degré d'innovation »" in html.unescape(refused.get_data(as_text=True))
    assert client.post(url, data=_review_form(criteria, value=4, version=str(review.version))).status_code == 302
    db.session.expire_all()
    review = db.session.scalar(select(Review))
    assert review.status == "submitted" and review.submitted_at is not None
    assert {s.value for s in review.scores} == {4}
    # A stale form (another tab) is refused; a fresh one revises the submitted review.
    stale = client.post(url, data=_review_form(criteria, value=2, version="1"))
    assert stale.status_code == 422 and "modifiée entre-temps" in stale.get_data(as_text=True)
    assert client.post(url, data=_review_form(criteria, value=2, action="draft",
                                               version=str(review.version))).status_code == 302
    db.session.expire_all()
    review = db.session.scalar(select(Review))
    assert review.status == "submitted" and {s.value for s in review.scores} == {2}  # a revision stays submitted
    actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "reviews")
                                      .order_by(AuditEvent.id)))
    assert actions == ["review.draft", "review.submit", "review.revise"]
    # After the reviews close, nothing changes.
    clock.set(paris_datetime(2017, 8, 1, 9, 0))
    closed = client.post(url, data=_review_form(criteria, value=1, version=str(review.version)))
    assert closed.status_code == 422 and "closes" in closed.get_data(as_text=True)


def test_a_revised_review_updates_its_stored_weighted_score_and_the_ranking(client, login, world):
    from innovation_cycle.services import ranking

    criteria = _grid(world)  # weights 2, 2, 1, 1, 1, 1
    _assign(world, [(0, 0)])
    login(world.members[0])
    url = f"/evaluation/reponses/{world.answers[0].id}"

    def form(values: list[int | None], action: str = "submit", version: str = "") -> dict:
        data = _review_form(criteria, value=None, action=action, version=version)
        data.update({f"score_{c.id}": str(v) for c, v in zip(criteria, values, strict=True) if v is not None})
        return data

    def stored() -> float | None:
        db.session.expire_all()
        return db.session.scalar(select(Review.weighted_score))

    def line_score() -> float | None:
        lines = ranking.rank(world.cycle, ranking.RankingFilters(), world.admin, per_page=None).lines
        return next(line.score for line in lines if line.application_id == world.answers[0].id)

    assert client.post(url, data=form([None] * 6, action="draft")).status_code == 302
    assert stored() is None  # nothing scored yet
    assert client.post(url, data=form([4, None, None, None, None, None], action="draft",
                                      version="1")).status_code == 302
    assert stored() == pytest.approx(4)  # a draft's figure is stored, but a draft is not ranked
    assert line_score() is None
    version = str(db.session.scalar(select(Review.version)))
    assert client.post(url, data=form([4, 0, 0, 0, 0, 0], version=version)).status_code == 302
    assert stored() == pytest.approx(8 / 8) and line_score() == pytest.approx(1)
    version = str(db.session.scalar(select(Review.version)))
    assert client.post(url, data=form([0, 4, 4, 4, 4, 4], version=version)).status_code == 302
    assert stored() == pytest.approx((8 + 16) / 8) and line_score() == pytest.approx(3)
    assert db.session.scalar(select(Review.status)) == "submitted"


def test_an_unassigned_member_cannot_review(client, login, world):
    criteria = _grid(world)
    login(world.members[1])
    assert client.post(f"/evaluation/reponses/{world.answers[0].id}", data=_review_form(criteria)).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Review)) == 0


def test_others_reviews_stay_hidden_until_ones_own_is_submitted(client, login, world):
    criteria = _grid(world)
    _assign(world, [(0, 0), (0, 1)])
    url = f"/evaluation/reponses/{world.answers[0].id}"
    login(world.members[0])
    client.post(url, data=_review_form(criteria, committee_comment="Avis du membre un"))
    _switch(client, login, world.members[1])
    assert "Avis du membre un" not in client.get(url).get_data(as_text=True)
    client.post(url, data=_review_form(criteria, action="draft"))
    assert "Avis du membre un" not in client.get(url).get_data(as_text=True)
    version = db.session.scalar(select(Review.version).where(Review.reviewer_id == world.members[1].id))
    client.post(url, data=_review_form(criteria, version=str(version)))
    assert "Avis du membre un" in client.get(url).get_data(as_text=True)
    _switch(client, login, world.admin)
    assert "Avis du membre un" in client.get(url).get_data(as_text=True)
    # The company never sees reviewers or scores.
    rep = User(email="rep@example.fr", name="Représentant", organization_id=world.companies[0].organization_id,
               created_at=paris_datetime(2017, 1, 1))
    from innovation_cycle.models import UserRole
    from innovation_cycle.services import accounts

    accounts.set_password(rep, "Motdepasse-solide-2017")
    rep.email_confirmed_at = paris_datetime(2017, 1, 1)
    rep.role_rows = [UserRole(role=Role.COMPANY)]
    db.session.add(rep)
    db.session.commit()
    _switch(client, login, rep)
    assert client.get(url).status_code == 403
    page = client.get(f"/reponses/{world.answers[0].id}").get_data(as_text=True)
    assert "Avis du membre un" not in page and "Membre 1" not in page


def test_buyers_give_interest_for_their_own_needs_shown_beside_the_scores(client, login, world):
    _grid(world)
    _assign(world, [(0, 0)])
    answer = world.answers[0]
    login(world.buyer)
    assert "Solution 1" in client.get("/evaluation/").get_data(as_text=True)
    assert client.get(f"/evaluation/reponses/{answer.id}/interet").status_code == 200
    bad = client.post(f"/evaluation/reponses/{answer.id}/interet",
                      data={"need": str(world.need.id), f"n{world.need.id}-need_id": str(world.need.id),
                            f"n{world.need.id}-level": "maybe"})
    assert bad.status_code == 422
    ok = client.post(f"/evaluation/reponses/{answer.id}/interet",
                     data={"need": str(world.need.id), f"n{world.need.id}-need_id": str(world.need.id),
                           f"n{world.need.id}-level": "test", f"n{world.need.id}-comment": "Pilote au 2e semestre"})
    assert ok.status_code == 302
    interest = db.session.scalar(select(BuyerInterest))
    assert (interest.level, interest.organization_id) == ("test", world.buyer.organization_id)
    _switch(client, login, world.other_buyer)
    assert client.get(f"/evaluation/reponses/{answer.id}/interet").status_code == 403
    _switch(client, login, world.members[0])
    page = client.get(f"/evaluation/reponses/{answer.id}").get_data(as_text=True)
    assert "Souhaite tester la solution" in page and "Pilote au 2e semestre" in page


def _interest_form(need: Need, level: str, version: str | None, comment: str = "") -> dict:
    data = {"need": str(need.id), f"n{need.id}-need_id": str(need.id), f"n{need.id}-level": level,
            f"n{need.id}-comment": comment}
    if version is not None:
        data[f"n{need.id}-version"] = version
    return data


def test_a_stale_interest_form_is_refused_in_french_and_overwrites_nothing(app, make, world):
    """Two buyers of the MEL, each in their own browser session, open the same interest form; the second to
    save is told in French that the interest was recorded meanwhile, and sees it; nothing is overwritten."""
    _grid(world)
    colleague = make.user(Role.BUYER, organization=world.buyer.organization, name="Collègue MEL")
    first, second = app.test_client(), app.test_client()
    url = f"/evaluation/reponses/{world.answers[0].id}/interet"
    for client, user in ((first, world.buyer), (second, colleague)):
        assert client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD}).status_code == 302
        page = client.get(url).get_data(as_text=True)
        assert f'name="n{world.need.id}-version" type="hidden" value="0"' in page
    assert first.post(url, data=_interest_form(world.need, "test", "0", "Pilote")).status_code == 302
    refused = second.post(url, data=_interest_form(world.need, "none", "0"), follow_redirects=True)
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 200 and "enregistré entre-temps par une autre personne" in text
    db.session.expire_all()
    interest = db.session.scalar(select(BuyerInterest))
    assert (interest.level, interest.comment, interest.user_id, interest.version) == (
        "test", "Pilote", world.buyer.id, 1)
    # The page shown after the refusal carries the recorded value and its version: saving it again works.
    assert f'name="n{world.need.id}-version" type="hidden" value="1"' in text
    assert second.post(url, data=_interest_form(world.need, "none", "1")).status_code == 302
    db.session.expire_all()
    interest = db.session.scalar(select(BuyerInterest))
    assert (interest.level, interest.user_id, interest.version) == ("none", colleague.id, 2)
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "interest.set")) == 2


def _second_interest(app, answer_id: int, need_id: int, user_id: int, version: int, outcome: dict) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        try:
            service.set_interest(db.session.get(Application, answer_id), db.session.get(Need, need_id), user,
                                 "none", "Autre avis", expected_version=version)
            db.session.commit()
            outcome["result"] = "recorded"
        except service.Refused as exc:
            db.session.rollback()
            outcome["result"] = str(exc)
        finally:
            db.session.remove()


@pytest.mark.parametrize("already", [False, True], ids=["first-interest", "changed-interest"])
def test_two_buyers_saving_an_interest_at_the_same_instant_end_with_one(app, make, world, already):
    """Two real connections: the first save holds its transaction open; the second, from a form showing the
    same version, waits for it (PostgreSQL: the unique index or the row; SQLite: the write lock) and is then
    refused, by the unique (answer, need) pair for a first interest, by the version column for a change."""
    import threading
    import time

    _grid(world)
    colleague = make.user(Role.BUYER, organization=world.buyer.organization, name="Collègue MEL")
    answer = world.answers[0]
    version = 0
    if already:
        service.set_interest(answer, world.need, world.buyer, "meet", None, expected_version=0)
        db.session.commit()
        version = 1
    service.set_interest(answer, world.need, world.buyer, "test", "Premier", expected_version=version)
    outcome: dict = {}
    other = threading.Thread(target=_second_interest,
                             args=(app, answer.id, world.need.id, colleague.id, version, outcome))
    other.start()
    time.sleep(0.5)
    db.session.commit()
    other.join(timeout=20)
    assert not other.is_alive()
    assert "enregistré entre-temps par une autre personne" in outcome["result"]
    db.session.expire_all()
    rows = db.session.scalars(select(BuyerInterest)).all()
    assert [(r.level, r.comment, r.user_id, r.version) for r in rows] == [
        ("test", "Premier", world.buyer.id, version + 1)]
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "interest.set")) == version + 1


# --- 5 and 12. who reads the eligible answers: roles and partner tiers ------------------------------------


@pytest.mark.parametrize(("who", "own", "other"), [
    ("buyer", 200, 200),          # associated buyer member: the answers to its own needs
    ("other_buyer", 403, 403),    # associated member whose needs nobody targets
    ("ugap_buyer", 200, 200),     # founding partner: every eligible answer
    ("agency_user", 403, 403),    # associated development agency: aggregates only
    ("ugap_agent", 200, 200),
    ("pfra_agent", 200, 200),
])
def test_eligible_answers_by_role_and_tier_from_the_selection_stage(client, login, make, world, who, own, other):
    now = paris_datetime(2017, 4, 20)
    untargeted = Application(cycle=world.cycle, company=world.companies[2], status="eligible",
                             solution_name="Sans besoin de la MEL", created_at=now, updated_at=now, submitted_at=now)
    db.session.add(untargeted)
    db.session.commit()
    login(getattr(world, who))
    assert client.get(f"/reponses/{world.answers[0].id}").status_code == own
    expected_other = 403 if who == "buyer" else other
    assert client.get(f"/reponses/{untargeted.id}").status_code == expected_other


def test_before_the_selection_stage_buyers_and_partners_see_no_answer(client, login, world):
    world.cycle.state = "ami_sourcing"
    db.session.commit()
    for user in (world.buyer, world.ugap_buyer, world.ugap_agent):
        _switch(client, login, user)
        assert client.get(f"/reponses/{world.answers[0].id}").status_code == 403


def test_the_committee_is_drawn_only_from_members_marked_on_the_committee(client, login, make, world):
    from innovation_cycle.models import Organization

    lille = db.session.scalar(select(Organization).where(Organization.name == "Ville de Lille"))
    outsider = make.user(Role.COMMITTEE_MEMBER, organization=lille, name="Élu de Lille")
    insider = make.user(Role.COMMITTEE_MEMBER, organization=world.buyer.organization, name="Agent MEL")
    login(world.admin)
    page = client.post(f"/admin/cycles/{world.cycle.id}/comite", data={"user_id": str(outsider.id)},
                       follow_redirects=True).get_data(as_text=True)
    assert "siégeant au comité de pilotage" in page
    client.post(f"/admin/cycles/{world.cycle.id}/comite", data={"user_id": str(insider.id)})
    members = set(db.session.scalars(select(CommitteeMember.user_id).where(
        CommitteeMember.cycle_id == world.cycle.id)))
    assert insider.id in members and outsider.id not in members


def test_founding_partner_predicate_for_the_ranking(app, world):
    from innovation_cycle import authz

    assert authz.founding_partner_of_cycle(world.ugap_buyer, world.cycle)
    assert not authz.founding_partner_of_cycle(world.buyer, world.cycle)
    assert authz.ranking_reader(world.ugap_buyer, world.cycle)
    assert not authz.ranking_reader(world.agency_user, world.cycle)
    assert authz.ranking_reader(world.members[2], world.cycle)


# --- 8 and 11. reminders and dashboard ---------------------------------------------------------------------


def test_selection_reminders_go_to_members_with_reviews_left(app, world):
    from innovation_cycle.services import notifications, reminders

    criteria = _grid(world)
    _assign(world, [(0, 0), (0, 1), (1, 1)])
    db.session.add(Review(cycle_id=world.cycle.id, application_id=world.answers[0].id,
                          reviewer_id=world.members[0].id, status="submitted", recommendation="select",
                          created_at=paris_datetime(2017, 5, 3), updated_at=paris_datetime(2017, 5, 3),
                          submitted_at=paris_datetime(2017, 5, 3),
                          scores=[Score(criterion_id=c.id, value=2) for c in criteria]))
    db.session.commit()
    assert notifications.AUDIENCES is reminders.AUDIENCES
    audience = reminders.audience_for("selection")
    assert audience is service.members_with_reviews_left
    assert [u.id for u in audience(world.cycle)] == [world.members[1].id]
    assert reminders.WORK_ENDPOINTS["selection"] == ("reviews.index",)


def test_cycles_no_longer_imports_notifications():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cycle_service))
    imported = {(n.module or "") + ":" + ",".join(a.name for a in n.names)
                for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any("notifications" in i for i in imported), imported


def test_dashboard_lists_reviews_left_and_answers_awaiting_interest(client, login, world):
    _grid(world)
    _assign(world, [(0, 0), (1, 0)])
    login(world.members[0])
    page = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert "2 évaluations à soumettre" in page and "/evaluation/" in page
    _switch(client, login, world.buyer)
    page = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert "3 réponses visant vos besoins attendent votre avis d'intérêt" in html.unescape(page)


def test_a_development_agency_sees_the_figures_but_no_company_file(client, login, world):
    _assign(world, [(0, 0), (1, 1)])
    login(world.agency_user)
    page = client.get(f"/evaluation/cycles/{world.cycle.id}/chiffres")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "Réponses éligibles : 3" in text and "0 sur 2 attendues" in text
    assert "Entreprise 1" not in text and "Solution 1" not in text
    assert client.get(f"/reponses/{world.answers[0].id}").status_code == 403
    _switch(client, login, world.other_buyer)  # a convention member too
    assert client.get(f"/evaluation/cycles/{world.cycle.id}/chiffres").status_code == 200
    world.cycle.state = "ami_sourcing"
    db.session.commit()
    assert client.get(f"/evaluation/cycles/{world.cycle.id}/chiffres").status_code == 403


def test_member_and_admin_pages_do_not_grow_a_query_per_answer(client, login, world, make):
    criteria = _grid(world)
    _assign(world, [(0, 0), (1, 0), (0, 1), (0, 2)])

    def counts() -> tuple[int, ...]:
        result = []
        for user, path in ((world.members[0], "/evaluation/"), (world.admin,
                           f"/evaluation/admin/cycles/{world.cycle.id}/affectations"),
                           (world.members[0], f"/evaluation/reponses/{world.answers[0].id}")):
            _switch(client, login, user)
            db.session.expire_all()
            with count_queries() as statements:
                assert client.get(path).status_code == 200
            result.append(len(statements))
        return tuple(result)

    login(world.members[1])
    client.post(f"/evaluation/reponses/{world.answers[0].id}", data=_review_form(criteria))
    _switch(client, login, world.members[0])
    client.post(f"/evaluation/reponses/{world.answers[0].id}", data=_review_form(criteria))
    before = counts()
    now = paris_datetime(2017, 4, 20)
    for i in range(8):
        answer = eligible_answer(world.cycle, company(make, f"Autre {i}"), [], f"Autre {i}")
        db.session.flush()
        db.session.add(Assignment(cycle_id=world.cycle.id, application_id=answer.id, user_id=world.members[0].id,
                                  status="confirmed", created_at=now))
    db.session.commit()
    _switch(client, login, world.members[2])
    client.post(f"/evaluation/reponses/{world.answers[0].id}", data=_review_form(criteria))
    assert counts() == before
    assert max(before) <= 30, before


def test_ugap_agents_read_the_accepted_needs_from_the_selection_stage(client, login, world, make):
    draft = make.need(world.cycle, world.buyer.organization, status="submitted", title="Pas encore accepté")
    login(world.ugap_agent)
    assert client.get(f"/besoins/{world.need.id}").status_code == 200
    assert client.get(f"/besoins/{draft.id}").status_code == 403
    listing = client.get("/besoins/").get_data(as_text=True)
    assert "Réduire l" in listing and "Pas encore accepté" not in listing
    world.cycle.state = "ami_sourcing"
    db.session.commit()
    assert client.get(f"/besoins/{world.need.id}").status_code == 403


def test_settings_and_weights_are_typed_the_french_way_in_text_inputs(client, login, world):
    """The browser walk found the grid page with a datetime-local widget (« mm/dd/yyyy » in an English
    Chromium) and number inputs for the threshold and the weights, where Chromium drops the comma of « 1,5 »
    (12,5 became 125 on the company form). Dates are JJ/MM/AAAA HH:MM and decimals are read the French way."""
    login(world.admin)
    _grid(world)
    page = client.get(f"/evaluation/admin/cycles/{world.cycle.id}/grille").get_data(as_text=True)
    assert 'type="datetime-local"' not in page
    assert 'type="text"' in _input(page, "disagreement_threshold") and 'type="text"' in _input(page, "reviews_close_at")
    url = f"/evaluation/admin/cycles/{world.cycle.id}/parametres"
    assert client.post(url, data={"reviewers_per_answer": "2", "reviews_close_at": "10/07/2017 18:00",
                                  "disagreement_threshold": "1,5"}).status_code == 302
    settings_row = db.session.get(SelectionSettings, world.cycle.id)
    assert settings_row.reviews_close_at == paris_datetime(2017, 7, 10, 18, 0)
    assert settings_row.disagreement_threshold == 1.5
    refused = client.post(url, data={"reviewers_per_answer": "2", "disagreement_threshold": "un et demi"})
    assert refused.status_code == 422 and "Indiquez un nombre" in refused.get_data(as_text=True)
    criterion = db.session.scalar(select(Criterion).where(Criterion.cycle_id == world.cycle.id))
    form = client.get(f"/evaluation/admin/cycles/{world.cycle.id}/grille/{criterion.id}").get_data(as_text=True)
    assert 'value="2"' in _input(form, "weight") and 'type="text"' in _input(form, "weight")


def _input(page: str, name: str) -> str:
    """The <input> tag of the field `name`."""
    import re

    return re.search(r'<input[^>]*name="' + name + r'"[^>]*>', page).group(0)


def test_a_review_written_before_a_conflict_came_to_light_leaves_the_ranking(client, login, world):
    """A member who reviewed an answer and then declares a conflict with its company: the review is not a fair
    one, so it no longer counts (done/expected and the mean), and its content stays in the audit trail."""
    criteria = _grid(world)
    before = _confirmed_world(client, login, world)
    answer = world.answers[0]
    first, second = (next(m for m in world.members if m.id == i) for i in before[answer.id])
    for member, value in ((first, 4), (second, 1)):
        _switch(client, login, member)
        assert client.post(f"/evaluation/reponses/{answer.id}", data=_review_form(criteria, value)).status_code == 302
    assert len(service.submitted_reviews(answer)) == 2
    _switch(client, login, second)
    assert client.post(f"/evaluation/cycles/{world.cycle.id}/conflits", data={
        "company_id": str(world.companies[0].id), "reason": "Ancien salarié"}).status_code == 302
    db.session.expire_all()
    kept = service.submitted_reviews(answer)
    assert [r.reviewer_id for r in kept] == [first.id]
    void = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "review.void_conflict"))
    assert void.before["user_id"] == second.id and void.before["status"] == "submitted"
    assert set(void.before["scores"].values()) == {1} and void.reason == "Ancien salarié"
    # The ranking's line for the answer now rests on the one fair review.
    from innovation_cycle.services import ranking

    line = next(line for line in ranking.rank(world.cycle, ranking.RankingFilters(), world.admin,
                                              per_page=None).lines if line.application_id == answer.id)
    assert line.reviews_done == 1 and line.score == 4
