"""The selection stage's ranking, meetings, decisions, release and guard (issue 7, items 6-10), on the records
built directly (the reviewing services live in another area)."""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from query_count import count_queries
from selection_factories import company, eligible_answer, partner, review, seat
from sqlalchemy import func, select

from innovation_cycle import transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    AuditEvent,
    Cycle,
    Decision,
    DecisionNeed,
    Meeting,
    Need,
    Notification,
    OrganizationKind,
    Role,
    Tier,
)
from innovation_cycle.models.reviews import (
    Assignment,
    BuyerInterest,
    Conflict,
    Criterion,
    Review,
    SelectionSettings,
    refresh_weighted_scores,
)
from innovation_cycle.services import cycles, ranking
from innovation_cycle.services import decisions as service
from innovation_cycle.services.directory import Invalid
from workflows.base import MoveRefused

NOW = paris_datetime(2017, 6, 15, 10)


@dataclass
class World:
    admin: object
    cycle: Cycle
    members: list  # state, ugap, mel
    buyer: object
    needs: list
    apps: list
    companies: list
    criteria: list


@pytest.fixture
def world(make, clock) -> World:
    """A cycle in selection: the State and UGAP (founding partners) and the MEL on the committee, a grid of
    two criteria (weights 2 and 1), three eligible answers reviewed by the three members, one conflict."""
    clock.set(NOW)
    admin = make.user(Role.ADMIN)
    convention = make.convention(2017, quorum_min_present=2)
    state = partner(make, convention, "Préfecture de région", OrganizationKind.STATE_SERVICE, Tier.FOUNDING_PARTNER,
                    on_committee=True)
    ugap = partner(make, convention, "UGAP", OrganizationKind.UGAP, Tier.FOUNDING_PARTNER, on_committee=True)
    mel = partner(make, convention, "Métropole européenne de Lille", OrganizationKind.LOCAL_AUTHORITY,
                  Tier.ASSOCIATED_MEMBER, on_committee=True, department="59")
    cycle = make.cycle(convention, 2017, state="selection")
    members = [make.user(Role.COMMITTEE_MEMBER, organization=org, name=f"Membre {org.name}")
               for org in (state, ugap, mel)]
    seat(cycle, members)
    buyer = make.user(Role.BUYER, organization=mel, name="Acheteuse MEL")
    needs = [make.need(cycle, mel, status="accepted", title=f"Besoin {i}") for i in (1, 2)]
    criteria = [Criterion(cycle_id=cycle.id, position=1, label="Innovation", weight=2.0),
                Criterion(cycle_id=cycle.id, position=2, label="Adéquation", weight=1.0)]
    db.session.add_all(criteria)
    db.session.add(SelectionSettings(cycle_id=cycle.id, reviewers_per_answer=3, disagreement_threshold=1.5))
    companies, apps = [], []
    for i, (dept, size) in enumerate((("59", "pme"), ("62", "micro"), ("59", "pme"))):
        firm = company(make, f"Entreprise {i}", size=size, department=dept, at=NOW)
        rep = make.user(Role.COMPANY, organization=firm.organization, name=f"Représentant {i}",
                        email=f"rep{i}@entreprise.fr")
        companies.append(firm)
        apps.append(eligible_answer(cycle, firm, needs if i == 0 else needs[:1], f"Solution {i}", author=rep,
                                    at=NOW))
    db.session.flush()
    # Scores (Innovation, Adéquation) → weighted (2a + b) / 3.
    grid = {
        0: [(4, 4), (3, 3), (4, 1)],   # 4, 3, 3 → mean 3.333, median 3
        1: [(0, 0), (4, 4), (2, 2)],   # 0, 4, 2 → spread 4: to discuss
        2: [(1, 1), (2, 2), None],     # 1, 2 and a draft → 2 of 3 done
    }
    for i, app in enumerate(apps):
        for member, values in zip(members, grid[i], strict=True):
            db.session.add(Assignment(cycle_id=cycle.id, application_id=app.id, user_id=member.id, created_at=NOW))
            review(cycle, app, member, criteria, values or (4, 4), submitted=values is not None, at=NOW,
                   company_comment=f"Conseil {i} n°{member.id}")
    db.session.add(BuyerInterest(application_id=apps[0].id, need_id=needs[0].id, organization_id=mel.id,
                                 user_id=buyer.id, level="meet", updated_at=NOW))
    # The MEL's member is conflicted with the second company.
    db.session.add(Conflict(cycle_id=cycle.id, user_id=members[2].id, company_id=companies[1].id,
                            source="declared", reason="Ancien employeur", created_at=NOW))
    db.session.commit()
    return World(admin, cycle, members, buyer, needs, apps, companies, criteria)


