"""Innovation needs through the web, as buyers, PFRA agents and admins use them: drafting, the stage guards,
submission, qualification and its mails, visibility between organizations, themes, and the cycle's exit guard."""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal

import pytest
from conftest import body_of
from query_count import count_queries
from sqlalchemy import func, select

from innovation_cycle import transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Cycle, Need, Notification, OrganizationKind, Role, Theme
from innovation_cycle.services import cycles
from innovation_cycle.services import needs as service
from workflows.base import MoveRefused

TOKEN = "0123456789abcdef0123456789abcdef"


def text_of(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.get_data(as_text=True)))


def audit_actions(need_id: int | None = None) -> list[str]:
    query = select(AuditEvent.action).where(AuditEvent.object_type == "needs").order_by(AuditEvent.id)
    if need_id is not None:
        query = query.where(AuditEvent.object_id == need_id)
    return list(db.session.scalars(query))


@pytest.fixture
def world(make, clock):
    """The 2017 cycle in its needs collection on 1 March 2017, two buyer organizations, a PFRA agent, an admin."""
    clock.set(paris_datetime(2017, 3, 1, 10))
    cycle = make.cycle(year=2017, state="needs_collection")
    mel = make.organization("Métropole européenne de Lille")
    lille = make.organization("Ville de Lille")
    pfra_org = make.organization("PFRA Hauts-de-France", OrganizationKind.PFRA)
    themes = [Theme(cycle=cycle, name=name, position=i) for i, name in enumerate(["Mobilité", "Santé"], 1)]
    db.session.add_all(themes)
    db.session.commit()
    return {
        "cycle": cycle, "mel": mel, "lille": lille, "themes": themes,
        "buyer": make.user(Role.BUYER, organization=mel, email="acheteur@mel.fr", name="Alice Acheteuse"),
        "colleague": make.user(Role.BUYER, organization=mel, email="collegue@mel.fr"),
        "other_buyer": make.user(Role.BUYER, organization=lille, email="acheteur@lille.fr"),
        "pfra": make.user(Role.PFRA_AGENT, organization=pfra_org, email="agent@pfra.fr"),
        "admin": make.user(Role.ADMIN, email="admin@orcp.fr"),
    }


def complete_form(world, **overrides) -> dict:
    data = {
        "form_token": TOKEN,
        "title": "Réduire l'attente à l'accueil des usagers",
        "problem": "Les usagers attendent 40 minutes en moyenne.\nLes agents ne peuvent pas prévoir l'affluence.",
        "context": "Trois sites d'accueil.",
        "expected_outcomes": "Attente divisée par deux.",
        "constraint_hosting": "Hébergement dans l'Union européenne.",
        "estimated_value": "150 000,50",
        "procurement_category": "services",
        "cpv_codes": "72000000-5, 48000000",
        "purchase_horizon": "6_to_12_months",
        "expected_consultation_on": "2017-09-15",
        "theme_ids": [str(world["themes"][1].id)],
        "scope": "3 sites, 40 agents.",
        "open_to_experimentation": "y",
        "non_technological_welcome": "y",
        "contact_name": "Alice Acheteuse",
        "contact_email": "alice@mel.fr",
        "contact_phone": "03 20 00 00 00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def create(client, world, **overrides) -> Need:
    response = client.post("/besoins/nouveau", data=complete_form(world, **overrides))
    assert response.status_code == 302, text_of(response)[:3000]
    return db.session.scalars(select(Need).order_by(Need.id.desc())).first()


# --- drafting ------------------------------------------------------------------------------------------


def test_a_buyer_drafts_a_need_with_every_field(client, login, world):
    login(world["buyer"])
    page = text_of(client.get("/besoins/nouveau"))
    assert "est ouverte jusqu'au 31 mars 2017 à 23:59" in page
    assert "Mobilité" in page and "Santé" in page
    need = create(client, world)
    assert need.status == "draft" and need.organization_id == world["mel"].id
    assert need.author_id == world["buyer"].id and need.cycle_id == world["cycle"].id
    assert need.estimated_value == Decimal("150000.50")
    assert need.cpv_codes == ["72000000-5", "48000000"]
    assert need.purchase_horizon == "6_to_12_months" and need.procurement_category == "services"
    assert need.expected_consultation_on.isoformat() == "2017-09-15"
    assert [t.name for t in need.themes] == ["Santé"]
    assert need.open_to_experimentation and need.non_technological_welcome and not need.confidential
    assert audit_actions(need.id) == ["need.create"]
    shown = text_of(client.get(f"/besoins/{need.id}"))
    assert "150 000,50 € HT" in shown and "72000000-5, 48000000" in shown and "15 septembre 2017" in shown
    assert "Ce brouillon n'est visible que des personnes de votre organisation" in shown


def test_a_double_submitted_creation_makes_one_need(client, login, world):
    login(world["buyer"])
    first = client.post("/besoins/nouveau", data=complete_form(world))
    second = client.post("/besoins/nouveau", data=complete_form(world))
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count(Need.id))) == 1
    assert audit_actions() == ["need.create"]
    # A new form carries a new token: a second need is a second need.
    create(client, world, form_token="f" * 32)
    assert db.session.scalar(select(func.count(Need.id))) == 2


