"""`seed-demo --etape recensement` and `--etape resultats` (issue 8, item 8): the 2017 cycle in its census with
the selection's released shortlist and commitments across the three channels and every level, then in results
communication with its bilan published. The "Done when" walk: from the census demo, the PFRA agent, the UGAP
agent, a buyer and the admin take the cycle through the web client to a published bilan and a closed cycle."""

from __future__ import annotations

from sqlalchemy import func, select
from test_demo_selection import seed
from test_end_to_end import ok, text_of

from innovation_cycle import clock as clock_module
from innovation_cycle.cli import DEMO_PASSWORD
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AuditEvent,
    Commitment,
    Cycle,
    Decision,
    Organization,
    PurchaseBaseline,
    ResultsReport,
)
from innovation_cycle.services import commitments as census


def _login(client, email):
    client.post("/compte/deconnexion")
    ok(client.post("/compte/connexion", data={"email": email, "password": DEMO_PASSWORD}))


def _today() -> str:
    return clock_module.to_paris(clock_module.now()).date().isoformat()


def test_the_census_demo(app, client):
    output = seed(app, "--etape", "recensement")
    assert "11 septembre 2017" in output
    cycle = db.session.scalar(select(Cycle))
    assert (cycle.state, _today(), census.phase(cycle)) == ("commitment_census", "2017-09-11", "ugap")
    assert clock_module.to_paris(census.settings_of(cycle).ugap_phase_opens_at).date().isoformat() == "2017-09-01"
    assert db.session.scalar(select(func.count(Decision.id)).where(Decision.released_at.is_(None))) == 0
    assert len(census.selected_answers(cycle)) >= 10

    commitments = list(db.session.scalars(select(Commitment)))
    assert {c.channel for c in commitments} == {"pfra_internal", "pfra_regional", "ugap_national"}
    assert {c.status for c in commitments} == {"interest", "experimentation_planned", "purchase_commitment",
                                               "procedure_launched", "contracted", "abandoned"}
    waiting = [c for c in commitments if not c.confirmed]
    assert len(waiting) == 1 and waiting[0].declared_by_buyer and waiting[0].buyer.name.startswith("Métropole")
    for c in commitments:
        if c.status == "contracted":
            assert all(getattr(c, f) for f in census.CONTRACT_FIELDS)
        if c.status == "abandoned":
            assert c.abandon_reason
    national = [c for c in commitments if c.channel == "ugap_national"]
    assert national and all(c.ugap.kind.value == "ugap" and c.buyer.department not in ("59", "62", "80")
                            and c.company.computed_size in ("micro", "pme") for c in national)
    # Every commitment went through the service: each has its audit row.
    recorded = db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "commitment.record"))
    assert recorded == len(commitments)

    tasks = {
        "pfra@demo.orcp.fr": "1 déclaration d'acheteur à confirmer",
        "ugap@demo.orcp.fr": "Recenser les engagements des clients nationaux",
        "acheteur@demo.orcp.fr": "pour vos besoins : déclarez vos intentions d'achat",
        "admin@demo.orcp.fr": "Saisir les achats de la PFRA en 2017",
    }
    for email, task in tasks.items():
        _login(client, email)
        assert task in text_of(client.get("/tableau-de-bord/")), email
    _login(client, "ugap@demo.orcp.fr")
    assert "Recensement en cours : phase UGAP" in text_of(client.get("/engagements/"))
