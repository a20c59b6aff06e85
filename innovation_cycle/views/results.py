"""The cycle's results (issue 8): the public results page, and the bilan's drafting, approval and publication."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from forms.commitments import ButtonForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Cycle
from innovation_cycle.services import bilan_figures
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


def _figures(cycle: Cycle) -> dict:
    """The bilan of the cycle's convention (its cycles side by side) as the pages draw it: tables and charts."""
    side_by_side = service.convention_bilan(cycle.convention)
    current = next(b for b in side_by_side if b.cycle_id == cycle.id)
    return {"bilans": side_by_side, "current": current, "figures": bilan_figures.figures(side_by_side, current),
            "charts": charts_installed()}


def _context(cycle: Cycle) -> dict:
    named, unnamed = service.named_solutions(cycle)
    return {"cycle": cycle, "named": named, "unnamed": unnamed, "report": service.report_of(cycle),
            **_figures(cycle)}


@bp.get("/<int:year>")
@requires("results.public")
def public(year: int):
    cycle = service.published_cycle(year)
    if cycle is None:
        abort(404)
    return render_template("results/public.html", preview=False, **_context(cycle))


@bp.get("/cycle/<int:cycle_id>/apercu")
@requires("results.preview")
def preview(cycle_id: int):
    cycle = _cycle(cycle_id, "results.preview")
    return render_template("results/public.html", preview=True, **_context(cycle))


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
    return render_template("results/manage.html", cycle=cycle, form=form, report=service.report_of(cycle),
                           missing=service.missing_approvals(cycle), button=ButtonForm(formdata=None),
                           can_approve=can(current_user, "results.approve", cycle),
                           baseline=service.baseline_of(cycle.year), **_figures(cycle))


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


@bp.get("/<int:year>/bilan.csv")
@requires("results.public")
def bilan_csv(year: int):
    """The published bilan as open data: the convention's cycles side by side (UTF-8, comma-separated)."""
    import csv
    import io

    cycle = service.published_cycle(year)
    if cycle is None:
        abort(404)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(service.table_rows(service.convention_bilan(cycle.convention)))
    return Response(buffer.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="bilan-{year}.csv"'})
