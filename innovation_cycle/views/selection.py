"""The selection stage's ranking, committee meetings, decisions, minutes and release."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from forms import options
from forms.admin import ButtonForm
from forms.selection import AttendanceForm, DecisionForm, MeetingForm, RankingFilterForm, ReleaseForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.clock import PARIS
from innovation_cycle.extensions import db
from innovation_cycle.formatting import Labels
from innovation_cycle.models import Application, CommitteeMember, Cycle, Meeting, Need, Role
from innovation_cycle.params import page_number, parse_id
from innovation_cycle.services import applications as application_service
from innovation_cycle.services import audit, listings
from innovation_cycle.services import companies as company_service
from innovation_cycle.services import decisions as service
from innovation_cycle.services import ranking as rk
from innovation_cycle.services.ami import themes_of
from innovation_cycle.services.directory import Invalid
from innovation_cycle.templating import form_html, url_for_ids

bp = Blueprint("selection", __name__, url_prefix="/selection")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PER_PAGE = 50


def _cycle_or_404(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return cycle


def _meeting_or_404(meeting_id: int) -> Meeting:
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        abort(404)
    return meeting


def _int(value: str | None) -> int | None:
    return parse_id(value)


@bp.get("/")
@requires("selection.access")
def index():
    """The stage's entry page: the cycles in (or past) selection the user may follow."""
    query = select(Cycle).where(Cycle.state.in_(["selection", "commitment_census", "results_communication",
                                                 "closed"])).order_by(Cycle.year.desc(), Cycle.id.desc())
    if not current_user.has_role(Role.ADMIN):
        query = query.join(CommitteeMember, CommitteeMember.cycle_id == Cycle.id).where(
            CommitteeMember.user_id == current_user.id)
    cycles = list(db.session.scalars(query))
    rows = [(c, service.meetings_of(c) if can(current_user, "meeting.manage", c) else [],
             service.undecided_count(c), service.released(c)) for c in cycles]
    return render_template("selection/index.html", rows=rows, state_label=service.cycles.state_label,
                           meeting_state_label=service.meeting_state_label)


def _ranking_setup(cycle: Cycle, need: Need | None = None):
    form = RankingFilterForm(formdata=request.args)
    form.theme.choices = options([("", _("Tous"))] + [(str(t.id), t.name) for t in themes_of(cycle)])
    form.need.choices = options([("", _("Tous"))] + [(str(i), t) for i, t in rk.need_choices(cycle)])
    form.size.choices = options([("", _("Toutes"))] + [(s, str(company_service.SIZE_LABELS[s])) for s in rk.SIZES])
    form.department.choices = options(
        [("", _("Tous"))] + [(d, d) for d in listings.departments(cycle, of="applications")])
    form.status.choices = options(
        [("", _("Tous"))] + [(s, application_service.state_label(s)) for s in rk.RANKED_STATES])
    valid = True if not request.args else form.validate()
    data = {name: (form[name].data if not form[name].errors else None) for name in form.data}
    filters = rk.RankingFilters(
        theme_id=_int(data["theme"]), need_id=need.id if need else _int(data["need"]), size=data["size"] or None,
        department=data["department"] or None, status=data["status"] or None, normalized=bool(data["normalized"]))
    return form, filters, valid


def _render_ranking(cycle: Cycle, need: Need | None = None):
    form, filters, valid = _ranking_setup(cycle, need)
    page = rk.rank(cycle, filters, current_user, page=page_number(), per_page=PER_PAGE)
    # The labels are worded once for the page, not once per line (50 lines ask for the same few); the lines
    # and the filter form are kept between requests under everything they show (templating.rows_html,
    # form_html).
    return render_template(
        "selection/ranking.html", cycle=cycle, need=need, form=form, page=page,
        filter_form=form_html("selection/_ranking_filters.html", form, need_page=need is not None,
                              action=request.path),
        line_values=_line_values,
        answer_url=url_for_ids("applications.detail", "application_id"),
        need_url=url_for_ids("selection.need_ranking", "need_id"),
        size_labels=Labels.of(company_service.size_label, company_service.SIZE_LABELS, missing="—"),
        state_labels=Labels.of(application_service.state_label, rk.RANKED_STATES),
        outcome_labels=Labels.of(service.outcome_label, service.OUTCOME_STATE),
        interest_pattern=_("rencontrer : %(m)s, tester : %(t)s, sans intérêt : %(n)s"),
    ), (200 if valid else 422)


def _line_values(line: rk.RankingLine) -> tuple:
    """What a kept ranking line's key holds of it: every field, its needs as a tuple."""
    return tuple(tuple(value) if isinstance(value, list) else value for value in vars(line).values())


@bp.get("/cycles/<int:cycle_id>/classement")
@requires("selection.access")
def ranking(cycle_id: int):
    # The ranking reads the cycle's id, year and state, not its stage windows (a query of their own).
    cycle = db.session.get(Cycle, cycle_id, options=[lazyload(Cycle.windows)])
    if cycle is None:
        abort(404)
    ensure("ranking.view", cycle)
    return _render_ranking(cycle)