def _lines(world, viewer=None, **filters):
    return {line.application_id: line for line in
            ranking.rank(world.cycle, ranking.RankingFilters(**filters), viewer, per_page=None).lines}


def test_the_ranking_computes_mean_median_spread_reviews_and_interest(world):
    lines = _lines(world)
    first, second, third = (lines[a.id] for a in world.apps)
    assert first.score == pytest.approx(10 / 3) and first.median == pytest.approx(3)
    assert first.stddev == pytest.approx((2 / 9) ** 0.5)
    assert (first.reviews_done, first.reviews_expected) == (3, 3)
    assert (first.interest_meet, first.interest_test, first.interest_none) == (1, 0, 0)
    assert not first.to_discuss
    assert second.score == pytest.approx(2) and second.median == pytest.approx(2)
    assert second.spread == pytest.approx(4) and second.to_discuss
    # The draft review counts neither in the figures nor as done.
    assert third.score == pytest.approx(1.5) and third.median == pytest.approx(1.5)
    assert (third.reviews_done, third.reviews_expected) == (2, 3)
    assert [first.rank, second.rank, third.rank] == [1, 2, 3]
    assert first.needs == [(world.needs[0].id, "Besoin 1"), (world.needs[1].id, "Besoin 2")]


def test_changing_a_weight_after_reviews_reranks_through_the_stored_scores(world, make, client, login):
    # A fourth answer, scored 0 on Innovation and 4 on Adéquation: (2·0 + 4) / 3 = 1.33 ranks it last.
    pivot = eligible_answer(world.cycle, company(make, "Entreprise pivot", at=NOW), [], "Pivot", at=NOW)
    db.session.flush()
    written = review(world.cycle, pivot, world.members[0], world.criteria, [0, 4], recommendation="discuss", at=NOW)
    db.session.commit()
    assert written.weighted_score == pytest.approx(4 / 3)
    before = _lines(world)
    assert [before[a.id].rank for a in (*world.apps, pivot)] == [1, 2, 3, 4]

    # The admin gives Adéquation weight 3 and Innovation weight 1, with a reason (reviews are submitted).
    login(world.admin)
    innovation, fit = world.criteria
    for criterion, weight in ((innovation, "1"), (fit, "3")):
        response = client.post(f"/evaluation/admin/cycles/{world.cycle.id}/grille/{criterion.id}", data={
            "label": criterion.label, "weight": weight, "scale_min": "0", "scale_max": "4",
            "level_labels": "0\n1\n2\n3\n4", "reason": "Le comité privilégie l'adéquation"})
        assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    # Every stored score follows the new weights, in the grid edit's transaction: (a + 3b) / 4.
    assert db.session.get(Review, written.id).weighted_score == pytest.approx(3)
    lines = _lines(world)
    first, second, third = (lines[a.id] for a in world.apps)
    assert first.score == pytest.approx((4 + 3 + 7 / 4) / 3)  # (4,4) (3,3) (4,1)
    assert second.score == pytest.approx(2) and third.score == pytest.approx(1.5)
    assert lines[pivot.id].score == pytest.approx(3)
    assert [lines[a.id].rank for a in (pivot, *world.apps)] == [1, 2, 3, 4]
    # The spread that flags a disagreement follows too: (4,1) now weighs 1.75, 4 − 1.75 = 2.25.
    assert first.spread == pytest.approx(2.25) and first.to_discuss
    edits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "grid.criterion_edit")).all()
    assert len(edits) == 2 and {e.reason for e in edits} == {"Le comité privilégie l'adéquation"}
    # The stored scores equal a recomputation from the scores (the one formula).
    stored = dict(db.session.execute(select(Review.id, Review.weighted_score)).all())
    refresh_weighted_scores(db.session.connection(), cycle_ids=[world.cycle.id])
    assert dict(db.session.execute(select(Review.id, Review.weighted_score)).all()) == stored


