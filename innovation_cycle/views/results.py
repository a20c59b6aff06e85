"""The cycle's results (issue 8): the public results page, and the bilan's drafting, approval and publication."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from forms.commitments import ButtonForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Cycle
from innovation_cycle.params import page_number
from innovation_cycle.services import bilan_figures, opendata, results_cache
from innovation_cycle.services import results as service
from workflows.base import MoveRefused

bp = Blueprint("results", __name__, url_prefix="/resultats")
CHART_SCRIPT = "dsfr-chart/dsfr-chart.umd.js"


class EditorialForm(FlaskForm):
    editorial = TextAreaField(_l("Texte du bilan"), validators=[Optional(), Length(max=20000)],
                              render_kw={"rows": 12})


def _cycle(cycle_id: int, action: str) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    ensure(action, cycle)
    return cycle


def charts_installed() -> bool:
    """DSFR Chart's assets are in place (scripts/install_dsfr.py); without them the pages show their tables only.
    `CHARTS_ENABLED` in the configuration overrides the check (tests, or a site that wants tables only)."""
    configured = current_app.config.get("CHARTS_ENABLED")
    if configured is not None:
        return bool(configured)
    return (Path(current_app.static_folder) / CHART_SCRIPT).is_file()


def _key(cycle: Cycle) -> tuple:
    """The start of every cached entry's key for `cycle`'s page: read once per page, before any record
    (services/results_cache.py)."""
    return (*results_cache.base_key(), cycle.id, cycle.version)


def _figures(cycle: Cycle, key: tuple, level: int = 2) -> dict:
    """The bilan of the cycle's convention (its cycles side by side) as the pages draw it: tables and charts
    (`figures_html`, at heading `level`). Computed and drawn once per generation of the records
    (services/results_cache.py), not on every page: both grow with the convention's records."""

    def build() -> dict:
        side_by_side = results_cache.detached(service.convention_bilan(cycle.convention))
        current = next(b for b in side_by_side if b.cycle_id == cycle.id)
        return {"bilans": side_by_side, "current": current,
                "figures": bilan_figures.figures(side_by_side, current)}

    figures = results_cache.cached((*key, "figures"), build)
    charts = charts_installed()
    html = results_cache.cached((*key, "figures_html", charts, level), lambda: Markup(render_template(
        "results/_figures.html", cycle=cycle, charts=charts, figure_level=level, **figures)))
    return {**figures, "charts": charts, "figures_html": html}


def _context(cycle: Cycle, key: tuple) -> dict:
    named, unnamed = service.named_solutions_page(cycle, page_number(),
                                                  current_app.config.get("RESULTS_NAMED_PER_PAGE", 100))
    figures = _figures(cycle, key)
    return {"cycle": cycle, "named": named.items, "named_page": named, "unnamed": unnamed,
            "report": service.report_of(cycle), **figures,
            **_open_data(cycle, key, figures["bilans"], measure=False)}


PUBLIC_ENDPOINTS = {"bilan-csv": "results.bilan_csv", "bilan-xlsx": "results.bilan_xlsx", "decp": "results.decp",
                    "ocds": "results.ocds"}


def _open_data(cycle: Cycle, key: tuple, bilans: list | None = None, measure: bool = True) -> dict:
    """The download links' files, sizes (DSFR download links show format and size) and addresses: the public
    ones once the bilan is published, the preview's before (the public ones answer 404 until then)."""
    if service.is_published(cycle):
        links = {name: url_for(endpoint, year=cycle.year) for name, endpoint in PUBLIC_ENDPOINTS.items()}
    else:
        links = {name: url_for("results.open_data_preview", cycle_id=cycle.id, key=name) for name in opendata.FILES}
    sizes = {}
    if measure:  # each file built to be measured: once per generation of the records, not on every page
        uri = url_for("results.ocds", year=cycle.year, _external=True)
        sizes = results_cache.cached((*key, "sizes", uri), lambda: opendata.sizes(cycle, uri, bilans))
    return {"open_data_files": opendata.FILES, "open_data_links": links, "open_data_sizes": sizes}


# Stands for the CSRF token (of the header's language form) in a page cached for every anonymous reader: each
# response carries its reader's own token (as on the AMI's public page).
_CSRF_MARK = "\x00csrf-token\x00"


@bp.get("/<int:year>")
@requires("results.public")
def public(year: int):
    cycle = service.published_cycle(year)
    if cycle is None:
        abort(404)
    if current_user.is_authenticated or "_flashes" in session:
        return render_template("results/public.html", preview=False, **_context(cycle, _key(cycle)))
    # Anonymous readers all see the same page for the same address: cached whole, keyed by the records'
    # generation (a change to the bilan, its text or its figures makes a new key, never a stale page).
    key = _key(cycle)
    page = results_cache.cached((*key, "public", request.path, request.query_string, charts_installed()),
                                lambda: render_template("results/public.html", preview=False,
                                                        csrf_token=lambda: _CSRF_MARK, **_context(cycle, key)))
    return page.replace(_CSRF_MARK, generate_csrf()) if _CSRF_MARK in page else page