@bp.get("/besoins/<int:need_id>/classement")
@requires("selection.access")
def need_ranking(need_id: int):
    need = db.session.get(Need, need_id)
    if need is None:
        abort(404)
    ensure("ranking.view", need.cycle)
    return _render_ranking(need.cycle, need)


def _file(body: bytes, fmt: str, name: str) -> Response:
    response = Response(body, mimetype="text/csv; charset=utf-8" if fmt == "csv" else XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/cycles/<int:cycle_id>/classement/export")
@requires("selection.access")
def ranking_export(cycle_id: int):
    cycle = _cycle_or_404(cycle_id)
    ensure("ranking.export", cycle)
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(404)
    _form, filters, _valid = _ranking_setup(cycle)
    lines = rk.rank(cycle, filters, current_user, per_page=None).lines
    columns = rk.export_columns(company_service.SIZE_LABELS, application_service.state_label,
                                     service.outcome_label)
    export = listings.export_of(lines, columns)
    body = (listings.to_csv(export) if fmt == "csv"
            else listings.to_xlsx(export, _("Classement %(year)s", year=cycle.year)))
    audit.record("ranking.export", cycle, after={"format": fmt, "rows": len(lines), "filters": request.args.to_dict()})
    transaction.commit()
    return _file(body, fmt, listings.export_name("classement", cycle, fmt))


# --- meetings ----------------------------------------------------------------------------------------------


@bp.route("/cycles/<int:cycle_id>/seances", methods=["GET", "POST"])
@requires("meeting.manage")
def meetings(cycle_id: int):
    cycle = _cycle_or_404(cycle_id)
    ensure("meeting.manage", cycle)
    form = MeetingForm()
    errors: list[str] = []
    if form.validate_on_submit():
        at = form.scheduled_at.data.replace(tzinfo=PARIS).astimezone(UTC)
        try:
            meeting = service.schedule(cycle, form.title.data, at, form.location.data, current_user)
        except Invalid as exc:
            transaction.rollback()
            errors = [e.message for e in exc.errors]
        else:
            transaction.commit()
            flash(_("La séance est programmée."), "success")
            return redirect(url_for("selection.meeting", meeting_id=meeting.id))
    status = 422 if request.method == "POST" else 200
    return render_template("selection/meetings.html", cycle=cycle, form=form, errors=errors,
                           meetings=service.meetings_of(cycle), state_label=service.meeting_state_label), status


def _agenda(meeting: Meeting):
    """The agenda: every ranked answer, in ranking order, with its decision if any."""
    return rk.rank(meeting.cycle, rk.RankingFilters(), current_user,
                        page=page_number(), per_page=PER_PAGE)


@bp.get("/seances/<int:meeting_id>")
@requires("meeting.manage")
def meeting(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    ensure("meeting.manage", meeting.cycle)
    form = AttendanceForm()
    members = service.committee_of(meeting.cycle)
    form.present.choices = options(
        [(u.id, f"{u.name} — {u.organization.name if u.organization else _('sans organisation')}")
                            for u in members])
    form.present.data = [a.user_id for a in meeting.attendance if a.present]
    return render_template("selection/meeting.html", meeting=meeting, form=form, quorum=service.quorum(meeting),
                           page=_agenda(meeting), state_label=service.meeting_state_label,
                           outcome_label=service.outcome_label, released=service.released(meeting.cycle),
                           button=ButtonForm())


@bp.post("/seances/<int:meeting_id>/presences")
@requires("meeting.manage")
def attendance(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    ensure("meeting.manage", meeting.cycle)
    form = AttendanceForm()
    form.present.choices = options([(u.id, u.name) for u in service.committee_of(meeting.cycle)])
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("selection.meeting", meeting_id=meeting.id))
    try:
        service.record_attendance(meeting.id, set(form.present.data or []), current_user)
    except (Invalid, service.Refused) as exc:
        transaction.rollback()
        messages = [e.message for e in exc.errors] if isinstance(exc, Invalid) else exc.messages
        flash(" ".join(messages), "error")
    else:
        transaction.commit()
        flash(_("Les présences sont enregistrées."), "success")
    return redirect(url_for("selection.meeting", meeting_id=meeting_id))


def _meeting_move(meeting_id: int, move, done: str):
    meeting = _meeting_or_404(meeting_id)
    ensure("meeting.manage", meeting.cycle)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        move(meeting.id, current_user)
    except service.Refused as exc:
        transaction.rollback()
        flash(" ".join(exc.messages), "error")
    else:
        transaction.commit()
        flash(done, "success")
    return redirect(url_for("selection.meeting", meeting_id=meeting_id))


@bp.post("/seances/<int:meeting_id>/ouvrir")
@requires("meeting.manage")
def meeting_open(meeting_id: int):
    return _meeting_move(meeting_id, service.open_meeting, _("La séance est ouverte."))


@bp.post("/seances/<int:meeting_id>/clore")
@requires("meeting.manage")
def meeting_close(meeting_id: int):
    return _meeting_move(meeting_id, service.close_meeting, _("La séance est close."))


@bp.route("/seances/<int:meeting_id>/reponses/<int:application_id>", methods=["GET", "POST"])
@requires("decision.record")
def decision(meeting_id: int, application_id: int):
    meeting = _meeting_or_404(meeting_id)
    application = db.session.get(Application, application_id)
    if application is None or application.cycle_id != meeting.cycle_id:
        abort(404)
    ensure("decision.record", application)
    existing = service.decision_of(application.id)
    form = DecisionForm(obj=None)
    form.needs.choices = options(
        [(t.need_id, t.need.title) for t in sorted(application.targets, key=lambda t: t.need_id)])
    if request.method == "GET" and existing is not None:
        form.outcome.data, form.rationale.data = existing.outcome, existing.rationale
        form.message.data = existing.message_to_company
        form.needs.data = [dn.need_id for dn in existing.needs]
    if request.method == "GET":
        form.version.data = str(existing.version) if existing else ""
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            service.decide(meeting.id, application.id, outcome=form.outcome.data, need_ids=form.needs.data or [],
                           rationale=form.rationale.data or "", message=form.message.data, actor=current_user,
                           expected_version=_int(form.version.data))
        except Invalid as exc:
            transaction.rollback()
            for e in exc.errors:
                field = getattr(form, e.field, None) if e.field else None
                if field is not None:
                    field.errors = [*field.errors, e.message]
                else:
                    errors.append(e.message)
        except service.Refused as exc:
            transaction.rollback()
            errors.extend(exc.messages)
        else:
            transaction.commit()
            flash(_("La décision est enregistrée."), "success")
            return redirect(url_for("selection.meeting", meeting_id=meeting.id))
    status = 422 if request.method == "POST" else 200
    meeting = db.session.get(Meeting, meeting_id)
    application = db.session.get(Application, application_id)
    return render_template("selection/decision.html", meeting=meeting, application=application, form=form,
                           errors=errors, existing=service.decision_of(application_id),
                           quorum=service.quorum(meeting), outcome_label=service.outcome_label), status


# --- minutes ---------------------------------------------------------------------------------------------


@bp.get("/seances/<int:meeting_id>/proces-verbal")
@requires("meeting.manage")
def minutes(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    ensure("meeting.manage", meeting.cycle)
    return render_template("selection/minutes.html", meeting=meeting, quorum=service.quorum(meeting),
                           decisions=service.decisions_of(meeting), outcome_label=service.outcome_label,
                           state_label=service.meeting_state_label)


@bp.get("/seances/<int:meeting_id>/proces-verbal/export")
@requires("meeting.manage")
def minutes_export(meeting_id: int):
    meeting = _meeting_or_404(meeting_id)
    ensure("meeting.manage", meeting.cycle)
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(404)
    columns = service.minutes_columns()
    rows = service.minutes_rows(meeting)
    export = listings.export_of(rows, columns)
    body = (listings.to_csv(export) if fmt == "csv" else listings.to_xlsx(export, _("Procès-verbal")))
    audit.record("meeting.minutes_export", meeting, after={"format": fmt, "rows": len(rows)})
    transaction.commit()
    return _file(body, fmt, listings.export_name(f"proces-verbal-{meeting_id}", meeting.cycle, fmt))


# --- release ---------------------------------------------------------------------------------------------


@bp.route("/cycles/<int:cycle_id>/communication", methods=["GET", "POST"])
@requires("decision.release")
def release_page(cycle_id: int):
    cycle = _cycle_or_404(cycle_id)
    ensure("decision.release", cycle)
    form = ReleaseForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            done = service.release(cycle.id, current_user)
        except service.Refused as exc:
            transaction.rollback()
            errors = exc.messages
        else:
            transaction.commit()
            flash(_("Les décisions sont communiquées aux entreprises et aux acheteurs.") if done
                  else _("Les décisions avaient déjà été communiquées : rien n'a été renvoyé."), "success")
            return redirect(url_for("selection.release_page", cycle_id=cycle_id))
    status = 422 if request.method == "POST" else 200
    cycle = db.session.get(Cycle, cycle_id)
    return render_template("selection/release.html", cycle=cycle, form=form, errors=errors,
                           settings=rk.settings_of(cycle), counts=service.outcome_counts(cycle),
                           undecided=service.undecided_count(cycle)), status


# --- what the company sees on its answer pages -------------------------------------------------------------


@bp.app_template_global()
def visible_status(application: Application) -> str:
    """The answer's state as its viewer may know it: a company reads the committee's outcome only once the
    decisions are released (until then a decided answer still shows as eligible); the staff see the truth."""
    if (application.status in ("selected", "not_selected") and current_user.is_authenticated
            and current_user.has_role(Role.COMPANY) and not current_user.has_role(Role.ADMIN)
            and not service.released(application.cycle)):
        return "eligible"
    return application.status


@bp.app_template_global()
def released_decision(application: Application):
    """The committee's decision on the answer, once released (None before)."""
    return service.released_decision_for(application)