def test_removing_a_criterion_recomputes_the_stored_scores(world):
    from innovation_cycle.services import reviews

    reviews.remove_criterion(world.cycle, world.criteria[0], reason="Critère redondant")
    db.session.commit()
    db.session.expire_all()
    # Only Adéquation counts now: the answers' means are the means of their Adéquation scores.
    lines = _lines(world)
    assert lines[world.apps[0].id].score == pytest.approx((4 + 3 + 1) / 3)
    assert lines[world.apps[0].id].median == pytest.approx(3)


def test_the_threshold_is_the_grids(world):
    db.session.get(SelectionSettings, world.cycle.id).disagreement_threshold = 4.5
    db.session.commit()
    assert not any(line.to_discuss for line in _lines(world).values())


def test_filters_by_need_size_department_and_state(world):
    assert set(_lines(world, need_id=world.needs[1].id)) == {world.apps[0].id}
    assert set(_lines(world, size="micro")) == {world.apps[1].id}
    assert set(_lines(world, department="59")) == {world.apps[0].id, world.apps[2].id}
    assert set(_lines(world, status="selected")) == set()


def test_normalization_uses_each_reviewers_z_scores(world):
    lines = _lines(world, normalized=True)
    # Each reviewer's z-scores sum to zero over their reviews, so the answers' mean z-scores do too here.
    total = sum(line.score * line.reviews_done for line in lines.values())
    assert total == pytest.approx(0, abs=1e-9)
    # The spread that flags a disagreement stays on the raw scores.
    assert lines[world.apps[1].id].to_discuss


def test_a_conflicted_member_never_gets_the_line(world, client, login):
    mel_member = world.members[2]
    assert world.apps[1].id not in _lines(world, mel_member)
    assert world.apps[1].id in _lines(world, world.members[0])
    login(mel_member)
    page = client.get(f"/selection/cycles/{world.cycle.id}/classement").get_data(as_text=True)
    assert "Solution 0" in page and "Solution 1" not in page
    export = client.get(f"/selection/cycles/{world.cycle.id}/classement/export?format=csv")
    assert export.status_code == 200
    assert "Solution 1" not in export.get_data(as_text=True)
    assert client.get(f"/selection/besoins/{world.needs[0].id}/classement").get_data(as_text=True).count(
        "Solution 1") == 0
    # The page says so when normalized.
    page = client.get(f"/selection/cycles/{world.cycle.id}/classement?normalized=y").get_data(as_text=True)
    assert "score z" in page


def test_a_member_of_another_cycle_is_refused(world, make, client, login):
    outsider = make.user(Role.COMMITTEE_MEMBER)
    login(outsider)
    assert client.get(f"/selection/cycles/{world.cycle.id}/classement").status_code == 403
    assert client.get(f"/selection/cycles/{world.cycle.id}/classement/export").status_code == 403


