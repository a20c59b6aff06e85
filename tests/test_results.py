"""The cycle's results (issue 8): the bilan's figures against a hand-built fixture, its query budget, the
founders' approval, publication (and its announcement), the public page, and the cycle's exit guard."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from census_factories import census_world
from sqlalchemy import select
from test_query_budgets import count_queries

from innovation_cycle import transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Commitment, Notification, PurchaseBaseline, Theme
from innovation_cycle.services import cycles
from innovation_cycle.services import results as service
from workflows.base import MoveRefused


def commitment(world, application, buyer, channel, status, amount, *, confirmed=True, need=None, **kw):
    at = paris_datetime(2017, 8, 10)
    c = Commitment(cycle_id=world.cycle.id, application_id=application.id, company_id=application.company_id,
                   buyer_organization_id=world.orgs[buyer].id, channel=channel, status=status,
                   amount_excl_vat=Decimal(amount), need_id=need.id if need else None, created_at=at, updated_at=at,
                   confirmed_at=at if confirmed else None, abandon_reason="Budget" if status == "abandoned" else None,
                   ugap_organization_id=world.orgs["ugap"].id if channel == "ugap_national" else None, **kw)
    db.session.add(c)
    return c


@pytest.fixture
def world(make, clock):
    clock.set(paris_datetime(2017, 10, 5, 10, 0))
    w = census_world(make, state="results_communication")
    theme = Theme(cycle=w.cycle, name="Accueil", position=1)
    w.needs[0].themes = [theme]
    first, second = w.selected
    commitment(w, first, "region", "pfra_regional", "contracted", "10000", need=w.needs[0],
               first_committed_at=paris_datetime(2017, 8, 10), contract_amount=Decimal("9000"),
               contract_notified_on=date(2017, 9, 10))
    commitment(w, second, "state", "pfra_internal", "purchase_commitment", "50000", need=w.needs[1],
               first_committed_at=paris_datetime(2017, 8, 20))
    commitment(w, first, "client", "ugap_national", "interest", "20000")
    commitment(w, second, "region", "pfra_regional", "abandoned", "5000")
    commitment(w, second, "region", "pfra_regional", "interest", "700000", confirmed=False)  # not confirmed
    commitment(w, w.not_selected, "region", "pfra_regional", "interest", "20000")  # a large company
    db.session.add(PurchaseBaseline(year=2017, amount=Decimal("1000000"), source="PFRA, rapport 2017"))
    db.session.commit()
    return w


def test_the_bilan_from_a_hand_built_fixture(world):
    [b] = service.bilan([world.cycle])
    assert b.funnel == {"needs_submitted": 2, "needs_accepted": 2, "answers_submitted": 3, "answers_eligible": 3,
                        "answers_selected": 2, "commitments": 5, "contracted": 1}
    assert b.by_level == {"interest": 2, "experimentation_planned": 0, "purchase_commitment": 1,
                          "procedure_launched": 0, "contracted": 1, "abandoned": 1}
    assert b.committed_by_channel == {"pfra_regional": Decimal("30000.00"), "pfra_internal": Decimal("50000.00"),
                                      "ugap_national": Decimal("20000.00")}
    assert b.contracted_by_channel == {"pfra_regional": Decimal("9000.00")}
    assert b.by_size == {
        "micro": {"count": 2, "committed": Decimal("30000.00"), "contracted": Decimal("9000.00")},
        "pme": {"count": 1, "committed": Decimal("50000.00"), "contracted": Decimal("0.00")},
        "ge": {"count": 1, "committed": Decimal("20000.00"), "contracted": Decimal("0.00")},
    }
    assert b.sme_share == pytest.approx(0.8)
    assert b.by_department == {"59": 2, "62": 1, "75": 1}
    assert b.by_theme == {"Accueil": 1}
    assert round(b.lead_days_to_commitment) == 186  # the median of 181 and 191 days (less the summer hour)
    assert b.lead_days_to_contract == 212
    assert b.objective_share() == pytest.approx(0.009) and b.objective_share(with_eti=True) == pytest.approx(0.009)


def test_a_conventions_bilan_is_a_fixed_number_of_queries(world, make):
    for year in (2018, 2019):
        other = census_world(make, year=year, convention=world.convention, state="results_communication",
                             companies=world.companies)
        for application in other.selected * 5:
            commitment(other, application, "region", "pfra_regional", "interest", "1000")
    db.session.commit()
    db.session.expire_all()
    with count_queries() as statements:
        bilans = service.convention_bilan(world.convention)
    assert [b.year for b in bilans] == [2017, 2018, 2019]
    assert bilans[1].funnel["commitments"] == 10
    assert len(statements) <= 20, statements


def test_approval_publication_and_announcement(world, clock):
    admin, pfra, ugap = world.users["admin"], world.users["pfra"], world.users["ugap"]
    with pytest.raises(MoveRefused):
        service.approve(world.cycle, world.users["buyer"])  # not a founding partner
    service.save_editorial(world.cycle, admin, "Premier texte")
    service.approve(world.cycle, pfra)
    service.save_editorial(world.cycle, admin, "Texte revu")  # a new text needs new approvals
    assert [o.name for o in service.missing_approvals(world.cycle)] == ["PFRA Hauts-de-France", "UGAP"]
    service.approve(world.cycle, pfra)
    with pytest.raises(MoveRefused) as refused:
        service.publish(world.cycle, admin)
    assert "UGAP" in refused.value.refusals[0].params["message"]
    service.approve(world.cycle, ugap)
    assert db.session.scalars(select(Notification).where(Notification.kind == "announcement")).all() == []
    service.publish(world.cycle, admin)
    transaction.commit()
    announced = db.session.scalars(select(Notification).where(Notification.kind == "announcement")).all()
    assert announced and all("/resultats/2017" in (n.body_text or "") for n in announced)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("results.%"))
                                  .order_by(AuditEvent.id)).all()
    assert actions == ["results.editorial", "results.approve", "results.editorial", "results.approve",
                       "results.approve", "results.publish"]


def test_the_cycle_closes_only_once_its_bilan_is_published(world, clock):
    admin = world.users["admin"]
    clock.set(paris_datetime(2017, 11, 2, 10, 0))
    with pytest.raises(MoveRefused) as refused:
        cycles.move(world.cycle.id, "close", expected_state="results_communication", actor=admin, forced=True,
                    reason="On ferme")
    assert any(r.code == "results_unpublished" for r in refused.value.refusals)
    transaction.rollback()
    service.save_editorial(world.cycle, admin, "Bilan")
    service.approve(world.cycle, world.users["pfra"])
    service.approve(world.cycle, world.users["ugap"])
    service.publish(world.cycle, admin)
    cycles.move(world.cycle.id, "close", expected_state="results_communication", actor=admin)
    assert world.cycle.state == "closed"


def test_the_public_page_names_only_companies_that_agreed(world, client, login):
    admin = world.users["admin"]
    assert client.get("/resultats/2017").status_code == 404  # not published yet
    login(admin)
    response = client.post(f"/resultats/cycle/{world.cycle.id}/bilan", data={"editorial": "Une belle année."})
    assert response.status_code == 302
    for who in ("pfra", "ugap"):
        client.post("/compte/deconnexion")
        login(world.users[who])
        assert "Aperçu" in client.get(f"/resultats/cycle/{world.cycle.id}/apercu").get_data(as_text=True)
        assert client.post(f"/resultats/cycle/{world.cycle.id}/approuver").status_code == 302
    client.post("/compte/deconnexion")
    login(admin)
    assert client.post(f"/resultats/cycle/{world.cycle.id}/publier").status_code == 302
    client.post("/compte/deconnexion")
    page = client.get("/resultats/2017").get_data(as_text=True)
    assert "Une belle année." in page and "Borne d&#39;accueil" in page and "Alpha SAS" in page
    assert "Tri intelligent" not in page and "Beta SA" not in page
    assert "1 autre solution retenue" in page
    assert "<caption>" in page  # every figure has its data table
    csv_text = client.get("/resultats/2017/bilan.csv").get_data(as_text=True)
    lines = dict(line.split(",", 1) for line in csv_text.splitlines())
    assert lines["indicateur"] == "2017" and lines["answers_selected"] == "2" and lines["contracted"] == "1"
    assert lines["contracted_eur_pfra_regional"] == "9000.00" and lines["sme_share_committed"] == "0.8"
