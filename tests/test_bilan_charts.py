"""The bilan's charts (issue 8, item 4): each figure of the results pages is a data table and, when DSFR Chart is
installed, a <bar-chart> drawn from the same numbers. The table is the source of truth: these tests read the
chart's x / y / name attributes against the hand-built fixture of tests/test_results.py and against the table
next to it; the browser side (CSP, console, axe-core, the charts drawn) is tests/browser/test_results_page.py.
"""

from __future__ import annotations

import json

import pytest
from census_factories import census_world
from lxml import html
from test_query_budgets import count_queries
from test_results import commitment, world  # noqa: F401  (the hand-built fixture, reused as a fixture)

from innovation_cycle import transaction
from innovation_cycle.extensions import db
from innovation_cycle.models import ResultsReport
from innovation_cycle.services import results as service

FIGURES = ("funnel", "levels", "convention", "amounts", "sizes", "objective-figure", "departments", "themes",
           "lead-times")


def publish(world) -> None:  # noqa: F811
    service.save_editorial(world.cycle, world.users["admin"], "Une belle année.")
    service.approve(world.cycle, world.users["pfra"])
    service.approve(world.cycle, world.users["ugap"])
    service.publish(world.cycle, world.users["admin"])
    transaction.commit()


def charts_of(page: str) -> dict[str, dict]:
    """Each chart of the page by its figure's id: its parsed attributes, its wrapper, and its figure's table."""
    tree = html.fromstring(page)
    charts = {}
    for wrapper in tree.xpath("//div[contains(@class, 'ic-chart')]"):
        figure_id = wrapper.get("id").removesuffix("-chart")
        [chart] = wrapper.xpath(".//bar-chart")
        [table] = tree.xpath(f"//*[@id='{figure_id}']/table")
        charts[figure_id] = {
            "x": json.loads(chart.get("x")), "y": json.loads(chart.get("y")), "name": json.loads(chart.get("name")),
            "horizontal": chart.get("horizontal"), "unit": chart.get("unit-tooltip"), "wrapper": wrapper,
            "rows": [row.xpath("th")[0].text_content().strip() for row in table.xpath("tbody/tr")],
            "columns": [th.text_content().strip() for th in table.xpath("thead/tr/th")][1:],
        }
    return charts


@pytest.fixture
def published(world, app):  # noqa: F811
    app.config["CHARTS_ENABLED"] = True
    publish(world)
    return world


def test_every_figure_has_its_chart_with_the_fixtures_numbers(published, client):
    page = client.get("/resultats/2017").get_data(as_text=True)
    charts = charts_of(page)
    assert set(charts) == set(FIGURES)

    funnel = charts["funnel"]
    assert funnel["x"] == [["Besoins soumis", "Besoins acceptés", "Réponses déposées", "Réponses éligibles",
                            "Solutions retenues", "Engagements recensés", "Marchés notifiés"]]
    assert funnel["y"] == [[2, 2, 3, 3, 2, 5, 1]] and funnel["name"] == ["2017"] and funnel["horizontal"] == "true"

    amounts = charts["amounts"]
    assert amounts["x"] == [["PFRA — service de l'État en région", "PFRA — acheteur public régional",
                             "UGAP — client national"]]
    assert amounts["y"] == [[50000.0, 30000.0, 20000.0], [0.0, 9000.0, 0.0]]
    assert amounts["name"] == ["Engagé", "Notifié"] and amounts["unit"] == "€"

    sizes = charts["sizes"]  # the count column stays in the table: one unit per chart
    assert sizes["x"] == [["micro-entreprises", "PME", "grandes entreprises"]]
    assert sizes["y"] == [[30000.0, 50000.0, 20000.0], [9000.0, 0.0, 0.0]]
    assert sizes["name"] == ["Engagé (€ HT)", "Notifié (€ HT)"]
    assert sizes["columns"] == ["Engagements", "Engagé (€ HT)", "Notifié (€ HT)"]

    assert charts["departments"]["x"] == [["59", "62", "75"]] and charts["departments"]["y"] == [[2, 1, 1]]
    assert charts["themes"]["x"] == [["Accueil"]] and charts["themes"]["y"] == [[1]]
    assert charts["levels"]["y"] == [[2, 0, 1, 0, 1, 1]]
    assert charts["convention"]["x"] == [["2017"]] and charts["convention"]["y"] == [[100000.0], [9000.0]]

    lead = charts["lead-times"]
    assert lead["y"][0][1] == 212 and round(lead["y"][0][0]) == 186 and lead["unit"] == "jours"

    objective = charts["objective-figure"]  # 9 000 € contracted with SMEs over 1 000 000 € of PFRA purchases
    assert objective["x"] == [["2017"]]
    assert objective["y"] == [[0.9], [0.9], [2.0]] and objective["unit"] == "%"
    assert objective["name"] == ["Auprès de PME", "Auprès de PME et d'ETI", "Objectif national"]


