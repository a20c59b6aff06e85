"""The AMI answer's (application's) state machine.

    draft → submitted → eligible | ineligible        (screening by an admin, with a reason)
    draft | submitted | eligible | ineligible → withdrawn   (by the company, while the AMI is open)
    eligible | ineligible may be corrected into each other (with a reason) until selection ends.

The committee's decisions (selection stage, in an open and quorate meeting, with a rationale):
    eligible → selected | not_selected            (a waiting list keeps the answer eligible)
    selected | not_selected → the other one, or back to eligible (waiting list): a correction, only while
    the cycle is in selection and the decisions are not released yet.
Like workflows.cycle, the rules are data and plain functions;
`innovation_cycle.services.applications` binds a machine to a row for one move, in the transaction that
also writes the audit row, and turns each `Refusal` code into a French sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.base import Flow, Refusal

STATES: tuple[str, ...] = (
    "draft", "submitted", "eligible", "ineligible", "withdrawn", "selected", "not_selected",
)
# What a company may still change: the text of a draft, and of a submitted answer until the deadline.
EDITABLE_STATES: tuple[str, ...] = ("draft", "submitted")
# Cycle stages during which an admin screens (or corrects the screening of) submitted answers.
SCREENING_STAGES: tuple[str, ...] = ("ami_sourcing", "selection")
BEFORE_AMI: tuple[str, ...] = ("draft", "needs_collection")

SUBMIT, WITHDRAW, DECLARE_ELIGIBLE, DECLARE_INELIGIBLE = (
    "submit", "withdraw", "declare_eligible", "declare_ineligible")
SELECT, NOT_SELECT, WAIT_LIST = "select", "not_select", "wait_list"
TRIGGERS: tuple[str, ...] = (SUBMIT, WITHDRAW, DECLARE_ELIGIBLE, DECLARE_INELIGIBLE, SELECT, NOT_SELECT, WAIT_LIST)
# The stage in which the committee decides, and the states a decision leaves an answer in.
DECISION_STAGE = "selection"
DECIDED_STATES: tuple[str, ...] = ("selected", "not_selected")

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": SUBMIT, "source": "draft", "dest": "submitted"},
    {"trigger": WITHDRAW, "source": ["draft", "submitted", "eligible", "ineligible"], "dest": "withdrawn"},
    {"trigger": DECLARE_ELIGIBLE, "source": ["submitted", "ineligible"], "dest": "eligible"},
    {"trigger": DECLARE_INELIGIBLE, "source": ["submitted", "eligible"], "dest": "ineligible"},
    {"trigger": SELECT, "source": ["eligible", "not_selected"], "dest": "selected"},
    {"trigger": NOT_SELECT, "source": ["eligible", "selected"], "dest": "not_selected"},
    # A waiting list keeps the answer eligible; from a decided state it is a correction.
    {"trigger": WAIT_LIST, "source": ["selected", "not_selected"], "dest": "eligible"},
]
COMPANY_TRIGGERS: frozenset[str] = frozenset({SUBMIT, WITHDRAW})
SCREENING_TRIGGERS: frozenset[str] = frozenset({DECLARE_ELIGIBLE, DECLARE_INELIGIBLE})
DECISION_TRIGGERS: frozenset[str] = frozenset({SELECT, NOT_SELECT, WAIT_LIST})


@dataclass
class MoveContext:
    """What the guards need to know, gathered by the service from the database and the clock."""

    now: datetime
    cycle_state: str
    # The AMI stage's window (None when the cycle has no calendar for it).
    ami_opens_at: datetime | None = None
    ami_closes_at: datetime | None = None
    # What the answer still lacks before it can be submitted (codes such as "missing" with the field names).
    incomplete: list[Refusal] = field(default_factory=list)
    reason: str = ""
    # The committee's decisions: the meeting they are recorded in is open and quorate; the cycle's decisions
    # have not been released to the companies yet. `reason` is then the decision's rationale.
    meeting_open: bool = False
    quorate: bool = False
    released: bool = False

    @property
    def ami_open(self) -> bool:
        """Open while the cycle is in its AMI stage and the deadline has not passed (the AMI page's rule):
        an admin's move opens it, its date closes it, whatever a job did or did not do."""
        return self.cycle_state == "ami_sourcing" and (self.ami_closes_at is None or self.now < self.ami_closes_at)


def _sources(transition: dict[str, Any]) -> list[str]:
    source = transition["source"]
    return list(source) if isinstance(source, list) else [source]


def triggers_from(state: str) -> list[str]:
    return [t["trigger"] for t in TRANSITIONS if state in _sources(t)]


def destination(state: str, trigger: str) -> str | None:
    return next((t["dest"] for t in TRANSITIONS if t["trigger"] == trigger and state in _sources(t)), None)


def ami_refusals(ctx: MoveContext) -> list[Refusal]:
    """Why the AMI does not accept a company's change now (empty: it does)."""
    if ctx.ami_open:
        return []
    if ctx.cycle_state in BEFORE_AMI:
        return [Refusal("ami_not_open", {"opens_at": ctx.ami_opens_at, "closes_at": ctx.ami_closes_at})]
    return [Refusal("ami_closed", {"closes_at": ctx.ami_closes_at})]


def edit_refusals(state: str, ctx: MoveContext) -> list[Refusal]:
    """Why the company may not change the answer's text now: after the deadline answers are read-only."""
    if state not in EDITABLE_STATES:
        return [Refusal("not_editable", {"state": state})]
    return ami_refusals(ctx)


def decision_refusals(ctx: MoveContext) -> list[Refusal]:
    """Why the committee may not record (or correct) a decision now: every reason, in the order the secretary
    can act on them."""
    found = []
    if ctx.cycle_state != DECISION_STAGE:
        found.append(Refusal("decision_stage", {"cycle_state": ctx.cycle_state}))
    if ctx.released:
        found.append(Refusal("decisions_released"))
    if not ctx.meeting_open:
        found.append(Refusal("meeting_not_open"))
    elif not ctx.quorate:
        found.append(Refusal("no_quorum"))
    if not ctx.reason.strip():
        found.append(Refusal("rationale_required"))
    return found


def refusals(state: str, trigger: str, ctx: MoveContext) -> list[Refusal]:
    """Every reason why `trigger` cannot fire from `state` now; empty means the move may happen."""
    if trigger not in triggers_from(state):
        return [Refusal("illegal_move", {"state": state, "trigger": trigger})]
    if trigger in COMPANY_TRIGGERS:
        found = ami_refusals(ctx)
        if trigger == SUBMIT:
            found.extend(ctx.incomplete)
        return found
    if trigger in DECISION_TRIGGERS:
        return decision_refusals(ctx)
    found = []
    if ctx.cycle_state not in SCREENING_STAGES:
        found.append(Refusal("screening_closed", {"cycle_state": ctx.cycle_state}))
    if not ctx.reason.strip():
        found.append(Refusal("screening_needs_reason"))
    return found


class ApplicationFlow(Flow):
    """One answer's machine for one move."""

    STATES = STATES
    TRANSITIONS = TRANSITIONS

    def __init__(self, state: str, ctx: MoveContext):
        super().__init__(state, ctx, refusals)


def mermaid(current: str | None = None) -> str:
    """Mermaid source of the machine, the current state highlighted."""
    lines = ["stateDiagram-v2", "    [*] --> draft"]
    for t in TRANSITIONS:
        for source in _sources(t):
            lines.append(f"    {source} --> {t['dest']}: {t['trigger']}")
    if current:
        lines.append("    classDef current fill:#000091,color:#fff")
        lines.append(f"    class {current} current")
    return "\n".join(lines)
