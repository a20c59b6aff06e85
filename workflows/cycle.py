"""The yearly cycle's state machine.

The rules live here as data and plain functions; `innovation_cycle.services.cycles` binds a machine to a
Cycle row for one move, inside the database transaction that also writes the audit row. Guards do not only
say no: they say why, as `Refusal` codes that the application turns into French sentences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.base import Flow, Refusal

STAGES: tuple[str, ...] = (
    "needs_collection",
    "ami_sourcing",
    "selection",
    "commitment_census",
    "results_communication",
)
STATES: tuple[str, ...] = ("draft", *STAGES, "closed")

ADVANCE, STEP_BACK, CLOSE = "advance", "step_back", "close"
TRIGGERS: tuple[str, ...] = (ADVANCE, STEP_BACK, CLOSE)

TRANSITIONS: list[dict[str, Any]] = (
    [{"trigger": ADVANCE, "source": s, "dest": d} for s, d in zip(STATES[:-2], STATES[1:-1], strict=True)]
    + [{"trigger": CLOSE, "source": "results_communication", "dest": "closed"}]
    + [{"trigger": STEP_BACK, "source": s, "dest": d} for s, d in zip(STATES[1:-1], STATES[:-2], strict=True)]
)


@dataclass
class MoveContext:
    """What the guards need to know, gathered by the service from the database and the clock."""

    now: datetime
    # Closing time of the current stage's window (None in draft and closed).
    window_closes_at: datetime | None = None
    # Problems with the calendar; entering the first stage needs none.
    calendar_problems: list[Refusal] = field(default_factory=list)
    forced: bool = False
    reason: str = ""
    # Exit conditions of the current stage that a forced move cannot bypass (later issues add them).
    exit_blockers: list[Refusal] = field(default_factory=list)
    # Exit conditions that a forced move, with its reason, may bypass.
    forceable_blockers: list[Refusal] = field(default_factory=list)


def _leave_stage_refusals(ctx: MoveContext) -> list[Refusal]:
    refusals = list(ctx.exit_blockers)
    window_open = ctx.window_closes_at is not None and ctx.now < ctx.window_closes_at
    blocking = []
    if window_open:
        blocking.append(Refusal("window_open", {"closes_at": ctx.window_closes_at}))
    blocking.extend(ctx.forceable_blockers)
    if blocking:
        if not ctx.forced:
            refusals.extend(blocking)
        elif not ctx.reason.strip():
            refusals.append(Refusal("force_needs_reason"))
    return refusals


def refusals(state: str, trigger: str, ctx: MoveContext) -> list[Refusal]:
    """Every reason why `trigger` cannot fire from `state` now; empty means the move may happen."""
    if trigger not in triggers_from(state):
        return [Refusal("illegal_move", {"state": state, "trigger": trigger})]
    if trigger == STEP_BACK:
        return [] if ctx.reason.strip() else [Refusal("step_back_needs_reason")]
    if state == "draft":
        return list(ctx.calendar_problems)
    return _leave_stage_refusals(ctx)


def triggers_from(state: str) -> list[str]:
    return [t["trigger"] for t in TRANSITIONS if t["source"] == state]


def destination(state: str, trigger: str) -> str | None:
    return next((t["dest"] for t in TRANSITIONS if t["source"] == state and t["trigger"] == trigger), None)


def was_forced(state: str, trigger: str, ctx: MoveContext) -> bool:
    """A move is recorded as forced only when the force bypassed something."""
    if trigger == STEP_BACK or state == "draft" or not ctx.forced:
        return False
    without_force = MoveContext(**{**ctx.__dict__, "forced": False})
    return bool(_leave_stage_refusals(without_force))


class CycleFlow(Flow):
    """The cycle's machine for one move."""

    STATES = STATES
    TRANSITIONS = TRANSITIONS

    def __init__(self, state: str, ctx: MoveContext,
                 on_change: Callable[[str, str, str], None] | None = None):
        super().__init__(state, ctx, refusals, on_change)


def mermaid(current: str | None = None) -> str:
    """Mermaid source of the machine, the current state highlighted; needs no system package."""
    lines = ["stateDiagram-v2", "    [*] --> draft"]
    for t in TRANSITIONS:
        lines.append(f"    {t['source']} --> {t['dest']}: {t['trigger']}")
    lines.append("    closed --> [*]")
    if current:
        lines.append("    classDef current fill:#000091,color:#fff")
        lines.append(f"    class {current} current")
    return "\n".join(lines)
