"""Cycles: list, create, calendar, moves through the workflow, committee, next year's preparation."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from forms import options, put_errors
from forms.cycles import CalendarForm, CommitteeForm, MoveForm, NewCycleForm, RemoveForm
from innovation_cycle import clock, transaction
from innovation_cycle.authz import ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, CommitteeMember, Convention, Cycle, Role, User, UserRole
from innovation_cycle.params import db_id, parse_int
from innovation_cycle.services import audit, audit_text, cycles
from innovation_cycle.views.admin import bp
from workflows import cycle as flow
from workflows.base import MoveRefused


def _load(cycle_id: int, action: str = "cycle.view") -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    ensure(action, cycle)
    return cycle


@bp.get("/cycles", endpoint="cycles")
@requires("cycle.view")
def cycles_list():
    rows = db.session.scalars(select(Cycle).order_by(Cycle.year.desc(), Cycle.id.desc())).all()
    return render_template("admin/cycles/list.html", cycles=rows)


@bp.route("/cycles/nouveau", methods=["GET", "POST"])
@requires("cycle.manage")
def cycle_new():
    conventions = db.session.scalars(select(Convention).order_by(Convention.starts_on.desc())).all()
    form = NewCycleForm()
    form.convention_id.choices = options([(c.id, f"{c.name} ({c.starts_on.year}–{c.ends_on.year})")
                                          for c in conventions])
    if not conventions:
        flash(_("Créez d'abord une convention."), "warning")
        return redirect(url_for("admin.conventions"))
    loose: list[str] = []
    if request.method == "GET":
        convention = db.session.get(Convention, request.args.get("convention_id", type=db_id) or conventions[0].id)
        convention = convention or conventions[0]
        taken = {c.year for c in convention.cycles}
        year = parse_int(request.args.get("year"), minimum=2000, maximum=2100) or next(
            (y for y in convention.years if y not in taken), convention.years[-1])
        form.convention_id.data, form.year.data = convention.id, year
        form.fill(cycles.proposed_calendar(year))
    elif form.validate_on_submit():
        convention = db.session.get(Convention, form.convention_id.data)
        if convention is None:
            form.convention_id.errors = [_("Convention inconnue.")]
        else:
            try:
                cycle = cycles.create_cycle(convention, form.year.data, form.windows(),
                                            auto_advance=form.auto_advance.data, reminder_offsets=form.offsets())
            except cycles.CalendarInvalid as exc:
                transaction.rollback()
                loose = put_errors(form, exc.errors)
            else:
                transaction.commit()
                flash(_("Le cycle %(year)s a été créé.", year=cycle.year), "success")
                return redirect(url_for("admin.cycle", cycle_id=cycle.id))
    return render_template("admin/cycles/new.html", form=form, loose_errors=loose), (
        422 if request.method == "POST" else 200)


@bp.get("/cycles/<int:cycle_id>")
@requires("cycle.view")
def cycle(cycle_id: int):
    # The committee with its people and their organizations in a fixed number of queries.
    db.session.execute(select(Cycle).where(Cycle.id == cycle_id).options(
        selectinload(Cycle.committee).joinedload(CommitteeMember.user).joinedload(User.organization),
        joinedload(Cycle.convention).selectinload(Convention.cycles),
    )).unique().scalar_one_or_none()
    cycle = _load(cycle_id)
    moves = []
    for trigger in cycles.available_moves(cycle):
        form = MoveForm(formdata=None, trigger=trigger, expected_state=cycle.state)
        form.forced.id = f"forced-{trigger}"
        form.reason.id = f"reason-{trigger}"
        moves.append({"trigger": trigger, "form": form,
                      "destination": flow.destination(cycle.state, trigger),
                      "refusals": [cycles.refusal_message(r) for r in cycles.move_refusals(cycle, trigger)
                                   if r.code != "step_back_needs_reason"]})  # the field's hint says it
    history = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "cycles", AuditEvent.object_id == cycle.id)
        .order_by(AuditEvent.id.desc()).limit(20)).all()
    committee_form = CommitteeForm()
    members = {m.user_id for m in cycle.committee}
    committee_form.user_id.choices = options([
        (u.id, f"{u.name} ({u.email})") for u in db.session.scalars(
            select(User).join(UserRole).where(UserRole.role == Role.COMMITTEE_MEMBER).order_by(User.name))
        if u.id not in members])
    taken = {c.year for c in cycle.convention.cycles}
    years_left = [y for y in cycle.convention.years if y > cycle.year and y not in taken]
    return render_template(
        "admin/cycles/detail.html", cycle=cycle, moves=moves, history=history, current_time=clock.now(),
        committee_form=committee_form, remove_form=RemoveForm(), mermaid=flow.mermaid(cycle.state),
        transitions=flow.TRANSITIONS, can_prepare_next=(cycle.year + 1) in years_left,
        audit_action=audit_text.action,
    )


@bp.post("/cycles/<int:cycle_id>/changer-etape")
@requires("cycle.move")
def cycle_move(cycle_id: int):
    cycle = _load(cycle_id, "cycle.move")
    form = MoveForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("admin.cycle", cycle_id=cycle.id))
    try:
        cycles.move(cycle.id, form.trigger.data, expected_state=form.expected_state.data, actor=current_user,
                    forced=form.forced.data, reason=form.reason.data or "")
    except MoveRefused as exc:
        transaction.rollback()
        for refusal in exc.refusals:
            flash(cycles.refusal_message(refusal), "error")
        return redirect(url_for("admin.cycle", cycle_id=cycle_id))
    transaction.commit()
    flash(_("Le cycle est passé à l'étape « %(state)s ».", state=cycles.state_label(cycle.state)), "success")
    return redirect(url_for("admin.cycle", cycle_id=cycle.id))


@bp.route("/cycles/<int:cycle_id>/calendrier", methods=["GET", "POST"])
@requires("cycle.manage")
def cycle_calendar(cycle_id: int):
    cycle = _load(cycle_id, "cycle.manage")
    form = CalendarForm()
    loose: list[str] = []
    if request.method == "GET":
        form.fill(cycles.windows_of(cycle))
        form.auto_advance.data = cycle.auto_advance
        form.fill_offsets(cycle.reminder_offsets)
    elif form.validate_on_submit():
        try:
            cycles.update_calendar(cycle, form.windows(), auto_advance=form.auto_advance.data,
                                   reason=form.reason.data, reminder_offsets=form.offsets())
        except cycles.CalendarInvalid as exc:
            transaction.rollback()
            cycle = _load(cycle_id, "cycle.manage")
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Le calendrier du cycle %(year)s a été enregistré.", year=cycle.year), "success")
            return redirect(url_for("admin.cycle", cycle_id=cycle.id))
    return render_template("admin/cycles/calendar.html", cycle=cycle, form=form, loose_errors=loose), (
        422 if request.method == "POST" else 200)


@bp.post("/cycles/<int:cycle_id>/preparer-annee-suivante")
@requires("cycle.manage")
def cycle_prepare_next(cycle_id: int):
    cycle = _load(cycle_id, "cycle.manage")
    if not RemoveForm().validate_on_submit():
        abort(400)
    try:
        nxt = cycles.prepare_next(cycle)
    except cycles.CalendarInvalid as exc:
        transaction.rollback()
        for error in exc.errors:
            flash(error.message, "error")
        return redirect(url_for("admin.cycle", cycle_id=cycle_id))
    transaction.commit()
    flash(_("Le cycle %(year)s a été préparé à partir du cycle %(previous)s.", year=nxt.year,
            previous=nxt.year - 1), "success")
    return redirect(url_for("admin.cycle", cycle_id=nxt.id))


@bp.post("/cycles/<int:cycle_id>/comite")
@requires("cycle.manage")
def cycle_committee_add(cycle_id: int):
    cycle = _load(cycle_id, "cycle.manage")
    form = CommitteeForm()
    form.user_id.choices = options([(u.id, u.email) for u in db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.COMMITTEE_MEMBER))])
    if not form.validate_on_submit():
        flash(_("Choisissez un membre du comité de pilotage dans la liste."), "error")
        return redirect(url_for("admin.cycle", cycle_id=cycle.id))
    try:
        cycles.add_committee_member(cycle, db.session.get(User, form.user_id.data))
    except cycles.CommitteeRefused as exc:
        transaction.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.cycle", cycle_id=cycle_id))
    transaction.commit()
    flash(_("Membre ajouté au comité du cycle."), "success")
    return redirect(url_for("admin.cycle", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/comite/<int:member_id>/retirer")
@requires("cycle.manage")
def cycle_committee_remove(cycle_id: int, member_id: int):
    cycle = _load(cycle_id, "cycle.manage")
    member = db.session.get(CommitteeMember, member_id)
    if member is None or member.cycle_id != cycle.id:
        abort(404)
    if not RemoveForm().validate_on_submit():
        abort(400)
    audit.record("cycle.committee_remove", cycle, before={"user_id": member.user_id})
    db.session.delete(member)
    transaction.commit()
    flash(_("Membre retiré du comité du cycle."), "success")
    return redirect(url_for("admin.cycle", cycle_id=cycle.id))