def test_a_form_without_its_token_is_refused(client, login, world):
    login(world["buyer"])
    response = client.post("/besoins/nouveau", data=complete_form(world, form_token="../../etc"))
    assert response.status_code == 422
    assert "Ce formulaire a expiré" in text_of(response)
    assert db.session.scalar(select(func.count(Need.id))) == 0


def test_bad_input_is_refused_in_french_next_to_each_field(client, login, world):
    login(world["buyer"])
    response = client.post("/besoins/nouveau", data=complete_form(
        world, title="", estimated_value="-12", cpv_codes="7200000, 99000000, abc", contact_email="pas-une-adresse",
        expected_consultation_on="2016-12-31", procurement_category="jouets", theme_ids=["999"]))
    assert response.status_code == 422
    page = text_of(response)
    assert "Le formulaire contient" in page
    for message in ("Donnez un intitulé au besoin.", "Le montant ne peut pas être négatif.",
                    "« 7200000 » : un code CPV compte 8 chiffres",
                    "« 99000000 » : « 99 » n'est pas une division du vocabulaire commun",
                    "« abc » n'est pas un code CPV", "Adresse électronique invalide",
                    "La date de consultation ne peut pas être passée."):
        assert message in page, message
    assert db.session.scalar(select(func.count(Need.id))) == 0


def test_themes_of_another_cycle_are_refused(client, login, world, make):
    other_cycle = make.cycle(make.convention(2018), 2018)
    foreign = Theme(cycle=other_cycle, name="Ailleurs", position=1)
    db.session.add(foreign)
    db.session.commit()
    need = make.need(world["cycle"], world["mel"])
    with pytest.raises(service.NeedInvalid) as refused:
        service.update_need(need, world["buyer"], {"theme_ids": [foreign.id]})
    transaction.rollback()
    assert refused.value.errors[0].field == "theme_ids"


@pytest.mark.parametrize(("typed", "codes", "errors"), [
    ("72000000-5", ["72000000-5"], 0),
    ("72000000", ["72000000"], 0),
    ("72000000-5; 48000000-8\n30200000-1", ["72000000-5", "48000000-8", "30200000-1"], 0),
    ("72000000, 72000000-5", ["72000000"], 0),  # the same code twice is kept once
    ("", [], 0),
    ("7200000", [], 1),  # 7 digits
    ("720000001", [], 1),  # 9 digits without the dash
    ("72000000-55", [], 1),  # two check digits
    ("72000000-", [], 1),
    ("7200000A", [], 1),
    ("12000000", [], 1),  # not a CPV division
    ("<b>72000000</b>", [], 1),
])
def test_cpv_codes(app, typed, codes, errors):
    found, refused = service.parse_cpv_codes(typed)
    assert found == codes
    assert len(refused) == errors


