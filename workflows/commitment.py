"""A purchase commitment's state machine (the census stage, issue 8).

    interest → experimentation_planned → purchase_commitment → procedure_launched → contracted
    interest → purchase_commitment                  (no experimentation needed)
    any state before contracted → abandoned         (with a reason)

Selection is not an award (DESIGN §6): a commitment records what a buyer intends and then does; only a
notified contract, with its essential data, is `contracted`. Like the other machines, the rules are data and
a pure `refusals(state, trigger, ctx)`; `innovation_cycle.services.commitments` binds the machine to a locked
row for one move, in the transaction that also writes the audit row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.base import Flow, Refusal

STATES: tuple[str, ...] = (
    "interest", "experimentation_planned", "purchase_commitment", "procedure_launched", "contracted", "abandoned",
)
# The levels a commitment reaches, in order (the bilan's funnel counts them).
LEVELS: tuple[str, ...] = STATES[:5]
FINAL: tuple[str, ...] = ("contracted", "abandoned")

PLAN_EXPERIMENTATION, COMMIT, LAUNCH_PROCEDURE, CONTRACT, ABANDON = (
    "plan_experimentation", "commit", "launch_procedure", "contract", "abandon")
TRIGGERS: tuple[str, ...] = (PLAN_EXPERIMENTATION, COMMIT, LAUNCH_PROCEDURE, CONTRACT, ABANDON)

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": PLAN_EXPERIMENTATION, "source": "interest", "dest": "experimentation_planned"},
    {"trigger": COMMIT, "source": ["interest", "experimentation_planned"], "dest": "purchase_commitment"},
    {"trigger": LAUNCH_PROCEDURE, "source": "purchase_commitment", "dest": "procedure_launched"},
    {"trigger": CONTRACT, "source": "procedure_launched", "dest": "contracted"},
    {"trigger": ABANDON, "source": [s for s in STATES if s not in FINAL], "dest": "abandoned"},
]


@dataclass
class MoveContext:
    """What the guards need to know, gathered by the service from the database and the clock."""

    now: datetime
    # False once the convention's three years of follow-up are over (or before the census stage).
    follow_up_open: bool = True
    reason: str = ""
    # The contract's essential data still missing (field names), for `contract`.
    contract_missing: list[str] = field(default_factory=list)


def _sources(transition: dict[str, Any]) -> list[str]:
    source = transition["source"]
    return list(source) if isinstance(source, list) else [source]


def triggers_from(state: str) -> list[str]:
    return [t["trigger"] for t in TRANSITIONS if state in _sources(t)]


def destination(state: str, trigger: str) -> str | None:
    return next((t["dest"] for t in TRANSITIONS if t["trigger"] == trigger and state in _sources(t)), None)


def refusals(state: str, trigger: str, ctx: MoveContext) -> list[Refusal]:
    """Every reason why `trigger` cannot fire from `state` now; empty means the move may happen."""
    if trigger not in triggers_from(state):
        return [Refusal("illegal_move", {"state": state, "trigger": trigger})]
    found: list[Refusal] = []
    if not ctx.follow_up_open:
        found.append(Refusal("follow_up_closed"))
    if trigger == ABANDON and not ctx.reason.strip():
        found.append(Refusal("abandon_needs_reason"))
    if trigger == CONTRACT and ctx.contract_missing:
        found.append(Refusal("contract_incomplete", {"fields": list(ctx.contract_missing)}))
    return found


class CommitmentFlow(Flow):
    """One commitment's machine for one move."""

    STATES = STATES
    TRANSITIONS = TRANSITIONS

    def __init__(self, state: str, ctx: MoveContext):
        super().__init__(state, ctx, refusals)
