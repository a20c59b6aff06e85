"""The need's state machine without a database: every (state, trigger) pair, legal or not, and its guards."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from innovation_cycle.clock import paris_datetime
from workflows.base import MoveRefused
from workflows.need import (
    ACCEPT,
    MERGE,
    REJECT,
    RETURN,
    REVISE,
    STATES,
    SUBMIT,
    TRIGGERS,
    NeedContext,
    NeedFlow,
    destination,
    refusals,
)

OPENS, CLOSES = paris_datetime(2017, 2, 1), paris_datetime(2017, 3, 31, 23, 59)
NOW = paris_datetime(2017, 3, 1, 10)

LEGAL = {
    ("draft", SUBMIT): "submitted",
    ("submitted", ACCEPT): "accepted",
    ("submitted", RETURN): "returned",
    ("returned", REVISE): "draft",
    ("submitted", REJECT): "rejected",
    ("submitted", MERGE): "merged",
    ("accepted", MERGE): "merged",
}


def ctx(**kw) -> NeedContext:
    """A context in which every guard passes: the collection is open, the need is complete, a comment and an
    absorbing need are given."""
    base = dict(now=NOW, cycle_state="needs_collection", cycle_year=2017, collection_opens_at=OPENS,
                collection_closes_at=CLOSES, comment="Précisez le périmètre.", need_id=1, target_id=2,
                target_state="accepted", target_same_cycle=True)
    base.update(kw)
    return NeedContext(**base)


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(STATES, TRIGGERS)))
def test_every_state_and_trigger(state, trigger):
    expected = LEGAL.get((state, trigger))
    assert destination(state, trigger) == expected
    if expected is None:
        with pytest.raises(MoveRefused) as refused:
            NeedFlow(state, ctx()).fire(trigger)
        assert [r.code for r in refused.value.refusals] == ["illegal_move"]
        assert refused.value.refusals[0].params == {"state": state, "trigger": trigger}
    else:
        machine = NeedFlow(state, ctx())
        assert machine.fire(trigger) == expected
        assert machine.state == expected


def test_final_states_have_no_way_out():
    for state in ("rejected", "merged"):
        assert all(destination(state, t) is None for t in TRIGGERS)


@pytest.mark.parametrize("when", [OPENS - timedelta(minutes=1), CLOSES, CLOSES + timedelta(days=3)])
def test_submission_and_revision_need_the_collection_open(when):
    for state, trigger in (("draft", SUBMIT), ("returned", REVISE)):
        found = refusals(state, trigger, ctx(now=when))
        assert [r.code for r in found] == ["collection_closed"]
        assert found[0].params["opens_at"] == OPENS and found[0].params["closes_at"] == CLOSES
        assert found[0].params["year"] == 2017
        # The sentence says what the guard judged: at that moment, in that stage (« ouvrira le… », « close »).
        assert found[0].params["now"] == when and found[0].params["cycle_state"] == "needs_collection"


def test_the_window_opens_at_its_first_minute_and_closes_at_its_last():
    assert refusals("draft", SUBMIT, ctx(now=OPENS)) == []
    assert refusals("draft", SUBMIT, ctx(now=CLOSES - timedelta(seconds=1))) == []


@pytest.mark.parametrize("cycle_state", ["draft", "ami_sourcing", "selection", "closed"])
def test_outside_its_stage_a_need_is_neither_submitted_nor_qualified(cycle_state):
    assert [r.code for r in refusals("draft", SUBMIT, ctx(cycle_state=cycle_state))] == ["collection_closed"]
    for trigger in (ACCEPT, RETURN, REJECT, MERGE):
        found = refusals("submitted", trigger, ctx(cycle_state=cycle_state))
        assert [(r.code, r.params) for r in found] == [("qualification_closed", {"cycle_state": cycle_state})]


def test_qualification_goes_on_after_the_window_closes_while_the_cycle_stays_in_its_stage():
    assert refusals("submitted", ACCEPT, ctx(now=CLOSES + timedelta(days=2))) == []


def test_an_incomplete_need_is_refused_with_what_it_lacks():
    found = refusals("draft", SUBMIT, ctx(missing=["Résultats attendus", "Thèmes"]))
    assert [(r.code, r.params) for r in found] == [("incomplete", {"fields": ["Résultats attendus", "Thèmes"]})]


def test_a_closed_window_and_missing_fields_are_both_reported():
    codes = [r.code for r in refusals("draft", SUBMIT, ctx(now=CLOSES, missing=["Thèmes"]))]
    assert codes == ["collection_closed", "incomplete"]


@pytest.mark.parametrize(("trigger", "code"), [(RETURN, "comment_required"), (REJECT, "reason_required")])
def test_return_and_reject_say_why(trigger, code):
    for blank in ("", "   \n"):
        assert [r.code for r in refusals("submitted", trigger, ctx(comment=blank))] == [code]
    assert refusals("submitted", ACCEPT, ctx(comment="")) == []  # accepting needs no comment


@pytest.mark.parametrize(("kw", "code"), [
    ({"target_id": None, "target_state": None}, "merge_target_missing"),
    ({"target_id": None}, "merge_target_missing"),
    ({"target_state": None}, "merge_target_missing"),  # an id the service could not find
    ({"target_id": 1}, "merge_into_itself"),
    ({"target_same_cycle": False}, "merge_other_cycle"),
    ({"target_state": "draft"}, "merge_target_state"),
    ({"target_state": "rejected"}, "merge_target_state"),
    ({"target_state": "merged"}, "merge_target_state"),
    ({"target_state": "returned"}, "merge_target_state"),
])
def test_merge_needs_a_live_need_of_the_same_cycle(kw, code):
    found = refusals("submitted", MERGE, ctx(**kw))
    assert [r.code for r in found] == [code]
    if code == "merge_target_state":  # the sentence names the chosen need's state
        assert found[0].params == {"state": kw["target_state"]}


def test_a_refused_move_leaves_the_machine_where_it_was():
    machine = NeedFlow("submitted", ctx(comment=""))
    with pytest.raises(MoveRefused):
        machine.fire(REJECT)
    assert machine.state == "submitted"
