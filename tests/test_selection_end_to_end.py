"""End to end, through the web client only, the "Done when" path of issue 7: a cycle in selection with eligible
answers is taken by the admin, the committee members and a buyer through the assignment, the reviews, the
buyer's interest, the ranking, the committee meeting, the minutes and the release, and then moved to the census
stage. Mails are read on a real loopback SMTP server, as the companies and the members would receive them."""

from __future__ import annotations

import html
import re

from conftest import PASSWORD, body_of
from sqlalchemy import select
from test_end_to_end import ok, text_of

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Assignment,
    Company,
    Criterion,
    Cycle,
    Meeting,
    OrganizationKind,
    Role,
    Tier,
)


def answer(make, cycle, need, company_name: str, email: str, solution: str) -> Application:
    """An eligible answer to the need, written by the company's representative."""
    org = make.organization(company_name, OrganizationKind.COMPANY)
    rep = make.user(Role.COMPANY, organization=org, email=email, name=f"Représentant {company_name}")
    at = paris_datetime(2017, 4, 20)
    company = Company(organization=org, created_at=at, updated_at=at)
    application = Application(cycle=cycle, company=company, author=rep, status="eligible", solution_name=solution,
                              created_at=at, updated_at=at, submitted_at=at)
    application.targets.append(ApplicationNeed(need=need, fit="Répond au besoin."))
    db.session.add_all([company, application])
    db.session.commit()
    return application


def review(criteria: list[Criterion], score: int, recommendation: str, comment: str) -> dict:
    """The review form, filled and submitted."""
    data = {"action": "submit", "recommendation": recommendation, "committee_comment": f"Pour le comité : {comment}",
            "company_comment": f"Pour l'entreprise : {comment}"}
    for c in criteria:
        data[f"score_{c.id}"], data[f"comment_{c.id}"] = str(score), f"{c.label} : {comment}"
    return data


def mails_to(smtp, address: str, subject_part: str) -> list:
    return [m for m in smtp.messages if m["To"] == address and subject_part in m["Subject"]]


def browsers(app):
    """One web client per person, logged in through the real form the first time it is asked for (logging in
    hashes a password: once per person keeps the walk fast)."""
    clients: dict[int, object] = {}

    def as_(user):
        if user.id not in clients:
            clients[user.id] = app.test_client()
            ok(clients[user.id].post("/compte/connexion", data={"email": user.email, "password": PASSWORD}))
        return clients[user.id]

    return as_


def flashes(page) -> list[tuple[str, str]]:
    """The (category, message) pairs flashed on the page, apart from what the page says on its own."""
    return [(category, html.unescape(message)) for category, message in re.findall(
        r'fr-alert--(\w+) fr-alert--sm[^>]*>\s*<p>(.*?)</p>', page.get_data(as_text=True), re.S)]


def move_to_census(client, cycle: Cycle) -> list[tuple[str, str]]:
    """The admin's "next stage" button; what it says (the cycle page also explains the guard on its own)."""
    return flashes(client.post(f"/admin/cycles/{cycle.id}/changer-etape",
                               data={"trigger": "advance", "expected_state": "selection"}, follow_redirects=True))


