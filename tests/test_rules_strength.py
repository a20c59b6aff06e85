"""Issue 9, item 12: behaviour tests that kill the mutants of the rules that the other tests let live.

mutmut (scripts/mutation.sh) mutated workflows/ and innovation_cycle/authz.py; each test here names the rule a
surviving mutant broke without any test noticing. The first is the one found by hand: the answer-view policy
granting any committee member, not only the members of that cycle's committee.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from innovation_cycle.authz import POLICY, Rule, can, has_role, is_admin, same_organization
from innovation_cycle.extensions import db
from innovation_cycle.models import Application, CommitteeMember, Company, OrganizationKind, Role
from workflows import application as application_flow
from workflows import cycle as cycle_flow
from workflows import need as need_flow
from workflows.base import MoveRefused, Refusal
from workflows.cycle import CycleFlow, MoveContext

NOW = datetime(2017, 4, 10, 8, tzinfo=UTC)


@pytest.fixture
def two_cycles(make):
    """Two cycles, each with its own committee member, and a submitted answer to the second one."""
    first = make.cycle(make.convention(2017), 2017, state="selection")
    second = make.cycle(make.convention(2020), 2020, state="selection")
    first_member = make.user(Role.COMMITTEE_MEMBER)
    second_member = make.user(Role.COMMITTEE_MEMBER)
    first.committee.append(CommitteeMember(user_id=first_member.id))
    second.committee.append(CommitteeMember(user_id=second_member.id))
    org = make.organization("Solutions SAS", OrganizationKind.COMPANY)
    author = make.user(Role.COMPANY, organization=org)
    company = Company(organization=org, created_at=second.created_at, updated_at=second.created_at)
    answer = Application(cycle=second, company=company, author=author, status="submitted", solution_name="S",
                         created_at=second.created_at, updated_at=second.created_at, submitted_at=second.created_at)
    db.session.add_all([company, answer])
    db.session.commit()
    return first_member, second_member, answer


def test_only_that_cycles_committee_reads_a_submitted_answer(app, two_cycles):
    first_member, second_member, answer = two_cycles
    assert can(second_member, "application.view", answer)
    assert not can(first_member, "application.view", answer)  # a committee member, of another cycle
    answer.status = "draft"
    assert not can(second_member, "application.view", answer)


def test_only_that_cycles_committee_reads_its_listings(app, two_cycles):
    first_member, second_member, answer = two_cycles
    assert can(second_member, "listing.view", answer.cycle)
    assert not can(first_member, "listing.view", answer.cycle)


# --- the policy's building blocks ------------------------------------------------------------------------


def test_composed_rules_name_what_they_combine():
    """The names are what a failing matrix test and a debugger show: they must read as the rule is built."""
    assert has_role(Role.ADMIN, Role.PFRA_AGENT).name == "has_role(admin,pfra_agent)"
    assert (is_admin | same_organization).name == "(has_role(admin) | same_organization)"
    assert (is_admin & same_organization).name == "(has_role(admin) & same_organization)"
    assert (~is_admin).name == "~has_role(admin)"
    assert Rule(lambda u, t: True).name == "<lambda>"
    assert Rule(lambda u, t: True, "named").name == "named"
    assert POLICY["clock.move"].name == "(has_role(admin) & demo_mode)"


def test_composed_rules_decide_as_their_parts():
    yes, no = Rule(lambda u, t: True, "yes"), Rule(lambda u, t: False, "no")
    assert [(a | b)(None) for a, b in ((yes, no), (no, yes), (no, no))] == [True, True, False]
    assert [(a & b)(None) for a, b in ((yes, yes), (yes, no), (no, yes))] == [True, False, False]
    assert (~no)(None) is True and (~yes)(None) is False
    assert Rule(lambda u, t: "truthy")(None) is True


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(LookupError, match="add it to authz.POLICY"):
        can(None, "no.such.action")


# --- the workflows' shared parts and their diagrams --------------------------------------------------------


def test_a_refused_move_says_every_reason():
    exc = MoveRefused([Refusal("window_open"), Refusal("reason_required")])
    assert str(exc) == "window_open, reason_required"
    assert [r.code for r in exc.refusals] == ["window_open", "reason_required"]


def test_a_machine_has_no_automatic_to_state_triggers():
    machine = CycleFlow("draft", MoveContext(now=NOW))
    assert not hasattr(machine, "to_closed")


def test_the_change_callback_hears_the_move():
    heard = []
    ctx = MoveContext(now=NOW, window_closes_at=NOW - timedelta(minutes=1))
    CycleFlow("needs_collection", ctx, on_change=lambda *move: heard.append(move)).fire("advance")
    assert heard == [("needs_collection", "advance", "ami_sourcing")]


def test_a_move_is_recorded_as_forced_only_when_the_force_bypassed_something():
    open_window = MoveContext(now=NOW, window_closes_at=NOW + timedelta(days=3), forced=True, reason="comité")
    assert cycle_flow.was_forced("needs_collection", "advance", open_window)
    assert not cycle_flow.was_forced("draft", "open", open_window)
    assert not cycle_flow.was_forced("ami_sourcing", cycle_flow.STEP_BACK, open_window)
    unforced = MoveContext(now=NOW, window_closes_at=NOW + timedelta(days=3), forced=False, reason="comité")
    assert not cycle_flow.was_forced("needs_collection", "advance", unforced)


@pytest.mark.parametrize(("module", "first", "last"), [
    (m, *ends) for m, ends in ((cycle_flow, ("draft", "closed")), (application_flow, (None, None)),
                               (need_flow, (None, None))) if hasattr(m, "mermaid")])
def test_the_diagrams_are_mermaid_state_diagrams(module, first, last):
    plain = module.mermaid().splitlines()
    assert plain[0] == "stateDiagram-v2"
    assert not any("classDef" in line for line in plain)
    if first:
        assert f"    [*] --> {first}" in plain and f"    {last} --> [*]" in plain
    highlighted = module.mermaid(module.STATES[1]).splitlines()
    assert highlighted[-2:] == ["    classDef current fill:#000091,color:#fff", f"    class {module.STATES[1]} current"]
