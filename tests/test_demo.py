"""The demo a newcomer runs: seed-demo builds the 2017 convention, every role logs in and sees its tasks,
and the admin walks the cycle to its end by moving the simulated clock."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from innovation_cycle import clock as clock_module
from innovation_cycle.cli import DEMO_PASSWORD, DEMO_USERS
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, ConventionMembership, Cycle, Organization, Tier, User


@pytest.fixture
def demo_app(app):
    """The app in demo mode with the real (offset) clock, as `scripts/demo.sh` runs it."""
    app.config["DEMO_MODE"] = True
    app.extensions["clock"] = clock_module.SystemClock()
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "admin@demo.orcp.fr" in result.output
    return app


def test_seed_demo_builds_the_source_documents_convention(demo_app):
    tiers = {m.organization.name: m.tier for m in db.session.scalars(select(ConventionMembership))}
    assert tiers["UGAP — Union des groupements d'achats publics"] == Tier.FOUNDING_PARTNER
    assert tiers["Préfecture de la région Hauts-de-France (SGAR)"] == Tier.FOUNDING_PARTNER
    assert tiers["Métropole européenne de Lille (MEL)"] == Tier.ASSOCIATED_MEMBER
    assert tiers["EuraTechnologies"] == Tier.ASSOCIATED_MEMBER
    assert tiers["Lille is French Tech"] == Tier.ASSOCIATED_MEMBER
    cycle = db.session.scalar(select(Cycle))
    assert (cycle.year, cycle.state) == (2017, "needs_collection")
    assert clock_module.to_paris(clock_module.now()).date().isoformat() == "2017-03-01"
    # Running it again changes nothing.
    organizations = db.session.scalar(select(func.count(Organization.id)))
    again = demo_app.test_cli_runner().invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "déjà en place" in again.output
    assert db.session.scalar(select(func.count(Organization.id))) == organizations


EXPECTED_TASKS = {
    "admin@demo.orcp.fr": "Cycle 2017",
    "acheteur@demo.orcp.fr": "Déposer les besoins d&#39;innovation de votre organisation",
    "acheteuse.lille@demo.orcp.fr": "Déposer les besoins d&#39;innovation de votre organisation",
    "pfra@demo.orcp.fr": "Qualifier les besoins déposés par les acheteurs",
    "ugap@demo.orcp.fr": None,
    "comite@demo.orcp.fr": None,
    "entreprise@demo.orcp.fr": "Enregistrer votre entreprise",  # issue 3, area B: not registered yet
}


@pytest.mark.parametrize("email", [u[0] for u in DEMO_USERS])
def test_each_demo_role_logs_in_and_sees_its_dashboard(demo_app, client, email):
    response = client.post("/compte/connexion", data={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    page = client.get("/tableau-de-bord/").get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == email))
    assert user.name in page
    expected = EXPECTED_TASKS[email]
    if expected:
        assert expected in page
        assert "31 mars 2017" in page  # the needs collection's deadline
    else:
        assert "Rien à faire" in page


def test_the_admin_walks_the_demo_cycle_to_its_end_with_the_clock(demo_app, client):
    client.post("/compte/connexion", data={"email": "admin@demo.orcp.fr", "password": DEMO_PASSWORD})
    cycle = db.session.scalar(select(Cycle))
    moves = [("needs_collection", "advance"), ("ami_sourcing", "advance"), ("selection", "advance"),
             ("commitment_census", "advance"), ("results_communication", "close")]
    for state, trigger in moves:
        if trigger == "close":
            _publish_the_bilan(client, cycle)  # issue 8: a cycle closes once its bilan is published
        closes_at = cycle.window(state).closes_at
        clock_module.simulate(closes_at)
        db.session.commit()
        page = client.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
        assert "Date simulée" in page or "date simulée" in page
        response = client.post(f"/admin/cycles/{cycle.id}/changer-etape",
                               data={"trigger": trigger, "expected_state": state}, follow_redirects=True)
        assert response.status_code == 200
        db.session.expire_all()
        assert cycle.state != state, re.sub(r"\s+", " ", response.get_data(as_text=True))[:3000]
    assert cycle.state == "closed"
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "cycles")).all()
    assert actions.count("cycle.advance") == 5 and actions.count("cycle.close") == 1


def _publish_the_bilan(client, cycle) -> None:
    """Issue 8: the admin writes the bilan, a user of each founding partner approves it, the admin publishes."""
    client.post(f"/resultats/cycle/{cycle.id}/bilan", data={"editorial": "Le cycle 2017 en quelques chiffres."})
    for email in ("admin@demo.orcp.fr", "pfra@demo.orcp.fr", "ugap@demo.orcp.fr"):
        client.post("/compte/deconnexion")
        client.post("/compte/connexion", data={"email": email, "password": DEMO_PASSWORD})
        assert client.post(f"/resultats/cycle/{cycle.id}/approuver").status_code == 302
    client.post("/compte/deconnexion")
    client.post("/compte/connexion", data={"email": "admin@demo.orcp.fr", "password": DEMO_PASSWORD})
    client.post(f"/resultats/cycle/{cycle.id}/publier")
    assert client.get(f"/resultats/{cycle.year}").status_code == 200