@bp.get("/cycle/<int:cycle_id>/apercu")
@requires("results.preview")
def preview(cycle_id: int):
    cycle = _cycle(cycle_id, "results.preview")
    return render_template("results/public.html", preview=True, **_context(cycle, _key(cycle)))


@bp.route("/cycle/<int:cycle_id>/bilan", methods=["GET", "POST"])
@requires("results.manage")
def manage(cycle_id: int):
    cycle = _cycle(cycle_id, "results.manage")
    report = service.report_of(cycle)
    form = EditorialForm(data={"editorial": report.editorial if report else ""})
    if form.validate_on_submit():
        try:
            service.save_editorial(cycle, current_user, form.editorial.data or "")
        except MoveRefused as exc:
            transaction.rollback()
            form.editorial.errors = [r.params["message"] for r in exc.refusals]
        else:
            transaction.commit()
            flash(_("Le texte du bilan est enregistré. Les membres fondateurs peuvent l'approuver."), "success")
            return redirect(url_for("results.manage", cycle_id=cycle.id))
    key = _key(cycle)
    figures = _figures(cycle, key, level=3)
    return render_template("results/manage.html", cycle=cycle, form=form, report=service.report_of(cycle),
                           missing=service.missing_approvals(cycle), button=ButtonForm(formdata=None),
                           can_approve=can(current_user, "results.approve", cycle),
                           baseline=service.baseline_of(cycle.year), decp_gaps_html=_decp_gaps(cycle, key),
                           **figures, **_open_data(cycle, key, figures["bilans"]))


def _decp_gaps(cycle: Cycle, key: tuple) -> Markup:
    """The contracts the DECP file leaves out, as the page lists them (each contracted commitment read to find
    them, a national cycle has hundreds): read and drawn once per generation of the records."""
    return results_cache.cached((*key, "decp_gaps"), lambda: Markup(render_template(
        "results/_decp_gaps.html", decp_gaps=opendata.decp_gap_rows(cycle))))


def _button_move(cycle_id: int, action: str, do, success: str):
    cycle = _cycle(cycle_id, action)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        do(cycle, current_user)
    except MoveRefused as exc:
        transaction.rollback()
        for refusal in exc.refusals:
            flash(refusal.params["message"], "error")
    else:
        transaction.commit()
        flash(success, "success")
    return cycle


@bp.post("/cycle/<int:cycle_id>/approuver")
@requires("results.approve")
def approve(cycle_id: int):
    _button_move(cycle_id, "results.approve", service.approve, _("Vous avez approuvé le bilan."))
    return redirect(url_for("results.preview", cycle_id=cycle_id))


@bp.post("/cycle/<int:cycle_id>/publier")
@requires("results.manage")
def publish(cycle_id: int):
    cycle = _button_move(cycle_id, "results.manage", service.publish,
                         _("Le bilan est publié ; l'annonce des résultats part aux participants."))
    return redirect(url_for("results.manage", cycle_id=cycle.id))


# --- open data (issue 8, item 6): the published bilan's files, no login; 404 until the bilan is published ---


def _published(year: int) -> Cycle:
    cycle = service.published_cycle(year)
    if cycle is None:
        abort(404)
    return cycle


def _file(cycle: Cycle, key: str) -> Response:
    spec = opendata.FILES[key]
    body = opendata.render(cycle, key, url_for("results.ocds", year=cycle.year, _external=True))
    return Response(body, mimetype=spec.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{spec.filename(cycle.year)}"',
        "X-Content-Type-Options": "nosniff"})


@bp.get("/<int:year>/bilan.csv")
@requires("results.public")
def bilan_csv(year: int):
    """The published bilan as open data: the convention's cycles side by side (UTF-8, comma-separated)."""
    return _file(_published(year), "bilan-csv")


@bp.get("/<int:year>/bilan.xlsx")
@requires("results.public")
def bilan_xlsx(year: int):
    """The same table as the CSV, as a spreadsheet (the listings' export writer)."""
    return _file(_published(year), "bilan-xlsx")


@bp.get("/<int:year>/decp.json")
@requires("results.public")
def decp(year: int):
    """The cycle's contracted commitments as DECP v2 essential data."""
    return _file(_published(year), "decp")


@bp.get("/<int:year>/ocds.json")
@requires("results.public")
def ocds(year: int):
    """The cycle as an OCDS 1.1.5 release package."""
    return _file(_published(year), "ocds")


@bp.get("/cycle/<int:cycle_id>/donnees/<string:key>")
@requires("results.preview")
def open_data_preview(cycle_id: int, key: str):
    """The same files before publication, for the admin and the founders who check them before approving."""
    cycle = _cycle(cycle_id, "results.preview")
    if key not in opendata.FILES:
        abort(404)
    return _file(cycle, key)
