"""The demo's needs, companies and answers (issue 3): realistic, valid, and coherent with the cycle's stage."""

from __future__ import annotations

import html
import random
from collections import Counter

import pytest
from sqlalchemy import func, select
from stdnum.fr import siret

from innovation_cycle import clock as clock_module
from innovation_cycle import demo_data
from innovation_cycle.cli import DEMO_PASSWORD
from innovation_cycle.extensions import db
from innovation_cycle.models import AmiCall, Application, Company, Cycle, Need, Organization, OrganizationKind
from innovation_cycle.services import ami as ami_service


def seed(app, *args):
    app.config["DEMO_MODE"] = True
    app.extensions["clock"] = clock_module.SystemClock()
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_generated_sirets_are_luhn_valid_and_never_la_postes():
    rng = random.Random(1)
    numbers = [demo_data.luhn_siret(rng) for _ in range(500)]
    assert all(siret.is_valid(n) and len(n) == 14 and not n.startswith("356000000") for n in numbers)
    assert len(set(numbers)) == 500


def test_during_the_needs_collection_the_demo_holds_needs_and_companies_but_no_answer(app, client):
    output = seed(app)
    assert "Besoins : 30, entreprises : 40." in output
    cycle = db.session.scalar(select(Cycle))
    statuses = Counter(db.session.scalars(select(Need.status)))
    assert statuses["accepted"] >= 20 and statuses["draft"] >= 1 and statuses["submitted"] >= 1
    buyers = set(db.session.scalars(select(Organization.name).join(Need, Need.organization_id == Organization.id)))
    assert {"Métropole européenne de Lille (MEL)", "Ville de Lille", "Préfecture de la région Hauts-de-France (SGAR)",
            "Plateforme régionale des achats de l'État (PFRA) Hauts-de-France"} <= buyers
    assert db.session.scalar(select(func.count(Application.id))) == 0  # the AMI is not open yet
    companies = db.session.scalars(select(Organization).where(Organization.kind == OrganizationKind.COMPANY,
                                                              Organization.siret.is_not(None))).all()
    assert len(companies) == 40 and all(siret.is_valid(o.siret) and o.siren == o.siret[:9] for o in companies)
    assert db.session.scalar(select(func.count(Company.id))) == 40
    ami = db.session.scalar(select(AmiCall))
    assert "R2111-1" in ami.legal_notice and ami.attachments[0].content_type == "application/pdf"
    # The admin can open the AMI once the collection closes: both guards are satisfied.
    assert ami_service._ami_written(cycle) == []
    # The public AMI page still says it is not open.
    assert "n'est pas encore ouvert" in client.get("/ami").get_data(as_text=True)
    # Every demo account shares the demo password.
    response = client.post("/compte/connexion", data={"email": "acheteur.chu@demo.orcp.fr",
                                                     "password": DEMO_PASSWORD})
    assert response.status_code == 302


def test_the_ami_stage_of_the_demo_holds_about_80_answers(app, client):
    output = seed(app, "--etape", "ami")
    assert "réponses : 80" in output and "20 avril 2017" in output
    cycle = db.session.scalar(select(Cycle))
    assert cycle.state == "ami_sourcing" and ami_service.is_open(cycle)
    answers = db.session.scalars(select(Application)).all()
    assert len(answers) == 80
    assert len({a.company_id for a in answers}) == 40
    states = Counter(a.status for a in answers)
    assert states["submitted"] > 40 and states["draft"] >= 1
    for answer in answers:
        assert answer.targets and all(t.need.status == "accepted" and t.need.cycle_id == cycle.id
                                      for t in answer.targets)
        assert (answer.submitted_at is None) == (answer.status == "draft")
        if answer.submitted_at:
            assert cycle.window("ami_sourcing").opens_at <= answer.submitted_at <= clock_module.now()
    page = html.unescape(client.get("/ami").get_data(as_text=True))
    assert "L'AMI est ouvert" in page


@pytest.mark.parametrize("etape", ["besoins", "ami"])
def test_the_demo_listing_and_export_work_as_admin(app, client, etape):
    seed(app, "--etape", etape)
    client.post("/compte/connexion", data={"email": "admin@demo.orcp.fr", "password": DEMO_PASSWORD})
    assert client.get("/suivi/besoins").status_code == 200
    assert client.get("/suivi/reponses").status_code == 200
    export = client.get("/suivi/reponses/export?format=xlsx")
    assert export.status_code == 200
