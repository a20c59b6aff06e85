"""Every legal and illegal move of the commitment machine, from a table, with no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workflows import commitment as flow
from workflows.base import MoveRefused

NOW = datetime(2017, 8, 10, 8, 0, tzinfo=UTC)

LEGAL = {
    ("interest", "plan_experimentation"): "experimentation_planned",
    ("interest", "commit"): "purchase_commitment",
    ("experimentation_planned", "commit"): "purchase_commitment",
    ("purchase_commitment", "launch_procedure"): "procedure_launched",
    ("procedure_launched", "contract"): "contracted",
    ("interest", "abandon"): "abandoned",
    ("experimentation_planned", "abandon"): "abandoned",
    ("purchase_commitment", "abandon"): "abandoned",
    ("procedure_launched", "abandon"): "abandoned",
}
ALL_MOVES = [(s, t) for s in flow.STATES for t in flow.TRIGGERS]


def _ctx(**kw) -> flow.MoveContext:
    return flow.MoveContext(now=NOW, reason=kw.pop("reason", "Budget supprimé"), **kw)


@pytest.mark.parametrize(("state", "trigger"), ALL_MOVES)
def test_every_move(state, trigger):
    machine = flow.CommitmentFlow(state, _ctx())
    if (state, trigger) in LEGAL:
        assert machine.fire(trigger) == LEGAL[(state, trigger)]
        assert flow.destination(state, trigger) == LEGAL[(state, trigger)]
    else:
        with pytest.raises(MoveRefused) as refused:
            machine.fire(trigger)
        assert [r.code for r in refused.value.refusals] == ["illegal_move"]
        # The French sentence names the state the move was refused from (« depuis l'état … »).
        assert refused.value.refusals[0].params == {"state": state, "trigger": trigger}
        assert machine.state == state


def test_an_illegal_move_has_no_destination():
    illegal = [(s, t) for s, t in ALL_MOVES if (s, t) not in LEGAL]
    assert [flow.destination(s, t) for s, t in illegal] == [None] * len(illegal)


def test_the_table_covers_every_transition():
    declared = {(s, t["trigger"]) for t in flow.TRANSITIONS for s in flow._sources(t)}
    assert declared == set(LEGAL)


@pytest.mark.parametrize("state", ["contracted", "abandoned"])
def test_final_states_have_no_way_out(state):
    assert flow.triggers_from(state) == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_abandoning_needs_a_reason(reason):
    refusals = flow.refusals("interest", "abandon", _ctx(reason=reason))
    assert [r.code for r in refusals] == ["abandon_needs_reason"]


def test_contracting_needs_the_contract_data():
    refusals = flow.refusals("procedure_launched", "contract", _ctx(contract_missing=["contract_identifier"]))
    assert refusals[0].code == "contract_incomplete" and refusals[0].params["fields"] == ["contract_identifier"]


def test_no_move_once_the_follow_up_is_over():
    refusals = flow.refusals("purchase_commitment", "launch_procedure", _ctx(follow_up_open=False))
    assert [r.code for r in refusals] == ["follow_up_closed"]