def test_the_exports_carry_the_figures(world, client, login):
    login(world.admin)
    response = client.get(f"/selection/cycles/{world.cycle.id}/classement/export?format=csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Rang", "N°", "Solution"]
    assert rows[1][2] == "Solution 0" and rows[1][7] == "3,33"
    xlsx = client.get(f"/selection/cycles/{world.cycle.id}/classement/export?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "ranking.export")) == 2


def test_the_ranking_page_costs_a_bounded_number_of_queries(world, make, client, login):
    # Twenty more answers, each reviewed: the page must not grow a query per line.
    for i in range(20):
        other = eligible_answer(world.cycle, company(make, f"Autre {i}", at=NOW), world.needs[:1], f"Autre {i}",
                                at=NOW)
        db.session.flush()
        review(world.cycle, other, world.members[0], world.criteria, [i % 5, (i + 1) % 5], recommendation="discuss",
               at=NOW)
    db.session.commit()
    for user in (world.admin, world.members[2]):
        login(user)
        db.session.expire_all()
        with count_queries() as statements:
            response = client.get(f"/selection/cycles/{world.cycle.id}/classement?normalized=y")
        assert response.status_code == 200
        assert response.get_data(as_text=True).count("<tr>") == 1 + 23 - (user is world.members[2])
        assert len(statements) <= 15, "\n".join(statements)


def test_the_ranking_page_reads_the_page_in_few_queries_with_its_statement_built_once_per_shape(world, client, login):
    """Issue 11: the ranking's statement is built once per shape (which filters, normalized or not, who reads,
    paged or not) and its values bound at execution: the same statement gives each filter value its own lines,
    and a member still never sees the answers of a company they are conflicted with."""
    ranking._statement.cache_clear()
    login(world.admin)
    db.session.expire_all()
    with count_queries() as statements:
        response = client.get(f"/selection/cycles/{world.cycle.id}/classement")
    assert response.status_code == 200
    # The signed-in user and its roles, the cycle (its windows only if the policy reads them), its themes, the
    # need filter's choices, the departments, the settings, the page's lines with the total, their targeted
    # needs (and PostgreSQL's SET LOCAL work_mem).
    assert len(statements) <= 11, "\n".join(s[:150] for s in statements)
    by_status = {status: set(_lines(world, status=status)) for status in ("eligible", "selected", "not_selected")}
    assert by_status["eligible"] == {a.id for a in world.apps} and not by_status["selected"]
    assert set(_lines(world, need_id=world.needs[0].id)) == {a.id for a in world.apps}
    assert set(_lines(world, need_id=world.needs[1].id)) == {world.apps[0].id}
    assert world.apps[1].id in _lines(world, world.admin) and world.apps[1].id not in _lines(world, world.members[2])
    assert world.apps[1].id in _lines(world, world.members[0])  # another member: the same statement, other values
    hits = ranking._statement.cache_info()
    assert hits.hits >= 3 and hits.currsize <= 6


# --- meetings and decisions ------------------------------------------------------------------------------


def _meeting(world, present=(0, 1, 2), status="open") -> Meeting:
    meeting = service.schedule(world.cycle, "Séance de juin", NOW + timedelta(days=1), "Préfecture", world.admin)
    service.record_attendance(meeting.id, {world.members[i].id for i in present}, world.admin)
    if status == "open":
        service.open_meeting(meeting.id, world.admin)
    transaction.commit()
    return meeting


def test_quorum_needs_each_founding_partner_and_the_minimum(world):
    meeting = _meeting(world, present=(0, 2), status="scheduled")
    q = service.quorum(meeting)
    assert not q.reached and q.missing_partners == ["UGAP"]
    service.record_attendance(meeting.id, {world.members[0].id, world.members[1].id}, world.admin)
    assert service.quorum(meeting).reached
    service.record_attendance(meeting.id, {world.members[0].id}, world.admin)
    assert not service.quorum(meeting).reached  # the convention asks for two present


def test_only_committee_members_attend(world, make):
    meeting = _meeting(world, status="scheduled")
    with pytest.raises(Invalid):
        service.record_attendance(meeting.id, {make.user(Role.BUYER).id}, world.admin)


def _decide(world, meeting, app, outcome="selected", needs=None, rationale="Solution mûre.", version=None):
    needs = [world.needs[0].id] if needs is None and outcome == "selected" else (needs or [])
    decision = service.decide(meeting.id, app.id, outcome=outcome, need_ids=needs, rationale=rationale,
                              message=None, actor=world.admin, expected_version=version)
    transaction.commit()
    return decision


def test_a_decision_moves_the_answer_with_its_audit_row_and_needs(world):
    meeting = _meeting(world)
    decision = _decide(world, meeting, world.apps[0], needs=[world.needs[0].id, world.needs[1].id])
    assert db.session.get(Application, world.apps[0].id).status == "selected"
    assert sorted(dn.need_id for dn in decision.needs) == [world.needs[0].id, world.needs[1].id]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "decision.record"))
    assert event.after["application_status"] == "selected" and event.after["outcome"] == "selected"
    # A waiting list keeps the answer eligible; not selected moves it.
    _decide(world, meeting, world.apps[1], outcome="waiting_list")
    _decide(world, meeting, world.apps[2], outcome="not_selected")
    assert [db.session.get(Application, a.id).status for a in world.apps] == ["selected", "eligible", "not_selected"]
    assert service.undecided_count(world.cycle) == 0