@pytest.mark.parametrize(("typed", "value"), [
    ("150000", Decimal("150000")), ("150 000", Decimal("150000")), ("12 500,50", Decimal("12500.50")),
    ("80 000 €", Decimal("80000")), ("1.500.000,00", Decimal("1500000.00")), ("0", Decimal("0")),
])
def test_amounts_are_read_as_the_french_type_them(client, login, world, typed, value):
    login(world["buyer"])
    need = create(client, world, estimated_value=typed)
    assert need.estimated_value == value


@pytest.mark.parametrize("typed", ["beaucoup", "12,345", "1e9", "NaN", "-5"])
def test_unreadable_amounts_are_refused(client, login, world, typed):
    login(world["buyer"])
    response = client.post("/besoins/nouveau", data=complete_form(world, estimated_value=typed))
    assert response.status_code == 422
    assert "montant" in text_of(response).lower() or "chiffres après la virgule" in text_of(response)


def test_html_typed_in_a_need_is_shown_as_text(client, login, world):
    login(world["buyer"])
    need = create(client, world, title="<script>alert('x')</script> Accueil",
                  problem="<img src=x onerror=alert(1)>\n<b>gras</b>")
    raw = client.get(f"/besoins/{need.id}").get_data(as_text=True)
    assert "<script>alert" not in raw and "<img src=x" not in raw and "<b>gras</b>" not in raw
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Accueil" in raw
    assert "&lt;img src=x onerror=alert(1)&gt;<br>&lt;b&gt;gras&lt;/b&gt;" in raw


# --- the stage guards ----------------------------------------------------------------------------------


def test_before_the_window_opens_the_form_says_when_it_will(client, login, world, clock):
    clock.set(paris_datetime(2017, 1, 20, 9))
    login(world["buyer"])
    response = client.get("/besoins/nouveau")
    assert response.status_code == 200
    page = text_of(response)
    assert ("La collecte des besoins du cycle 2017 n'est pas encore ouverte : elle ouvrira le 1er février 2017 à "
            "00:00 et fermera le 31 mars 2017 à 23:59") in page
    assert 'name="title"' not in page
    response = client.post("/besoins/nouveau", data=complete_form(world), follow_redirects=True)
    assert "n'est pas encore ouverte" in text_of(response)
    assert db.session.scalar(select(func.count(Need.id))) == 0


def test_after_the_window_closes_the_form_says_until_when_it_was_open(client, login, world, make, clock):
    draft = make.need(world["cycle"], world["mel"], **complete_fields(world))
    clock.set(paris_datetime(2017, 4, 1, 0, 5))
    login(world["buyer"])
    page = text_of(client.get("/besoins/nouveau"))
    expected = ("La collecte des besoins du cycle 2017 est close : elle était ouverte du 1er février 2017 à 00:00 au "
                "31 mars 2017 à 23:59 (heure de Paris). Un besoin ne peut plus être créé ni soumis.")
    assert expected in page
    assert 'name="title"' not in page
    assert expected in text_of(client.get(f"/besoins/{draft.id}/modifier"))
    # Neither created nor submitted, whatever is posted.
    client.post("/besoins/nouveau", data=complete_form(world))
    response = client.post(f"/besoins/{draft.id}/soumettre", data={"expected_state": "draft"}, follow_redirects=True)
    assert expected in text_of(response)
    db.session.expire_all()
    assert db.session.get(Need, draft.id).status == "draft"
    assert db.session.scalar(select(func.count(Need.id))) == 1


def test_once_the_cycle_has_moved_on_the_form_says_so(client, login, world, clock):
    world["cycle"].state = "ami_sourcing"
    db.session.commit()
    clock.set(paris_datetime(2017, 4, 10))
    login(world["buyer"])
    page = text_of(client.get("/besoins/nouveau"))
    assert ("La collecte des besoins du cycle 2017 est terminée (le cycle est à l'étape « Sourcing par l'AMI ») : "
            "elle était ouverte du 1er février 2017 à 00:00 au 31 mars 2017 à 23:59") in page


def complete_fields(world) -> dict:
    return {"expected_outcomes": "Attente divisée par deux.", "procurement_category": "services",
            "purchase_horizon": "under_6_months", "contact_name": "Alice", "contact_email": "alice@mel.fr",
            "themes": [world["themes"][0]]}


