"""The secretariat's procurement reference data (issue 8): the procedure thresholds with their validity dates
and legal source (the advice applies the row in force at a purchase's date), and the PFRA's purchases per year
(the denominator of the bilan's 2% objective). Admins only; each change audited by the services."""

from __future__ import annotations

from decimal import Decimal

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from forms import put_errors
from forms.procurement import BaselineForm, ThresholdForm
from innovation_cycle import formatting, transaction
from innovation_cycle.authz import requires
from innovation_cycle.extensions import db
from innovation_cycle.models import ProcedureThreshold
from innovation_cycle.params import parse_int
from innovation_cycle.services import procedures, results
from innovation_cycle.views.admin import bp


def _typed(amount: Decimal) -> str:
    """An amount as the admin types it: "3 150 000,00"."""
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",")


@bp.get("/seuils")
@requires("procedure_threshold.manage")
def thresholds():
    rows = sorted(procedures.thresholds(), key=lambda t: (t.kind, t.valid_from))
    return render_template("admin/procurement/thresholds.html", rows=rows, kinds=procedures.KIND_LABELS,
                           kind_label=procedures.kind_label)


def _threshold_page(form: ThresholdForm, threshold: ProcedureThreshold | None):
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            saved = procedures.save_threshold(threshold.id if threshold else None, actor=current_user,
                                              **form.values())
        except procedures.Invalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Le seuil est enregistré : %(kind)s, %(amount)s € HT.", kind=procedures.kind_label(saved.kind),
                    amount=formatting.whole(saved.amount)), "success")
            return redirect(url_for("admin.thresholds"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/procurement/threshold_form.html", form=form, threshold=threshold,
                           loose_errors=loose), status


@bp.route("/seuils/nouveau", methods=["GET", "POST"])
@requires("procedure_threshold.manage")
def threshold_new():
    return _threshold_page(ThresholdForm(), None)


@bp.route("/seuils/<int:threshold_id>/modifier", methods=["GET", "POST"])
@requires("procedure_threshold.manage")
def threshold_edit(threshold_id: int):
    threshold = db.session.get(ProcedureThreshold, threshold_id)
    if threshold is None:
        abort(404)
    form = ThresholdForm(data={"kind": threshold.kind, "amount": _typed(threshold.amount),
                               "valid_from": threshold.valid_from, "valid_to": threshold.valid_to,
                               "legal_source": threshold.legal_source})
    return _threshold_page(form, threshold)


@bp.get("/achats-pfra")
@requires("purchase_baseline.manage")
def baselines():
    return render_template("admin/procurement/baselines.html", rows=results.baselines())


def _baseline_page(form: BaselineForm, year: int | None):
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            saved = results.save_baseline(year if year is not None else form.year.data, form.amount.data or "",
                                          form.source.data or "", actor=current_user, existing=year is not None)
        except procedures.Invalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Les achats de la PFRA en %(year)s sont enregistrés.", year=saved.year), "success")
            return redirect(url_for("admin.baselines"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/procurement/baseline_form.html", form=form, year=year,
                           loose_errors=loose), status


@bp.route("/achats-pfra/nouveau", methods=["GET", "POST"])
@requires("purchase_baseline.manage")
def baseline_new():
    form = BaselineForm()
    if request.method == "GET":
        form.year.data = parse_int(request.args.get("year"), minimum=1000, maximum=9999)
    return _baseline_page(form, None)


@bp.route("/achats-pfra/<int:year>/modifier", methods=["GET", "POST"])
@requires("purchase_baseline.manage")
def baseline_edit(year: int):
    baseline = results.baseline_of(year)
    if baseline is None:
        abort(404)
    form = BaselineForm(data={"year": baseline.year, "amount": _typed(baseline.amount), "source": baseline.source})
    return _baseline_page(form, year)