@pytest.mark.parametrize(("present", "status", "rationale", "message"), [
    ((0, 2), "open", "Motif", "Le quorum n'est pas atteint"),
    ((0, 1, 2), "scheduled", "Motif", "Ouvrez la séance"),
    ((0, 1, 2), "open", "   ", "La motivation de la décision est obligatoire."),
])
def test_a_decision_without_quorum_open_meeting_or_rationale_is_refused(world, present, status, rationale, message):
    meeting = _meeting(world, present=present, status=status)
    with pytest.raises(Invalid) as refused:
        _decide(world, meeting, world.apps[0], rationale=rationale)
    transaction.rollback()
    assert any(message in e.message for e in refused.value.errors)
    assert db.session.get(Application, world.apps[0].id).status == "eligible"
    assert db.session.scalar(select(func.count(Decision.id))) == 0


def test_selected_needs_must_be_targeted_and_given(world):
    meeting = _meeting(world)
    with pytest.raises(Invalid) as refused:
        _decide(world, meeting, world.apps[1], needs=[world.needs[1].id])  # not targeted by this answer
    assert [e.field for e in refused.value.errors] == ["needs"]
    transaction.rollback()
    with pytest.raises(Invalid):
        service.decide(meeting.id, world.apps[1].id, outcome="selected", need_ids=[], rationale="x", message=None,
                       actor=world.admin, expected_version=None)
    transaction.rollback()


def test_a_decision_is_corrected_until_released_and_a_stale_form_is_refused(world):
    meeting = _meeting(world)
    decision = _decide(world, meeting, world.apps[0])
    with pytest.raises(service.Refused):  # the form was for a new decision: someone recorded one meanwhile
        _decide(world, meeting, world.apps[0], outcome="not_selected")
    transaction.rollback()
    corrected = _decide(world, meeting, world.apps[0], outcome="not_selected", version=decision.version)
    assert corrected.id == decision.id and corrected.needs == []
    assert db.session.get(Application, world.apps[0].id).status == "not_selected"
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "decision.correct")) == 1
    assert service.release(world.cycle.id, world.admin)
    transaction.commit()
    with pytest.raises(Invalid) as refused:
        _decide(world, meeting, world.apps[0], outcome="selected", version=corrected.version)
    assert "communiquées" in refused.value.errors[0].message
    transaction.rollback()


