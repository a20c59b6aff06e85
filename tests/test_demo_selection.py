"""`seed-demo --etape selection` (issue 7): the 2017 cycle in selection with the source document's partners on
its committee, a six-criterion grid, assignments, most reviews submitted (some disagreements), one conflict and
a meeting scheduled; the admin, a committee member and the company see the stage as they should."""

from __future__ import annotations

from sqlalchemy import func, select

from innovation_cycle import clock as clock_module
from innovation_cycle.cli import DEMO_PASSWORD
from innovation_cycle.extensions import db
from innovation_cycle.models import Cycle, Meeting
from innovation_cycle.models.reviews import Assignment, Conflict, Criterion, Review
from innovation_cycle.services import ranking


def seed(app, *args):
    app.config["DEMO_MODE"] = True
    app.extensions["clock"] = clock_module.SystemClock()
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _login(client, email):
    assert client.post("/compte/connexion", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302


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
