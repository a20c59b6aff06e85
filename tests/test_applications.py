"""Answers to the AMI: drafting, submitting (with its email), the deadline, targeted needs, visibility,
withdrawal, eligibility screening, the audit trail and the dashboard."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from conftest import body_of
from sqlalchemy import func, select

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    AuditEvent,
    Company,
    Need,
    OrganizationKind,
    OutboxMessage,
    Role,
)

APRIL_15 = paris_datetime(2017, 4, 15, 10, 0)
DEADLINE = paris_datetime(2017, 4, 30, 23, 59)
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _need(cycle, org, title, status="accepted", **kw) -> Need:
    need = Need(cycle=cycle, organization=org, title=title, problem="Un problème fonctionnel.", status=status,
                created_at=cycle.created_at, updated_at=cycle.created_at, **kw)
    db.session.add(need)
    db.session.commit()
    return need


def _company(make, name: str, siret: str, email: str) -> SimpleNamespace:
    org = make.organization(name, OrganizationKind.COMPANY, siret=siret, siren=siret[:9], department="59")
    company = Company(organization=org, headcount=Decimal("12"), turnover=Decimal("900000"),
                      balance_sheet=Decimal("500000"), declared_size="pme", computed_size="pme",
                      created_at=APRIL_15, updated_at=APRIL_15)
    db.session.add(company)
    db.session.commit()
    rep = make.user(Role.COMPANY, organization=org, email=email, name=f"Représentant {name}")
    return SimpleNamespace(company=company, rep=rep, org=org)


@pytest.fixture
def ami(app, make, clock):
    """The 2017 AMI, open on 15 April (it closes on 30 April at 23:59, Paris), with two published needs."""
    clock.set(APRIL_15)
    cycle = make.cycle(year=2017, state="ami_sourcing")
    lille = make.organization("Ville de Lille")
    hospital = make.organization("CHU de Lille")
    energy = _need(cycle, lille, "Réduire la consommation d'énergie des écoles")
    secret = _need(cycle, hospital, "Suivre les lits disponibles", confidential=True)
    rejected = _need(cycle, lille, "Un besoin refusé", status="rejected")
    old_cycle = make.cycle(make.convention(2014), year=2016, state="closed")
    old = _need(old_cycle, lille, "Un besoin de 2016")
    first = _company(make, "Lumière Numérique", "73282932000074", "alice@lumiere.fr")
    second = _company(make, "Thermo Nord", "55208131766522", "bruno@thermo.fr")
    return SimpleNamespace(cycle=cycle, energy=energy, secret=secret, rejected=rejected, old=old, first=first,
                           second=second)


def full(*needs: Need, **changes) -> dict:
    data = {
        "client_token": "jeton-1", "solution_name": "Thermo+", "summary": "Des capteurs pour piloter le chauffage.",
        "description": "Capteurs sans fil et tableau de bord.", "innovation_kinds": ["product", "process"],
        "novelty": "Apprentissage de l'occupation des salles.", "trl": "7", "market_status": "pilot",
        "targets": [str(n.id) for n in needs],
        "sworn_statement": "y", "data_consent": "y", "action": "submit",
    }
    data.update({f"fit-{n.id}": f"Réduit la consommation pour « {n.title} »." for n in needs})
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _answers() -> list[Application]:
    return list(db.session.scalars(select(Application).order_by(Application.id)))


def _draft(client, login, ami, **changes) -> Application:
    login(ami.first.rep)
    response = client.post("/reponses/nouvelle", data=full(ami.energy, action="save", **changes))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return _answers()[-1]


# --- drafting and submitting ------------------------------------------------------------------------------


def test_the_new_answer_page_preselects_the_need_from_the_ami_page(client, login, ami):
    login(ami.first.rep)
    page = client.get(f"/reponses/nouvelle?need_id={ami.energy.id}").get_data(as_text=True)
    assert f'value="{ami.energy.id}" checked' in page
    assert f'value="{ami.secret.id}" checked' not in page
    # Published needs only; the confidential buyer is not named.
    assert "Suivre les lits disponibles" in page and "CHU de Lille" not in page
    assert "un acheteur public de la région" in page
    assert "Un besoin refusé" not in page and "Un besoin de 2016" not in page
    # The TRL scale is explained, with "not applicable" for a non-technological innovation.
    assert "TRL 4 — Technologie validée en laboratoire" in page and "Non applicable" in page


def test_a_need_that_is_not_open_is_not_preselected(client, login, ami):
    login(ami.first.rep)
    response = client.get(f"/reponses/nouvelle?need_id={ami.rejected.id}")
    assert response.status_code == 200
    assert f'id="need-{ami.rejected.id}"' not in response.get_data(as_text=True)


def test_a_draft_needs_only_a_name_and_stays_private(client, login, ami, make):
    login(ami.first.rep)
    response = client.post("/reponses/nouvelle", data={"client_token": "t", "solution_name": "Idée",
                                                       "action": "save"})
    assert response.status_code == 302
    answer = _answers()[0]
    assert (answer.status, answer.company_id, answer.author_id) == ("draft", ami.first.company.id, ami.first.rep.id)
    client.post("/compte/deconnexion")
    for role in (Role.ADMIN, Role.PFRA_AGENT):
        login(make.user(role))
        assert client.get(f"/reponses/{answer.id}").status_code == 403
        client.post("/compte/deconnexion")


def test_submitting_sends_the_company_a_summary_by_email(client, login, ami, smtp):
    login(ami.first.rep)
    response = client.post("/reponses/nouvelle", data=full(ami.energy, ami.secret))
    assert response.status_code == 302
    answer = _answers()[0]
    assert answer.status == "submitted" and answer.submitted_at == APRIL_15
    assert {t.need_id: t.fit for t in answer.targets} == {
        ami.energy.id: f"Réduit la consommation pour « {ami.energy.title} ».",
        ami.secret.id: f"Réduit la consommation pour « {ami.secret.title} »."}
    assert [m["To"] for m in smtp.messages] == ["alice@lumiere.fr"]
    message = smtp.messages[0]
    assert "Thermo+" in message["Subject"]
    body = body_of(message)
    for expected in ("Thermo+", "Des capteurs pour piloter le chauffage.", "TRL 7", "Pilote",
                     "Réduire la consommation d'énergie des écoles", "Ville de Lille",
                     "Suivre les lits disponibles (un acheteur public de la région)",
                     "30 avril 2017 à 23:59", "15 avril 2017 à 10:00", f"/reponses/{answer.id}",
                     "n'oblige aucun acheteur à acheter"):
        assert expected in body, expected
    assert "CHU de Lille" not in body
    page = client.get(f"/reponses/{answer.id}").get_data(as_text=True)
    assert "Soumise" in page


def test_an_incomplete_answer_is_saved_but_not_submitted(client, login, ami, smtp):
    login(ami.first.rep)
    response = client.post("/reponses/nouvelle", data=full(ami.energy, summary="", trl="", sworn_statement=None,
                                                           **{f"fit-{ami.energy.id}": ""}))
    answer = _answers()[0]
    assert answer.status == "draft" and answer.solution_name == "Thermo+"
    assert response.headers["Location"].endswith(f"/reponses/{answer.id}/modifier?verifier=1")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "ne peut pas encore être soumise" in page
    assert 'href="#summary"' in page and 'href="#trl"' in page and 'href="#sworn_statement"' in page
    assert "Expliquez en une phrase en quoi la solution répond" in page
    assert smtp.messages == []


def test_an_answer_must_target_a_need(client, login, ami):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full())
    answer = _answers()[0]
    assert answer.status == "draft"
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "application.submit")) is None


def test_not_applicable_trl_is_said_explicitly(client, login, ami):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy, trl="na", innovation_kinds=["organisation"]))
    answer = _answers()[0]
    assert (answer.status, answer.trl, answer.trl_not_applicable) == ("submitted", None, True)
    assert "Non applicable (innovation non technologique)" in client.get(f"/reponses/{answer.id}").get_data(
        as_text=True)


def test_posting_the_same_new_answer_twice_creates_one_record(client, login, ami, smtp):
    login(ami.first.rep)
    first = client.post("/reponses/nouvelle", data=full(ami.energy))
    second = client.post("/reponses/nouvelle", data=full(ami.energy))
    assert len(_answers()) == 1
    assert first.headers["Location"] == second.headers["Location"]
    assert len(smtp.messages) == 1


def test_pressing_submit_twice_submits_once_and_mails_once(client, login, ami, smtp):
    answer = _draft(client, login, ami)
    client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, action="save"))
    assert client.post(f"/reponses/{answer.id}/soumettre").status_code == 302
    assert client.post(f"/reponses/{answer.id}/soumettre").status_code == 302
    assert len(smtp.messages) == 1
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "application.submit")) == 1


def test_a_submitted_answer_may_be_improved_until_the_deadline_but_stays_complete(client, login, ami):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    response = client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, summary="Résumé amélioré.",
                                                                         action="save"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, answer.id).summary == "Résumé amélioré."
    response = client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, summary="", action="save"))
    assert response.status_code == 422
    assert "doit rester complète" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Application, answer.id).summary == "Résumé amélioré."


# --- the deadline -----------------------------------------------------------------------------------------


def test_a_late_submission_is_refused_with_the_closing_time(client, login, ami, clock, smtp):
    answer = _draft(client, login, ami)
    client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, action="save"))
    clock.set(DEADLINE)  # 30 April, 23:59 in Paris: closed
    response = client.post(f"/reponses/{answer.id}/soumettre", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "L&#39;AMI est clos depuis le 30 avril 2017 à 23:59" in page
    db.session.expire_all()
    assert db.session.get(Application, answer.id).status == "draft"
    assert smtp.messages == []


def test_after_the_deadline_answers_are_read_only(client, login, ami, clock):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    clock.set(DEADLINE + timedelta(minutes=1))
    page = client.get(f"/reponses/{answer.id}").get_data(as_text=True)
    assert 'id="read-only"' in page and "30 avril 2017 à 23:59" in page
    assert f"/reponses/{answer.id}/modifier" not in page and "Retirer la réponse" not in page
    response = client.get(f"/reponses/{answer.id}/modifier")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/reponses/{answer.id}")
    response = client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, solution_name="Changée"))
    assert response.status_code == 302
    client.post(f"/reponses/{answer.id}/retirer", data={"expected_state": "submitted"})
    db.session.expire_all()
    answer = db.session.get(Application, answer.id)
    assert (answer.solution_name, answer.status) == ("Thermo+", "submitted")


def test_a_new_answer_after_the_deadline_is_refused_with_the_closing_time(client, login, ami, clock):
    clock.set(DEADLINE)
    login(ami.first.rep)
    page = client.get("/reponses/nouvelle").get_data(as_text=True)
    assert "clos depuis le 30 avril 2017 à 23:59" in page
    response = client.post("/reponses/nouvelle", data=full(ami.energy))
    assert response.status_code == 422 and "30 avril 2017 à 23:59" in response.get_data(as_text=True)
    assert _answers() == []


def test_before_the_ami_the_page_says_when_it_opens(client, login, make, clock):
    clock.set(paris_datetime(2017, 2, 10, 9, 0))
    make.cycle(year=2017, state="needs_collection")
    company = _company(make, "Tôt", "40483304800022", "tot@example.fr")
    login(company.rep)
    page = client.get("/reponses/nouvelle").get_data(as_text=True)
    assert "n&#39;est pas encore ouvert" in page and "1er avril 2017" in page


# --- targeted needs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("which", "message"), [
    ("old", "appartient à un autre cycle"),
    ("rejected", "n&#39;existe pas"),  # Issue 9: an unpublished need looks like an unknown id
])
def test_an_answer_targeting_another_cycles_or_a_rejected_need_is_refused(client, login, ami, which, message):
    need = getattr(ami, which)
    login(ami.first.rep)
    response = client.post("/reponses/nouvelle", data=full(need))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _answers() == []
    # Same on an existing draft.
    answer = _draft(client, login, ami)
    response = client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, need, action="save"))
    assert response.status_code == 422
    db.session.expire_all()
    assert [t.need_id for t in db.session.get(Application, answer.id).targets] == [ami.energy.id]


def test_a_need_withdrawn_from_the_ami_blocks_the_submission(client, login, ami):
    answer = _draft(client, login, ami)
    client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, action="save"))
    need = db.session.get(Need, ami.energy.id)
    need.status = "rejected"
    db.session.commit()
    page = client.post(f"/reponses/{answer.id}/soumettre", follow_redirects=True).get_data(as_text=True)
    assert "n&#39;est plus ouvert aux réponses" in page
    assert db.session.get(Application, answer.id).status == "draft"


# --- visibility -----------------------------------------------------------------------------------------


def test_a_company_never_sees_another_companys_answers(client, login, ami):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    client.post("/compte/deconnexion")
    login(ami.second.rep)
    assert client.get(f"/reponses/{answer.id}").status_code == 403
    assert client.get(f"/reponses/{answer.id}/modifier").status_code == 403
    assert client.post(f"/reponses/{answer.id}/soumettre").status_code == 403
    assert client.post(f"/reponses/{answer.id}/retirer").status_code == 403
    assert "Thermo+" not in client.get("/reponses/").get_data(as_text=True)
    assert client.get(f"/entreprise/{ami.first.company.id}").status_code == 403


def test_the_staff_read_submitted_answers_and_buyers_do_not(client, login, ami, make):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    client.post("/compte/deconnexion")
    for role, status in ((Role.ADMIN, 200), (Role.PFRA_AGENT, 200), (Role.BUYER, 403), (Role.UGAP_AGENT, 403)):
        login(make.user(role, organization=make.organization()))
        assert client.get(f"/reponses/{answer.id}").status_code == status, role
        client.post("/compte/deconnexion")


def test_html_in_an_answer_is_shown_as_text(client, login, ami):
    answer = _draft(client, login, ami, solution_name="<img src=x onerror=alert(1)>",
                    description="<script>alert(1)</script>")
    page = client.get(f"/reponses/{answer.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_unregistered_representative_is_sent_to_register_first(client, login, ami, make):
    rep = make.user(Role.COMPANY, organization=make.organization("Sans SIRET", OrganizationKind.COMPANY))
    login(rep)
    response = client.get(f"/reponses/nouvelle?need_id={ami.energy.id}")
    assert response.status_code == 302
    assert "/entreprise/inscription?next=" in response.headers["Location"]
    assert "need_id" in response.headers["Location"]


# --- withdrawal -----------------------------------------------------------------------------------------


def test_a_company_withdraws_its_answer_while_the_ami_is_open(client, login, ami):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    response = client.post(f"/reponses/{answer.id}/retirer", data={"expected_state": "submitted",
                                                                   "reason": "Solution pas prête."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, answer.id).status == "withdrawn"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "application.withdraw"))
    assert (event.before, event.after["status"], event.reason) == ({"status": "submitted"}, "withdrawn",
                                                                   "Solution pas prête.")
    assert client.get(f"/reponses/{answer.id}/modifier").status_code == 302


# --- eligibility screening -----------------------------------------------------------------------------


def test_an_admin_screens_submitted_answers_with_a_reason(client, login, ami, make):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    client.post("/compte/deconnexion")
    admin = make.user(Role.ADMIN)
    login(admin)
    queue = client.get("/reponses/examen").get_data(as_text=True)
    assert "Thermo+" in queue and "Lumière Numérique" in queue
    response = client.post(f"/reponses/{answer.id}/eligibilite", data={"decision": "ineligible", "reason": "",
                                                                      "expected_state": "submitted"})
    assert response.status_code == 422 and "Indiquez le motif" in response.get_data(as_text=True)
    response = client.post(f"/reponses/{answer.id}/eligibilite", data={
        "decision": "eligible", "reason": "PME innovante, besoin publié.", "expected_state": "submitted"})
    assert response.status_code == 302
    db.session.expire_all()
    answer = db.session.get(Application, answer.id)
    assert (answer.status, answer.eligibility_reason) == ("eligible", "PME innovante, besoin publié.")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "application.declare_eligible"))
    assert event.actor_id == admin.id and event.reason == "PME innovante, besoin publié."
    assert f'href="/reponses/{answer.id}"' not in client.get("/reponses/examen").get_data(as_text=True)
    # A correction, with its own reason.
    client.post(f"/reponses/{answer.id}/eligibilite", data={
        "decision": "ineligible", "reason": "Grande entreprise : hors champ.", "expected_state": "eligible"})
    db.session.expire_all()
    assert db.session.get(Application, answer.id).status == "ineligible"
    # The company reads the decision and its reason.
    client.post("/compte/deconnexion")
    login(ami.first.rep)
    page = client.get(f"/reponses/{answer.id}").get_data(as_text=True)
    assert "Réponse non éligible" in page and "Grande entreprise : hors champ." in page


def test_screening_a_stale_answer_is_refused(client, login, ami, make):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    client.post(f"/reponses/{answer.id}/retirer", data={"expected_state": "submitted"})
    client.post("/compte/deconnexion")
    login(make.user(Role.ADMIN))
    response = client.post(f"/reponses/{answer.id}/eligibilite", data={
        "decision": "eligible", "reason": "ok", "expected_state": "submitted"}, follow_redirects=True)
    assert "a changé entre-temps" in response.get_data(as_text=True)
    assert db.session.get(Application, answer.id).status == "withdrawn"


def test_only_admins_screen(client, login, ami, make):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    answer = _answers()[0]
    assert client.post(f"/reponses/{answer.id}/eligibilite", data={
        "decision": "eligible", "reason": "moi-même"}).status_code == 403
    client.post("/compte/deconnexion")
    login(make.user(Role.PFRA_AGENT))
    assert client.get("/reponses/examen").status_code == 403


# --- audit, attachments, dashboard ------------------------------------------------------------------------


def test_every_move_is_audited(client, login, ami):
    answer = _draft(client, login, ami)
    client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, summary="Autre résumé.", action="submit"))
    client.post(f"/reponses/{answer.id}/retirer", data={"expected_state": "submitted"})
    actions = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "applications", AuditEvent.object_id == answer.id).order_by(AuditEvent.id)))
    assert actions == ["application.create", "application.update", "application.submit", "application.withdraw"]


def test_a_pdf_attachment_is_kept_and_another_file_is_refused(client, login, ami):
    login(ami.first.rep)
    data = full(ami.energy, action="save")
    data["attachments"] = [(io.BytesIO(b"MZ\x90\x00 programme"), "plaquette.pdf")]
    response = client.post("/reponses/nouvelle", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert _answers() == []
    data = full(ami.energy, action="save", client_token="jeton-2")
    data["attachments"] = [(io.BytesIO(PDF), "plaquette.pdf")]
    response = client.post("/reponses/nouvelle", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    answer = _answers()[0]
    assert [(a.original_name, a.content_type) for a in answer.attachments] == [("plaquette.pdf", "application/pdf")]
    assert "plaquette.pdf" in client.get(f"/reponses/{answer.id}").get_data(as_text=True)


def test_the_dashboard_reminds_representatives_of_their_drafts(client, login, ami, make):
    _draft(client, login, ami)
    page = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert "1 réponse en brouillon à soumettre avant la clôture de l&#39;AMI" in page
    assert "30 avril 2017 à 23:59" in page
    client.post("/compte/deconnexion")
    login(ami.second.rep)
    assert "en brouillon" not in client.get("/tableau-de-bord/").get_data(as_text=True)


def test_the_dashboard_asks_an_unregistered_representative_to_register(client, login, make):
    rep = make.user(Role.COMPANY, organization=make.organization("Sans SIRET", OrganizationKind.COMPANY))
    login(rep)
    assert "Enregistrer votre entreprise" in client.get("/tableau-de-bord/").get_data(as_text=True)


def test_the_dashboard_shows_admins_the_answers_to_screen(client, login, ami, make):
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    client.post("/compte/deconnexion")
    login(make.user(Role.ADMIN))
    assert "1 réponse à l&#39;AMI à examiner" in client.get("/tableau-de-bord/").get_data(as_text=True)


def test_the_submission_mail_waits_for_the_commit(app, client, login, ami):
    """Without an SMTP server the outbox row is the record: exactly one, written with the submission."""
    login(ami.first.rep)
    client.post("/reponses/nouvelle", data=full(ami.energy))
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert [r.recipient for r in rows] == ["alice@lumiere.fr"] and rows[0].sent_at is not None


# --- two submissions at once ------------------------------------------------------------------------------


def _second_submit(app, application_id: int, user_id: int, outcome: dict) -> None:
    from innovation_cycle import transaction
    from innovation_cycle.models import User
    from innovation_cycle.services import applications

    with app.app_context(), app.test_request_context():
        try:
            _answer, moved = applications.submit(application_id, db.session.get(User, user_id))
            transaction.commit()
            outcome["moved"] = moved
        except applications.Refused as exc:
            transaction.rollback()
            outcome["moved"] = [r.code for r in exc.refusals]
        finally:
            db.session.remove()


def test_two_submissions_at_once_make_one_move_and_one_email(app, client, login, ami):
    """Two real connections: the first submission holds its transaction open; the second waits for the row
    lock (PostgreSQL) or fails the version check (SQLite); either way it sees the answer already submitted."""
    import threading
    import time

    from innovation_cycle import transaction
    from innovation_cycle.services import applications

    answer = _draft(client, login, ami)
    client.post(f"/reponses/{answer.id}/modifier", data=full(ami.energy, action="save"))
    rep = ami.first.rep
    with app.test_request_context():
        _answer, moved = applications.submit(answer.id, rep)
        assert moved
        outcome: dict = {}
        other = threading.Thread(target=_second_submit, args=(app, answer.id, rep.id, outcome))
        other.start()
        time.sleep(0.5)
        if db.engine.dialect.name == "postgresql":
            assert other.is_alive(), "the second submission must wait for the first one's lock"
        transaction.commit()
        other.join(timeout=20)
    assert not other.is_alive()
    assert outcome["moved"] is False
    db.session.expire_all()
    assert db.session.get(Application, answer.id).status == "submitted"
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "application.submit")) == 1
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1


# --- Issue 9: hardening (refusals about hidden needs look like "not found") --------------------------------


@pytest.mark.parametrize("status", ["draft", "submitted", "returned", "rejected"])
def test_targeting_another_organizations_unpublished_need_answers_like_an_unknown_id(client, login, ami, make,
                                                                                     status):
    hidden = _need(ami.cycle, make.organization("Mairie de Douai"), "Un projet confidentiel de Douai",
                   status=status)
    missing_id = hidden.id + 1000
    login(ami.first.rep)

    def refusal(need_id: int) -> tuple[str, list[str]]:
        response = client.post("/reponses/nouvelle", data={**full(ami.energy), "targets": [str(need_id)],
                                                           f"fit-{need_id}": "Une phrase."})
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        return page, [m.replace(str(need_id), "<id>") for m in re.findall(r"Le besoin[^<]*", page)]

    (hidden_page, hidden_errors), (_, missing_errors) = refusal(hidden.id), refusal(missing_id)
    assert "Un projet confidentiel de Douai" not in hidden_page
    assert hidden_errors and hidden_errors == missing_errors
    assert "n&#39;existe pas" in hidden_errors[0]
    assert _answers() == []