def test_the_web_walk_of_a_meeting(world, client, login):
    login(world.admin)
    response = client.post(f"/selection/cycles/{world.cycle.id}/seances",
                           data={"title": "Séance", "scheduled_at": "2017-06-20T14:00", "location": "Lille"})
    assert response.status_code == 302
    meeting = db.session.scalar(select(Meeting))
    assert client.post(f"/selection/seances/{meeting.id}/presences",
                       data={"present": [str(m.id) for m in world.members]}).status_code == 302
    assert client.post(f"/selection/seances/{meeting.id}/ouvrir").status_code == 302
    page = client.get(f"/selection/seances/{meeting.id}").get_data(as_text=True)
    assert "Quorum atteint" in page and "Solution 0" in page
    url = f"/selection/seances/{meeting.id}/reponses/{world.apps[0].id}"
    refused = client.post(url, data={"outcome": "selected", "needs": [str(world.needs[0].id)], "rationale": ""})
    assert refused.status_code == 422
    assert "La motivation de la décision est obligatoire." in refused.get_data(as_text=True)
    assert client.post(url, data={"outcome": "selected", "needs": [str(world.needs[0].id)],
                                  "rationale": "Très pertinente", "message": "Bravo"}).status_code == 302
    minutes = client.get(f"/selection/seances/{meeting.id}/proces-verbal").get_data(as_text=True)
    assert "Très pertinente" in minutes and "Membre UGAP" in minutes
    export = client.get(f"/selection/seances/{meeting.id}/proces-verbal/export?format=csv").get_data(as_text=True)
    assert "Très pertinente" in export and "Retenue" in export
    assert client.get(f"/selection/seances/{meeting.id}/proces-verbal/export?format=xlsx").status_code == 200
    assert client.post(f"/selection/seances/{meeting.id}/clore").status_code == 302
    assert db.session.get(Meeting, meeting.id).status == "closed"


# --- release -----------------------------------------------------------------------------------------------


def _released_world(world):
    meeting = _meeting(world)
    _decide(world, meeting, world.apps[0], needs=[world.needs[0].id, world.needs[1].id])
    _decide(world, meeting, world.apps[1], outcome="not_selected", rationale="Maturité insuffisante.")
    return meeting


def test_the_release_mails_each_company_once_and_the_buyers_their_shortlist(world, client, login):
    _released_world(world)
    assert db.session.scalar(select(func.count(Notification.id))) == 0  # nothing before the release
    login(world.admin)
    assert client.post(f"/selection/cycles/{world.cycle.id}/communication", data={"confirm": "y"}).status_code == 302
    assert client.post(f"/selection/cycles/{world.cycle.id}/communication", data={"confirm": "y"}).status_code == 302
    mails = db.session.scalars(select(Notification).order_by(Notification.recipient)).all()
    recipients = [m.recipient for m in mails]
    assert sorted(recipients) == sorted(["rep0@entreprise.fr", "rep1@entreprise.fr", world.buyer.email])
    by = {m.recipient: m for m in mails}
    selected = by["rep0@entreprise.fr"].body_text
    assert "Besoin 1" in selected and "Besoin 2" in selected and "n'oblige aucun acheteur" in selected
    refused = by["rep1@entreprise.fr"].body_text
    assert "Maturité insuffisante." in refused and "Conseil 1" in refused
    for member in world.members:  # never the reviewers' names
        assert member.name not in refused and member.name not in selected
    shortlist = by[world.buyer.email].body_text
    assert "Solution 0" in shortlist and "rep0@entreprise.fr" in shortlist and "Solution 1" not in shortlist
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "decision.release")) == 1
    assert all(d.released_at is not None for d in db.session.scalars(select(Decision)))


def test_the_release_is_refused_without_decisions(world):
    with pytest.raises(service.Refused):
        service.release(world.cycle.id, world.admin)
    transaction.rollback()


# --- the cycle's guard -------------------------------------------------------------------------------------


