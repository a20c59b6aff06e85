"""The browser walk: a whole cycle, from the needs collection to its closing, in Chromium, by the people who run
it, with the demo clock moved between stages.

Every page visited is checked by axe-core (serious and critical violations fail), for CSP violations, script
errors, failed requests, browser-language date widgets and « (s) » plurals (pages.Person.check_page), in the
theme the walk clicks through and, reloaded by the same person from a twin server over the same database, in
the other theme (conftest.twin_server): the State's theme and the neutral one (STATE_BRANDING=0) both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    Commitment,
    Company,
    Cycle,
    Need,
    OrganizationKind,
    Role,
    Theme,
    Tier,
)
from innovation_cycle.services import procedures

from .conftest import WALK_THEME

COMPANY_EMAIL = "ines@robotique-nord.fr"
COMPANY_PASSWORD = "Un-mot-de-passe-entreprise-2017"
CONFIRM_LINK = re.compile(r"http://127\.0\.0\.1:\d+(/compte/confirmer/[^\s<>\"]+)")


@dataclass
class World:
    cycle_id: int
    theme: str = "Mobilité"
    buyer: str = "acheteur@mel.fr"
    pfra: str = "agent@pfra.fr"
    ugap: str = "agent@ugap.fr"
    admin: str = "admin@orcp.fr"
    members: tuple[str, ...] = ("membre@pfra.fr", "membre@ugap.fr", "membre@mel.fr")


@pytest.fixture
def world(make, demo_clock) -> World:
    """A 2017 cycle in its needs collection on 1 March 2017: its convention (the State's PFRA and UGAP founding
    partners, the MEL an associated member, all three on the committee, a quorum of three), a theme, a buyer, a
    PFRA agent, a UGAP agent and its national client, a committee member per partner, an admin."""
    demo_clock(paris_datetime(2017, 3, 1, 10))
    procedures.seed_thresholds()  # the migrations seed them; tests build the schema without them
    convention = make.convention(2017, quorum_min_present=3)
    pfra = make.organization("PFRA Hauts-de-France", OrganizationKind.PFRA)
    ugap = make.organization("UGAP", OrganizationKind.UGAP)
    mel = make.organization("Métropole européenne de Lille")
    make.membership(convention, pfra, Tier.FOUNDING_PARTNER, on_committee=True)
    make.membership(convention, ugap, Tier.FOUNDING_PARTNER, on_committee=True)
    make.membership(convention, mel, Tier.ASSOCIATED_MEMBER, on_committee=True)
    make.organization("CHU de Bordeaux", OrganizationKind.HOSPITAL, department="33")
    cycle = make.cycle(convention, 2017, state="needs_collection")
    db.session.add(Theme(cycle=cycle, name="Mobilité"))
    db.session.commit()
    make.user(Role.BUYER, organization=mel, email="acheteur@mel.fr", name="Alice Acheteuse")
    make.user(Role.PFRA_AGENT, organization=pfra, email="agent@pfra.fr", name="Paul Plateforme")
    make.user(Role.UGAP_AGENT, organization=ugap, email="agent@ugap.fr", name="Ugo Achat-Public")
    make.user(Role.ADMIN, email="admin@orcp.fr", name="Anne Secrétariat")
    for org, email, name in ((pfra, "membre@pfra.fr", "Pierre Préfet"), (ugap, "membre@ugap.fr", "Ursule Ugap"),
                             (mel, "membre@mel.fr", "Marc Métropole")):
        make.user(Role.COMMITTEE_MEMBER, organization=org, email=email, name=name)
    return World(cycle.id)


def mails_to(mailbox, address: str) -> list:
    return [m for m in mailbox.messages if m["To"] == address]


def wait_for_mail(page, mailbox, address: str, subject_part: str):
    """Mail leaves right after the commit, from the server's thread: wait a little for it."""
    for _ in range(50):
        found = [m for m in mails_to(mailbox, address) if subject_part in m["Subject"]]
        if found:
            return found[-1]
        page.wait_for_timeout(100)
    raise AssertionError(f"no mail to {address} about « {subject_part} »: "
                         f"{[(m['To'], m['Subject']) for m in mailbox.messages]}")


def body_of(message) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def fresh(model, **where):
    db.session.expire_all()
    return db.session.scalar(select(model).filter_by(**where))


