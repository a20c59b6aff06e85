"""One browser story per role that exists today, and the defects only a browser shows.

RGAA 11.10/11.11: a refused form moves the focus to its error summary and the page title says there are
errors; the login, need and answer forms are completed with the keyboard alone (Tab, typing, Space, arrows,
Enter). The cheap stories also run on the neutral theme (STATE_BRANDING=0).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import Application, Company, Need, OrganizationKind, Role, Theme

from .test_walk import body_of, wait_for_mail

BOTH_THEMES = pytest.mark.parametrize("theme", ["dsfr", "neutral"], indirect=True)
APRIL_15 = paris_datetime(2017, 4, 15, 10)


@BOTH_THEMES
def test_login_with_the_keyboard_after_a_refusal(walk, make, demo_clock):
    demo_clock(paris_datetime(2017, 3, 1, 10))
    make.user(Role.BUYER, organization=make.organization("Ville de Lille"), email="lea@lille.fr")
    visitor = walk.person("visitor")
    visitor.goto("/compte/connexion")
    visitor.key_submit("Se connecter", expect_errors=True)
    assert "Indiquez votre adresse électronique" in visitor.page.locator("#error-summary").inner_text()
    visitor.key_fill("Adresse électronique", "lea@lille.fr")
    visitor.key_fill("Mot de passe", "pas le bon")
    visitor.key_submit("Se connecter", expect_errors=True)
    visitor.key_fill("Mot de passe", "Motdepasse-solide-2017")
    visitor.key_submit("Se connecter")
    assert visitor.page.url.endswith("/tableau-de-bord/")
    # The account page, where the intermittent CSP violations were seen, is checked like every page.
    visitor.goto("/compte/")


@BOTH_THEMES
def test_a_buyer_writes_and_submits_a_need_with_the_keyboard_alone(walk, make, demo_clock, mailbox):
    demo_clock(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    db.session.add(Theme(cycle=cycle, name="Mobilité"))
    db.session.commit()
    make.user(Role.BUYER, organization=make.organization("Ville de Lille"), email="lea@lille.fr")
    make.user(Role.PFRA_AGENT, organization=make.organization("PFRA", OrganizationKind.PFRA), email="paul@pfra.fr")
    buyer = walk.person("buyer")
    buyer.login("lea@lille.fr")
    buyer.follow_task("Déposer les besoins")
    buyer.goto("/besoins/nouveau")
    buyer.key_submit("Enregistrer le brouillon", expect_errors=True)

    buyer.key_fill("Intitulé du besoin", "Compter les vélos")
    buyer.key_fill("Problème à résoudre", "Combien de cyclistes, à quelle heure ?")
    buyer.key_fill("Résultats attendus", "Des comptages horaires.")
    buyer.key_tick(buyer.page.get_by_role("checkbox", name="Mobilité"))
    buyer.key_choose("Catégorie d'achat", "Services")
    buyer.key_fill("Montant estimé", "12 500,50")
    buyer.key_fill("Codes CPV", "72000000-5")
    buyer.key_choose("Horizon d'achat", "Dans 6 à 12 mois")
    buyer.key_fill("Date prévue de la consultation", "15/09/2017")
    buyer.key_fill("Personne à contacter", "Léa Acheteuse")
    buyer.key_fill("Adresse électronique de contact", "lea@lille.fr")
    buyer.key_submit("Enregistrer le brouillon")
    buyer.key_submit("Soumettre le besoin")
    need = db.session.scalar(select(Need))
    db.session.refresh(need)
    assert need.status == "submitted" and need.estimated_value == Decimal("12500.50")
    assert str(need.expected_consultation_on) == "2017-09-15"
    # The PFRA hears of the need to qualify.
    mail = wait_for_mail(buyer.page, mailbox, "paul@pfra.fr", "Compter les vélos")
    assert f"/besoins/{need.id}" in body_of(mail)


@pytest.fixture
def open_ami(make, demo_clock):
    """The 2017 AMI open on 15 April with three published needs, and a registered company."""
    demo_clock(APRIL_15)
    cycle = make.cycle(year=2017, state="ami_sourcing")
    lille = make.organization("Ville de Lille")
    for title in ("Réduire l'énergie des écoles", "Suivre les lits disponibles", "Compter les vélos"):
        db.session.add(Need(cycle=cycle, organization=lille, title=title, problem="Un problème.",
                            status="accepted", created_at=APRIL_15, updated_at=APRIL_15))
    org = make.organization("Lumière Numérique", OrganizationKind.COMPANY, siret="73282932000074",
                            siren="732829320", department="59")
    db.session.add(Company(organization=org, headcount=Decimal("12"), turnover=Decimal("900000"),
                           balance_sheet=Decimal("500000"), declared_size="pme", computed_size="pme",
                           created_at=APRIL_15, updated_at=APRIL_15))
    db.session.commit()
    make.user(Role.COMPANY, organization=org, email="alice@lumiere.fr", name="Alice Lumière")
    return cycle


def test_the_answer_form_says_each_error_once_and_asks_a_fit_only_for_ticked_needs(walk, open_ami):
    company = walk.person("company")
    company.login("alice@lumiere.fr")
    company.follow_task("Répondre à l'appel")
    company.goto("/reponses/nouvelle")
    fits = company.page.locator("textarea[name^=fit-]")
    expect(fits).to_have_count(3)
    for i in range(3):
        expect(fits.nth(i)).to_be_hidden()  # no need ticked: no sentence asked

    # Only a name: saved as a draft, not submitted; one summary, each missing thing once, no stack of alerts.
    company.key_fill("Nom de la solution", "Thermo+")
    company.key_submit("Enregistrer et soumettre", expect_errors=True)
    summary = company.page.locator("#error-summary li")
    items = [t.strip() for t in summary.all_inner_texts()]
    assert len(items) == len(set(items)), items
    assert any(i.startswith("Besoins visés") for i in items), items
    expect(company.page.locator(".fr-alert--error")).to_have_count(1)  # the summary, and nothing else
    expect(company.page.locator("textarea[name^=fit-].fr-input--error")).to_have_count(0)  # none ticked: none red

    # Ticking a need shows its sentence, and only its own.
    need = company.page.get_by_role("checkbox", name=re.compile("^Compter les vélos"))
    company.key_tick(need)
    visible = [fits.nth(i).is_visible() for i in range(3)]
    assert visible.count(True) == 1, visible
    company.key_submit("Enregistrer et soumettre", expect_errors=True)
    items = company.page.locator("#error-summary li").all_inner_texts()
    fit_items = [i for i in items if "Expliquez en une phrase" in i]
    assert len(fit_items) == 1, items
    expect(company.page.locator("textarea[name^=fit-].fr-input--error")).to_have_count(1)

    # Completed with the keyboard alone.
    company.key_fill("Résumé", "Des capteurs qui comptent.")
    company.key_fill("Description de la solution", "Capteurs sans fil.")
    company.key_tick(company.field("Produit ou service nouveau"))
    company.key_fill("Ce qui est nouveau", "Le radar.")
    company.key_choose("Maturité technologique", "TRL 7")
    company.key_choose("Stade de commercialisation", "Commercialisée")
    company.tab_to(company.page.locator("textarea[name^=fit-]:visible"))
    company.page.keyboard.type("Heure par heure.")
    company.key_tick(company.field(re.compile("^Je déclare sur l'honneur")))
    company.key_tick(company.field(re.compile("^J'accepte que cette réponse")))
    company.key_submit("Enregistrer et soumettre")
    answer = db.session.scalar(select(Application))
    db.session.refresh(answer)
    assert answer.status == "submitted"
