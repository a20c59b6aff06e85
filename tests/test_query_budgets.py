"""Budgets of SQL queries per page, asserted: pages must not grow a query per row. The dashboard gathers
tasks from every area (cycles, needs, AMI, answers), each allowed a query or two."""

from __future__ import annotations

import pytest
from query_count import count_queries
from sqlalchemy import func, select

from innovation_cycle.extensions import db
from innovation_cycle.models import CommitteeMember, Role


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


def _counted_get(client, url: str) -> tuple[list[str], object]:
    """The SQL statements a page runs from a fresh identity map (nothing loaded by the test counts), and the
    page (200 asserted)."""
    db.session.expunge_all()
    with count_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200
    return statements, response


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


# --- Issue 11: pages a page at a time, in queries that do not grow with the rows ---------------------------


def test_the_screening_queue_is_read_a_page_at_a_time_in_bounded_queries(app, client, login, make):
    """The admin's queue of answers to screen: thousands on the day the AMI closes, so a page at a time (oldest
    first, as before), its total counted apart, and the same queries whatever the page."""
    from datetime import timedelta

    from test_listings import SUBMITTED, World, rows_of, text_of

    from innovation_cycle.models import Application

    w = World(make, make.cycle(state="ami_sourcing"))
    buyer = make.organization("Ville de Lille")
    need = w.need("Besoin", buyer)
    companies = [w.company(f"Entreprise {i}") for i in range(7)]
    for i in range(60):
        w.answer(f"Solution {i:02d}", companies[i % 7], [need], submitted_at=SUBMITTED + timedelta(minutes=i))
    w.answer("Déjà examinée", companies[0], [need], status="eligible")
    db.session.commit()
    app.config["PAGE_SIZE"] = 25
    login(make.user(Role.ADMIN))

    def page(url: str):
        statements, response = _counted_get(client, url)
        return response, statements

    first, statements = page("/reponses/examen")
    assert rows_of(first) == [f"Solution {i:02d}" for i in range(25)]
    assert "60 réponses à examiner" in text_of(first) and "Page suivante" in text_of(first)
    # The signed-in user with its roles, the page's rows with their cycle, their companies, their organizations,
    # the total.
    assert len(statements) <= 5, "\n".join(s[:150] for s in statements)
    last, statements_last = page("/reponses/examen?page=3")
    assert rows_of(last) == [f"Solution {i:02d}" for i in range(50, 60)]
    assert len(statements_last) == len(statements)
    assert db.session.scalar(select(func.count(Application.id)).where(Application.status == "submitted")) == 60


def test_the_screening_queue_and_the_needs_list_read_plain_rows(app, client, login, make):
    """Issue 11: the screening queue and the needs list read the columns they show as plain rows, their page cut
    on the table before the joins: the page's rows in one query (not the answers or needs as objects, then
    their companies, organizations, cycles and the cycles' windows), the total in another."""
    from datetime import timedelta

    from test_listings import SUBMITTED, World, rows_of

    w = World(make, make.cycle(state="ami_sourcing"))
    buyers = [make.organization(f"Ville {i}") for i in range(3)]
    needs = [w.need(f"Besoin {i:02d}", buyers[i % 3]) for i in range(30)]
    companies = [w.company(f"Entreprise {i}") for i in range(5)]
    for i in range(30):
        w.answer(f"Solution {i:02d}", companies[i % 5], [needs[i]], submitted_at=SUBMITTED + timedelta(minutes=i))
    db.session.commit()
    app.config["PAGE_SIZE"] = 25
    login(make.user(Role.ADMIN))

    def statements_of(url: str) -> tuple[list[str], object]:
        return _counted_get(client, url)

    queue, response = statements_of("/reponses/examen")
    assert rows_of(response)[:2] == ["Solution 00", "Solution 01"]
    assert "Entreprise 1" in response.get_data(as_text=True)
    # The signed-in user and its roles, the page's rows, the total.
    assert len(queue) <= 4, "\n".join(s[:150] for s in queue)
    assert not [s for s in queue if s.lstrip().startswith("SELECT companies") or "FROM stage_windows" in s]
    listing, response = statements_of("/besoins/")
    assert len(rows_of(response)) == 25
    # The user and its roles, the cycles' filter, the page's rows, the total, the collection's cycle and its
    # windows (the callout tells whether the collection is open).
    assert len(listing) <= 7, "\n".join(s[:150] for s in listing)
    listing_last, response = statements_of("/besoins/?page=2")
    assert len(rows_of(response)) == 5 and len(listing_last) == len(listing)