@pytest.mark.both_themes
@pytest.mark.parametrize("theme", [WALK_THEME], indirect=True)
def test_a_whole_cycle_walked_from_the_needs_to_its_closing(walk, world, mailbox):
    # --- stage 1: a buyer writes and submits a need ------------------------------------------------------
    buyer = walk.person("buyer")
    buyer.login(world.buyer)
    buyer.page.get_by_role("link", name=re.compile("^Déposer les besoins")).click()
    buyer.check_page()
    buyer.page.get_by_role("link", name=re.compile("Nouveau besoin|Décrire un besoin")).first.click()
    buyer.check_page()
    buyer.write_need("Compter les vélos en temps réel", theme=world.theme)
    buyer.submit("Enregistrer le brouillon")
    buyer.submit("Soumettre le besoin")
    expect(buyer.page.get_by_text("Le besoin est soumis.")).to_be_visible()
    need = fresh(Need, title="Compter les vélos en temps réel")
    assert need.status == "submitted" and need.estimated_value == 120000

    # The PFRA hears of it by mail, and its dashboard task leads to the need.
    wait_for_mail(buyer.page, mailbox, world.pfra, "Compter les vélos en temps réel")
    pfra = walk.person("pfra")
    pfra.login(world.pfra)
    pfra.follow_task("Qualifier les besoins")
    pfra.page.get_by_role("link", name="Compter les vélos en temps réel").click()
    pfra.check_page()
    pfra.submit("Accepter le besoin")
    expect(pfra.page.get_by_text("Le besoin est accepté")).to_be_visible()
    wait_for_mail(pfra.page, mailbox, world.buyer, "accepté")

    # --- the admin writes the AMI, moves the clock past the needs window and opens the AMI --------------
    admin = walk.person("admin")
    admin.login(world.admin)
    admin.goto(f"/ami/{world.cycle_id}/rediger")
    admin.fill("Titre", "AMI 2017 : solutions innovantes")
    admin.submit("Enregistrer le texte")
    admin.move_clock("03/04/2017 09:00")
    admin.advance_cycle(world.cycle_id, "Sourcing par l'AMI")
    assert fresh(Cycle, id=world.cycle_id).state == "ami_sourcing"

    # The accepted need no longer says it « will be » published: it is.
    buyer.goto(f"/besoins/{need.id}")
    assert "sera publié" not in buyer.text()
    assert "il est publié dans l'appel à manifestation d'intérêt" in buyer.text()

    # --- a new company signs up, confirms from its mail, registers its SIRET and answers ----------------
    company = walk.person("company")
    company.goto("/ami")
    expect(company.page.get_by_text("Compter les vélos en temps réel").first).to_be_visible()
    company.sign_up("Inès Moreau", COMPANY_EMAIL, "Robotique du Nord", COMPANY_PASSWORD)
    link = CONFIRM_LINK.search(body_of(wait_for_mail(company.page, mailbox, COMPANY_EMAIL, ""))).group(1)
    company.goto(link)
    company.submit("Confirmer mon adresse")
    company.login(COMPANY_EMAIL, COMPANY_PASSWORD)
    company.goto("/entreprise/inscription")
    company.register_company(headcount="12,5")
    registered = fresh(Company)
    assert registered is not None and float(registered.headcount) == 12.5  # not 125
    company.goto(f"/reponses/nouvelle?need_id={need.id}")
    company.answer("Compteur Vélo+", need_title="Compter les vélos en temps réel")
    company.submit("Enregistrer et soumettre")
    answer = fresh(Application)
    assert answer.status == "submitted"
    wait_for_mail(company.page, mailbox, COMPANY_EMAIL, "Compteur Vélo+")
    for page in ("/entreprise/", "/tableau-de-bord/"):
        company.goto(page)
        assert "Répondre à l'AMI" not in company.text()  # it has answered

    # --- the AMI closes; the admin screens the answer; the company hears of it ---------------------------
    admin.move_clock("02/05/2017 09:00")
    for page in ("/entreprise/", "/tableau-de-bord/", "/reponses/"):
        company.goto(page)
        assert "Répondre à l'" not in company.text() and "Nouvelle réponse" not in company.text()
    # The follow-up listings as the secretariat reads them (issue 11: kept filter forms and rows): the answer is
    # listed as submitted, then, once screened, as eligible on the next visit.
    admin.goto("/suivi/reponses")
    assert "Compteur Vélo+" in admin.text() and "Soumise" in admin.text()
    admin.goto("/reponses/examen")
    admin.page.get_by_role("link", name="Compteur Vélo+").click()
    admin.check_page()
    admin.choose("Décision", "Éligible")
    admin.fill("Motif", "PME innovante, besoin visé publié.")
    admin.submit("Enregistrer la décision")
    assert fresh(Application, id=answer.id).status == "eligible"
    mail = wait_for_mail(admin.page, mailbox, COMPANY_EMAIL, "éligible")
    assert "Compteur Vélo+" in body_of(mail)
    admin.goto("/suivi/besoins?q=v%C3%A9los")
    admin.page.get_by_role("link", name="1", exact=True).click()  # the need's answers, from its count
    admin.check_page()
    row = admin.page.locator("tbody tr", has_text="Compteur Vélo+")
    expect(row).to_contain_text("Éligible")
    row.get_by_role("link", name="Compteur Vélo+").click()
    admin.check_page()
    expect(admin.page.get_by_role("heading", level=1)).to_contain_text("Compteur Vélo+")

    # --- stage 3: the admin opens the selection, draws the committee, proposes the grid and one reviewer per
    # answer, and confirms the assignment; the member it names hears of it by mail --------------------------
    admin.advance_cycle(world.cycle_id, "Listing et sélection")
    for member in ("Pierre Préfet", "Ursule Ugap", "Marc Métropole"):
        admin.choose("Membre du comité", member)
        admin.submit("Ajouter au comité")
    assert "Aucun membre désigné" not in admin.text()
    admin.goto(f"/evaluation/admin/cycles/{world.cycle_id}/grille")
    admin.submit("Proposer la grille par défaut (six critères)")
    admin.fill("Évaluateurs par réponse", "1")
    admin.fill("Seuil de désaccord", "1,5")
    admin.submit("Enregistrer les paramètres")
    admin.page.get_by_role("link", name="Affectations et conflits").click()
    admin.check_page()
    admin.submit("Proposer une affectation")
    admin.submit("Confirmer et prévenir les membres")
    invited = next(m for m in mailbox.messages if m["To"] in world.members and "évaluer" in m["Subject"])
    member = walk.person("member")
    member.login(invited["To"])

    # The member follows the dashboard task to the answer, and reviews it with the keyboard alone.
    member.follow_task("Évaluer")
    member.page.get_by_role("link", name="Compteur Vélo+").first.click()
    member.check_page()
    member.review_with_the_keyboard(["3", "4", "3", "3", "2", "2"], "Retenir")
    member.goto(f"/selection/cycles/{world.cycle_id}/classement")
    assert "Compteur Vélo+" in member.text()

    # --- the committee meets in July: attendance (quorum), one decision with its rationale, closed ----------
    admin.move_clock("04/07/2017 14:00")
    admin.goto(f"/selection/cycles/{world.cycle_id}/seances")
    admin.fill("Intitulé de la séance", "Séance de juillet")
    admin.fill("Date et heure", "04/07/2017 14:00")
    admin.fill("Lieu", "Lille")
    admin.submit("Programmer la séance")
    expect(admin.page.get_by_role("heading", name="Séance de juillet")).to_be_visible()
    for name in ("Pierre Préfet", "Ursule Ugap", "Marc Métropole"):
        admin.tick(re.compile("^" + name))
    admin.submit("Enregistrer les présences")
    expect(admin.page.get_by_text(re.compile("^Quorum atteint"))).to_be_visible()
    admin.submit("Ouvrir la séance")
    admin.page.get_by_role("link", name=re.compile("^Décider")).click()
    admin.check_page()
    admin.page.get_by_role("radio", name="Retenue", exact=True).check(force=True)
    admin.page.get_by_role("checkbox", name="Compter les vélos en temps réel").check(force=True)
    admin.submit("Enregistrer la décision", expect_errors=True)  # no rationale: refused next to the field
    admin.fill("Motivation", "Mûre et adaptée aux pistes cyclables.")
    admin.fill("Message à l'entreprise", "Prenez contact avec la MEL.")
    admin.submit("Enregistrer la décision")
    expect(admin.page.get_by_role("heading", name="Séance de juillet")).to_be_visible()
    admin.submit("Clore la séance")
    admin.page.get_by_role("link", name=re.compile("^Procès-verbal")).click()
    admin.check_page()
    assert "Mûre et adaptée aux pistes cyclables." in admin.text()

    # The release: the company sees its decision.
    admin.move_clock("02/08/2017 09:00")
    admin.goto(f"/selection/cycles/{world.cycle_id}/communication")
    admin.tick(re.compile("^Je confirme la communication"))
    admin.submit("Communiquer les décisions")
    wait_for_mail(admin.page, mailbox, COMPANY_EMAIL, "Décisions du comité")
    company.goto(f"/reponses/{answer.id}")
    assert "Retenue pour : Compter les vélos en temps réel" in company.text()
    assert "Prenez contact avec la MEL." in company.text()

    # --- stage 4: the census. The PFRA records a commitment (the advice shown), contracts it ---------------
    admin.advance_cycle(world.cycle_id, "Recensement des engagements d'achat")
    pfra.follow_task("1 solution retenue sans engagement")
    pfra.page.get_by_role("link", name="Enregistrer un engagement").last.click()
    pfra.check_page()
    pfra.choose("Besoin auquel elle répond", "Compter les vélos en temps réel (Métropole européenne de Lille)")
    pfra.choose("Canal d'achat", "PFRA — acheteur public régional")
    pfra.choose("Organisation acheteuse", "Métropole européenne de Lille")
    pfra.fill("Montant estimé", "12 500")
    pfra.fill("Date prévue de l'achat", "15/11/2017")
    pfra.submit("Enregistrer")
    advice = pfra.page.locator("#procedure-advice")
    expect(advice).to_contain_text("Procédure conseillée")
    for button in ("Prévoir une expérimentation", "Enregistrer l'engagement d'achat", "Procédure lancée"):
        pfra.submit(button)
    pfra.fill("Identifiant du marché", "2017-INNOV-01")
    pfra.fill("Date de notification", "02/08/2017")
    pfra.fill("Montant du marché", "12 000")
    pfra.fill("Durée (mois)", "12")
    pfra.fill("Code CPV", "48000000-8")
    pfra.fill("Lieu d'exécution", "Lille")
    pfra.choose("Procédure", "Procédure adaptée (MAPA)")
    pfra.fill("SIRET du titulaire", "732 829 320 00074")
    pfra.submit("Enregistrer le marché")
    expect(pfra.page.get_by_text("Le marché est enregistré avec ses données essentielles.")).to_be_visible()
    contracted = fresh(Commitment, channel="pfra_regional")
    assert contracted.status == "contracted" and contracted.contract_amount == Decimal("12000")
    assert "Procédure adaptée (MAPA)" in pfra.text() and "2 août 2017" in pfra.text()

    # The company agrees to be named on the results page.
    company.goto("/engagements/")
    company.submit("Accepter d'être nommée")

    # In September, UGAP's phase: the UGAP agent records its national client's commitment.
    admin.move_clock("05/09/2017 10:00")
    ugap = walk.person("ugap")
    ugap.login(world.ugap)
    ugap.goto("/engagements/")
    ugap.page.get_by_role("link", name="Enregistrer un engagement").first.click()
    ugap.check_page()
    ugap.choose("Canal d'achat", "UGAP — client national")
    ugap.choose("Organisation acheteuse", "CHU de Bordeaux")
    ugap.fill("Montant estimé", "20 000")
    ugap.submit("Enregistrer")
    assert fresh(Commitment, channel="ugap_national").ugap_organization_id is not None

    # --- stage 5: the bilan, approved by both founding partners, published; the cycle closes ---------------
    admin.move_clock("02/10/2017 09:00")
    admin.advance_cycle(world.cycle_id, "Communication des résultats")
    admin.follow_task("Rédiger le bilan du cycle 2017")
    admin.fill("Texte du bilan", "Une belle première année.")
    admin.submit("Enregistrer le texte")
    for founder in (pfra, ugap):
        founder.follow_task("Approuver le bilan du cycle 2017")
        founder.submit("Approuver ce bilan pour mon organisation")
        expect(founder.page.get_by_text("Vous avez approuvé le bilan.")).to_be_visible()
    admin.follow_task("Publier le bilan du cycle 2017")
    admin.submit("Publier le bilan")
    admin.page.get_by_role("link", name="Voir la page publique").click()
    admin.check_page()
    visitor = walk.person("visitor")
    visitor.goto("/resultats/2017")
    assert "Une belle première année." in visitor.text() and "Compteur Vélo+" in visitor.text()
    assert "32 500,00 €" in visitor.text() and "12 000,00 €" in visitor.text()  # committed, contracted
    admin.move_clock("02/11/2017 10:00")
    admin.advance_cycle(world.cycle_id, "Clos", button="Clore le cycle")
    assert fresh(Cycle, id=world.cycle_id).state == "closed"

    print(walk.report())
    assert walk.pages_checked > 100 and (walk.twin_url is None or walk.twin_pages_checked > 45)

