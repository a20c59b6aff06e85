"""Cycles with a database: calendar rules, moves and their audit rows, next year's preparation, the pages."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from innovation_cycle import transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, CommitteeMember, Cycle, Role
from innovation_cycle.services import cycles
from workflows.base import MoveRefused
from workflows.cycle import STAGES


def audit_rows(action_prefix: str = "cycle.") -> list[AuditEvent]:
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.startswith(action_prefix)).order_by(AuditEvent.id)).all()


# --- calendar -------------------------------------------------------------------------------------------


def test_a_new_cycle_proposes_the_source_documents_calendar(make):
    cycle = make.cycle(year=2018, convention=make.convention(2017))
    got = {w.stage: (w.opens_at, w.closes_at) for w in cycle.windows}
    assert got["needs_collection"] == (paris_datetime(2018, 2, 1), paris_datetime(2018, 3, 31, 23, 59))
    assert got["ami_sourcing"] == (paris_datetime(2018, 4, 1), paris_datetime(2018, 4, 30, 23, 59))
    assert got["selection"] == (paris_datetime(2018, 5, 1), paris_datetime(2018, 7, 31, 23, 59))
    assert got["commitment_census"] == (paris_datetime(2018, 8, 1), paris_datetime(2018, 9, 30, 23, 59))
    assert got["results_communication"] == (paris_datetime(2018, 10, 1), paris_datetime(2018, 10, 31, 23, 59))
    # Winter time in February (UTC+1), summer time in May (UTC+2).
    assert got["needs_collection"][0].hour == 23 and got["selection"][0].hour == 22


def _errors(convention, year, **changes):
    windows = cycles.proposed_calendar(year)
    windows.update(changes)
    return cycles.validate_calendar(convention, year, windows)


def test_overlapping_windows_are_refused_with_a_clear_message(make):
    conv = make.convention(2017)
    errors = _errors(conv, 2017, ami_sourcing=(paris_datetime(2017, 3, 15), paris_datetime(2017, 4, 30)))
    assert [e.field for e in errors] == ["ami_sourcing_opens_at"]
    assert "ne peut pas ouvrir avant la clôture de « Collecte des besoins »" in errors[0].message


def test_out_of_order_windows_are_refused(make):
    conv = make.convention(2017)
    errors = _errors(conv, 2017, selection=(paris_datetime(2017, 3, 1), paris_datetime(2017, 3, 20)))
    assert "selection_opens_at" in [e.field for e in errors]


def test_a_window_closing_before_it_opens_is_refused(make):
    conv = make.convention(2017)
    errors = _errors(conv, 2017, selection=(paris_datetime(2017, 7, 1), paris_datetime(2017, 6, 1)))
    assert any(e.field == "selection_closes_at" and "postérieure à l'ouverture" in e.message for e in errors)


def test_a_year_outside_the_conventions_three_years_is_refused(make):
    conv = make.convention(2017)
    with pytest.raises(cycles.CalendarInvalid) as refused:
        cycles.create_cycle(conv, 2020)
    assert refused.value.errors[0].field == "year"
    assert "hors des trois années de la convention (2017 à 2019)" in refused.value.errors[0].message
    assert db.session.scalar(select(Cycle.id)) is None


def test_one_cycle_per_year_per_convention(make):
    conv = make.convention(2017)
    make.cycle(conv, 2017)
    with pytest.raises(cycles.CalendarInvalid) as refused:
        cycles.create_cycle(conv, 2017)
    assert "déjà un cycle pour l'année 2017" in refused.value.errors[0].message


def test_prepare_next_year_copies_the_settings(make):
    conv = make.convention(2017)
    cycle = make.cycle(conv, 2017, state="closed")
    member = make.user(Role.COMMITTEE_MEMBER)
    cycle.auto_advance = True
    cycle.committee.append(CommitteeMember(user_id=member.id))
    windows = cycles.windows_of(cycle)
    windows["ami_sourcing"] = (paris_datetime(2017, 4, 3, 9), paris_datetime(2017, 5, 2, 12))
    windows["selection"] = (paris_datetime(2017, 5, 3), paris_datetime(2017, 7, 31, 23, 59))
    cycles.update_calendar(cycle, windows, reason="AMI décalé")
    db.session.commit()

    nxt = cycles.prepare_next(cycle)
    db.session.commit()
    assert (nxt.year, nxt.state, nxt.auto_advance) == (2018, "draft", True)
    assert [m.user_id for m in nxt.committee] == [member.id]
    assert nxt.window("ami_sourcing").opens_at == paris_datetime(2018, 4, 3, 9)
    assert nxt.window("ami_sourcing").closes_at == paris_datetime(2018, 5, 2, 12)
    assert [e.action for e in audit_rows()][-2:] == ["cycle.create", "cycle.prepare_next"]


def test_prepare_next_year_stops_at_the_conventions_end(make):
    conv = make.convention(2017)
    last = make.cycle(conv, 2019)
    with pytest.raises(cycles.CalendarInvalid):
        cycles.prepare_next(last)


# --- moves ----------------------------------------------------------------------------------------------


def ready_to_leave_needs_collection(make, cycle) -> None:
    """Issue 3's guards on leaving the needs collection: an accepted need (area A) and the AMI text (area C)."""
    from innovation_cycle.models import AmiCall
    from innovation_cycle.services import ami as ami_service

    make.need(cycle, status="accepted")
    db.session.add(AmiCall(cycle=cycle, created_at=cycle.created_at, updated_at=cycle.created_at,
                           **{name: "Texte" for name in ami_service.REQUIRED_FIELDS}))
    db.session.commit()


