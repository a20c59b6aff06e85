"""The AMI answer's state machine, without Flask or a database: every legal and illegal move, and the guards."""

from datetime import UTC, datetime, timedelta

import pytest
from transitions import MachineError

from workflows import application as flow
from workflows.application import ApplicationFlow, MoveContext
from workflows.base import MoveRefused, Refusal

NOW = datetime(2017, 4, 15, 12, tzinfo=UTC)
OPENS, CLOSES = datetime(2017, 4, 1, tzinfo=UTC), datetime(2017, 4, 30, 21, 59, tzinfo=UTC)


def ctx(cycle_state: str = "ami_sourcing", now: datetime = NOW, reason: str = "motif", **kw) -> MoveContext:
    return MoveContext(now=now, cycle_state=cycle_state, ami_opens_at=OPENS, ami_closes_at=CLOSES, reason=reason,
                       **kw)


EXPECTED = {
    ("draft", "submit"): "submitted",
    ("draft", "withdraw"): "withdrawn",
    ("submitted", "withdraw"): "withdrawn",
    ("eligible", "withdraw"): "withdrawn",
    ("ineligible", "withdraw"): "withdrawn",
    ("submitted", "declare_eligible"): "eligible",
    ("ineligible", "declare_eligible"): "eligible",
    ("submitted", "declare_ineligible"): "ineligible",
    ("eligible", "declare_ineligible"): "ineligible",
}
ALL = [(s, t) for s in flow.STATES for t in flow.TRIGGERS]


def test_the_states_are_the_ones_the_records_know():
    assert flow.STATES == ("draft", "submitted", "eligible", "ineligible", "withdrawn", "selected", "not_selected")


@pytest.mark.parametrize(("state", "trigger"), [k for k in ALL if k in EXPECTED])
def test_every_legal_move_reaches_its_destination(state, trigger):
    assert ApplicationFlow(state, ctx()).fire(trigger) == EXPECTED[(state, trigger)]
    assert flow.destination(state, trigger) == EXPECTED[(state, trigger)]


@pytest.mark.parametrize(("state", "trigger"), [k for k in ALL if k not in EXPECTED])
def test_every_illegal_move_is_refused_with_a_reason(state, trigger):
    machine = ApplicationFlow(state, ctx())
    with pytest.raises(MoveRefused) as refused:
        machine.fire(trigger)
    assert [r.code for r in refused.value.refusals] == ["illegal_move"]
    assert machine.state == state
    # The underlying machine refuses too: transitions raises MachineError on a wrong source.
    with pytest.raises(MachineError):
        machine.trigger(trigger)


def test_selection_outcomes_are_declared_but_not_reachable_yet():
    reachable = {t["dest"] for t in flow.TRANSITIONS}
    assert {"selected", "not_selected"} <= set(flow.STATES)
    assert not reachable & {"selected", "not_selected"}
    assert flow.triggers_from("selected") == flow.triggers_from("not_selected") == []
    assert flow.triggers_from("withdrawn") == []


@pytest.mark.parametrize("trigger", ["submit", "withdraw"])
def test_a_company_moves_only_while_the_ami_is_open(trigger):
    closed_at = CLOSES
    # One second before the deadline: still open.
    assert ApplicationFlow("draft", ctx(now=closed_at - timedelta(seconds=1))).fire(trigger)
    # At the deadline: closed, and the refusal carries the closing time to show.
    with pytest.raises(MoveRefused) as refused:
        ApplicationFlow("draft", ctx(now=closed_at)).fire(trigger)
    assert refused.value.refusals == [Refusal("ami_closed", {"closes_at": closed_at})]


@pytest.mark.parametrize("cycle_state", ["draft", "needs_collection"])
def test_before_the_ami_stage_the_refusal_says_when_it_opens(cycle_state):
    with pytest.raises(MoveRefused) as refused:
        ApplicationFlow("draft", ctx(cycle_state=cycle_state, now=OPENS - timedelta(days=3))).fire("submit")
    assert [r.code for r in refused.value.refusals] == ["ami_not_open"]
    assert refused.value.refusals[0].params["opens_at"] == OPENS


@pytest.mark.parametrize("cycle_state", ["selection", "commitment_census", "results_communication", "closed"])
def test_after_the_ami_stage_it_is_closed_even_before_its_planned_date(cycle_state):
    with pytest.raises(MoveRefused) as refused:
        ApplicationFlow("submitted", ctx(cycle_state=cycle_state)).fire("withdraw")
    assert [r.code for r in refused.value.refusals] == ["ami_closed"]


def test_an_incomplete_answer_is_not_submitted_and_every_gap_is_listed():
    gaps = [Refusal("missing", {"field": "summary"}), Refusal("missing", {"field": "trl"})]
    with pytest.raises(MoveRefused) as refused:
        ApplicationFlow("draft", ctx(incomplete=gaps)).fire("submit")
    assert refused.value.refusals == gaps
    # Late and incomplete: both reasons.
    with pytest.raises(MoveRefused) as refused:
        ApplicationFlow("draft", ctx(now=CLOSES, incomplete=gaps)).fire("submit")
    assert [r.code for r in refused.value.refusals] == ["ami_closed", "missing", "missing"]


def test_withdrawing_ignores_completeness():
    gaps = [Refusal("missing", {"field": "summary"})]
    assert ApplicationFlow("draft", ctx(incomplete=gaps)).fire("withdraw") == "withdrawn"


@pytest.mark.parametrize("trigger", ["declare_eligible", "declare_ineligible"])
def test_screening_needs_a_reason(trigger):
    with pytest.raises(MoveRefused) as refused:
        ApplicationFlow("submitted", ctx(reason="  ")).fire(trigger)
    assert [r.code for r in refused.value.refusals] == ["screening_needs_reason"]


@pytest.mark.parametrize(("cycle_state", "allowed"), [
    ("needs_collection", False), ("ami_sourcing", True), ("selection", True), ("commitment_census", False),
    ("closed", False)])
def test_screening_happens_during_the_ami_and_the_selection(cycle_state, allowed):
    machine = ApplicationFlow("submitted", ctx(cycle_state=cycle_state, now=CLOSES + timedelta(days=5)))
    if allowed:
        assert machine.fire("declare_eligible") == "eligible"
    else:
        with pytest.raises(MoveRefused) as refused:
            machine.fire("declare_eligible")
        assert [r.code for r in refused.value.refusals] == ["screening_closed"]


@pytest.mark.parametrize(("state", "now", "editable"), [
    ("draft", NOW, True), ("submitted", NOW, True), ("draft", CLOSES, False), ("submitted", CLOSES, False),
    ("eligible", NOW, False), ("ineligible", NOW, False), ("withdrawn", NOW, False)])
def test_what_a_company_may_still_edit(state, now, editable):
    assert (flow.edit_refusals(state, ctx(now=now)) == []) is editable


def test_mermaid_lists_every_transition():
    source = flow.mermaid("submitted")
    for (state, trigger), dest in EXPECTED.items():
        assert f"{state} --> {dest}: {trigger}" in source
    assert "class submitted current" in source
