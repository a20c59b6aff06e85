"""Two moves at once (two admins; an admin and a job) must never skip a stage.

Two real connections: the first move holds its transaction open; the second, started from the same page
(same expected state), waits for the row lock (PostgreSQL: SELECT … FOR UPDATE) or for the write lock and
then fails the version check (SQLite). Once the first commits, the second is refused: one stage, one audit row.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from innovation_cycle import transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Cycle, Role
from innovation_cycle.services import cycles
from workflows.base import MoveRefused


def _second_move(app, cycle_id: int, actor_id: int | None, outcome: dict) -> None:
    with app.app_context():
        from innovation_cycle.models import User

        actor = db.session.get(User, actor_id) if actor_id else None
        try:
            cycles.move(cycle_id, "advance", expected_state="ami_sourcing", actor=actor)
            transaction.commit()
            outcome["result"] = "moved"
        except MoveRefused as exc:
            transaction.rollback()
            outcome["result"] = [r.code for r in exc.refusals]
        finally:
            db.session.remove()


def _race(app, make, clock, second_actor_is_system: bool):
    first_admin = make.user(Role.ADMIN)
    second_admin = make.user(Role.ADMIN)
    cycle = make.cycle(state="ami_sourcing")
    clock.set(paris_datetime(2017, 5, 2, 9))
    cycle_id = cycle.id

    # First move: done, not yet committed; its transaction holds the row.
    cycles.move(cycle_id, "advance", expected_state="ami_sourcing", actor=first_admin)

    outcome: dict = {}
    other = threading.Thread(target=_second_move, args=(
        app, cycle_id, None if second_actor_is_system else second_admin.id, outcome))
    other.start()
    time.sleep(0.5)
    if db.engine.dialect.name == "postgresql":
        assert other.is_alive(), "the second move must wait for the first one's lock"
    transaction.commit()
    other.join(timeout=20)
    assert not other.is_alive()

    db.session.expire_all()
    assert db.session.get(Cycle, cycle_id).state == "selection"
    assert outcome["result"] == ["stale"]
    moves = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "cycle.advance")).all()
    assert [(m.before["state"], m.after["state"], m.actor_id) for m in moves] == [
        ("ami_sourcing", "selection", first_admin.id)]


def test_two_admins_at_once_move_the_cycle_one_stage(app, make, clock):
    _race(app, make, clock, second_actor_is_system=False)


def test_an_admin_and_a_job_at_once_move_the_cycle_one_stage(app, make, clock):
    _race(app, make, clock, second_actor_is_system=True)