def test_an_admin_walks_a_cycle_from_draft_to_closed_and_every_move_is_audited(make, clock):
    admin = make.user(Role.ADMIN)
    cycle = make.cycle(year=2017)
    ready_to_leave_needs_collection(make, cycle)
    expected = ["draft", *STAGES, "closed"]
    for source, dest in zip(expected, expected[1:], strict=False):
        if source in STAGES:
            clock.set(cycle.window(source).closes_at)
        trigger = "close" if dest == "closed" else "advance"
        if trigger == "close":  # issue 8: a cycle closes once its bilan is published
            from innovation_cycle.models import ResultsReport

            db.session.add(ResultsReport(cycle_id=cycle.id, editorial="Bilan", updated_at=clock.now(),
                                         published_at=clock.now()))
        cycles.move(cycle.id, trigger, expected_state=source, actor=admin)
        transaction.commit()
        assert cycle.state == dest
    rows = audit_rows("cycle.advance") + audit_rows("cycle.close")
    assert [(r.before["state"], r.after["state"]) for r in sorted(rows, key=lambda r: r.id)] == list(
        zip(expected, expected[1:], strict=False))
    assert all(r.actor_id == admin.id and r.after["forced"] is False for r in rows)


def test_a_forced_move_is_audited_with_its_reason(make, clock):
    admin = make.user(Role.ADMIN)
    cycle = make.cycle(state="needs_collection")
    ready_to_leave_needs_collection(make, cycle)
    clock.set(paris_datetime(2017, 3, 10))
    with pytest.raises(MoveRefused) as refused:
        cycles.move(cycle.id, "advance", expected_state="needs_collection", actor=admin, forced=True)
    transaction.rollback()
    assert refused.value.refusals[0].code == "force_needs_reason"
    cycles.move(cycle.id, "advance", expected_state="needs_collection", actor=admin, forced=True,
                reason="Besoins complets, le comité avance l'AMI")
    transaction.commit()
    row = audit_rows("cycle.advance")[-1]
    assert row.after == {"state": "ami_sourcing", "forced": True}
    assert row.reason == "Besoins complets, le comité avance l'AMI"


def test_a_move_from_a_stale_page_is_refused_and_leaves_nothing(make, clock):
    admin = make.user(Role.ADMIN)
    cycle = make.cycle(state="ami_sourcing")
    clock.set(paris_datetime(2017, 5, 2))
    with pytest.raises(MoveRefused) as refused:
        cycles.move(cycle.id, "advance", expected_state="needs_collection", actor=admin)
    transaction.rollback()
    assert refused.value.refusals[0].code == "stale"
    assert db.session.get(Cycle, cycle.id).state == "ami_sourcing"
    assert audit_rows("cycle.advance") == []


