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


def decision_ctx(**kw) -> MoveContext:
    """A decision in an open, quorate meeting of a cycle in selection, not released yet."""
    values = {"cycle_state": "selection", "meeting_open": True, "quorate": True, "released": False,
              "reason": "Solution mûre, adaptée au besoin."}
    values.update(kw)
    return ctx(**values)


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
    ("eligible", "select"): "selected",
    ("eligible", "not_select"): "not_selected",
    # Corrections before the release.
    ("not_selected", "select"): "selected",
    ("selected", "not_select"): "not_selected",
    ("selected", "wait_list"): "eligible",
    ("not_selected", "wait_list"): "eligible",
}
ALL = [(s, t) for s in flow.STATES for t in flow.TRIGGERS]


def test_the_states_are_the_ones_the_records_know():
    assert flow.STATES == ("draft", "submitted", "eligible", "ineligible", "withdrawn", "selected", "not_selected")


@pytest.mark.parametrize(("state", "trigger"), [k for k in ALL if k in EXPECTED])
def test_every_legal_move_reaches_its_destination(state, trigger):
    context = decision_ctx() if trigger in flow.DECISION_TRIGGERS else ctx()
    assert ApplicationFlow(state, context).fire(trigger) == EXPECTED[(state, trigger)]
    assert flow.destination(state, trigger) == EXPECTED[(state, trigger)]


@pytest.mark.parametrize(("state", "trigger"), [k for k in ALL if k not in EXPECTED])
def test_every_illegal_move_is_refused_with_a_reason(state, trigger):
    machine = ApplicationFlow(state, ctx())
    with pytest.raises(MoveRefused) as refused:
        machine.fire(trigger)
    assert [r.code for r in refused.value.refusals] == ["illegal_move"]
    # The French sentence names the state the move was refused from (« depuis l'état … »).
    assert refused.value.refusals[0].params == {"state": state, "trigger": trigger}
    assert machine.state == state
    # The underlying machine refuses too: transitions raises MachineError on a wrong source.
    with pytest.raises(MachineError):
        machine.trigger(trigger)


def test_only_the_committee_reaches_the_selection_outcomes():
    reaching = {t["trigger"] for t in flow.TRANSITIONS if t["dest"] in flow.DECIDED_STATES}
    assert reaching == {"select", "not_select"}
    # A decided answer is only corrected by another decision (never withdrawn nor screened again).
    assert set(flow.triggers_from("selected")) == {"not_select", "wait_list"}
    assert set(flow.triggers_from("not_selected")) == {"select", "wait_list"}
    assert flow.triggers_from("withdrawn") == []


@pytest.mark.parametrize("trigger", ["select", "not_select"])
@pytest.mark.parametrize(("changes", "codes"), [
    ({"reason": "  "}, ["rationale_required"]),
    ({"quorate": False}, ["no_quorum"]),
    ({"meeting_open": False, "quorate": False}, ["meeting_not_open"]),
    ({"released": True}, ["decisions_released"]),
    ({"cycle_state": "commitment_census"}, ["decision_stage"]),
    ({"cycle_state": "ami_sourcing", "quorate": False, "reason": ""},
     ["decision_stage", "no_quorum", "rationale_required"]),
])
def test_a_decision_needs_the_stage_an_open_quorate_meeting_a_rationale_and_no_release(trigger, changes, codes):
    machine = ApplicationFlow("eligible", decision_ctx(**changes))
    with pytest.raises(MoveRefused) as refused:
        machine.fire(trigger)
    assert [r.code for r in refused.value.refusals] == codes
    assert machine.state == "eligible"
    # The sentence names the stage the cycle is at (« le cycle est à l'étape … »).
    stage = [r.params for r in refused.value.refusals if r.code == "decision_stage"]
    assert stage in ([], [{"cycle_state": changes.get("cycle_state")}])


@pytest.mark.parametrize(("state", "trigger"), [("selected", "not_select"), ("not_selected", "select"),
                                                ("selected", "wait_list")])
def test_a_correction_is_refused_once_released(state, trigger):
    assert ApplicationFlow(state, decision_ctx()).fire(trigger) == EXPECTED[(state, trigger)]
    with pytest.raises(MoveRefused) as refused:
        ApplicationFlow(state, decision_ctx(released=True)).fire(trigger)
    assert [r.code for r in refused.value.refusals] == ["decisions_released"]


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
    assert refused.value.refusals[0].params == {"opens_at": OPENS, "closes_at": CLOSES}


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
        # The French sentence names the cycle's stage (« le cycle est à l'étape … »).
        assert refused.value.refusals[0].params == {"cycle_state": cycle_state}


@pytest.mark.parametrize(("state", "now", "editable"), [
    ("draft", NOW, True), ("submitted", NOW, True), ("draft", CLOSES, False), ("submitted", CLOSES, False),
    ("eligible", NOW, False), ("ineligible", NOW, False), ("withdrawn", NOW, False)])
def test_what_a_company_may_still_edit(state, now, editable):
    assert (flow.edit_refusals(state, ctx(now=now)) == []) is editable
    if state not in flow.EDITABLE_STATES:  # « Une réponse à l'état … ne se modifie plus. »
        assert flow.edit_refusals(state, ctx(now=now)) == [Refusal("not_editable", {"state": state})]


def test_mermaid_lists_every_transition():
    source = flow.mermaid("submitted")
    for (state, trigger), dest in EXPECTED.items():
        assert f"{state} --> {dest}: {trigger}" in source
    assert "class submitted current" in source
    assert source.splitlines()[:2] == ["stateDiagram-v2", "    [*] --> draft"]
    assert flow.mermaid().splitlines()[-1] == "    not_selected --> eligible: wait_list"  # no highlight


def test_an_illegal_move_has_no_destination():
    assert [flow.destination(s, t) for s, t in ALL if (s, t) not in EXPECTED] == [None] * (len(ALL) - len(EXPECTED))
