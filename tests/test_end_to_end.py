"""End to end, through the web client only, as people use the product: the "Done when" paths of issue 3 (a
need submitted, accepted, published in the AMI, answered by a newly signed-up company that gets its email, and
seen by the admin in the listing and its exports) and issue 4 (moving the clock makes the right reminder appear
in the admin outbox, in the embedded mode without Redis)."""

from __future__ import annotations

import csv
import html
import io
import re

from conftest import body_of
from openpyxl import load_workbook
from sqlalchemy import select

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import Application, Cycle, Need, OrganizationKind, Role, User
from innovation_cycle.services import ami as ami_service

COMPANY_PASSWORD = "Un-mot-de-passe-entreprise-2017"
COMPANY_EMAIL = "ines@robotique-nord.fr"
LINK = re.compile(r"http://localhost(/compte/confirmer/[^\s<>\"]+)")


def text_of(response) -> str:
    """The page as a person reads it: without tags, entities decoded, blanks collapsed."""
    raw = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(raw)).replace("\xa0", " ").replace("\u202f", " ")


def ok(response, status: int = 302):
    assert response.status_code == status, text_of(response)[:3000]
    return response


def logout(client) -> None:
    ok(client.post("/compte/deconnexion"))


def need_form(theme_id: int) -> dict:
    return {
        "form_token": "0123456789abcdef0123456789abcdef",
        "title": "Compter les vélos en temps réel",
        "problem": "Nous ne savons pas combien de cyclistes empruntent nos pistes, ni à quelle heure.",
        "context": "Vingt pistes cyclables dans la métropole.",
        "expected_outcomes": "Des comptages horaires publiés en données ouvertes.",
        "estimated_value": "120 000",
        "procurement_category": "services",
        "cpv_codes": "72000000-5",
        "purchase_horizon": "6_to_12_months",
        "expected_consultation_on": "2017-09-15",
        "theme_ids": [str(theme_id)],
        "scope": "20 pistes, 4 communes.",
        "open_to_experimentation": "y",
        "contact_name": "Alice Acheteuse",
        "contact_email": "alice@mel.fr",
    }


def new_need_id(client, form: dict) -> int:
    ok(client.post("/besoins/nouveau", data=form))
    return db.session.scalars(select(Need.id).order_by(Need.id.desc())).first()


# --- issue 3 -----------------------------------------------------------------------------------------------


