"""The innovation need's state machine.

A buyer drafts a need and submits it while the needs collection is open; the PFRA agent (or an admin)
qualifies it: accepted (it will be published in the AMI), returned for changes (the buyer sees the comment,
takes it back as a draft and submits again), rejected (with a reason), or merged into a duplicate that
absorbs it. The rules are data and plain functions, as in `workflows.cycle`; `innovation_cycle.services.needs`
binds a machine to a Need row for one move, in the transaction that also writes the audit row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.base import Flow, Refusal

STATES: tuple[str, ...] = ("draft", "submitted", "accepted", "returned", "rejected", "merged")
# A draft (and a returned need, until the buyer takes it back) can be changed by its organization.
EDITABLE: tuple[str, ...] = ("draft", "returned")
# States in which a need has been qualified: its fate is decided.
FINAL: tuple[str, ...] = ("accepted", "rejected", "merged")

SUBMIT, ACCEPT, RETURN, REVISE, REJECT, MERGE = "submit", "accept", "return_for_changes", "revise", "reject", "merge"
TRIGGERS: tuple[str, ...] = (SUBMIT, ACCEPT, RETURN, REVISE, REJECT, MERGE)
# Triggers of the buyer's organization, and of the qualifiers (PFRA agent, admin).
BUYER_TRIGGERS: tuple[str, ...] = (SUBMIT, REVISE)
QUALIFIER_TRIGGERS: tuple[str, ...] = (ACCEPT, RETURN, REJECT, MERGE)

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": SUBMIT, "source": "draft", "dest": "submitted"},
    {"trigger": ACCEPT, "source": "submitted", "dest": "accepted"},
    {"trigger": RETURN, "source": "submitted", "dest": "returned"},
    {"trigger": REVISE, "source": "returned", "dest": "draft"},
    {"trigger": REJECT, "source": "submitted", "dest": "rejected"},
    # A duplicate is absorbed while it is being qualified, or after it was accepted (before the AMI).
    {"trigger": MERGE, "source": "submitted", "dest": "merged"},
    {"trigger": MERGE, "source": "accepted", "dest": "merged"},
]
# The states a need may absorb a duplicate in: a draft is private, a rejected or merged need is gone.
ABSORBING_STATES: tuple[str, ...] = ("submitted", "accepted")


@dataclass
class NeedContext:
    """What the guards need to know, gathered by the service from the database and the clock."""

    now: datetime
    # The needs collection of the need's cycle: is the cycle in that stage, and its window's dates.
    cycle_state: str = "needs_collection"
    cycle_year: int | None = None
    collection_opens_at: datetime | None = None
    collection_closes_at: datetime | None = None
    # Labels of the fields a submission still lacks.
    missing: list[str] = field(default_factory=list)
    # The comment (return) or reason (reject) given by the qualifier.
    comment: str = ""
    # Merge: the absorbing need, described by the service (None: not found).
    target_id: int | None = None
    target_state: str | None = None
    target_same_cycle: bool = True
    need_id: int | None = None


def collection_open(ctx: NeedContext) -> bool:
    """Open because of the cycle's stage and its dates, not because a job flipped a flag."""
    return (ctx.cycle_state == "needs_collection" and ctx.collection_opens_at is not None
            and ctx.collection_closes_at is not None
            and ctx.collection_opens_at <= ctx.now < ctx.collection_closes_at)


def collection_refusal(ctx: NeedContext) -> Refusal:
    return Refusal("collection_closed", {"year": ctx.cycle_year, "cycle_state": ctx.cycle_state,
                                         "opens_at": ctx.collection_opens_at,
                                         "closes_at": ctx.collection_closes_at, "now": ctx.now})


def refusals(state: str, trigger: str, ctx: NeedContext) -> list[Refusal]:
    """Every reason why `trigger` cannot fire from `state` now; empty means the move may happen."""
    if trigger not in triggers_from(state):
        return [Refusal("illegal_move", {"state": state, "trigger": trigger})]
    found: list[Refusal] = []
    if trigger in (SUBMIT, REVISE):
        if not collection_open(ctx):
            found.append(collection_refusal(ctx))
        if trigger == SUBMIT and ctx.missing:
            found.append(Refusal("incomplete", {"fields": list(ctx.missing)}))
        return found
    # Qualification happens while the cycle is in its needs collection (the AMI publishes the result).
    if ctx.cycle_state != "needs_collection":
        found.append(Refusal("qualification_closed", {"cycle_state": ctx.cycle_state}))
    if trigger == RETURN and not ctx.comment.strip():
        found.append(Refusal("comment_required"))
    if trigger == REJECT and not ctx.comment.strip():
        found.append(Refusal("reason_required"))
    if trigger == MERGE:
        if ctx.target_id is None or ctx.target_state is None:
            found.append(Refusal("merge_target_missing"))
        elif ctx.target_id == ctx.need_id:
            found.append(Refusal("merge_into_itself"))
        elif not ctx.target_same_cycle:
            found.append(Refusal("merge_other_cycle"))
        elif ctx.target_state not in ABSORBING_STATES:
            found.append(Refusal("merge_target_state", {"state": ctx.target_state}))
    return found


def triggers_from(state: str) -> list[str]:
    return [t["trigger"] for t in TRANSITIONS if t["source"] == state]


def destination(state: str, trigger: str) -> str | None:
    return next((t["dest"] for t in TRANSITIONS if t["source"] == state and t["trigger"] == trigger), None)


class NeedFlow(Flow):
    """One need's machine for one move."""

    STATES = STATES
    TRANSITIONS = TRANSITIONS

    def __init__(self, state: str, ctx: NeedContext):
        super().__init__(state, ctx, refusals)