# --- submission ----------------------------------------------------------------------------------------


def test_an_incomplete_need_cannot_be_submitted_and_the_page_says_what_it_lacks(client, login, world):
    login(world["buyer"])
    need = create(client, world, expected_outcomes="", theme_ids=None, contact_email="")
    page = text_of(client.get(f"/besoins/{need.id}"))
    assert "Pour le soumettre, complétez : Résultats attendus, Adresse électronique de contact, Thèmes." in page
    response = client.post(f"/besoins/{need.id}/soumettre", data={"expected_state": "draft"}, follow_redirects=True)
    assert "Complétez le besoin avant de le soumettre : Résultats attendus" in text_of(response)
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "draft"


def test_a_double_submission_submits_once(client, login, world):
    login(world["buyer"])
    need = create(client, world)
    first = client.post(f"/besoins/{need.id}/soumettre", data={"expected_state": "draft"}, follow_redirects=True)
    assert "Le besoin est soumis." in text_of(first)
    second = client.post(f"/besoins/{need.id}/soumettre", data={"expected_state": "draft"}, follow_redirects=True)
    assert "Ce besoin a déjà été soumis." in text_of(second)
    assert audit_actions(need.id) == ["need.create", "need.submit"]
    db.session.expire_all()
    need = db.session.get(Need, need.id)
    assert need.status == "submitted" and need.submitted_at is not None
    # Submitted, it can no longer be changed, and the page says why.
    page = text_of(client.get(f"/besoins/{need.id}/modifier"))
    assert "Ce besoin est à l'état « Soumis, en attente de qualification » : il ne peut plus être modifié." in page


# --- visibility ----------------------------------------------------------------------------------------


def test_a_buyer_never_sees_another_organizations_drafts(client, login, world, make):
    mine = make.need(world["cycle"], world["mel"], title="Brouillon de la MEL")
    theirs = make.need(world["cycle"], world["lille"], title="Brouillon de Lille")
    submitted = make.need(world["cycle"], world["lille"], status="submitted", title="Besoin soumis de Lille")
    login(world["buyer"])
    listing = text_of(client.get("/besoins/"))
    assert "Brouillon de la MEL" in listing
    assert "Brouillon de Lille" not in listing and "Besoin soumis de Lille" not in listing
    assert client.get(f"/besoins/{mine.id}").status_code == 200
    for need in (theirs, submitted):
        assert client.get(f"/besoins/{need.id}").status_code == 403
        assert client.get(f"/besoins/{need.id}/modifier").status_code == 403
        assert client.post(f"/besoins/{need.id}/soumettre", data={"expected_state": "draft"}).status_code == 403
        assert client.post(f"/besoins/{need.id}/supprimer").status_code == 403
    # A colleague of the same organization sees the draft.
    login(world["colleague"])
    assert client.get(f"/besoins/{mine.id}").status_code == 200


def test_drafts_stay_private_even_from_the_pfra_and_admins(client, login, world, make):
    draft = make.need(world["cycle"], world["mel"], title="Brouillon privé")
    submitted = make.need(world["cycle"], world["mel"], status="submitted", title="Besoin à qualifier")
    for user in (world["pfra"], world["admin"]):
        login(user)
        listing = text_of(client.get("/besoins/"))
        assert "Besoin à qualifier" in listing and "Brouillon privé" not in listing
        assert client.get(f"/besoins/{draft.id}").status_code == 403
        assert client.get(f"/besoins/{submitted.id}").status_code == 200
        assert client.post(f"/besoins/{draft.id}/accepter", data={"expected_state": "draft"}).status_code == 403


def test_others_have_no_needs_pages(client, login, make, world):
    for role in (Role.COMPANY, Role.COMMITTEE_MEMBER, Role.UGAP_AGENT):
        login(make.user(role, organization=make.organization()))
        # Issue 7: UGAP agents read the accepted needs from the selection stage on (none here: an empty list).
        assert client.get("/besoins/").status_code == (200 if role == Role.UGAP_AGENT else 403)
        assert client.get("/besoins/nouveau").status_code == 403
    client.post("/compte/deconnexion")
    assert "/compte/connexion" in client.get("/besoins/").headers["Location"]