def test_a_need_goes_from_a_buyer_to_the_ami_and_a_new_company_answers_it(app, client, login, make, clock, smtp):
    clock.set(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    mel = make.organization("Métropole européenne de Lille")
    buyer = make.user(Role.BUYER, organization=mel, email="acheteur@mel.fr")
    pfra = make.user(Role.PFRA_AGENT, organization=make.organization("PFRA", OrganizationKind.PFRA),
                     email="agent@pfra.fr")
    admin = make.user(Role.ADMIN, email="admin@orcp.fr")

    # The admin gives the cycle a theme (a need must have one to be submitted).
    login(admin)
    ok(client.post(f"/besoins/themes/{cycle.id}", data={"new-name": "Mobilité"}))
    assert "Mobilité" in text_of(client.get(f"/besoins/themes/{cycle.id}"))
    logout(client)

    # The buyer picks that theme in the form, creates the need and submits it.
    login(buyer)
    form_page = client.get("/besoins/nouveau").get_data(as_text=True)
    theme_id = int(re.search(r'name="theme_ids" value="(\d+)"[^>]*>\s*<label[^>]*>Mobilité<', form_page).group(1))
    need_id = new_need_id(client, need_form(theme_id))
    submitted = client.post(f"/besoins/{need_id}/soumettre", data={"expected_state": "draft"}, follow_redirects=True)
    assert "Le besoin est soumis." in text_of(submitted)
    logout(client)

    # The PFRA agent accepts it; the buyer hears of it.
    login(pfra)
    accepted = client.post(f"/besoins/{need_id}/accepter", data={"accept-expected_state": "submitted"},
                           follow_redirects=True)
    assert "Le besoin est accepté" in text_of(accepted)
    assert any(m["To"] == "acheteur@mel.fr" and "accepté" in m["Subject"] for m in smtp.messages)
    logout(client)

    # The admin writes the AMI, then, once the needs window has closed, opens it.
    login(admin)
    texts = {**ami_service.default_texts(cycle), "title": "AMI 2017 : solutions innovantes"}
    ok(client.post(f"/ami/{cycle.id}/rediger", data=texts))
    clock.set(paris_datetime(2017, 4, 3, 9))
    moved = client.post(f"/admin/cycles/{cycle.id}/changer-etape",
                        data={"trigger": "advance", "expected_state": "needs_collection"}, follow_redirects=True)
    assert "Le cycle est passé à l'étape « Sourcing par l'AMI »" in text_of(moved)
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "ami_sourcing"
    logout(client)

    # The public AMI page, without login, shows the need.
    public = text_of(ok(app.test_client().get("/ami"), 200))
    assert "AMI 2017 : solutions innovantes" in public and "L'AMI est ouvert" in public
    assert "Compter les vélos en temps réel" in public and "Métropole européenne de Lille" in public

    # A new company signs up and confirms its address from the mail it received.
    ok(client.post("/compte/inscription", data={
        "name": "Inès Moreau", "email": COMPANY_EMAIL, "company_name": "Robotique du Nord",
        "password": COMPANY_PASSWORD, "password_confirm": COMPANY_PASSWORD, "accept_terms": "y"}))
    [confirmation] = [m for m in smtp.messages if m["To"] == COMPANY_EMAIL]
    link = LINK.search(body_of(confirmation)).group(1)
    assert "Confirmer mon adresse" in text_of(ok(client.get(link), 200))
    ok(client.post(link))
    rep = db.session.scalar(select(User).where(User.email == COMPANY_EMAIL))
    login(rep, COMPANY_PASSWORD)

    # It registers the company with its SIRET.
    ok(client.post("/entreprise/inscription", data={
        "siret": "732 829 320 00074", "name": "Robotique du Nord SAS", "address": "12 rue Faidherbe",
        "postal_code": "59000", "city": "Lille", "department": "", "website": "www.robotique-nord.fr",
        "naf_code": "6201Z", "created_on": "2014-03-01", "fiscal_year": "2016", "headcount": "12",
        "turnover": "1 250 000", "balance_sheet": "800 000", "declared_size": "pme"}))
    assert "Robotique du Nord SAS" in text_of(client.get("/entreprise/"))

    # It answers the AMI from the need's link, targeting the need, and submits.
    form_page = client.get(f"/reponses/nouvelle?need_id={need_id}").get_data(as_text=True)
    assert f'value="{need_id}" checked' in form_page
    ok(client.post("/reponses/nouvelle", data={
        "client_token": "jeton-e2e", "solution_name": "Compteur Vélo+",
        "summary": "Des capteurs autonomes qui comptent les vélos.",
        "description": "Capteurs sans fil et tableau de bord public.", "innovation_kinds": ["product"],
        "novelty": "Comptage par radar, sans travaux de voirie.", "trl": "7", "market_status": "pilot",
        "targets": [str(need_id)], f"fit-{need_id}": "Compte les vélos piste par piste, heure par heure.",
        "sworn_statement": "y", "data_consent": "y", "action": "submit"}))
    answer = db.session.scalar(select(Application))
    assert answer.status == "submitted" and [t.need_id for t in answer.targets] == [need_id]

    # The company receives the submission email on the SMTP server.
    [receipt] = [m for m in smtp.messages if m["To"] == COMPANY_EMAIL and "Compteur Vélo+" in m["Subject"]]
    body = body_of(receipt)
    assert "Compter les vélos en temps réel" in body and f"/reponses/{answer.id}" in body
    logout(client)

    # The admin sees the answer in the listing and in both exports.
    login(admin)
    listing = text_of(ok(client.get("/suivi/reponses"), 200))
    assert "Compteur Vélo+" in listing and "Robotique du Nord SAS" in listing

    exported = ok(client.get(f"/suivi/reponses/export?format=csv&cycle={cycle.id}"), 200)
    header, *rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig")), delimiter=";"))
    [line] = [dict(zip(header, row, strict=True)) for row in rows]
    assert line["Solution"] == "Compteur Vélo+" and "Robotique du Nord SAS" in line["Entreprise"]
    assert "Compter les vélos en temps réel" in line["Besoins visés"]

    exported = ok(client.get(f"/suivi/reponses/export?format=xlsx&cycle={cycle.id}"), 200)
    header, *rows = [list(r) for r in load_workbook(io.BytesIO(exported.data)).active.iter_rows(values_only=True)]
    [line] = [dict(zip(header, row, strict=True)) for row in rows]
    assert line["Solution"] == "Compteur Vélo+" and "Robotique du Nord SAS" in line["Entreprise"]


# --- issue 4 -----------------------------------------------------------------------------------------------


def outbox_rows(response) -> list[tuple[str, str, str]]:
    """(recipient, subject, type) of each row of the admin outbox table."""
    body = response.get_data(as_text=True)
    table = body[body.index("<tbody>"):body.index("</tbody>")] if "<tbody>" in body else ""
    cells = [[re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", c))).strip()
              for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
             for row in re.findall(r"<tr class=\"outbox-row[^\"]*\">(.*?)</tr>", table, re.S)]
    return [(c[0], c[1], c[2]) for c in cells]


def test_a_reminder_seven_days_before_the_needs_close_reaches_only_the_buyer_with_a_draft(app, client, login, make,
                                                                                         clock):
    assert app.config["REDIS_URL"] is None  # the embedded mode
    clock.set(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    drafting = make.user(Role.BUYER, organization=make.organization("Ville de Lille"), email="lea@lille.fr")
    done = make.user(Role.BUYER, organization=make.organization("Ville de Douai"), email="dan@douai.fr")
    make.need(cycle, done.organization, status="submitted", title="Besoin déjà soumis")
    admin = make.user(Role.ADMIN, email="admin@orcp.fr")

    # The buyer of Lille starts a need and leaves it as a draft.
    login(drafting)
    ok(client.post("/besoins/nouveau", data={"form_token": "f" * 32, "title": "Brouillon de Lille",
                                             "problem": "Un problème à décrire."}))
    assert "Brouillon de Lille" in text_of(client.get("/besoins/"))
    logout(client)

    # Seven days before the needs collection closes (Friday 31 March 23:59), the dispatcher passes.
    clock.set(paris_datetime(2017, 3, 24, 9))
    result = app.test_cli_runner().invoke(args=["dispatch"])
    assert result.exit_code == 0, result.output

    login(admin)
    reminders = outbox_rows(ok(client.get("/admin/courriels?kind=reminder"), 200))
    assert [r[0] for r in reminders] == ["lea@lille.fr"]
    [(_, subject, kind)] = reminders
    assert "Rappel" in subject and "Collecte des besoins" in subject and kind == "Rappel d'échéance"
    everything = outbox_rows(client.get("/admin/courriels"))
    assert "lea@lille.fr" in {r[0] for r in everything}
    assert "dan@douai.fr" not in {r[0] for r in everything}
    assert outbox_rows(ok(client.get("/admin/courriels?recipient=dan%40douai.fr"), 200)) == []
