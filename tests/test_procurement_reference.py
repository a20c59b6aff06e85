"""Issue 8's reference data, entered by the secretariat through forms (tests inserted them by hand before):
the procedure thresholds (dated validity, amount, legal source) and the PFRA's purchases per year (the 2%
objective's denominator). French messages next to the field, nothing half-written, every change audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from census_factories import census_world
from sqlalchemy import func, select
from test_end_to_end import ok, text_of

from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, ProcedureThreshold, PurchaseBaseline, Role
from innovation_cycle.services import procedures


@pytest.fixture
def admin(make, login):
    procedures.seed_thresholds()
    db.session.commit()
    user = make.user(Role.ADMIN)
    login(user)
    return user


def _threshold(**fields) -> dict:
    return {"kind": "innovative_no_competition", "amount": "140 000", "valid_from": "01/01/2030",
            "valid_to": "", "legal_source": "Décret n° 2029-1 du 1er janvier 2029", **fields}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.mark.parametrize(("fields", "message"), [
    ({"amount": "-5 000"}, "Le montant doit être positif."),
    ({"amount": "cent mille"}, "Saisissez un montant en euros"),
    ({"amount": "50 000 000"}, "n'est pas plausible pour un seuil de procédure"),
    ({"amount": ""}, "Indiquez le montant du seuil en euros hors taxes."),
    ({"legal_source": "  "}, "Indiquez le texte qui fixe ce seuil"),
    ({"kind": "whatever"}, "Choisissez la règle à laquelle ce seuil s'applique."),
    ({"valid_from": ""}, "Indiquez la date d'entrée en vigueur du seuil."),
    ({"valid_from": "01/01/1850"}, "Indiquez une date entre 2000 et 2100."),
    ({"valid_to": "31/12/2029"}, "La fin de validité ne peut pas précéder l'entrée en vigueur."),
    # The R2122-9-1 row of 16 December 2021 is still in force: a second one from 2030 would overlap it.
    ({}, "Cette période chevauche celle d'un autre seuil de la même règle (100 000 € HT, en vigueur depuis le "
         "16/12/2021)"),
], ids=["negative", "not-a-number", "absurd", "missing-amount", "missing-source", "unknown-kind", "missing-start",
        "absurd-date", "end-before-start", "overlap"])
def test_a_bad_threshold_is_refused_in_french_next_to_its_field(client, admin, fields, message):
    rows = _count(ProcedureThreshold)
    response = client.post("/admin/seuils/nouveau", data=_threshold(**fields))
    assert response.status_code == 422
    assert message in text_of(response)
    assert "fr-input-group--error" in response.get_data(as_text=True) or "fr-select-group--error" in \
        response.get_data(as_text=True)
    assert _count(ProcedureThreshold) == rows and _audits("procedure_threshold.create") == []


def test_a_new_threshold_closes_the_old_period_first_and_the_advice_follows(client, admin):
    """The secretariat enters a raised threshold: it closes the row in force, adds the new one with its source;
    a purchase after the new date gets the new threshold's advice."""
    current = db.session.scalars(select(ProcedureThreshold).where(
        ProcedureThreshold.kind == "innovative_no_competition", ProcedureThreshold.valid_to.is_(None))).one()
    assert "100 000" in text_of(client.get(f"/admin/seuils/{current.id}/modifier"))
    ok(client.post(f"/admin/seuils/{current.id}/modifier", data={
        "kind": current.kind, "amount": "100 000,00", "valid_from": "16/12/2021", "valid_to": "31/12/2029",
        "legal_source": current.legal_source}))
    ok(client.post("/admin/seuils/nouveau", data=_threshold()))
    page = text_of(client.get("/admin/seuils"))
    assert "Décret n° 2029-1 du 1er janvier 2029" in page and "depuis le 01/01/2030" in page
    update, create = _audits("procedure_threshold.update"), _audits("procedure_threshold.create")
    assert [(a.before["valid_to"], a.after["valid_to"]) for a in update] == [(None, "2029-12-31")]
    assert [a.after["amount"] for a in create] == ["140000.00"]
    advice = procedures.advise(Decimal("120000"), through_ugap=False, central_buyer=False, on=date(2030, 6, 1),
                               thresholds=procedures.thresholds())
    assert (advice.procedure, advice.legal_basis) == ("innovative_no_competition",
                                                      "Décret n° 2029-1 du 1er janvier 2029")
    # Saving a row unchanged writes no audit row.
    ok(client.post(f"/admin/seuils/{current.id}/modifier", data={
        "kind": current.kind, "amount": "100 000", "valid_from": "16/12/2021", "valid_to": "31/12/2029",
        "legal_source": current.legal_source}))
    assert len(_audits("procedure_threshold.update")) == 1


