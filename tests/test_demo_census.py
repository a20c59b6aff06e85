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
    assert len(commitments) == 10  # as the README says
    assert {c.channel for c in commitments} == {"pfra_internal", "pfra_regional", "ugap_national"}
    assert {c.status for c in commitments} == {"interest", "experimentation_planned", "purchase_commitment",
                                               "procedure_launched", "contracted", "abandoned"}
    against = [c for c in commitments if c.procedure != c.advised_procedure]
    assert [(c.procedure, bool(c.procedure_note)) for c in against] == [("innovation_partnership", True)]
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


def _org(name_start: str) -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name.startswith(name_start))).one()


def _record(client, **fields) -> Commitment:
    ok(client.post("/engagements/nouveau", data={"quantity": "1", "expected_on": "15/12/2017", **fields}))
    return db.session.scalars(select(Commitment).order_by(Commitment.id.desc())).first()


def _move(client, commitment: Commitment, trigger: str) -> None:
    state = commitment.status
    ok(client.post(f"/engagements/{commitment.id}/etat", data={
        f"{trigger}-trigger": trigger, f"{trigger}-expected_state": state, f"{trigger}-reason": ""}))
    db.session.expire_all()
    assert db.session.get(Commitment, commitment.id).status != state


def _set_clock(client, when: str) -> None:
    ok(client.post("/admin/horloge/date", data={"target": when}))


def _cycle_move(client, cycle_id: int, state: str, trigger: str = "advance") -> str:
    db.session.expire_all()
    cycle = db.session.get(Cycle, cycle_id)
    page = text_of(client.post(f"/admin/cycles/{cycle_id}/changer-etape",
                               data={"trigger": trigger, "expected_state": state}, follow_redirects=True))
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state != state, page[:3000]
    return page


