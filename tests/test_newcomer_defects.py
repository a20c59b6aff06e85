"""Issue 10: what a newcomer's walk in Chromium found, where a test client is enough to see it (the defects
only a browser shows are in tests/browser). Each test here fails on the main branch the walk was made on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import body_of
from sqlalchemy import select
from test_applications import _answers, ami, full  # noqa: F401  (ami is a fixture)

from innovation_cycle import formatting
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Need, OrganizationKind, Role
from innovation_cycle.services import dashboard

ROOT = Path(__file__).resolve().parent.parent


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).replace("&#39;", "'")


# --- mails ----------------------------------------------------------------------------------------------


def test_the_pfra_is_mailed_when_a_need_is_submitted(client, login, make, clock, smtp):
    clock.set(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    lille = make.organization("Ville de Lille")
    buyer = make.user(Role.BUYER, organization=lille)
    make.user(Role.PFRA_AGENT, organization=make.organization("PFRA", OrganizationKind.PFRA), email="paul@pfra.fr")
    make.user(Role.PFRA_AGENT, email="parti@pfra.fr", active=False)
    need = make.need(cycle, lille, status="draft", title="Compter les vélos", procurement_category="services")
    from test_end_to_end import need_form  # the complete form of a need

    login(buyer)
    theme_page = client.get(f"/besoins/{need.id}/modifier")
    assert theme_page.status_code == 200
    from innovation_cycle.models import Theme

    theme = Theme(cycle=cycle, name="Mobilité")
    db.session.add(theme)
    db.session.commit()
    form = {**need_form(theme.id), "title": "Compter les vélos"}
    assert client.post(f"/besoins/{need.id}/modifier", data=form).status_code == 302
    assert client.post(f"/besoins/{need.id}/soumettre", data={"expected_state": "draft"}).status_code == 302
    [mail] = [m for m in smtp.messages if m["To"] == "paul@pfra.fr"]
    assert "Compter les vélos" in mail["Subject"] and "qualifier" in mail["Subject"]
    assert f"/besoins/{need.id}" in body_of(mail) and "Ville de Lille" in body_of(mail)
    assert not [m for m in smtp.messages if m["To"] == "parti@pfra.fr"]


@pytest.mark.parametrize(("decision", "subject"), [("eligible", "est éligible"),
                                                   ("ineligible", "n'est pas éligible")])
def test_the_company_is_mailed_when_its_answer_is_screened(client, login, ami, make, smtp, decision,  # noqa: F811
                                                            subject):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    client.post("/compte/deconnexion")
    login(make.user(Role.ADMIN))
    response = client.post(f"/reponses/{answer.id}/eligibilite", data={
        "decision": decision, "reason": "Motif communiqué.", "expected_state": "submitted"})
    assert response.status_code == 302
    [mail] = [m for m in smtp.messages if m["To"] == "alice@lumiere.fr" and "Thermo+" in m["Subject"]
              and "éligible" in m["Subject"]]
    assert subject in mail["Subject"]
    assert "Motif communiqué." in body_of(mail) and f"/reponses/{answer.id}" in body_of(mail)


# --- dashboard and stale texts --------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["needs_collection", "ami_sourcing", "selection", "commitment_census"])
def test_every_dashboard_task_links_to_its_page_with_its_deadline(app, make, clock, state):
    clock.set(paris_datetime(2017, 3, 1, 10) if state == "needs_collection" else
              {"ami_sourcing": paris_datetime(2017, 4, 10), "selection": paris_datetime(2017, 5, 10),
               "commitment_census": paris_datetime(2017, 8, 10)}[state])
    cycle = make.cycle(year=2017, state=state)
    lille = make.organization("Ville de Lille")
    make.need(cycle, lille, status="submitted")
    people = [make.user(Role.BUYER, organization=lille), make.user(Role.PFRA_AGENT), make.user(Role.UGAP_AGENT),
              make.user(Role.COMPANY, organization=make.organization("Start", OrganizationKind.COMPANY)),
              make.user(Role.ADMIN)]
    with app.test_request_context():
        for person in people:
            for task in dashboard.tasks_for(person):
                assert task.url, (person.roles, task.title)
                # Registering a company has a deadline only while there is an AMI to answer.
                if not (task.url == "/entreprise/" and state in ("selection", "commitment_census")):
                    assert task.deadline is not None, (person.roles, task.title)


def test_an_accepted_need_is_said_published_once_the_ami_is_open(client, login, make, clock):
    clock.set(paris_datetime(2017, 4, 10))
    cycle = make.cycle(year=2017, state="ami_sourcing")
    lille = make.organization("Ville de Lille")
    need = make.need(cycle, lille, status="accepted", qualified_at=paris_datetime(2017, 3, 10))
    login(make.user(Role.BUYER, organization=lille))
    page = text_of(client.get(f"/besoins/{need.id}"))
    assert "sera publié" not in page and "il est publié dans l'appel à manifestation d'intérêt" in page


def test_a_company_is_not_invited_to_answer_a_closed_ami_or_one_it_answered(client, login, ami, clock):  # noqa: F811
    login(ami.first.rep)
    assert "Répondre à l'AMI" in text_of(client.get("/entreprise/"))
    client.post("/reponses/nouvelle", data=full(ami.energy))
    assert "Répondre à l'AMI" not in text_of(client.get("/entreprise/"))
    assert "Répondre à l'appel" not in text_of(client.get("/tableau-de-bord/"))
    clock.set(paris_datetime(2017, 5, 2))
    page = text_of(client.get("/entreprise/"))
    assert "Répondre à l'AMI" not in page and "Déposer une autre réponse" not in page


# --- the audit journal ----------------------------------------------------------------------------------


def test_the_audit_journal_reads_in_french_with_the_raw_detail_behind_a_disclosure(client, login, make, clock):
    clock.set(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    make.need(cycle, status="accepted")
    admin = make.user(Role.ADMIN, email="anne@orcp.fr")
    login(admin)
    from innovation_cycle.services import ami as ami_service

    client.post(f"/ami/{cycle.id}/rediger", data=ami_service.default_texts(cycle))
    clock.set(paris_datetime(2017, 4, 3, 9))
    moved = client.post(f"/admin/cycles/{cycle.id}/changer-etape", data={"trigger": "advance",
                                                                         "expected_state": "needs_collection"})
    assert moved.status_code == 302, text_of(moved)[-2000:]
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "cycle.advance"))
    html = client.get("/admin/journal").get_data(as_text=True)
    row = re.search(r'<tr class="audit-event">(.*?)</tr>', html, re.S).group(1)
    visible = re.sub(r"<details.*?</details>", "", row, flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", visible)).replace("&#39;", "'")
    assert "anne@orcp.fr a fait passer le cycle à l'étape suivante : Sourcing par l'AMI." in text
    assert "3 avril 2017 à 09:00" in text  # Paris time, worded
    assert "cycle.advance" not in text and '"state"' not in text.replace("&#34;", '"')
    assert "<details" in row and "cycle.advance" in row  # the raw detail is still there, folded


# --- wording --------------------------------------------------------------------------------------------


def test_the_first_of_the_month_is_written_1er(app):
    with app.test_request_context():
        assert formatting.when(paris_datetime(2017, 3, 1, 10)) == "1er mars 2017 à 10:00"
        assert formatting.day(paris_datetime(2017, 4, 1)) == "1er avril 2017"
        assert formatting.when(paris_datetime(2017, 3, 2, 10)) == "2 mars 2017 à 10:00"


def test_the_accessibility_statement_gives_the_operator_an_article(client):
    page = text_of(client.get("/accessibilite"))
    assert "L'exploitant du service, Préfecture de la région Hauts-de-France, s'engage" in page


def test_plurals_are_words_not_brackets(client, login, ami, make):  # noqa: F811
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    client.post("/compte/deconnexion")
    login(make.user(Role.ADMIN))
    page = text_of(client.get("/tableau-de-bord/"))
    assert "1 réponse à l'AMI à examiner" in page and "(s)" not in page


# --- form widgets ---------------------------------------------------------------------------------------


def test_decimals_and_dates_are_french_text_inputs(client, login, make, clock):
    clock.set(paris_datetime(2017, 4, 10))
    login(make.user(Role.COMPANY, organization=make.organization("Start", OrganizationKind.COMPANY)))
    html = client.get("/entreprise/inscription").get_data(as_text=True)
    for name in ("headcount", "turnover", "balance_sheet", "created_on"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert 'type="text"' in tag, tag
    assert "JJ/MM/AAAA" in html
    assert 'type="date"' not in html


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert client.get(response.headers["Location"]).status_code == 200


def test_a_fresh_db_upgrade_prints_no_alarming_warning(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite'}", "INSTANCE_PATH": str(tmp_path)}
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Warning" not in done.stderr and "Warning" not in done.stdout, done.stderr[-3000:]


def test_a_need_form_keeps_a_french_amount_and_date(client, login, make, clock):
    clock.set(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    lille = make.organization("Ville de Lille")
    login(make.user(Role.BUYER, organization=lille))
    assert client.post("/besoins/nouveau", data={
        "form_token": "a" * 32, "title": "Un besoin", "problem": "Un problème.", "estimated_value": "12 500,50",
        "expected_consultation_on": "15/09/2017"}).status_code == 302
    need = db.session.scalar(select(Need).where(Need.cycle_id == cycle.id))
    assert str(need.estimated_value) == "12500.50" and str(need.expected_consultation_on) == "2017-09-15"