def test_the_cycle_cannot_leave_selection_undecided_nor_unreleased(world, clock):
    clock.set(paris_datetime(2017, 8, 2, 9))  # the selection window has closed
    assert {r.code for r in cycles.move_refusals(world.cycle, "advance")} == {"selection_undecided"}
    meeting = _meeting(world)
    _decide(world, meeting, world.apps[0], outcome="waiting_list")
    codes = {r.code for r in cycles.move_refusals(world.cycle, "advance")}
    assert codes == {"selection_undecided", "selection_not_released"}
    # Forcing bypasses the undecided answers, never the release of the decisions taken.
    forced = {r.code for r in cycles.move_refusals(world.cycle, "advance", forced=True, reason="Fin de saison")}
    assert forced == {"selection_not_released"}
    for app in world.apps[1:]:
        _decide(world, meeting, app, outcome="waiting_list")
    assert {r.code for r in cycles.move_refusals(world.cycle, "advance")} == {"selection_not_released"}
    service.release(world.cycle.id, world.admin)
    transaction.commit()
    cycles.move(world.cycle.id, "advance", expected_state="selection", actor=world.admin)
    transaction.commit()
    assert db.session.get(Cycle, world.cycle.id).state == "commitment_census"


def test_the_admin_cycle_page_explains_the_guard(world, client, login, clock):
    login(world.admin)
    page = client.get(f"/admin/cycles/{world.cycle.id}").get_data(as_text=True)
    assert "pas encore de décision du comité" in page and "ceci ne se force pas" not in page
    _decide(world, _meeting(world), world.apps[0], outcome="waiting_list")
    page = client.get(f"/admin/cycles/{world.cycle.id}").get_data(as_text=True)
    assert "pas encore de décision du comité" in page and "ceci ne se force pas" in page


def test_the_dashboard_lists_the_stage_tasks(world, client, login):
    _meeting(world, status="scheduled")
    login(world.admin)
    page = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert "Séance de juin" in page and "sans décision du comité" in page
    assert f"/selection/cycles/{world.cycle.id}/classement" in page
    db.session.add(Decision(cycle_id=world.cycle.id, application_id=world.apps[0].id,
                            meeting_id=db.session.scalar(select(Meeting.id)), outcome="waiting_list", rationale="r",
                            decided_at=NOW))
    db.session.commit()
    assert "Communiquer les décisions" in client.get("/tableau-de-bord/").get_data(as_text=True)


def test_the_selection_index_is_the_entry_page(world, client, login):
    login(world.members[0])
    page = client.get("/selection/").get_data(as_text=True)
    assert "Classement des réponses" in page and "Séances du comité" not in page
    login(world.admin)
    assert "Séances du comité" in client.get("/selection/").get_data(as_text=True)


def test_decision_needs_rows_follow_the_outcome(world):
    meeting = _meeting(world)
    decision = _decide(world, meeting, world.apps[0])
    _decide(world, meeting, world.apps[0], outcome="waiting_list", version=decision.version)
    assert db.session.scalar(select(func.count()).select_from(DecisionNeed)) == 0
    assert db.session.get(Application, world.apps[0].id).status == "eligible"


def test_the_workflow_refuses_a_decision_on_an_ineligible_answer(world):
    meeting = _meeting(world)
    app = db.session.get(Application, world.apps[0].id)
    app.status = "ineligible"
    db.session.commit()
    with pytest.raises(Invalid):
        _decide(world, meeting, app)
    transaction.rollback()


def test_move_refused_is_not_raised_for_a_same_state_decision(world):
    meeting = _meeting(world)
    # A waiting list on an eligible answer needs no move, but still its rationale and quorum.
    decision = _decide(world, meeting, world.apps[2], outcome="waiting_list")
    assert decision.outcome == "waiting_list"
    with pytest.raises((Invalid, MoveRefused)):
        _decide(world, meeting, world.apps[1], outcome="waiting_list", rationale="")
    transaction.rollback()


