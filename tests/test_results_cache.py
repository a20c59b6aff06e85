"""Issue 11: what the results pages compute from a whole convention (the bilan's figures, the open-data files'
sizes, the DECP gaps, the anonymous reader's public page) is kept between requests and renewed at once by any
committed change of the records (services/results_cache.py); the named solutions come a page at a time."""

from __future__ import annotations

import re

import pytest
from test_bilan_charts import publish
from test_query_budgets import count_queries
from test_results import commitment, world  # noqa: F401  (the hand-built fixture, reused as a fixture)

from innovation_cycle.extensions import db
from innovation_cycle.models import Setting
from innovation_cycle.services import opendata, results_cache

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _without_csrf(page: str) -> str:
    return CSRF.sub("", page)


def test_a_committed_change_of_a_watched_record_starts_a_new_generation(world):  # noqa: F811
    before = results_cache.generation()
    world.selected[0].solution_name = "Borne renommée"
    db.session.commit()
    after = results_cache.generation()
    assert after is not None and after != before
    # A change rolled back, or a commit of records the results do not read: the same generation.
    world.selected[0].solution_name = "Jamais vue"
    db.session.flush()
    db.session.rollback()
    db.session.add(Setting(key="test.unwatched", value="1"))
    db.session.commit()
    assert results_cache.generation() == after
    # A watched record deleted: a new generation too.
    db.session.delete(db.session.get(type(world.needs[0].themes[0]), world.needs[0].themes[0].id))
    db.session.commit()
    assert results_cache.generation() != after


def test_anonymous_readers_get_a_cached_page_renewed_at_once_by_a_change(world, app, client, login):  # noqa: F811
    publish(world)
    first = client.get("/resultats/2017").get_data(as_text=True)
    with count_queries() as statements:
        second = client.get("/resultats/2017").get_data(as_text=True)
    assert _without_csrf(second) == _without_csrf(first) and "Alpha SAS" in second
    # The published cycle, its windows and the generation: nothing that grows with the convention's records.
    assert len(statements) <= 3, statements
    cache = app.extensions["results_cache"]
    assert cache.hits >= 1

    # A named company renamed, a commitment recorded: both visible on the next reading.
    world.selected[0].company.organization.name = "Alpha Renommée SAS"
    db.session.commit()
    page = client.get("/resultats/2017").get_data(as_text=True)
    assert "Alpha Renommée SAS" in page and "Alpha SAS" not in page
    assert not re.search(r"31[\s\u202f\xa0]234", page)
    commitment(world, world.selected[0], "region", "pfra_regional", "interest", "1234")
    db.session.commit()
    assert re.search(r"31[\s\u202f\xa0]234", client.get("/resultats/2017").get_data(as_text=True))

    # Each reader gets a CSRF token of their own session (the header's language form), never the placeholder.
    for reader in (client, app.test_client()):
        page = reader.get("/resultats/2017").get_data(as_text=True)
        assert "\x00" not in page and CSRF.search(page).group(1)

    # A message waiting in the session: the page is rendered for this reader, the message on it.
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Un message pour vous")]
    assert "Un message pour vous" in client.get("/resultats/2017").get_data(as_text=True)
    assert "Un message pour vous" not in client.get("/resultats/2017").get_data(as_text=True)

    # A signed-in reader is never served the anonymous copy (its header names them).
    login(world.users["pfra"])
    signed = client.get("/resultats/2017").get_data(as_text=True)
    assert "Alpha Renommée SAS" in signed and _without_csrf(signed) != _without_csrf(page)


def test_the_bilan_page_builds_the_files_once_per_generation(world, client, login, monkeypatch):  # noqa: F811
    builds = []
    render = opendata.render
    monkeypatch.setattr(opendata, "render", lambda *a, **k: builds.append(a[1]) or render(*a, **k))
    login(world.users["admin"])
    url = f"/resultats/cycle/{world.cycle.id}/bilan"
    first = client.get(url).get_data(as_text=True)
    assert sorted(builds) == sorted(opendata.FILES) and "l'acheteur n'a pas de SIRET" in first
    with count_queries() as statements:
        again = client.get(url).get_data(as_text=True)
    assert _without_csrf(again) == _without_csrf(first)
    assert len(builds) == len(opendata.FILES)  # measured once
    assert len(statements) <= 10, "\n".join(statements)  # 8 today: the user, the cycle, the report, the
    # approvals, the founders, the baseline, the generation; none that grows with the records

    # The contract's buyer gets its SIRET: the page no longer lists it as a gap for that reason, at once, and
    # the files are measured again.
    world.orgs["region"].siret = "21590350100017"
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert "l'acheteur n'a pas de SIRET" not in page
    assert len(builds) == 2 * len(opendata.FILES)


@pytest.mark.parametrize("per_page", [1])
def test_the_named_solutions_come_a_page_at_a_time(world, app, client, per_page):  # noqa: F811
    app.config["RESULTS_NAMED_PER_PAGE"] = per_page
    world.selected[1].named_in_results = True
    db.session.commit()
    publish(world)
    first = client.get("/resultats/2017").get_data(as_text=True)
    second = client.get("/resultats/2017?page=2").get_data(as_text=True)
    assert "Borne d&#39;accueil" in first and "Tri intelligent" not in first
    assert "Tri intelligent" in second and "Borne d&#39;accueil" not in second
    assert 'class="fr-pagination' in first and "/resultats/2017?page=2" in first
    # Without a page past the first, no pagination: the page as before.
    app.config["RESULTS_NAMED_PER_PAGE"] = 100
    assert 'class="fr-pagination' not in client.get("/resultats/2017?page=1").get_data(as_text=True)
