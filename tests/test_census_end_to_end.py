"""End to end, through the web client only: issue 8's "Done when" path. From the selection stage's released
shortlist, the census of stage 4 (the PFRA agent records and contracts, a buyer declares and the PFRA confirms,
the UGAP agent waits for its phase, one commitment is abandoned, a company sees only its own), then stage 5 (the
bilan written, approved by both founding partners, published with its announcement, shown on the public page
and downloaded as CSV), the cycle closed only after publication, and a need carried into next year."""

from __future__ import annotations

import csv
import io

from census_factories import census_world
from sqlalchemy import select
from test_end_to_end import logout, ok, text_of

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import Commitment, Cycle, Need, NeedCarryOver, Notification


def record(client, world, **fields) -> Commitment:
    """Post the census form as its user fills it in; the new commitment."""
    form = {"application_id": world.selected[0].id, "need_id": world.needs[0].id, "channel": "pfra_regional",
            "buyer_organization_id": world.orgs["region"].id, "amount": "12 500", "quantity": "1",
            "expected_on": "15/11/2017", **fields}
    ok(client.post("/engagements/nouveau", data=form))
    return db.session.scalars(select(Commitment).order_by(Commitment.id.desc())).first()


def move(client, commitment_id: int, trigger: str, state: str, reason: str = "") -> str:
    """Press one of the commitment page's move buttons (each form has the trigger as its prefix)."""
    data = {f"{trigger}-trigger": trigger, f"{trigger}-expected_state": state, f"{trigger}-reason": reason}
    return text_of(ok(client.post(f"/engagements/{commitment_id}/etat", data=data, follow_redirects=True), 200))


def advance(client, cycle_id: int, state: str, trigger: str = "advance") -> str:
    return text_of(client.post(f"/admin/cycles/{cycle_id}/changer-etape",
                               data={"trigger": trigger, "expected_state": state}, follow_redirects=True))


def state_of(cycle_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Cycle, cycle_id).state


def announcements() -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.kind == "announcement")))