def test_a_chart_is_its_tables_rows_and_columns(published, client):
    """The chart's categories are the table's row headers, its series the table's columns (those charted)."""
    for path in ("/resultats/2017",):
        for figure_id, chart in charts_of(client.get(path).get_data(as_text=True)).items():
            rows = chart["rows"][:len(chart["x"][0])]  # table-only footer rows (totals) come last
            assert chart["x"][0] == rows, figure_id
            assert set(chart["name"]) <= set(chart["columns"]), figure_id
            assert len(chart["y"]) == len(chart["name"]) and all(len(s) == len(rows) for s in chart["y"]), figure_id


def test_charts_are_hidden_images_with_a_text_alternative_until_the_script_runs(published, client):
    page = client.get("/resultats/2017").get_data(as_text=True)
    for figure_id, chart in charts_of(page).items():
        wrapper = chart["wrapper"]
        assert wrapper.get("hidden") is not None, figure_id  # no JavaScript: the table alone, no empty box
        assert wrapper.get("role") == "img", figure_id
        assert "tableau qui suit" in wrapper.get("aria-label"), figure_id
    tree = html.fromstring(page)
    scripts = [s.get("src") for s in tree.xpath("//script[@src]")]
    assert any(src.endswith("/static/dsfr-chart/dsfr-chart.umd.js") for src in scripts)
    assert not tree.xpath("//script[not(@src)]")  # nothing inline: the CSP forbids it
    assert tree.xpath("//link[contains(@href, '/static/dsfr-chart/dsfr-chart.css')]")


def test_the_admins_bilan_page_draws_the_same_charts(world, app, client, login):  # noqa: F811
    app.config["CHARTS_ENABLED"] = True
    login(world.users["admin"])
    page = client.get(f"/resultats/cycle/{world.cycle.id}/bilan").get_data(as_text=True)
    charts = charts_of(page)
    assert set(charts) == set(FIGURES)
    assert charts["amounts"]["y"] == [[50000.0, 30000.0, 20000.0], [0.0, 9000.0, 0.0]]
    assert "Enregistrer le texte" in page


def test_without_the_chart_assets_the_pages_keep_their_tables(published, app, client):
    app.config["CHARTS_ENABLED"] = False
    page = client.get("/resultats/2017").get_data(as_text=True)
    tree = html.fromstring(page)
    assert not tree.xpath("//bar-chart") and not tree.xpath("//div[contains(@class, 'ic-chart')]")
    assert "dsfr-chart" not in page
    assert all(tree.xpath(f"//*[@id='{figure_id}']/table/caption") for figure_id in FIGURES)


def test_no_chart_for_a_figure_without_data(world, app, client):  # noqa: F811
    """No denominator entered: the 2 % chart would only draw the objective; no theme: no empty axis."""
    app.config["CHARTS_ENABLED"] = True
    db.session.query(service.PurchaseBaseline).delete()
    for need in world.needs:
        need.themes = []
    publish(world)
    charts = charts_of(client.get("/resultats/2017").get_data(as_text=True))
    assert "objective-figure" not in charts and "themes" not in charts
    assert "funnel" in charts
    page = client.get("/resultats/2017").get_data(as_text=True)
    assert "non renseigné" in page and "Aucun engagement." in page


def test_chart_pages_only_load_the_chart_assets(published, client):
    assert "dsfr-chart" not in client.get("/").get_data(as_text=True)
    assert db.session.get(ResultsReport, published.cycle.id).published_at is not None


def test_the_convention_side_by_side_in_a_bounded_number_of_queries(published, make, client):
    """Three cycles of the convention: the side-by-side figures chart one series per cycle, and the whole page
    (bilan, figures, named solutions, layout) stays within the bilan's budget of 20 queries."""
    for year in (2018, 2019):
        other = census_world(make, year=year, convention=published.convention, state="results_communication",
                             companies=published.companies)
        for application in other.selected * 5:
            commitment(other, application, "region", "pfra_regional", "interest", "1000")
    db.session.commit()
    db.session.expire_all()
    with count_queries() as statements:
        page = client.get("/resultats/2017").get_data(as_text=True)
    charts = charts_of(page)
    for figure_id in ("funnel", "levels", "lead-times"):
        assert charts[figure_id]["name"] == ["2017", "2018", "2019"], figure_id
        assert charts[figure_id]["columns"] == ["2017", "2018", "2019"], figure_id
    assert charts["funnel"]["y"][1][5] == 10 and charts["funnel"]["y"][2][5] == 10  # commitments per cycle
    assert charts["convention"]["x"] == [["2017", "2018", "2019"]]
    assert charts["convention"]["y"][0] == [100000.0, 10000.0, 10000.0]
    assert len(statements) <= 20, "\n".join(statements)  # 15 today: 8 for the bilan, the rest the page's


def test_labels_reach_the_chart_as_text_never_as_markup(world, app, client):  # noqa: F811
    """A theme named with markup and quotes: the attribute holds it escaped, the chart reads it back verbatim."""
    app.config["CHARTS_ENABLED"] = True
    name = '<img src=x onerror="alert(1)"> & « Accueil »'
    world.needs[0].themes[0].name = name
    publish(world)
    page = client.get("/resultats/2017").get_data(as_text=True)
    assert "<img src=x" not in page
    assert charts_of(page)["themes"]["x"] == [[name]]