def test_the_census_demo_is_taken_to_a_published_bilan_and_closed_through_the_web(app, client):
    """Issue 8's "Done when", as its four actors, through the web client only."""
    seed(app, "--etape", "recensement")
    cycle = db.session.scalar(select(Cycle))
    shortlist = {a.id: census.shortlisted_needs(a) for a in census.selected_answers(cycle)}
    lille, nord, lyon = _org("Ville de Lille"), _org("Département du Nord"), _org("Métropole de Lyon")

    # A buyer (the city of Lille) declares its intention for a solution selected for one of its needs.
    _login(client, "acheteuse.lille@demo.orcp.fr")
    application_id, need = next((a, n) for a, needs in shortlist.items() for n in needs
                                if n.organization_id == lille.id)
    declared = _record(client, application_id=application_id, need_id=need.id, channel="pfra_regional",
                       buyer_organization_id=lille.id, amount="9 500")
    assert (declared.declared_by_buyer, declared.confirmed) == (True, False)

    # The PFRA agent confirms both waiting declarations (the demo's MEL one and Lille's), then records the
    # Département du Nord's purchase of another selected solution and follows it to a notified contract.
    _login(client, "pfra@demo.orcp.fr")
    assert "2 déclarations d'acheteurs à confirmer" in text_of(client.get("/tableau-de-bord/"))
    for waiting in db.session.scalars(select(Commitment).where(Commitment.confirmed_at.is_(None))).all():
        page = text_of(ok(client.post(f"/engagements/{waiting.id}/confirmer", follow_redirects=True), 200))
        assert "La déclaration est confirmée." in page
    other = next(a for a in shortlist if a != application_id)
    bought = _record(client, application_id=other, need_id="0", channel="pfra_regional",
                     buyer_organization_id=nord.id, amount="22 000")
    for trigger in ("commit", "launch_procedure"):
        _move(client, bought, trigger)
    page = text_of(ok(client.post(f"/engagements/{bought.id}/marche", data={
        "expected_state": "procedure_launched", "contract_identifier": "2017-CD59-077",
        "contract_notified_on": "08/09/2017", "contract_amount": "21 400", "contract_duration_months": "12",
        "contract_cpv": "48000000-8", "contract_place": "Lille", "contract_procedure": "adapted",
        "holder_siret": bought.company.organization.siret}, follow_redirects=True), 200))
    assert "Le marché est enregistré avec ses données essentielles." in page

    # The UGAP agent, in its phase, records a national client's purchase.
    _login(client, "ugap@demo.orcp.fr")
    national = _record(client, application_id=other, need_id="0", channel="ugap_national",
                       buyer_organization_id=lyon.id, amount="12 000")
    assert (national.channel, national.ugap.kind.value, national.confirmed) == ("ugap_national", "ugap", True)

    # The admin moves the clock to October, leaves the census, enters the year's purchases, writes the bilan.
    _login(client, "admin@demo.orcp.fr")
    _set_clock(client, "02/10/2017 09:00")
    _cycle_move(client, cycle.id, "commitment_census")
    dashboard = text_of(client.get("/tableau-de-bord/"))
    assert "Rédiger le bilan du cycle 2017" in dashboard and "Saisir les achats de la PFRA en 2017" in dashboard
    ok(client.post("/admin/achats-pfra/nouveau", data={
        "year": "2017", "amount": "3 150 000", "source": "Rapport d'activité 2017 de la PFRA"}))
    ok(client.post(f"/resultats/cycle/{cycle.id}/bilan", data={"editorial": "Le cycle 2017 en quelques chiffres."}))
    assert "en attente de l'approbation" in text_of(client.get("/tableau-de-bord/"))

    # The founding partners approve: the State (the préfecture's admin, the PFRA) and UGAP.
    for email in ("admin@demo.orcp.fr", "pfra@demo.orcp.fr", "ugap@demo.orcp.fr"):
        _login(client, email)
        assert "Approuver le bilan du cycle 2017" in text_of(client.get("/tableau-de-bord/")), email
        page = text_of(client.post(f"/resultats/cycle/{cycle.id}/approuver", follow_redirects=True))
        assert "Vous avez approuvé le bilan." in page, email

    # The admin publishes; the public page shows the bilan and the new contract; then the cycle is closed.
    _login(client, "admin@demo.orcp.fr")
    assert "Publier le bilan du cycle 2017" in text_of(client.get("/tableau-de-bord/"))
    assert "Le bilan est publié" in text_of(client.post(f"/resultats/cycle/{cycle.id}/publier",
                                                        follow_redirects=True))
    public = text_of(ok(app.test_client().get("/resultats/2017"), 200))
    assert "Le cycle 2017 en quelques chiffres." in public and "Rapport d'activité 2017 de la PFRA" in public
    assert "clore le cycle" in text_of(client.get("/tableau-de-bord/"))
    _set_clock(client, "01/11/2017 09:00")
    _cycle_move(client, cycle.id, "results_communication", "close")
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "closed"
    assert db.session.get(PurchaseBaseline, 2017).source == "Rapport d'activité 2017 de la PFRA"


def test_the_results_demo_serves_the_public_page(app, client):
    output = seed(app, "--etape", "resultats")
    assert "17 octobre 2017" in output
    cycle = db.session.scalar(select(Cycle))
    assert (cycle.state, _today()) == ("results_communication", "2017-10-17")
    report = db.session.get(ResultsReport, cycle.id)
    assert report.published_at is not None and len(report.approvals) == 3
    assert db.session.get(PurchaseBaseline, 2017).amount > 0

    public = text_of(ok(app.test_client().get("/resultats/2017"), 200))
    assert "Premier cycle de la convention État–UGAP" in public
    assert "montant fictif" in public  # the denominator's source, said to be made up
    named = [a for a in census.selected_answers(cycle) if a.named_in_results]
    unnamed = [a for a in census.selected_answers(cycle) if not a.named_in_results]
    assert named and unnamed
    hidden = [a for a in unnamed if a.solution_name not in {n.solution_name for n in named}
              and a.company_id not in {n.company_id for n in named}]
    assert all(a.solution_name in public for a in named)
    assert hidden and all(a.solution_name not in public and a.company.organization.name not in public
                          for a in hidden)
    downloaded = ok(app.test_client().get("/resultats/2017/bilan.csv"), 200)
    assert "contracted_eur_pfra_regional" in downloaded.get_data(as_text=True)
    _login(client, "admin@demo.orcp.fr")
    assert "Le bilan 2017 est publié : clore le cycle" in text_of(client.get("/tableau-de-bord/"))
