"""The census's rules (issue 8): who records what and when, bad input, moves, confirmation, follow-up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from census_factories import census_world
from sqlalchemy import func, select

from innovation_cycle import transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Commitment, OutboxMessage
from innovation_cycle.services import commitments as service
from workflows.base import MoveRefused


@pytest.fixture
def world(make, clock):
    clock.set(paris_datetime(2017, 8, 10, 10, 0))  # the PFRA phase
    return census_world(make)


def _data(world, **kw) -> service.CommitmentData:
    values = {"application_id": world.selected[0].id, "need_id": world.needs[0].id,
              "buyer_organization_id": world.orgs["region"].id, "channel": "pfra_regional",
              "amount": "12 500,50", "quantity": 2, "expected_on": date(2017, 11, 15)}
    values.update(kw)
    return service.CommitmentData(**values)


@pytest.mark.parametrize(("text", "expected"), [
    ("12 500,50", Decimal("12500.50")), ("12500,5", Decimal("12500.50")), ("12500.50", Decimal("12500.50")),
    ("1\u202f000 €", Decimal("1000.00")), ("", None), ("  ", None),
])
def test_french_amounts(text, expected):
    assert service.parse_amount(text) == expected


@pytest.mark.parametrize("text", ["12,500.50", "douze", "1 00", "12,505", "1e6"])
def test_not_amounts(text):
    with pytest.raises(ValueError):
        service.parse_amount(text)


def test_pfra_records_a_regional_commitment(world):
    c = service.record(world.cycle, world.users["pfra"], _data(world))
    transaction.commit()
    assert c.status == "interest" and c.amount_excl_vat == Decimal("12500.50") and c.confirmed
    assert c.company_id == world.companies[0].id and c.advised_procedure == "adapted"  # 2017: no R2122-9-1
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_type == "commitments")) == \
        "commitment.record"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("amount", "-5", "positif"),
    ("amount", "2 000 000 000", "plausible"),
    ("amount", "douze mille", "12 500,50"),
    ("expected_on", date(2021, 1, 1), "pendant la convention"),
    ("quantity", 0, "entier positif"),
    ("need_id", "other", "pour lesquels la solution a été retenue"),
    ("application_id", "not_selected", "n'a pas été retenue"),
])
def test_bad_input_is_refused_next_to_its_field(world, field, value, message):
    if value == "other":
        value = world.needs[1].id  # the other answer's need
    if value == "not_selected":
        value = world.not_selected.id
    with pytest.raises(service.CommitmentInvalid) as refused:
        service.record(world.cycle, world.users["pfra"], _data(world, **{field: value}))
    errors = {e.field: e.message for e in refused.value.errors}
    assert message in errors[field]
    transaction.rollback()
    assert db.session.scalar(select(func.count(Commitment.id))) == 0


def test_a_choice_against_the_advice_needs_a_note(world):
    with pytest.raises(service.CommitmentInvalid) as refused:
        service.record(world.cycle, world.users["pfra"], _data(world, procedure="formal"))
    assert "conseillée" in refused.value.errors[0].message
    c = service.record(world.cycle, world.users["pfra"], _data(world, procedure="formal",
                                                                procedure_note="Montant global de l'accord"))
    assert c.procedure == "formal" and c.advised_procedure == "adapted"


def test_ugap_cannot_record_during_the_pfra_phase(world, clock):
    data = _data(world, channel="ugap_national", buyer_organization_id=world.orgs["client"].id, need_id=None)
    with pytest.raises(MoveRefused) as refused:
        service.record(world.cycle, world.users["ugap"], data)
    assert "phase UGAP" in service.refusal_message(refused.value.refusals[0])
    clock.set(paris_datetime(2017, 9, 5, 10, 0))
    c = service.record(world.cycle, world.users["ugap"], data)
    assert c.ugap_organization_id == world.orgs["ugap"].id and c.buyer_organization_id == world.orgs["client"].id
    assert c.company_id == world.companies[0].id  # the SME stays the underlying supplier
    assert c.advised_procedure == "ugap"


def test_ugap_records_national_commitments_only(world, clock):
    clock.set(paris_datetime(2017, 9, 5, 10, 0))
    with pytest.raises(MoveRefused):
        service.record(world.cycle, world.users["ugap"], _data(world))


def test_phase_split_is_editable_per_cycle(world, clock):
    service.update_settings(world.cycle, paris_datetime(2017, 8, 20), 10)
    transaction.commit()
    assert service.phase(world.cycle) == "pfra"
    clock.set(paris_datetime(2017, 8, 21, 10, 0))
    assert service.phase(world.cycle) == "ugap"
    with pytest.raises(service.CommitmentInvalid):
        service.update_settings(world.cycle, paris_datetime(2017, 12, 1), 10)


def test_a_buyer_declares_and_another_pfra_agent_confirms(world):
    c = service.record(world.cycle, world.users["buyer"], _data(world))
    assert c.declared_by_buyer and not c.confirmed
    with pytest.raises(MoveRefused):
        service.confirm(c.id, world.users["buyer"])  # a buyer cannot confirm its own declaration
    service.confirm(c.id, world.users["pfra"])
    assert c.confirmed and c.confirmed_by_id == world.users["pfra"].id


def test_a_buyer_declares_for_its_own_organization_only(world):
    with pytest.raises(service.CommitmentInvalid) as refused:
        service.record(world.cycle, world.users["buyer"], _data(world, buyer_organization_id=world.orgs["state"].id))
    assert refused.value.errors[0].field == "buyer_organization_id"


def test_an_agent_with_two_roles_does_not_confirm_what_they_recorded(world, make):
    from innovation_cycle.models import Role

    both = make.user(Role.PFRA_AGENT, Role.BUYER, organization=world.orgs["region"])
    both.role_rows = [r for r in both.role_rows if r.role == Role.BUYER]
    db.session.commit()
    c = service.record(world.cycle, both, _data(world))
    with pytest.raises(MoveRefused):
        service.confirm(c.id, both)


def test_the_whole_path_to_a_contract(world, clock):
    c = service.record(world.cycle, world.users["pfra"], _data(world))
    for trigger, state in (("plan_experimentation", "interest"), ("commit", "experimentation_planned"),
                           ("launch_procedure", "purchase_commitment")):
        service.move(c.id, trigger, world.users["pfra"], expected_state=state)
    with pytest.raises(MoveRefused) as refused:
        service.move(c.id, "contract", world.users["pfra"], expected_state="procedure_launched")
    assert "données essentielles" in service.refusal_message(refused.value.refusals[0])
    with pytest.raises(service.CommitmentInvalid) as invalid:
        service.move(c.id, "contract", world.users["pfra"], expected_state="procedure_launched",
                     contract=service.ContractData(holder_siret="12345678901234", contract_cpv="48"))
    assert {e.field for e in invalid.value.errors} == {"holder_siret", "contract_cpv"}
    contract = service.ContractData("2017-INNOV-01", date(2017, 8, 9), "12 000", 12, "48000000-8", "Lille",
                                    "adapted", "732 829 320 00074")
    service.move(c.id, "contract", world.users["pfra"], expected_state="procedure_launched", contract=contract)
    transaction.commit()
    assert c.status == "contracted" and c.holder_siret == "73282932000074" and c.first_committed_at is not None
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == c.id,
                                                                 AuditEvent.object_type == "commitments")).all()
    assert actions == ["commitment.record", "commitment.plan_experimentation", "commitment.commit",
                       "commitment.launch_procedure", "commitment.contract"]


def test_abandon_needs_a_reason_and_a_stale_move_is_refused(world):
    c = service.record(world.cycle, world.users["pfra"], _data(world))
    with pytest.raises(MoveRefused):
        service.move(c.id, "abandon", world.users["pfra"], expected_state="interest", reason=" ")
    with pytest.raises(MoveRefused) as stale:
        service.move(c.id, "commit", world.users["pfra"], expected_state="experimentation_planned")
    assert stale.value.refusals[0].code == "stale"
    service.move(c.id, "abandon", world.users["pfra"], expected_state="interest", reason="Budget supprimé")
    assert c.status == "abandoned" and c.abandon_reason == "Budget supprimé"


def test_follow_up_stays_open_after_the_cycle_closes_until_the_convention_ends(world, clock):
    c = service.record(world.cycle, world.users["pfra"], _data(world))
    world.cycle.state = "closed"
    transaction.commit()
    clock.set(paris_datetime(2019, 6, 1, 10, 0))
    service.move(c.id, "commit", world.users["pfra"], expected_state="interest")
    clock.set(paris_datetime(2020, 1, 2, 10, 0))
    with pytest.raises(MoveRefused) as refused:
        service.move(c.id, "launch_procedure", world.users["pfra"], expected_state="purchase_commitment")
    assert refused.value.refusals[0].code == "follow_up_closed"
    with pytest.raises(MoveRefused):
        service.record(world.cycle, world.users["pfra"], _data(world))  # no new record after the stage


def test_a_company_sees_only_commitments_about_its_solutions(world, clock):
    service.record(world.cycle, world.users["pfra"], _data(world))
    service.record(world.cycle, world.users["pfra"], _data(
        world, application_id=world.selected[1].id, need_id=world.needs[1].id,
        buyer_organization_id=world.orgs["state"].id, channel="pfra_internal"))
    transaction.commit()
    assert len(service.list_for(world.users["company"], world.cycle)) == 1
    assert service.list_for(world.users["other_company"], world.cycle) == []
    assert len(service.list_for(world.users["buyer"], world.cycle)) == 1
    assert len(service.list_for(world.users["pfra"], world.cycle)) == 2


def test_ugap_adds_a_national_client_with_a_checked_siret(world):
    with pytest.raises(service.CommitmentInvalid) as refused:
        service.add_client(world.users["ugap"], "CHU de Lyon", "12345678901234")
    assert refused.value.errors[0].field == "siret"
    org = service.add_client(world.users["ugap"], "CHU de Lyon", "443 061 841 00047", "69")
    assert org.siret == "44306184100047" and org.siren == "443061841"


def test_the_recorder_is_asked_once_whether_the_purchase_happened(world, clock):
    service.update_settings(world.cycle, paris_datetime(2017, 9, 1), 10)
    service.record(world.cycle, world.users["pfra"], _data(world, expected_on=date(2017, 11, 15)))
    transaction.commit()
    clock.set(paris_datetime(2017, 11, 24, 10, 0))
    assert service.ask_follow_ups() == 0  # 9 days after: not yet
    clock.set(paris_datetime(2017, 11, 26, 10, 0))
    assert service.ask_follow_ups() == 1
    transaction.commit()
    assert service.ask_follow_ups() == 0
    mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == world.users["pfra"].email))
    assert [m.subject for m in mails] == ["L'achat de « Borne d'accueil » a-t-il eu lieu ?"]


def test_reminders_go_to_agents_while_selected_solutions_are_unreviewed(world, clock):
    audience = service.census_audience(world.cycle)
    assert {u.id for u in audience} == {world.users["pfra"].id, world.users["pfra2"].id}
    clock.set(paris_datetime(2017, 9, 5, 10, 0))
    assert world.users["ugap"].id in {u.id for u in service.census_audience(world.cycle)}
    for application, need, org in ((world.selected[0], world.needs[0], "region"),
                                   (world.selected[1], world.needs[1], "state")):
        data = _data(world, application_id=application.id, need_id=need.id,
                     buyer_organization_id=world.orgs[org].id)
        service.record(world.cycle, world.users["pfra"], data)
    assert service.census_audience(world.cycle) == []


def test_the_dispatcher_asks_the_follow_up_question(world, clock):
    from innovation_cycle.services import notifications

    service.record(world.cycle, world.users["pfra"], _data(world, expected_on=date(2017, 9, 1)))
    transaction.commit()
    clock.set(paris_datetime(2017, 10, 2, 10, 0))  # 31 days after, the default delay being 30
    notifications.dispatch_due()
    notifications.dispatch_due()
    subjects = db.session.scalars(select(OutboxMessage.subject).where(
        OutboxMessage.recipient == world.users["pfra"].email)).all()
    assert subjects == ["L'achat de « Borne d'accueil » a-t-il eu lieu ?"]


def test_pages_through_the_web(world, client, login, clock):
    """The PFRA agent records through the form and sees the advice with its legal basis; the UGAP agent is told
    to wait for its phase; the buyer declares, the PFRA confirms; the company reads without buttons."""
    login(world.users["pfra"])
    page = client.get("/engagements/").get_data(as_text=True)
    assert "Borne d&#39;accueil" in page and "phase PFRA" in page
    form = {"application_id": world.selected[0].id, "need_id": world.needs[0].id, "channel": "pfra_regional",
            "buyer_organization_id": world.orgs["region"].id, "amount": "-3", "expected_on": "2017-11-15"}
    refused = client.post("/engagements/nouveau", data=form)
    assert refused.status_code == 422 and "Le montant doit être positif." in refused.get_data(as_text=True), \
        refused.get_data(as_text=True)[refused.get_data(as_text=True).find("<main"):][:6000]
    response = client.post("/engagements/nouveau", data={**form, "amount": "12 500,50"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Procédure adaptée" in page and "L2123-1" in page and "500,50" in page
    c = db.session.scalars(select(Commitment)).one()
    assert client.post(f"/engagements/{c.id}/etat", data={"commit-trigger": "commit",
                                                         "commit-expected_state": "interest"}).status_code == 302
    assert db.session.get(Commitment, c.id).status == "purchase_commitment"
    client.post("/compte/deconnexion")

    login(world.users["ugap"])
    page = client.get("/engagements/nouveau").get_data(as_text=True)
    assert "La phase UGAP du recensement commence le" in page
    client.post("/compte/deconnexion")

    login(world.users["buyer"])
    response = client.post("/engagements/nouveau", data={**form, "amount": "8 000"})
    declared = db.session.scalars(select(Commitment).where(Commitment.declared_by_buyer.is_(True))).one()
    assert "la PFRA la confirmera" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.post(f"/engagements/{declared.id}/confirmer").status_code == 403
    client.post("/compte/deconnexion")
    login(world.users["pfra"])
    assert client.post(f"/engagements/{declared.id}/confirmer").status_code == 302
    assert db.session.get(Commitment, declared.id).confirmed
    client.post("/compte/deconnexion")

    login(world.users["company"])
    page = client.get(f"/engagements/{c.id}").get_data(as_text=True)
    assert "Borne d&#39;accueil" in page and "Modifier" not in page
    assert client.get(f"/engagements/{c.id}/modifier").status_code == 403
    client.post("/compte/deconnexion")
    login(world.users["other_company"])
    assert client.get(f"/engagements/{c.id}").status_code == 403


def test_carry_over_of_an_accepted_need_without_commitment(world, make, client, login, clock):
    from innovation_cycle.models import Need, NeedCarryOver

    world.cycle.state = "closed"
    next_cycle = make.cycle(world.convention, 2018, state="needs_collection")
    db.session.commit()
    clock.set(paris_datetime(2018, 2, 10, 10, 0))
    login(world.users["buyer"])
    page = client.get("/engagements/").get_data(as_text=True)
    assert "Accueil des usagers" in page and "Reconduire" in page
    response = client.post(f"/engagements/besoins/{world.needs[0].id}/reconduire")
    assert response.status_code == 302
    carried = db.session.scalars(select(NeedCarryOver)).one()
    new = db.session.get(Need, carried.need_id)
    assert (new.cycle_id, new.status, new.title, carried.source_need_id) == (
        next_cycle.id, "draft", "Accueil des usagers", world.needs[0].id)
    client.post(f"/engagements/besoins/{world.needs[0].id}/reconduire")  # once only
    assert db.session.scalar(select(func.count(NeedCarryOver.need_id))) == 1
    assert client.post(f"/engagements/besoins/{world.needs[1].id}/reconduire").status_code == 403  # not its own


def test_a_need_with_a_commitment_is_not_carried_over(world, make, clock):
    service.record(world.cycle, world.users["pfra"], _data(world))
    world.cycle.state = "closed"
    transaction.commit()
    assert service.carry_over_candidates(world.users["buyer"]) == []


def test_the_company_chooses_to_be_named(world, client, login):
    application = world.selected[0]
    login(world.users["company"])
    assert "Ne plus être nommée" in client.get("/engagements/").get_data(as_text=True)
    assert client.post(f"/engagements/solutions/{application.id}/nommer", data={"named": "0"}).status_code == 302
    assert db.session.get(type(application), application.id).named_in_results is False
    assert client.post(f"/engagements/solutions/{world.selected[1].id}/nommer",
                       data={"named": "1"}).status_code == 403  # another company's answer


def test_dashboard_tasks_with_links_and_deadlines(world, clock, app):
    from innovation_cycle.services.dashboard import tasks_for

    with app.test_request_context():
        pfra = {t.title: t for t in tasks_for(world.users["pfra"])}
        buyer = {t.title: t for t in tasks_for(world.users["buyer"])}
        ugap = {t.title: t for t in tasks_for(world.users["ugap"])}
    deadline = world.cycle.window("commitment_census").closes_at
    task = pfra["2 solutions retenues sans engagement recensé"]
    assert task.url.startswith("/engagements/") and task.deadline == deadline
    assert "1 solution retenue pour vos besoins : déclarez vos intentions d'achat" in buyer
    assert any("phase UGAP à partir du" in title for title in ugap)


# --- Issue 11: the census page a page at a time, in queries that do not grow with the commitments ----------


def _many_commitments(world, make, count: int, selected: int) -> None:
    """`count` commitments (one in three waiting for a confirmation) and `selected` more selected solutions,
    written directly: what the national dataset puts on the census page."""
    from datetime import timedelta

    from census_factories import answer

    from innovation_cycle.clock import paris_datetime as at

    for i in range(selected):
        answer(make, world.cycle, world.companies[1], "selected", world.meeting, [world.needs[1]],
               name=f"Retenue {i:02d}")
    answers = [(a.id, a.company_id) for a in world.selected]
    cycle_id, buyer_id = world.cycle.id, world.orgs["region"].id
    start = at(2017, 8, 1)
    for i in range(count):
        application_id, company_id = answers[i % 2]
        db.session.add(Commitment(
            cycle_id=cycle_id, application_id=application_id, company_id=company_id,
            buyer_organization_id=buyer_id, channel="pfra_regional", status="interest",
            amount_excl_vat=Decimal(1000 + i), created_at=start + timedelta(minutes=i),
            updated_at=start + timedelta(minutes=i), declared_by_buyer=i % 3 == 0,
            confirmed_at=None if i % 3 == 0 else start))
    db.session.commit()


def census_world_reloaded(world):
    """The world's rows again in the session (the pages' expunge_all detached them)."""
    world.cycle = db.session.merge(world.cycle)
    world.selected = [db.session.merge(a) for a in world.selected]
    world.orgs = {k: db.session.merge(v) for k, v in world.orgs.items()}
    return world


def test_the_census_page_is_read_a_page_at_a_time_in_bounded_queries(world, make, app, client, login):
    """Newest first as before, the shortlist paged on its own (with its commitment counts), the `to_confirm`
    filter kept across pages, and the same number of queries whatever the number of commitments."""
    import re

    from query_count import count_queries

    _many_commitments(world, make, 60, 30)
    app.config["PAGE_SIZE"] = 25
    login(world.users["pfra"])

    def page(url: str):
        db.session.expunge_all()
        with count_queries() as statements:
            response = client.get(url)
        assert response.status_code == 200
        return response.get_data(as_text=True), statements

    def amounts(text: str) -> list[str]:
        table = text[text.index('id="commitments"'):]
        return re.findall(r"<td>(1[\d\u202f\u00a0 ]+),00", table[:table.index("</table>")])

    first, statements = page("/engagements/")
    assert len(amounts(first)) == 25 and amounts(first)[0].replace("\u202f", "").replace("\u00a0", "") == "1059"
    assert "60 résultats" in first and "page=3" in first
    shortlist = first[first.index('id="shortlist"'):first.index('id="commitments"')]
    assert shortlist.count("<tr>") == 26 and "page_retenues=2" in shortlist  # a header and 25 solutions
    assert "<td>30</td>" in shortlist  # « Borne d'accueil », first by name, with its 30 commitments
    # The user and its roles, the census cycle, the commitments' total and page, the shortlist's total, page and
    # counts, the phase's settings, the refusal's checks: ten, whatever the number of commitments.
    assert len(statements) <= 10, "\n".join(s[:150] for s in statements)

    last, statements_last = page("/engagements/?page=3&page_retenues=2")
    assert len(amounts(last)) == 10 and len(statements_last) == len(statements)
    assert "Retenue 29" in last and "Borne d&#39;accueil" not in last[last.index('id="shortlist"'):
                                                                      last.index('id="commitments"')]

    waiting, _ = page("/engagements/?to_confirm=1")
    assert "20 résultats" in waiting and waiting.count("à confirmer</span>") == 20
    shortlist = waiting[waiting.index('id="shortlist"'):waiting.index('id="commitments"')]
    assert "<td>10</td>" in shortlist  # the counts follow the filter, as before

    world = census_world_reloaded(world)
    _many_commitments(world, make, 100, 0)
    _, statements_more = page("/engagements/")
    assert len(statements_more) == len(statements)

    past, _ = page("/engagements/?page=99&page_retenues=%C2%B2")
    assert 'id="no-commitments"' in past and 'id="shortlist"' in past