# --- qualification -------------------------------------------------------------------------------------


def test_the_pfra_accepts_a_need_and_the_buyers_get_a_mail(client, login, world, make, smtp):
    need = make.need(world["cycle"], world["mel"], status="submitted", title="Navettes autonomes")
    login(world["pfra"])
    page = text_of(client.get(f"/besoins/{need.id}"))
    assert "Qualification" in page and "Accepter le besoin" in page
    response = client.post(f"/besoins/{need.id}/accepter", data={"accept-expected_state": "submitted"},
                           follow_redirects=True)
    assert "Le besoin est accepté" in text_of(response)
    db.session.expire_all()
    need = db.session.get(Need, need.id)
    assert need.status == "accepted" and need.qualified_at is not None
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "need.accept")).one()
    assert (event.before, event.after, event.actor_id) == ({"state": "submitted"}, {"state": "accepted"},
                                                           world["pfra"].id)
    # The organization's buyers, not the other organization's.
    assert sorted(m["To"] for m in smtp.messages) == ["acheteur@mel.fr", "collegue@mel.fr"]
    assert "Votre besoin « Navettes autonomes » a été accepté" in smtp.messages[0]["Subject"]
    assert "sera publié dans l'appel à manifestation d'intérêt (AMI) du cycle 2017" in body_of(smtp.messages[0])
    # A second click from the same page records nothing more.
    again = client.post(f"/besoins/{need.id}/accepter", data={"accept-expected_state": "submitted"},
                        follow_redirects=True)
    assert "Cette décision a déjà été enregistrée." in text_of(again)
    assert audit_actions(need.id) == ["need.accept"]


def test_a_need_returned_with_a_comment_goes_back_to_the_buyer(client, login, world, make, smtp):
    need = make.need(world["cycle"], world["mel"], status="submitted", title="Capteurs de qualité de l'air",
                     **complete_fields(world))
    login(world["pfra"])
    refused = client.post(f"/besoins/{need.id}/renvoyer", data={"return_for_changes-expected_state": "submitted"},
                          follow_redirects=True)
    assert "Indiquez à l'acheteur ce qu'il doit modifier" in text_of(refused)
    comment = "Décrivez le problème plutôt que la solution <capteurs>."
    client.post(f"/besoins/{need.id}/renvoyer", data={"return_for_changes-expected_state": "submitted",
                                                      "return_for_changes-comment": comment})
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "returned"
    mail_body = body_of(next(m for m in smtp.messages if m["To"] == "acheteur@mel.fr"))
    assert comment in mail_body and "soumettez-le de nouveau" in mail_body

    # The buyer sees the comment, edits (back to draft), and submits again.
    login(world["buyer"])
    raw = client.get(f"/besoins/{need.id}").get_data(as_text=True)
    assert "Décrivez le problème plutôt que la solution &lt;capteurs&gt;." in raw
    form = text_of(client.get(f"/besoins/{need.id}/modifier"))
    assert "Ce que la PFRA vous demande de modifier" in form
    client.post(f"/besoins/{need.id}/modifier", data=complete_form(
        world, problem="L'air des écoles est mal connu.", theme_ids=[str(world["themes"][0].id)]))
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "draft"
    client.post(f"/besoins/{need.id}/soumettre", data={"expected_state": "draft"})
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "submitted"
    assert audit_actions(need.id) == ["need.return_for_changes", "need.revise", "need.update", "need.submit"]
    reason = db.session.scalars(select(AuditEvent.reason).where(AuditEvent.action == "need.return_for_changes"))
    assert reason.one() == comment


def test_a_rejection_needs_a_reason_that_the_buyer_sees(client, login, world, make):
    need = make.need(world["cycle"], world["mel"], status="submitted")
    login(world["admin"])
    client.post(f"/besoins/{need.id}/rejeter", data={"reject-expected_state": "submitted", "reject-comment": " "})
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "submitted"
    client.post(f"/besoins/{need.id}/rejeter", data={"reject-expected_state": "submitted",
                                                     "reject-comment": "Achat courant, sans innovation attendue."})
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "rejected"
    outbox = db.session.scalars(select(Notification).where(Notification.recipient == "acheteur@mel.fr")).one()
    assert "n'a pas été retenu" in outbox.subject and "Achat courant, sans innovation attendue." in outbox.body_text
    login(world["buyer"])
    page = text_of(client.get(f"/besoins/{need.id}"))
    assert "Besoin rejeté le" in page and "Achat courant, sans innovation attendue." in page


