"""Locking a record for one move: the row lock every state change takes before it reads the state it checks."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from innovation_cycle.extensions import db

T = TypeVar("T")


def lock_row(model: type[T], row_id: int) -> T | None:
    """SELECT … FOR UPDATE on PostgreSQL (ignored by SQLite, where the row's version column catches races),
    refreshing the object even if this session already holds it, so the state checked is the committed one."""
    return db.session.execute(
        select(model).where(model.id == row_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
