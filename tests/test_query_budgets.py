"""Budgets of SQL queries per page, asserted: pages must not grow a query per row. The dashboard gathers
tasks from every area (cycles, needs, AMI, answers), each allowed a query or two."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from innovation_cycle.extensions import db
from innovation_cycle.models import CommitteeMember, Role


@contextmanager
def count_queries():
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@pytest.fixture
def busy(make):
    """Three conventions, several cycles, a committee of 30: what a page must not iterate over query by query."""
    admin = make.user(Role.ADMIN)
    cycles = []
    for start in (2011, 2014, 2017):
        conv = make.convention(start)
        for year in range(start, start + 3):
            cycles.append(make.cycle(conv, year, state="needs_collection" if year == 2017 else "closed"))
    cycle = cycles[-3]
    members = [make.user(Role.COMMITTEE_MEMBER) for _ in range(30)]
    db.session.add_all(CommitteeMember(cycle_id=cycle.id, user_id=m.id) for m in members)
    db.session.commit()
    return admin, cycle


@pytest.mark.parametrize(("path", "budget"), [
    ("/", 8), ("/tableau-de-bord/", 14), ("/admin/cycles", 10), ("/admin/cycles/{id}", 16),
])
def test_page_query_budget(client, login, busy, path, budget):
    admin, cycle = busy
    login(admin)
    db.session.expire_all()
    with count_queries() as statements:
        response = client.get(path.format(id=cycle.id))
    assert response.status_code == 200
    assert len(statements) <= budget, "\n".join(statements)
