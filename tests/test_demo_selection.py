"""`seed-demo --etape selection` (issue 7): the 2017 cycle in selection with the source document's partners on
its committee, a six-criterion grid, assignments, most reviews submitted (some disagreements), one conflict and
a meeting scheduled; the admin, a committee member and the company see the stage as they should; and then, through
the web client only, the admin, a committee member and a buyer take the demo's cycle through assignment, reviews,
the meeting and the release, and move it to the census stage (issue 7's "Done when")."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from test_end_to_end import ok, text_of

from innovation_cycle import clock as clock_module
from innovation_cycle.cli import DEMO_PASSWORD
from innovation_cycle.extensions import db
from innovation_cycle.models import Application, ApplicationNeed, Cycle, Decision, Meeting, Need, Notification, User
from innovation_cycle.models.reviews import Assignment, BuyerInterest, Conflict, Criterion, Review
from innovation_cycle.services import ranking


def seed(app, *args):
    app.config["DEMO_MODE"] = True
    app.extensions["clock"] = clock_module.SystemClock()
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _login(client, email):
    assert client.post("/compte/connexion", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302


def _person(app, email):
    """A browser of its own for each person of the walk."""
    browser = app.test_client()
    _login(browser, email)
    return browser


def test_the_selection_demo(app, client):
    output = seed(app, "--etape", "selection")
    assert "26 juin 2017" in output
    cycle = db.session.scalar(select(Cycle))
    assert cycle.state == "selection"
    assert clock_module.to_paris(clock_module.now()).date().isoformat() == "2017-06-26"
    organizations = {m.user.organization.name.split(" ")[0] for m in cycle.committee}
    assert {"Préfecture", "Plateforme", "UGAP", "Métropole", "Ville", "EuraTechnologies"} <= organizations
    assert db.session.scalar(select(func.count(Criterion.id))) == 6
    assert db.session.scalar(select(func.count(Conflict.id))) == 1
    assert db.session.scalar(select(func.count(Meeting.id))) == 1
    assignments = db.session.scalar(select(func.count(Assignment.id)))
    submitted = db.session.scalar(select(func.count(Review.id)).where(Review.status == "submitted"))
    assert assignments > 60 and 0.7 * assignments < submitted < assignments
    lines = ranking.rank(cycle, ranking.RankingFilters(), None, per_page=None).lines
    assert any(line.to_discuss for line in lines) and not all(line.to_discuss for line in lines)

    _login(client, "admin@demo.orcp.fr")
    dashboard = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert "Séance du comité de pilotage" in dashboard and "sans décision du comité" in dashboard
    assert client.get(f"/selection/cycles/{cycle.id}/classement").status_code == 200
    meeting = db.session.scalar(select(Meeting))
    assert "Quorum non atteint" in client.get(f"/selection/seances/{meeting.id}").get_data(as_text=True)

    # The conflicted member (EuraTechnologies) does not see the conflicted company's line.
    conflict = db.session.scalar(select(Conflict))
    _login(client, "comite@demo.orcp.fr")
    page = client.get(f"/selection/cycles/{cycle.id}/classement?status=eligible").get_data(as_text=True)
    total_admin = len(lines)
    member_lines = ranking.rank(cycle, ranking.RankingFilters(), conflict.user, per_page=None).lines
    assert len(member_lines) < total_admin
    assert conflict.company.organization.name not in page

    # --- the "Done when" walk, through the web client only ------------------------------------------------
    admin = _person(app, "admin@demo.orcp.fr")
    member = _person(app, "comite.ugap@demo.orcp.fr")
    buyer = _person(app, "acheteur@demo.orcp.fr")

    # Assignment: confirmed in the demo; the admin's page shows each answer's reviewers and the conflict.
    page = text_of(ok(admin.get(f"/evaluation/admin/cycles/{cycle.id}/affectations"), 200))
    assert "Affectations confirmées" in page and conflict.reason in page

    # Reviews: the member submits one of the drafts left, through the form.
    ugap = db.session.scalar(select(User).where(User.email == "comite.ugap@demo.orcp.fr"))
    draft = db.session.scalar(select(Review).where(Review.reviewer_id == ugap.id, Review.status == "draft")
                              .order_by(Review.application_id))
    if draft is None:  # every review of this member is in: another one's draft, reassigned by hand
        draft = db.session.scalar(select(Review).where(Review.status == "draft").order_by(Review.id))
        ugap = db.session.get(User, draft.reviewer_id)
        member = _person(app, ugap.email)
    assert db.session.scalar(select(Assignment.id).where(Assignment.application_id == draft.application_id,
                                                         Assignment.user_id == ugap.id)) is not None
    assert "évaluation" in text_of(ok(member.get("/evaluation/"), 200))
    criteria = db.session.scalars(select(Criterion).where(Criterion.cycle_id == cycle.id)
                                  .order_by(Criterion.position)).all()
    url = f"/evaluation/reponses/{draft.application_id}"
    version = re.search(r'name="version"[^>]*value="(\d+)"', member.get(url).get_data(as_text=True)).group(1)
    form = {"action": "submit", "recommendation": "select", "committee_comment": "Convaincant en démonstration.",
            "company_comment": "Belle démonstration.", "version": version,
            **{f"score_{c.id}": "3" for c in criteria}}
    assert "Votre évaluation est soumise." in text_of(member.post(url, data=form, follow_redirects=True))
    db.session.expire_all()
    assert db.session.get(Review, draft.id).status == "submitted"
    assert db.session.get(Review, draft.id).weighted_score == 3

    # The buyer (the MEL) gives its interest in an answer to one of its needs.
    mel_buyer = db.session.scalar(select(User).where(User.email == "acheteur@demo.orcp.fr"))
    target = db.session.execute(
        select(ApplicationNeed.application_id, ApplicationNeed.need_id).join(Need, Need.id == ApplicationNeed.need_id)
        .join(Application, Application.id == ApplicationNeed.application_id)
        .where(Need.organization_id == mel_buyer.organization_id, Application.cycle_id == cycle.id,
               Application.status == "eligible").order_by(ApplicationNeed.application_id)).first()
    answer_id, need_id = target
    interest_url = f"/evaluation/reponses/{answer_id}/interet"
    interest_page = buyer.get(interest_url).get_data(as_text=True)
    seen = re.search(rf'name="n{need_id}-version" type="hidden" value="(\d+)"', interest_page).group(1)
    ok(buyer.post(interest_url, data={"need": str(need_id), f"n{need_id}-need_id": str(need_id),
                                      f"n{need_id}-level": "meet", f"n{need_id}-comment": "À rencontrer en juillet.",
                                      f"n{need_id}-version": seen}))
    assert db.session.scalar(select(BuyerInterest.level).where(BuyerInterest.application_id == answer_id,
                                                               BuyerInterest.need_id == need_id)) == "meet"

    # The meeting, on 6 July: attendance (the whole committee: quorate), opened, one decision per answer in
    # the ranking's order (selected, waiting list, not selected), each with its rationale; closed; the minutes.
    ok(admin.post("/admin/horloge/date", data={"target": "2017-07-06T14:00"}))
    meeting_url = f"/selection/seances/{meeting.id}"
    ok(admin.post(f"{meeting_url}/presences", data={"present": [str(m.user_id) for m in cycle.committee]}))
    ok(admin.post(f"{meeting_url}/ouvrir"))
    assert "Quorum atteint" in text_of(ok(admin.get(meeting_url), 200))
    ordered = [line.application_id for line in ranking.rank(cycle, ranking.RankingFilters(status="eligible"), None,
                                                            per_page=None).lines]
    targets = dict(db.session.execute(select(ApplicationNeed.application_id, ApplicationNeed.need_id)
                                      .where(ApplicationNeed.application_id.in_(ordered))).all())
    for position, application_id in enumerate(ordered):
        if position < 5:
            data = {"outcome": "selected", "needs": [str(targets[application_id])],
                    "rationale": "Solution mûre, adaptée au besoin.", "message": "L'acheteur vous contactera."}
        elif position < 8:
            data = {"outcome": "waiting_list", "rationale": "Intéressante, à revoir après les premières."}
        else:
            data = {"outcome": "not_selected", "rationale": "Moins convaincante que les solutions retenues."}
        ok(admin.post(f"{meeting_url}/reponses/{application_id}", data=data))
    ok(admin.post(f"{meeting_url}/clore"))
    minutes = text_of(ok(admin.get(f"{meeting_url}/proces-verbal"), 200))
    assert "Solution mûre, adaptée au besoin." in minutes and "Isabelle Comité (UGAP)" in minutes
    assert db.session.scalar(select(func.count(Decision.id))) == len(ordered)

    # The release: one mail per company, the buyers' shortlist; then the cycle moves to the census.
    ok(admin.post(f"/selection/cycles/{cycle.id}/communication", data={"confirm": "y"}))
    companies = db.session.scalar(select(func.count(func.distinct(Application.company_id))).where(
        Application.id.in_(ordered)))
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.subject.like("%Décisions du comité%"))) == companies
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.subject.like("%Solutions retenues%"))) >= 1
    ok(admin.post("/admin/horloge/date", data={"target": "2017-08-02T09:00"}))
    moved = admin.post(f"/admin/cycles/{cycle.id}/changer-etape",
                       data={"trigger": "advance", "expected_state": "selection"}, follow_redirects=True)
    assert "Le cycle est passé à l'étape « Recensement des engagements d'achat »." in text_of(moved), \
        text_of(moved)[:3000]
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "commitment_census"
