"""The demo clock: an admin moves the application's time forward to walk a cycle in minutes (demo mode only)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from forms import put_errors
from forms.admin import ButtonForm, ClockAdvanceForm, ClockTargetForm
from innovation_cycle import clock as app_clock
from innovation_cycle import transaction
from innovation_cycle.authz import requires
from innovation_cycle.services import directory
from innovation_cycle.templating import paris
from innovation_cycle.views.admin import bp


def _page(advance: ClockAdvanceForm | None = None, target: ClockTargetForm | None = None,
          loose: list[str] | None = None, status: int = 200):
    if target is None:
        target = ClockTargetForm(formdata=None)
        target.target.data = app_clock.to_paris(app_clock.now()).replace(tzinfo=None, second=0, microsecond=0)
    return render_template(
        "admin/clock/index.html", real_now=app_clock.real_now(), simulated_now=app_clock.now(),
        offset=app_clock.get_clock().offset(), advance_form=advance or ClockAdvanceForm(formdata=None),
        target_form=target, loose_errors=loose or [],
    ), status


def _moved():
    transaction.commit()
    flash(_("L'horloge indique maintenant le %(date)s.", date=paris(app_clock.now())), "success")
    return redirect(url_for("admin.clock"))


@bp.get("/horloge")
@requires("clock.move")
def clock():
    return _page()


@bp.post("/horloge/avancer")
@requires("clock.move")
def clock_advance():
    form = ClockAdvanceForm()
    if form.validate_on_submit():
        try:
            directory.advance_clock(days=form.days.data or 0, hours=form.hours.data or 0)
        except directory.Invalid as exc:
            transaction.rollback()
            return _page(advance=form, loose=put_errors(form, exc.errors), status=422)
        return _moved()
    return _page(advance=form, status=422)


@bp.post("/horloge/date")
@requires("clock.move")
def clock_set():
    form = ClockTargetForm()
    if form.validate_on_submit():
        try:
            directory.set_simulated_time(form.target.data.replace(tzinfo=app_clock.PARIS))
        except directory.Invalid as exc:
            transaction.rollback()
            return _page(target=form, loose=put_errors(form, exc.errors), status=422)
        return _moved()
    return _page(target=form, status=422)


@bp.post("/horloge/reinitialiser")
@requires("clock.move")
def clock_reset():
    if not ButtonForm().validate_on_submit():
        abort(400)
    directory.reset_clock()
    return _moved()