def test_the_committee_takes_the_cycle_through_selection_to_the_census(app, make, clock, smtp):
    as_ = browsers(app)
    clock.set(paris_datetime(2017, 5, 2, 9))
    # The convention's partners: the State and UGAP (founding), the MEL and EuraTechnologies (associated, on the
    # committee), the city of Lille (associated, not on the committee). The quorum: each founding partner and
    # three members present.
    convention = make.convention(2017, quorum_min_present=3)
    state = make.organization("Préfecture de région", OrganizationKind.STATE_SERVICE)
    ugap = make.organization("UGAP", OrganizationKind.UGAP)
    mel = make.organization("Métropole européenne de Lille")
    agency = make.organization("EuraTechnologies", OrganizationKind.DEVELOPMENT_AGENCY)
    lille = make.organization("Ville de Lille")
    make.membership(convention, state, Tier.FOUNDING_PARTNER, on_committee=True)
    make.membership(convention, ugap, Tier.FOUNDING_PARTNER, on_committee=True)
    make.membership(convention, mel, Tier.ASSOCIATED_MEMBER, on_committee=True)
    make.membership(convention, agency, Tier.ASSOCIATED_MEMBER, on_committee=True)
    make.membership(convention, lille, Tier.ASSOCIATED_MEMBER, on_committee=False)
    cycle = make.cycle(convention, 2017, state="selection")
    admin = make.user(Role.ADMIN, email="admin@orcp.fr")
    members = {key: make.user(Role.COMMITTEE_MEMBER, organization=org, email=f"{key}@comite.fr", name=f"Membre {key}")
               for key, org in (("etat", state), ("ugap", ugap), ("mel", mel), ("eura", agency))}
    outsider = make.user(Role.COMMITTEE_MEMBER, organization=lille, email="elu@lille.fr")
    buyer = make.user(Role.BUYER, organization=mel, email="acheteuse@mel.fr", name="Acheteuse MEL")
    need = make.need(cycle, mel, status="accepted", title="Compter les vélos en temps réel")
    velo = answer(make, cycle, need, "Robotique du Nord", "ines@robotique-nord.fr", "Compteur Vélo+")
    air = answer(make, cycle, need, "Capteurs d'Artois", "paul@capteurs-artois.fr", "Boucle magnétique")

    # The admin draws the committee from the members on the committee (Lille is not) and proposes the grid.
    client = as_(admin)
    for user in [*members.values(), outsider]:
        ok(client.post(f"/admin/cycles/{cycle.id}/comite", data={"user_id": str(user.id)}))
    assert "siégeant au comité de pilotage" in text_of(client.get(f"/admin/cycles/{cycle.id}"))
    assert {m.user_id for m in db.session.get(Cycle, cycle.id).committee} == {u.id for u in members.values()}
    ok(client.post(f"/evaluation/admin/cycles/{cycle.id}/grille/proposer"))
    criteria = list(db.session.scalars(select(Criterion).where(Criterion.cycle_id == cycle.id)
                                       .order_by(Criterion.position)))
    assert len(criteria) == 6

    # EuraTechnologies' member declares a conflict with the second company; the answer disappears for them.
    client = as_(members["eura"])
    ok(client.post(f"/evaluation/cycles/{cycle.id}/conflits",
                   data={"company_id": str(air.company_id), "reason": "Nous l'incubons."}))
    for url in (f"/evaluation/reponses/{air.id}", f"/reponses/{air.id}"):
        assert client.get(url).status_code == 404, url

    # The admin proposes the assignment (three reviewers per answer, never the conflicted member) and confirms it.
    client = as_(admin)
    url = f"/evaluation/admin/cycles/{cycle.id}/affectations"
    ok(client.post(f"{url}/proposer"))
    page = text_of(ok(client.get(url), 200))
    assert "Nous l'incubons." in page and "Membre eura" in page
    ok(client.post(f"{url}/confirmer"))
    assigned: dict[int, set[int]] = {}
    for row in db.session.scalars(select(Assignment).where(Assignment.cycle_id == cycle.id)):
        assert row.status == "confirmed"
        assigned.setdefault(row.user_id, set()).add(row.application_id)
    assert sum(len(a) for a in assigned.values()) == 6
    assert air.id not in assigned.get(members["eura"].id, set())
    # Each member with answers gets one mail listing them.
    for member in members.values():
        [mail] = mails_to(smtp, member.email, "vos réponses à évaluer")
        body = body_of(mail)
        for application in (velo, air):
            assert (application.solution_name in body) == (application.id in assigned[member.id])

    # The members fill their reviews: a draft first, then submitted; the conflicted member is refused.
    grades = {velo.id: (4, "select", "solution mûre"), air.id: (1, "reject", "trop tôt")}
    for key, member in members.items():
        client = as_(member)
        listing = text_of(ok(client.get("/evaluation/"), 200))
        for application_id in sorted(assigned[member.id]):
            score, recommendation, comment = grades[application_id]
            page_url = f"/evaluation/reponses/{application_id}"
            assert "Pour le comité" not in text_of(ok(client.get(page_url), 200))  # blind until one's own review
            ok(client.post(page_url, data={**review(criteria, score, recommendation, comment), "action": "draft"}))
            version = re.search(r'name="version"[^>]*value="(\d+)"', client.get(page_url).get_data(as_text=True))
            submitted = client.post(page_url, data={**review(criteria, score, recommendation, f"{comment} ({key})"),
                                                    "version": version.group(1)}, follow_redirects=True)
            assert "Votre évaluation est soumise." in text_of(submitted)
        for application in (velo, air):
            assert (application.solution_name in listing) == (application.id in assigned[member.id])
        if key == "eura":
            assert "Boucle magnétique" not in listing
            assert client.get(f"/evaluation/reponses/{air.id}").status_code == 404
            assert client.post(f"/evaluation/reponses/{air.id}",
                               data=review(criteria, 4, "select", "x")).status_code == 404

    # The MEL's buyer gives its interest in the answer to its need.
    client = as_(buyer)
    assert "Compteur Vélo+" in text_of(client.get("/evaluation/"))
    ok(client.post(f"/evaluation/reponses/{velo.id}/interet",
                   data={"need": str(need.id), f"n{need.id}-need_id": str(need.id), f"n{need.id}-level": "test",
                         f"n{need.id}-comment": "Un pilote sur dix pistes."}))

    # A committee member reads the others' reviews and the buyer's interest, then the ranking.
    reader = next(m for m in members.values() if velo.id in assigned[m.id])
    client = as_(reader)
    page = text_of(ok(client.get(f"/evaluation/reponses/{velo.id}"), 200))
    assert "Pour le comité : solution mûre" in page and "Un pilote sur dix pistes." in page
    ranking = text_of(ok(client.get(f"/selection/cycles/{cycle.id}/classement"), 200))
    assert ranking.index("Compteur Vélo+") < ranking.index("Boucle magnétique")
    client = as_(members["eura"])
    ranking = text_of(ok(client.get(f"/selection/cycles/{cycle.id}/classement"), 200))
    assert "Compteur Vélo+" in ranking and "Boucle magnétique" not in ranking

    # The admin schedules the meeting, records attendance (UGAP missing: no quorum; then quorate), opens it.
    clock.set(paris_datetime(2017, 7, 4, 14))
    client = as_(admin)
    ok(client.post(f"/selection/cycles/{cycle.id}/seances",
                   data={"title": "Séance de juillet", "scheduled_at": "2017-07-04T14:00", "location": "Lille"}))
    meeting = db.session.scalar(select(Meeting).where(Meeting.cycle_id == cycle.id))
    meeting_url = f"/selection/seances/{meeting.id}"
    ok(client.post(f"{meeting_url}/presences", data={"present": [str(members[k].id) for k in ("etat", "mel")]}))
    assert "Quorum non atteint" in text_of(client.get(meeting_url))
    ok(client.post(f"{meeting_url}/presences", data={"present": [str(m.id) for m in members.values()]}))
    ok(client.post(f"{meeting_url}/ouvrir"))
    page = text_of(ok(client.get(meeting_url), 200))
    assert "Quorum atteint" in page and "Compteur Vélo+" in page and "Boucle magnétique" in page

    # One decision per answer, each with its rationale (an empty one is refused next to the field).
    refused = client.post(f"{meeting_url}/reponses/{velo.id}",
                          data={"outcome": "selected", "needs": [str(need.id)], "rationale": ""})
    assert refused.status_code == 422 and "La motivation de la décision est obligatoire." in text_of(refused)
    ok(client.post(f"{meeting_url}/reponses/{velo.id}",
                   data={"outcome": "selected", "needs": [str(need.id)], "rationale": "Mûre et adaptée aux pistes.",
                         "message": "Prenez contact avec la MEL."}))
    ok(client.post(f"{meeting_url}/reponses/{air.id}",
                   data={"outcome": "not_selected", "rationale": "Travaux de voirie trop lourds."}))
    ok(client.post(f"{meeting_url}/clore"))
    minutes = text_of(ok(client.get(f"{meeting_url}/proces-verbal"), 200))
    for expected in ("Mûre et adaptée aux pistes.", "Travaux de voirie trop lourds.", "Membre ugap", "Membre eura",
                     "Compteur Vélo+", "Boucle magnétique"):
        assert expected in minutes, expected

    # Before the release: the companies see nothing and the cycle cannot leave selection.
    clock.set(paris_datetime(2017, 8, 2, 9))
    [(category, message)] = move_to_census(client, cycle)
    assert category == "error" and message == (
        "Les décisions du comité n'ont pas été communiquées aux entreprises et aux acheteurs : communiquez-les "
        "avant de quitter la sélection (ceci ne se force pas).")
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "selection"
    assert not mails_to(smtp, "ines@robotique-nord.fr", "Décisions du comité")
    client = as_(velo.author)
    page = text_of(ok(client.get(f"/reponses/{velo.id}"), 200))
    assert "Décision du comité de pilotage" not in page and "Retenue" not in page

    # The admin releases the decisions (twice: the second click sends nothing).
    client = as_(admin)
    for expected in ("Les décisions sont communiquées aux entreprises et aux acheteurs.",
                     "Les décisions avaient déjà été communiquées : rien n'a été renvoyé."):
        released = client.post(f"/selection/cycles/{cycle.id}/communication", data={"confirm": "y"},
                               follow_redirects=True)
        assert flashes(released) == [("success", expected)]
    [selected_mail] = mails_to(smtp, "ines@robotique-nord.fr", "Décisions du comité")
    [refused_mail] = mails_to(smtp, "paul@capteurs-artois.fr", "Décisions du comité")
    assert "Compter les vélos en temps réel" in body_of(selected_mail)
    assert "Travaux de voirie trop lourds." in body_of(refused_mail)
    assert "Pour l'entreprise : trop tôt" in body_of(refused_mail)
    assert not any(m.name in body_of(refused_mail) for m in members.values())  # reviewers stay anonymous
    [shortlist] = mails_to(smtp, buyer.email, "Solutions retenues")
    assert "Compteur Vélo+" in body_of(shortlist) and "ines@robotique-nord.fr" in body_of(shortlist)
    assert "Boucle magnétique" not in body_of(shortlist)

    # Each company sees its decision on its answer page.
    client = as_(velo.author)
    page = text_of(ok(client.get(f"/reponses/{velo.id}"), 200))
    assert "Décision du comité de pilotage" in page and "Retenue pour : Compter les vélos en temps réel" in page
    assert "Prenez contact avec la MEL." in page
    client = as_(air.author)
    page = text_of(ok(client.get(f"/reponses/{air.id}"), 200))
    assert "Décision du comité de pilotage" in page and "Travaux de voirie trop lourds." in page

    # Now the cycle moves to the census.
    client = as_(admin)
    assert move_to_census(client, cycle) == [
        ("success", "Le cycle est passé à l'étape « Recensement des engagements d'achat ».")]
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "commitment_census"
