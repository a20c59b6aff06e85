"""Counting the SQL statements a request sends, for the query budgets the tests assert (one counter for
every test file that has a budget)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from innovation_cycle.extensions import db


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Every statement sent to the database inside the block, in order."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