def test_the_audit_trail_is_append_only_in_the_database(make):
    make.cycle()
    event_id = audit_rows()[0].id
    for statement in (f"UPDATE audit_events SET action = 'x' WHERE id = {event_id}",
                      f"DELETE FROM audit_events WHERE id = {event_id}"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert audit_rows()[0].action == "cycle.create"


# --- pages ----------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, make, login):
    admin = make.user(Role.ADMIN)
    login(admin)
    return client


def test_the_cycle_page_draws_the_machine_with_the_current_state(admin_client, make):
    cycle = make.cycle(state="selection")
    page = admin_client.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert re.findall(r'<g class="state state--current" data-state="(\w+)">', page) == ["selection"]
    assert len(re.findall(r'<g class="state[ "]', page)) == 7
    assert "selection --&gt; commitment_census: advance" in page  # Mermaid source, escaped


def test_a_refused_move_shows_its_reason_in_french_never_a_500(admin_client, make, clock):
    cycle = make.cycle(state="needs_collection")
    clock.set(paris_datetime(2017, 3, 1, 9))
    response = admin_client.post(f"/admin/cycles/{cycle.id}/changer-etape",
                                 data={"trigger": "advance", "expected_state": "needs_collection"},
                                 follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "La période de l&#39;étape en cours n&#39;est pas terminée (clôture le 31 mars 2017 à 23:59)" in page
    assert db.session.get(Cycle, cycle.id).state == "needs_collection"


def test_a_forced_move_through_the_page(admin_client, make, clock):
    cycle = make.cycle(state="needs_collection")
    ready_to_leave_needs_collection(make, cycle)
    clock.set(paris_datetime(2017, 3, 1, 9))
    response = admin_client.post(f"/admin/cycles/{cycle.id}/changer-etape", data={
        "trigger": "advance", "expected_state": "needs_collection", "forced": "y", "reason": "Calendrier avancé"},
        follow_redirects=True)
    assert "Le cycle est passé à l&#39;étape « Sourcing par l&#39;AMI »" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "ami_sourcing"


def test_an_unknown_trigger_or_cycle_is_handled(admin_client, make):
    cycle = make.cycle()
    response = admin_client.post(f"/admin/cycles/{cycle.id}/changer-etape",
                                 data={"trigger": "explode", "expected_state": "draft"}, follow_redirects=True)
    assert "Changement d'étape inconnu" in html.unescape(response.get_data(as_text=True))
    assert admin_client.get("/admin/cycles/999").status_code == 404
    assert admin_client.post("/admin/cycles/999/changer-etape", data={}).status_code == 404


def test_creating_a_cycle_through_the_form(admin_client, make):
    conv = make.convention(2017)
    page = admin_client.get(f"/admin/cycles/nouveau?convention_id={conv.id}&year=2018").get_data(as_text=True)
    assert 'value="01/02/2018 00:00"' in page and 'value="31/10/2018 23:59"' in page  # issue 10: French dates
    data = {"convention_id": conv.id, "year": 2018}
    for stage, (opens, closes) in cycles.proposed_calendar(2018).items():
        data[f"{stage}_opens_at"] = opens.astimezone(cycles.clock.PARIS).strftime("%Y-%m-%dT%H:%M")
        data[f"{stage}_closes_at"] = closes.astimezone(cycles.clock.PARIS).strftime("%Y-%m-%dT%H:%M")
    bad = {**data, "ami_sourcing_opens_at": "2018-03-20T00:00"}
    response = admin_client.post("/admin/cycles/nouveau", data=bad)
    assert response.status_code == 422
    assert "ne peut pas ouvrir avant la clôture" in response.get_data(as_text=True)
    assert db.session.scalar(select(Cycle.id)) is None
    response = admin_client.post("/admin/cycles/nouveau", data={**data, "year": "deux-mille"})
    assert response.status_code == 422
    response = admin_client.post("/admin/cycles/nouveau", data=data)
    assert response.status_code == 302
    assert db.session.scalar(select(Cycle.year)) == 2018


def test_editing_the_calendar_is_audited(admin_client, make):
    cycle = make.cycle()
    data = {}
    for stage, (opens, closes) in cycles.windows_of(cycle).items():
        data[f"{stage}_opens_at"] = opens.astimezone(cycles.clock.PARIS).strftime("%Y-%m-%dT%H:%M")
        data[f"{stage}_closes_at"] = closes.astimezone(cycles.clock.PARIS).strftime("%Y-%m-%dT%H:%M")
    data["ami_sourcing_closes_at"] = "2017-05-15T12:00"
    response = admin_client.post(f"/admin/cycles/{cycle.id}/calendrier", data=data)
    assert response.status_code == 422  # now overlaps the selection window
    data["selection_opens_at"] = "2017-05-16T00:00"
    data["reason"] = "AMI prolongé de deux semaines"
    assert admin_client.post(f"/admin/cycles/{cycle.id}/calendrier", data=data).status_code == 302
    db.session.expire_all()
    assert cycle.window("ami_sourcing").closes_at == paris_datetime(2017, 5, 15, 12)
    row = audit_rows("cycle.calendar")[-1]
    assert row.reason == "AMI prolongé de deux semaines"
    assert row.before["windows"]["ami_sourcing"][1] != row.after["windows"]["ami_sourcing"][1]


def test_convention_dates_bound_the_calendar(make):
    conv = make.convention(2017, ends_on=date(2019, 9, 30))
    errors = _errors(conv, 2019)
    assert any("hors de la période de la convention" in e.message for e in errors)