def test_a_duplicate_is_merged_into_the_need_that_absorbs_it(client, login, world, make):
    kept = make.need(world["cycle"], world["lille"], status="accepted", title="Éclairage public intelligent")
    duplicate = make.need(world["cycle"], world["mel"], status="submitted", title="Éclairage adaptatif")
    private = make.need(world["cycle"], world["lille"], title="Brouillon de Lille")
    login(world["pfra"])
    page = text_of(client.get(f"/besoins/{duplicate.id}"))
    assert "Éclairage public intelligent" in page and "Brouillon de Lille" not in page  # drafts are never offered
    response = client.post(f"/besoins/{duplicate.id}/fusionner",
                           data={"merge-expected_state": "submitted", "merge-target_id": str(private.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Need, duplicate.id).status == "submitted"
    client.post(f"/besoins/{duplicate.id}/fusionner",
                data={"merge-expected_state": "submitted", "merge-target_id": str(kept.id)})
    db.session.expire_all()
    duplicate = db.session.get(Need, duplicate.id)
    assert duplicate.status == "merged" and duplicate.merged_into_id == kept.id
    assert "Éclairage adaptatif" in text_of(client.get(f"/besoins/{kept.id}"))  # listed as absorbed
    # The absorbed need's buyer learns where it went.
    login(world["buyer"])
    page = text_of(client.get(f"/besoins/{duplicate.id}"))
    assert "Ce besoin a été regroupé le" in page and "« Éclairage public intelligent »" in page


def test_merging_into_a_need_of_another_cycle_is_refused(app, world, make):
    other = make.need(make.cycle(make.convention(2018), 2018), world["lille"], status="accepted")
    need = make.need(world["cycle"], world["mel"], status="submitted")
    with pytest.raises(MoveRefused) as refused:
        service.qualify(need.id, "merge", world["pfra"], target_id=other.id)
    transaction.rollback()
    assert [r.code for r in refused.value.refusals] == ["merge_other_cycle"]
    assert service.refusal_message(refused.value.refusals[0]) == "Le besoin choisi appartient à un autre cycle."


def test_buyers_do_not_qualify(client, login, world, make):
    need = make.need(world["cycle"], world["mel"], status="submitted")
    login(world["buyer"])
    assert "Qualification" not in text_of(client.get(f"/besoins/{need.id}"))
    for action in ("accepter", "renvoyer", "rejeter", "fusionner"):
        assert client.post(f"/besoins/{need.id}/{action}", data={}).status_code == 403


def test_qualification_stops_when_the_cycle_leaves_its_needs_collection(client, login, world, make):
    need = make.need(world["cycle"], world["mel"], status="submitted")
    world["cycle"].state = "ami_sourcing"
    db.session.commit()
    login(world["pfra"])
    response = client.post(f"/besoins/{need.id}/accepter", data={"accept-expected_state": "submitted"},
                           follow_redirects=True)
    assert ("La qualification des besoins n'est possible que pendant la collecte des besoins ; le cycle est à "
            "l'étape « Sourcing par l'AMI ».") in text_of(response)
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "submitted"


def test_a_buyer_deletes_a_draft_but_not_a_submitted_need(client, login, world, make):
    draft = make.need(world["cycle"], world["mel"])
    submitted = make.need(world["cycle"], world["mel"], status="submitted")
    login(world["buyer"])
    client.post(f"/besoins/{submitted.id}/supprimer")
    client.post(f"/besoins/{draft.id}/supprimer")
    db.session.expire_all()
    assert db.session.get(Need, draft.id) is None
    assert db.session.get(Need, submitted.id) is not None
    assert audit_actions() == ["need.delete"]


# --- the cycle's exit guard ----------------------------------------------------------------------------


def test_the_needs_collection_ends_only_with_an_accepted_need(client, login, world, make, clock):
    clock.set(paris_datetime(2017, 4, 1, 9))
    make.need(world["cycle"], world["mel"], status="submitted")
    cycle_id = world["cycle"].id
    with pytest.raises(MoveRefused) as refused:
        cycles.move(cycle_id, "advance", expected_state="needs_collection", actor=world["admin"], forced=True,
                    reason="On avance")
    transaction.rollback()
    message = ("Aucun besoin n'a été accepté : la collecte des besoins ne peut se terminer qu'avec au moins un "
               "besoin accepté. 1 besoin soumis attend sa qualification.")
    assert [cycles.refusal_message(r) for r in refused.value.refusals if r.code == "needs_none_accepted"] == [
        message]
    # The admin sees why on the cycle page, and the move through the page is refused in French.
    login(world["admin"])
    assert message in text_of(client.get(f"/admin/cycles/{cycle_id}"))
    response = client.post(f"/admin/cycles/{cycle_id}/changer-etape",
                           data={"trigger": "advance", "expected_state": "needs_collection"}, follow_redirects=True)
    assert message in text_of(response)
    db.session.expire_all()
    assert db.session.get(Cycle, cycle_id).state == "needs_collection"
    # One accepted need lifts this guard.
    make.need(world["cycle"], world["lille"], status="accepted")
    assert not [r for r in cycles.move_refusals(db.session.get(Cycle, cycle_id), "advance")
                if r.code == "needs_none_accepted"]


# --- themes --------------------------------------------------------------------------------------------


def test_the_admin_maintains_the_cycles_themes(client, login, world, make):
    cycle = world["cycle"]
    login(world["admin"])
    assert "Mobilité" in text_of(client.get(f"/besoins/themes/{cycle.id}"))
    client.post(f"/besoins/themes/{cycle.id}", data={"new-name": "  Transition   énergétique "})
    response = client.post(f"/besoins/themes/{cycle.id}", data={"new-name": "mobilité"})
    assert response.status_code == 422 and "Le cycle a déjà un thème « mobilité »" in text_of(response)
    response = client.post(f"/besoins/themes/{cycle.id}", data={"new-name": ""})
    assert response.status_code == 422 and "Indiquez le nom du thème." in text_of(response)
    names = [t.name for t in service.themes_of(cycle)]
    assert names == ["Mobilité", "Santé", "Transition énergétique"]

    mobility, health = world["themes"]
    client.post(f"/besoins/themes/{cycle.id}/{mobility.id}/renommer", data={f"t{mobility.id}-name": "Mobilités"})
    db.session.expire_all()
    assert db.session.get(Theme, mobility.id).name == "Mobilités"

    # A theme used by a submitted need stays; one used only by drafts goes, and the drafts lose it.
    make.need(cycle, world["mel"], status="submitted", themes=[db.session.get(Theme, mobility.id)])
    draft = make.need(cycle, world["mel"], themes=[db.session.get(Theme, health.id)])
    response = client.post(f"/besoins/themes/{cycle.id}/{mobility.id}/supprimer", follow_redirects=True)
    assert "est utilisé par 1 besoin déjà soumis : renommez-le plutôt" in text_of(response)
    client.post(f"/besoins/themes/{cycle.id}/{health.id}/supprimer")
    db.session.expire_all()
    assert db.session.get(Theme, mobility.id) is not None and db.session.get(Theme, health.id) is None
    assert db.session.get(Need, draft.id).themes == []
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "themes")).all()
    assert sorted(actions) == ["theme.create", "theme.delete", "theme.rename"]
    # Another cycle's theme is not reachable through this cycle's address.
    other = make.cycle(make.convention(2018), 2018)
    assert client.post(f"/besoins/themes/{other.id}/{mobility.id}/renommer",
                       data={f"t{mobility.id}-name": "X"}).status_code == 404