def test_an_unknown_threshold_is_404(client, admin):
    assert client.get("/admin/seuils/999999/modifier").status_code == 404


@pytest.mark.parametrize(("fields", "message"), [
    ({"amount": "0"}, "Le montant doit être positif."),
    ({"amount": "-3 000 000"}, "Le montant doit être positif."),
    ({"amount": "200 000 000 000"}, "Ce montant n'est pas plausible (100 milliards d'euros ou plus)"),
    ({"amount": ""}, "Indiquez le montant des achats de la PFRA pour l'année"),
    ({"source": ""}, "Indiquez la source de ce montant"),
    ({"year": ""}, "Indiquez l'année des achats."),
    ({"year": "1789"}, "Indiquez une année entre 2000 et 2100."),
], ids=["zero", "negative", "absurd", "missing-amount", "missing-source", "missing-year", "absurd-year"])
def test_a_bad_purchases_denominator_is_refused(client, admin, fields, message):
    data = {"year": "2017", "amount": "3 150 000", "source": "Rapport d'activité 2017", **fields}
    response = client.post("/admin/achats-pfra/nouveau", data=data)
    assert response.status_code == 422 and message in text_of(response)
    assert _count(PurchaseBaseline) == 0 and _audits("purchase_baseline.create") == []


def test_the_purchases_denominator_is_entered_once_per_year_then_corrected(app, client, admin, make, clock):
    from innovation_cycle.clock import paris_datetime

    clock.set(paris_datetime(2017, 10, 5, 10))
    world = census_world(make, state="results_communication")
    login_page = text_of(client.get(f"/resultats/cycle/{world.cycle.id}/bilan"))
    assert "Les achats de la PFRA en 2017 ne sont pas saisis" in login_page
    assert 'value="2017"' in client.get("/admin/achats-pfra/nouveau?year=2017").get_data(as_text=True)
    ok(client.post("/admin/achats-pfra/nouveau", data={"year": "2017", "amount": "3 150 000 €",
                                                       "source": "Rapport d'activité 2017"}))
    again = client.post("/admin/achats-pfra/nouveau", data={"year": "2017", "amount": "1 000",
                                                            "source": "Autre"})
    assert again.status_code == 422
    assert "Les achats de 2017 sont déjà saisis : modifiez-les plutôt." in text_of(again)
    ok(client.post("/admin/achats-pfra/2017/modifier", data={"amount": "3 200 000,50",
                                                             "source": "Rapport d'activité 2017, révisé"}))
    row = db.session.get(PurchaseBaseline, 2017)
    db.session.refresh(row)
    assert (row.amount, row.source) == (Decimal("3200000.50"), "Rapport d'activité 2017, révisé")
    assert [a.after["amount"] for a in _audits("purchase_baseline.create")] == ["3150000.00"]
    assert [(a.before["amount"], a.after["amount"]) for a in _audits("purchase_baseline.update")] == [
        ("3150000.00", "3200000.50")]
    page = text_of(client.get(f"/resultats/cycle/{world.cycle.id}/bilan"))
    assert "Achats de la PFRA en 2017" in page and "Rapport d'activité 2017, révisé" in page
    listing = text_of(client.get("/admin/achats-pfra"))
    assert "3 200 000,50" in listing and "Rapport d'activité 2017, révisé" in listing
    assert client.get("/admin/achats-pfra/2031/modifier").status_code == 404


def test_the_reference_pages_are_linked_from_the_admins_cycle_page(client, admin, make):
    world = census_world(make, state="results_communication")
    page = client.get(f"/admin/cycles/{world.cycle.id}").get_data(as_text=True)
    for url in ("/admin/seuils", "/admin/achats-pfra", f"/resultats/cycle/{world.cycle.id}/bilan"):
        assert f'href="{url}"' in page, url