def test_the_census_and_the_results_through_the_web_then_the_cycle_closes(app, client, login, make, clock):
    clock.set(paris_datetime(2017, 8, 10, 10))  # the PFRA phase of the census
    world = census_world(make)
    users, orgs, cycle_id = world.users, world.orgs, world.cycle.id

    # --- Stage 4, PFRA phase. The PFRA agent sees the shortlist and records a regional commitment.
    login(users["pfra"])
    shortlist = text_of(ok(client.get("/engagements/"), 200))
    assert "Borne d'accueil" in shortlist and "Tri intelligent" in shortlist and "Écarté" not in shortlist
    contracted = record(client, world)
    page = text_of(ok(client.get(f"/engagements/{contracted.id}"), 200))
    assert "Procédure adaptée" in page and "L2123-1" in page  # 2017: the advice and its legal basis
    for trigger, state in (("plan_experimentation", "interest"), ("commit", "experimentation_planned"),
                           ("launch_procedure", "purchase_commitment")):
        move(client, contracted.id, trigger, state)
    page = text_of(ok(client.post(f"/engagements/{contracted.id}/marche", data={
        "expected_state": "procedure_launched", "contract_identifier": "2017-INNOV-01",
        "contract_notified_on": "09/08/2017", "contract_amount": "12 000", "contract_duration_months": "12",
        "contract_cpv": "48000000-8", "contract_place": "Lille", "contract_procedure": "adapted",
        "holder_siret": "732 829 320 00074"}, follow_redirects=True), 200))
    assert "Le marché est enregistré avec ses données essentielles." in page and "2017-INNOV-01" in page
    # The essential data as people read them (the browser walk found « adapted », « 2017-08-09 », « 12000.00 »).
    assert "9 août 2017" in page and "12 000,00 €" in page and "Procédure adaptée (MAPA)" in page
    assert "adapted" not in page and "2017-08-09" not in page and "12000.00" not in page
    db.session.expire_all()
    assert db.session.get(Commitment, contracted.id).status == "contracted"

    # One commitment, recorded for the other solution, is abandoned with its reason.
    abandoned = record(client, world, application_id=world.selected[1].id, need_id="0", channel="pfra_internal",
                       buyer_organization_id=orgs["state"].id, amount="5 000")
    assert "Motif" in text_of(client.get(f"/engagements/{abandoned.id}"))
    move(client, abandoned.id, "abandon", "interest", reason="Crédits redéployés")
    db.session.expire_all()
    assert (db.session.get(Commitment, abandoned.id).status,
            db.session.get(Commitment, abandoned.id).abandon_reason) == ("abandoned", "Crédits redéployés")
    logout(client)

    # The buyer of the associated member declares its own commitment; it cannot confirm it, a PFRA agent does.
    login(users["buyer"])
    declared = record(client, world, amount="8 000")
    assert "la PFRA la confirmera" in text_of(client.get(f"/engagements/{declared.id}"))
    assert client.post(f"/engagements/{declared.id}/confirmer").status_code == 403
    logout(client)
    login(users["pfra2"])
    assert "La déclaration est confirmée." in text_of(ok(client.post(f"/engagements/{declared.id}/confirmer",
                                                                     follow_redirects=True), 200))
    logout(client)

    # The UGAP agent is told to wait during the PFRA phase, and its post records nothing.
    login(users["ugap"])
    national = {"channel": "ugap_national", "buyer_organization_id": orgs["client"].id, "need_id": "0",
                "amount": "20 000"}
    assert "La phase UGAP du recensement commence le" in text_of(client.get("/engagements/nouveau"))
    count = len(db.session.scalars(select(Commitment.id)).all())
    refused = client.post("/engagements/nouveau", data={"application_id": world.selected[0].id, **national},
                          follow_redirects=True)
    assert "La phase UGAP du recensement commence le" in text_of(refused)
    assert len(db.session.scalars(select(Commitment.id)).all()) == count

    # --- The UGAP phase (September): the UGAP agent records a national client's commitment.
    clock.set(paris_datetime(2017, 9, 5, 10))
    ugap = record(client, world, **national)
    assert (ugap.channel, ugap.buyer_organization_id, ugap.ugap_organization_id, ugap.company_id) == (
        "ugap_national", orgs["client"].id, orgs["ugap"].id, world.companies[0].id)
    assert "Achat auprès de l'UGAP" in text_of(client.get(f"/engagements/{ugap.id}"))
    logout(client)

    # The company sees the commitments about its own solution, not the others'.
    login(users["company"])
    for own in (contracted, declared, ugap):
        ok(client.get(f"/engagements/{own.id}"), 200)
    assert client.get(f"/engagements/{abandoned.id}").status_code == 403
    listing = text_of(ok(client.get("/engagements/"), 200))
    assert "Borne d'accueil" in listing and "Tri intelligent" not in listing
    logout(client)
    login(users["other_company"])
    assert client.get(f"/engagements/{contracted.id}").status_code == 403
    logout(client)

    # --- Stage 5. Entering the stage announces nothing: nothing is published yet.
    clock.set(paris_datetime(2017, 10, 2, 9))
    login(users["admin"])
    advance(client, cycle_id, "commitment_census")
    assert state_of(cycle_id) == "results_communication"
    assert announcements() == []
    assert f'href="/resultats/cycle/{cycle_id}/bilan"' in client.get("/tableau-de-bord/").get_data(as_text=True)
    ok(client.post(f"/resultats/cycle/{cycle_id}/bilan", data={"editorial": "Une belle première année."}))
    assert "Une belle première année." in text_of(client.get(f"/resultats/cycle/{cycle_id}/bilan"))
    # Publishing before the founders approve is refused.
    assert "Il manque l'approbation de" in text_of(client.post(f"/resultats/cycle/{cycle_id}/publier",
                                                               follow_redirects=True))
    dashboard = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert "Rédiger le bilan" not in dashboard and "Publier le bilan" not in dashboard  # approvals missing
    logout(client)
    for founder in ("pfra", "ugap"):
        login(users[founder])
        # The founders' dashboard says the bilan waits for them, with a link to where they approve it.
        dashboard = client.get("/tableau-de-bord/").get_data(as_text=True)
        assert "Approuver le bilan du cycle 2017 pour" in dashboard
        assert f'href="/resultats/cycle/{cycle_id}/apercu"' in dashboard
        assert "Une belle première année." in text_of(ok(client.get(f"/resultats/cycle/{cycle_id}/apercu"), 200))
        assert "Vous avez approuvé le bilan." in text_of(client.post(f"/resultats/cycle/{cycle_id}/approuver",
                                                                     follow_redirects=True))
        logout(client)
    assert app.test_client().get("/resultats/2017").status_code == 404  # not published yet

    login(users["admin"])
    assert "Publier le bilan du cycle 2017" in client.get("/tableau-de-bord/").get_data(as_text=True)
    logout(client)

    # Closing is refused before publication.
    clock.set(paris_datetime(2017, 11, 2, 10))
    login(users["admin"])
    assert "n'est pas publié" in advance(client, cycle_id, "results_communication", "close")
    assert state_of(cycle_id) == "results_communication"
    published = client.post(f"/resultats/cycle/{cycle_id}/publier", follow_redirects=True)
    assert "Le bilan est publié" in text_of(published)
    sent = announcements()
    assert sent and all("/resultats/2017" in (n.body_text or "") for n in sent)

    # The public page, without login: the figures, and only the company that agreed to be named.
    public = text_of(ok(app.test_client().get("/resultats/2017"), 200))
    assert "Une belle première année." in public
    assert "Borne d'accueil" in public and "Alpha SAS" in public
    assert "Tri intelligent" not in public and "Beta SA" not in public and "1 autre solution retenue" in public
    assert "40 500,00 €" in public and "12 000,00 €" in public  # committed (abandoned left out) and contracted
    downloaded = ok(app.test_client().get("/resultats/2017/bilan.csv"), 200)
    assert "bilan-2017.csv" in downloaded.headers["Content-Disposition"]
    rows = {row[0]: row[1] for row in csv.reader(io.StringIO(downloaded.get_data(as_text=True)))}
    assert (rows["indicateur"], rows["answers_selected"], rows["commitments"], rows["contracted"]) == (
        "2017", "2", "4", "1")
    assert (rows["commitments_abandoned"], rows["committed_eur_pfra_regional"], rows["contracted_eur_pfra_regional"],
            rows["committed_eur_ugap_national"]) == ("1", "20500.00", "12000.00", "20000.00")

    # Closing is accepted after publication.
    advance(client, cycle_id, "results_communication", "close")
    assert state_of(cycle_id) == "closed"
    logout(client)

    # --- Carry-over: next year's collection is open; the State's accepted need had no commitment.
    next_cycle = make.cycle(world.convention, 2018, state="needs_collection")
    clock.set(paris_datetime(2018, 2, 10, 10))
    login(users["other_buyer"])
    assert "Gestion des courriers" in text_of(client.get("/engagements/"))
    carried = client.post(f"/engagements/besoins/{world.needs[1].id}/reconduire", follow_redirects=True)
    assert "Le besoin est reconduit en brouillon dans la collecte 2018" in text_of(carried)
    link = db.session.scalars(select(NeedCarryOver)).one()
    new = db.session.get(Need, link.need_id)
    assert (link.source_need_id, new.cycle_id, new.status, new.title) == (
        world.needs[1].id, next_cycle.id, "draft", "Gestion des courriers")
    logout(client)
    login(users["buyer"])  # the region's need has commitments: nothing to carry
    assert "Reconduire" not in text_of(client.get("/engagements/"))