def test_only_admins_maintain_themes(client, login, world):
    for user in (world["buyer"], world["pfra"]):
        login(user)
        assert client.get(f"/besoins/themes/{world['cycle'].id}").status_code == 403


# --- dashboard -----------------------------------------------------------------------------------------


def test_the_dashboard_lists_what_each_has_to_do_about_needs(client, login, world, make):
    make.need(world["cycle"], world["mel"])
    make.need(world["cycle"], world["mel"], status="returned", qualification_comment="Précisez.")
    make.need(world["cycle"], world["lille"], status="submitted")
    make.need(world["cycle"], world["lille"], status="submitted")
    login(world["buyer"])
    page = text_of(client.get("/tableau-de-bord/"))
    assert "1 besoin en brouillon à soumettre avant la clôture" in page
    assert "1 besoin renvoyé pour modification" in page
    assert "besoins soumis à qualifier" not in page
    login(world["pfra"])
    page = text_of(client.get("/tableau-de-bord/"))
    assert "2 besoins soumis à qualifier" in page and "31 mars 2017" in page
    assert "brouillon" not in page


# --- attachments ---------------------------------------------------------------------------------------


def _docx() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def test_a_need_carries_pdf_and_office_documents_seen_only_by_those_who_see_the_need(client, login, world):
    login(world["buyer"])
    data = complete_form(world)
    data["attachments"] = [(io.BytesIO(PDF), "cahier.pdf"), (io.BytesIO(_docx()), "plan.docx")]
    response = client.post("/besoins/nouveau", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    need = db.session.scalars(select(Need)).one()
    assert sorted((a.original_name, a.content_type) for a in need.attachments) == [
        ("cahier.pdf", "application/pdf"),
        ("plan.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]
    pdf = next(a for a in need.attachments if a.original_name == "cahier.pdf")
    assert "cahier.pdf" in text_of(client.get(f"/besoins/{need.id}"))
    assert client.get(f"/pieces-jointes/{pdf.id}").data == PDF
    # A draft's files are private to the organization, like the draft.
    for user in (world["other_buyer"], world["pfra"]):
        login(user)
        assert client.get(f"/pieces-jointes/{pdf.id}").status_code == 403
    login(world["buyer"])
    client.post(f"/besoins/{need.id}/soumettre", data={"expected_state": "draft"})
    login(world["pfra"])
    assert client.get(f"/pieces-jointes/{pdf.id}").status_code == 200
    login(world["other_buyer"])
    assert client.get(f"/pieces-jointes/{pdf.id}").status_code == 403


def test_a_renamed_program_is_refused_and_nothing_is_created(client, login, world):
    login(world["buyer"])
    data = complete_form(world)
    data["attachments"] = [(io.BytesIO(b"MZ\x90\x00" + b"\x00" * 200), "notice.pdf")]
    response = client.post("/besoins/nouveau", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    page = text_of(response)
    assert "« notice.pdf » : Ce fichier est un programme ou un script" in page
    assert db.session.scalar(select(func.count(Need.id))) == 0
    assert audit_actions() == []


def test_two_creations_racing_with_one_form_make_one_need(app, world, make, monkeypatch):
    """The second request passed the token check before the first committed: the unique token settles it."""
    first = make.need(world["cycle"], world["mel"], creation_token=TOKEN, title="Créé par la première requête")
    real_scalar = db.session.scalar
    calls = {"n": 0}

    def scalar_missing_once(*args, **kwargs):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_scalar(*args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", scalar_missing_once)
    got = service.create_need(world["cycle"], world["buyer"], {"title": "Doublon", "problem": "p"}, TOKEN)
    monkeypatch.undo()
    transaction.commit()
    assert got.id == first.id
    assert db.session.scalars(select(Need.title)).all() == ["Créé par la première requête"]


def test_the_needs_list_does_not_grow_a_query_per_row(client, login, world, make):

    organizations = [make.organization(f"Commune {i}") for i in range(8)]
    for i in range(40):
        make.need(world["cycle"], organizations[i % 8], status="submitted", title=f"Besoin n° {i}")
    login(world["pfra"])
    db.session.expire_all()
    with count_queries() as statements:
        response = client.get("/besoins/")
    assert response.status_code == 200 and text_of(response).count("Commune ") >= 25
    assert len(statements) <= 12, "\n".join(statements)
