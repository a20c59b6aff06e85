"""The browser walk: a cycle taken as far as the product goes today, in Chromium, by the people who run it.

Needs collection and the AMI (stages 1 and 2) exist; selection, commitments and results will add their steps
as methods of the roles in pages.py and their part of `test_a_cycle_walked_from_the_needs_to_the_screening`.
Every page visited is checked by axe-core (serious and critical violations fail), for CSP violations, script
errors and failed requests (pages.Person.check_page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import Application, Company, Cycle, Need, OrganizationKind, Role, Theme

COMPANY_EMAIL = "ines@robotique-nord.fr"
COMPANY_PASSWORD = "Un-mot-de-passe-entreprise-2017"
CONFIRM_LINK = re.compile(r"http://127\.0\.0\.1:\d+(/compte/confirmer/[^\s<>\"]+)")


@dataclass
class World:
    cycle_id: int
    theme: str = "Mobilité"
    buyer: str = "acheteur@mel.fr"
    pfra: str = "agent@pfra.fr"
    admin: str = "admin@orcp.fr"


@pytest.fixture
def world(make, demo_clock) -> World:
    """A 2017 cycle in its needs collection on 1 March 2017, a theme, a buyer, a PFRA agent and an admin."""
    demo_clock(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    db.session.add(Theme(cycle=cycle, name="Mobilité"))
    db.session.commit()
    make.user(Role.BUYER, organization=make.organization("Métropole européenne de Lille"), email="acheteur@mel.fr",
              name="Alice Acheteuse")
    make.user(Role.PFRA_AGENT, organization=make.organization("PFRA Hauts-de-France", OrganizationKind.PFRA),
              email="agent@pfra.fr", name="Paul Plateforme")
    make.user(Role.ADMIN, email="admin@orcp.fr", name="Anne Secrétariat")
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


def test_a_cycle_walked_from_the_needs_to_the_screening(walk, world, mailbox):
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
    admin.goto("/reponses/examen")
    admin.page.get_by_role("link", name="Compteur Vélo+").click()
    admin.check_page()
    admin.choose("Décision", "Éligible")
    admin.fill("Motif", "PME innovante, besoin visé publié.")
    admin.submit("Enregistrer la décision")
    assert fresh(Application, id=answer.id).status == "eligible"
    mail = wait_for_mail(admin.page, mailbox, COMPANY_EMAIL, "éligible")
    assert "Compteur Vélo+" in body_of(mail)

    # Selection, commitments, results and closing: added here as those stages land (issues 5 to 9).
    assert walk.pages_checked > 20

