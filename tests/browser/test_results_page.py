"""The public results page in a real browser (issue 8, item 4): DSFR Chart draws every figure's bar chart under
the application's CSP — no CSP violation or script error in the console, no serious axe-core violation — on the
State theme and on the neutral one; without JavaScript the page is its data tables, with no empty chart box.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_bilan_charts import FIGURES, publish
from test_results import world  # noqa: F401  (the hand-built fixture of the bilan's figures)

BOTH_THEMES = pytest.mark.parametrize("theme", ["dsfr", "neutral"], indirect=True)


@BOTH_THEMES
def test_the_public_results_page_draws_its_charts(walk, world, theme):  # noqa: F811
    publish(world)
    visitor = walk.person("visitor")
    visitor.goto("/resultats/2017")  # status, console (CSP, script errors), failed requests, axe-core
    page = visitor.page
    charts = page.locator(".ic-chart")
    expect(charts).to_have_count(len(FIGURES))
    for figure_id in FIGURES:
        expect(page.locator(f"#{figure_id}-chart")).to_be_visible()
        expect(page.locator(f"#{figure_id}-chart canvas")).to_have_count(1)
        expect(page.locator(f"#{figure_id} table")).to_be_visible()  # the table stays, the source of truth
    # Each chart was mounted while hidden: Chart.js sizes its canvas once it is shown, then paints (the funnel's
    # canvas gets non-transparent pixels). Waited for, not read at once: the machine may be busy.
    page.wait_for_function("""() => [...document.querySelectorAll('.ic-chart canvas')].every(c => {
        const box = c.getBoundingClientRect();
        return box.width > 100 && box.height > 50;
    })""")
    page.wait_for_function("""() => {
        const c = document.querySelector('#funnel-chart canvas');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) return true; }
        return false;
    }""")
    # The legend names the cycles. Sweeping the pointer over the bars opens no tooltip: DSFR Chart's tooltip
    # writes style attributes through innerHTML, which the CSP refuses (one console error per hovered bar: 9 on
    # this sweep when the canvas is given its pointer events back).
    expect(page.locator("#funnel-chart .chart_legend")).to_contain_text("2017")
    canvas = page.locator("#amounts-chart canvas")
    canvas.scroll_into_view_if_needed()  # the pointer only reaches what is in the viewport
    box = canvas.bounding_box()
    for y in range(10, 100, 10):  # down the horizontal bars, near their start
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * y / 100)
    assert page.evaluate("() => [...document.querySelectorAll('.ic-chart .tooltip')]"
                         ".every(t => t.style.opacity !== '1')")
    visitor.check_page()


def test_without_javascript_the_page_is_its_tables(walk, world):  # noqa: F811
    publish(world)
    reader = walk.person("reader", java_script_enabled=False)
    response = reader.page.goto(reader.url("/resultats/2017"))
    assert response is not None and response.status == 200
    for figure_id in FIGURES:
        expect(reader.page.locator(f"#{figure_id}-chart")).to_be_hidden()
        expect(reader.page.locator(f"#{figure_id} table")).to_be_visible()
