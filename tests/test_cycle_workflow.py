"""The cycle's state machine, without Flask or a database: every legal and illegal move, and the guards."""

from datetime import UTC, datetime, timedelta

import pytest
from transitions import MachineError

from workflows import cycle as flow
from workflows.base import MoveRefused, Refusal
from workflows.cycle import CycleFlow, MoveContext

NOW = datetime(2017, 6, 1, 12, tzinfo=UTC)
CLOSED = MoveContext(now=NOW, window_closes_at=NOW - timedelta(minutes=1))
OPEN = MoveContext(now=NOW, window_closes_at=NOW + timedelta(days=3))

EXPECTED = {
    ("draft", "advance"): "needs_collection",
    ("needs_collection", "advance"): "ami_sourcing",
    ("ami_sourcing", "advance"): "selection",
    ("selection", "advance"): "commitment_census",
    ("commitment_census", "advance"): "results_communication",
    ("results_communication", "close"): "closed",
    ("needs_collection", "step_back"): "draft",
    ("ami_sourcing", "step_back"): "needs_collection",
    ("selection", "step_back"): "ami_sourcing",
    ("commitment_census", "step_back"): "selection",
    ("results_communication", "step_back"): "commitment_census",
}
ALL = [(s, t) for s in flow.STATES for t in flow.TRIGGERS]


@pytest.mark.parametrize(("state", "trigger"), [k for k in ALL if k in EXPECTED])
def test_every_legal_move_reaches_its_destination(state, trigger):
    ctx = MoveContext(now=NOW, window_closes_at=NOW - timedelta(seconds=1), reason="prolonger le délai")
    seen = []
    machine = CycleFlow(state, ctx, on_change=lambda *change: seen.append(change))
    assert machine.fire(trigger) == EXPECTED[(state, trigger)]
    assert seen == [(state, trigger, EXPECTED[(state, trigger)])]


@pytest.mark.parametrize(("state", "trigger"), [k for k in ALL if k not in EXPECTED])
def test_every_illegal_move_is_refused_with_a_reason(state, trigger):
    machine = CycleFlow(state, MoveContext(now=NOW, reason="x", forced=True))
    with pytest.raises(MoveRefused) as refused:
        machine.fire(trigger)
    assert refused.value.refusals[0].code == "illegal_move"
    # The French sentence names the stage the move was refused from (« depuis l'état … »).
    assert refused.value.refusals[0].params == {"state": state, "trigger": trigger}
    assert machine.state == state
    # The underlying machine refuses too: transitions raises MachineError on a wrong source.
    with pytest.raises(MachineError):
        machine.trigger(trigger)


def test_the_chain_never_skips_a_stage():
    destinations = {s: flow.destination(s, "advance") for s in flow.STATES}
    order = list(flow.STATES)
    for source, dest in destinations.items():
        if dest is not None:
            assert order.index(dest) == order.index(source) + 1


def test_leaving_a_stage_while_its_window_is_open_is_refused():
    with pytest.raises(MoveRefused) as refused:
        CycleFlow("ami_sourcing", OPEN).fire("advance")
    assert [r.code for r in refused.value.refusals] == ["window_open"]
    assert refused.value.refusals[0].params["closes_at"] == OPEN.window_closes_at


def test_a_forced_move_needs_a_written_reason():
    ctx = MoveContext(now=NOW, window_closes_at=OPEN.window_closes_at, forced=True, reason="   ")
    with pytest.raises(MoveRefused) as refused:
        CycleFlow("ami_sourcing", ctx).fire("advance")
    assert [r.code for r in refused.value.refusals] == ["force_needs_reason"]


def test_a_forced_move_with_a_reason_passes_and_is_recorded_as_forced():
    ctx = MoveContext(now=NOW, window_closes_at=OPEN.window_closes_at, forced=True, reason="comité avancé")
    assert CycleFlow("ami_sourcing", ctx).fire("advance") == "selection"
    assert flow.was_forced("ami_sourcing", "advance", ctx)


def test_force_on_a_closed_window_is_not_recorded_as_forced():
    ctx = MoveContext(now=NOW, window_closes_at=CLOSED.window_closes_at, forced=True, reason="r")
    assert CycleFlow("selection", ctx).fire("advance") == "commitment_census"
    assert not flow.was_forced("selection", "advance", ctx)


def test_window_closing_exactly_now_counts_as_closed():
    ctx = MoveContext(now=NOW, window_closes_at=NOW)
    assert CycleFlow("needs_collection", ctx).fire("advance") == "ami_sourcing"


def test_exit_conditions_hold_even_when_forced_unless_forceable():
    hard = MoveContext(now=NOW, window_closes_at=CLOSED.window_closes_at, forced=True, reason="r",
                       exit_blockers=[Refusal("no_accepted_need")])
    with pytest.raises(MoveRefused) as refused:
        CycleFlow("needs_collection", hard).fire("advance")
    assert [r.code for r in refused.value.refusals] == ["no_accepted_need"]

    soft = MoveContext(now=NOW, window_closes_at=CLOSED.window_closes_at,
                       forceable_blockers=[Refusal("undecided_answers")])
    with pytest.raises(MoveRefused):
        CycleFlow("selection", soft).fire("advance")
    soft.forced, soft.reason = True, "décision du comité"
    assert CycleFlow("selection", soft).fire("advance") == "commitment_census"


def test_opening_the_cycle_needs_a_valid_calendar():
    bad = MoveContext(now=NOW, calendar_problems=[Refusal("calendar_missing")])
    with pytest.raises(MoveRefused) as refused:
        CycleFlow("draft", bad).fire("advance")
    assert refused.value.refusals == [Refusal("calendar_missing")]
    assert CycleFlow("draft", MoveContext(now=NOW)).fire("advance") == "needs_collection"


def test_stepping_back_needs_a_reason():
    with pytest.raises(MoveRefused) as refused:
        CycleFlow("selection", MoveContext(now=NOW)).fire("step_back")
    assert [r.code for r in refused.value.refusals] == ["step_back_needs_reason"]
    ctx = MoveContext(now=NOW, reason="prolonger l'AMI d'une semaine")
    assert CycleFlow("selection", ctx).fire("step_back") == "ami_sourcing"


def test_closing_needs_the_results_window_closed():
    with pytest.raises(MoveRefused):
        CycleFlow("results_communication", OPEN).fire("close")
    assert CycleFlow("results_communication", CLOSED).fire("close") == "closed"


def test_closed_is_final():
    assert flow.triggers_from("closed") == []


def test_mermaid_source_lists_every_transition_and_highlights_the_state():
    source = flow.mermaid("selection")
    for t in flow.TRANSITIONS:
        assert f"{t['source']} --> {t['dest']}: {t['trigger']}" in source
    assert "class selection current" in source