def test_need_ranking_page(world, client, login):
    login(world.members[0])
    page = client.get(f"/selection/besoins/{world.needs[1].id}/classement").get_data(as_text=True)
    assert "Solution 0" in page and "Solution 2" not in page
    assert client.get("/selection/besoins/999999/classement").status_code == 404
    assert Need  # imported for the factory's type


# --- two admins at once ------------------------------------------------------------------------------------


def _second_decision(app, meeting_id: int, application_id: int, admin_id: int, outcome: dict) -> None:
    with app.app_context():
        from innovation_cycle.models import User

        admin = db.session.get(User, admin_id)
        try:
            service.decide(meeting_id, application_id, outcome="not_selected", need_ids=[], rationale="Autre avis",
                           message=None, actor=admin, expected_version=None)
            transaction.commit()
            outcome["result"] = "recorded"
        except (service.Refused, Invalid) as exc:
            transaction.rollback()
            outcome["result"] = type(exc).__name__
        finally:
            db.session.remove()


def test_two_admins_recording_a_decision_at_once_end_with_one(app, world, make):
    """Two real connections, as tests/test_cycle_concurrency.py: the first decision holds its transaction open;
    the second, posted from the same page (no decision seen), waits for the answer's row lock (PostgreSQL:
    SELECT … FOR UPDATE) or meets the unique application_id (SQLite). Once the first commits, the second is
    refused as stale: one decision, one audit row, one move of the answer."""
    meeting = _meeting(world)
    other_admin = make.user(Role.ADMIN)
    meeting_id, app_id, other_id = meeting.id, world.apps[0].id, other_admin.id
    service.decide(meeting_id, app_id, outcome="selected", need_ids=[world.needs[0].id], rationale="Pertinente",
                   message=None, actor=world.admin, expected_version=None)
    outcome: dict = {}
    other = threading.Thread(target=_second_decision, args=(app, meeting_id, app_id, other_id, outcome))
    other.start()
    time.sleep(0.5)
    if db.engine.dialect.name == "postgresql":
        assert other.is_alive(), "the second decision must wait for the first one's lock"
    transaction.commit()
    other.join(timeout=20)
    assert not other.is_alive()
    db.session.expire_all()
    assert outcome["result"] == "Refused"
    decisions = db.session.scalars(select(Decision)).all()
    assert [(d.application_id, d.outcome) for d in decisions] == [(app_id, "selected")]
    assert db.session.get(Application, app_id).status == "selected"
    assert db.session.scalar(select(func.count()).where(AuditEvent.action.like("decision.%"))) == 1


def test_a_meeting_is_scheduled_with_a_french_date_and_its_quorum_counts_in_words(world, client, login):
    """The browser walk found a datetime-local widget on the meetings page (the browser's language, not
    French) and « 4 membre(s) présent(s) » on the meeting page."""
    login(world.admin)
    url = f"/selection/cycles/{world.cycle.id}/seances"
    assert 'type="datetime-local"' not in client.get(url).get_data(as_text=True)
    assert client.post(url, data={"title": "Séance", "scheduled_at": "20/06/2017 14:00",
                                  "location": "Lille"}).status_code == 302
    meeting = db.session.scalar(select(Meeting))
    assert meeting.scheduled_at == paris_datetime(2017, 6, 20, 14, 0)
    client.post(f"/selection/seances/{meeting.id}/presences", data={"present": [str(world.members[0].id)]})
    page = client.get(f"/selection/seances/{meeting.id}").get_data(as_text=True)
    assert "(s)" not in page and "1 membre présent" in page
    client.post(f"/selection/seances/{meeting.id}/presences", data={"present": [str(m.id) for m in world.members]})
    page = client.get(f"/selection/seances/{meeting.id}").get_data(as_text=True)
    assert "(s)" not in page and f"{len(world.members)} membres présents" in page
    refusal = client.get(f"/admin/cycles/{world.cycle.id}").get_data(as_text=True)
    assert "(s)" not in refusal
