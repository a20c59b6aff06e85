"""What every machine of the convention shares: refusals that say why, and a machine bound to one move.

Each workflow module gives its states, its transition table and a pure `refusals(state, trigger, ctx)`
function; `Flow` builds the `transitions` machine from them, with that function as the single guard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine, MachineError


@dataclass(frozen=True)
class Refusal:
    """Why a move is refused: a code for the message catalogue and the values it shows."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


class MoveRefused(Exception):
    def __init__(self, refusals: Sequence[Refusal]):
        super().__init__(", ".join(r.code for r in refusals))
        self.refusals = list(refusals)


RefusalsFn = Callable[[str, str, Any], list[Refusal]]


class Flow:
    """One record's machine for one move: built from the stored state, fired once, then thrown away."""

    STATES: tuple[str, ...] = ()
    TRANSITIONS: list[dict[str, Any]] = []

    def __init__(self, state: str, ctx: Any, refusals: RefusalsFn,
                 on_change: Callable[[str, str, str], None] | None = None):
        self.ctx = ctx
        self._refusals = refusals
        self._on_change = on_change
        self.machine = Machine(
            model=self,
            states=list(self.STATES),
            transitions=[{**t, "conditions": "_guard"} for t in self.TRANSITIONS],
            initial=state,
            auto_transitions=False,
            send_event=True,
            after_state_change="_changed",
        )

    def _guard(self, event) -> bool:
        return not self._refusals(event.transition.source, event.event.name, self.ctx)

    def _changed(self, event) -> None:
        if self._on_change:
            self._on_change(event.transition.source, event.event.name, event.transition.dest)

    def fire(self, trigger: str) -> str:
        """Fire `trigger`, or raise MoveRefused with every reason; returns the new state."""
        found = self._refusals(self.state, trigger, self.ctx)
        if found:
            raise MoveRefused(found)
        try:
            moved = self.trigger(trigger)
        except MachineError as exc:  # rules that forgot a move: still a refusal, never a crash
            raise MoveRefused([Refusal("illegal_move", {"state": self.state, "trigger": trigger})]) from exc
        if not moved:  # the rules changed their mind between the check and the move: nothing moved
            raise MoveRefused([Refusal("guard_failed")])
        return self.state
