"""Answers to the AMI: the company's list, drafting and submitting, withdrawing; the admins' screening."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from forms.applications import ApplicationForm, ButtonForm, ScreeningForm, WithdrawForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.formatting import translated_once
from innovation_cycle.models import Application, Company, Cycle, User
from innovation_cycle.params import db_id, page_number
from innovation_cycle.services import applications as service
from innovation_cycle.services import companies, uploads
from innovation_cycle.services.directory import Invalid

bp = Blueprint("applications", __name__, url_prefix="/reponses")

UNPROCESSABLE = 422
SUBMIT_ACTION = "submit"


def _me() -> User:
    return current_user._get_current_object()


def _load(application_id: int, action: str) -> Application:
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    from innovation_cycle.services import reviews  # issue 7: a conflicted member is told nothing exists

    if reviews.is_conflicted(current_user, application) and not can(current_user, "application.manage",
                                                                    application):
        abort(404)
    ensure(action, application)
    return application


def _labels() -> dict[str, Any]:
    return {
        "state_label": service.state_label, "badges": service.STATE_BADGES, "trl_label": service.trl_label,
        "kind_labels": service.INNOVATION_KIND_LABELS, "market_labels": service.MARKET_STATUS_LABELS,
        "buyer_label": service.buyer_label, "size_label": companies.size_label, "ami_window": service.ami_window,
        "trl_levels": service.TRL_LABELS,
    }


def _company_or_register() -> Company | Any:
    """The representative's company, or a redirect to register it first (and come back)."""
    company = companies.company_of(current_user)
    if company is None:
        flash(_("Enregistrez d'abord votre entreprise : l'AMI est réservé aux entreprises identifiées par leur "
                "SIRET."), "info")
        return redirect(url_for("companies.register", next=request.full_path))
    return company


# --- the company's answers ---------------------------------------------------------------------------------


@bp.get("/")
@requires("application.list_own")
def index():
    company = companies.company_of(current_user)
    cycle = service.ami_cycle()
    return render_template("applications/index.html", company=company, cycle=cycle,
                           answers=service.for_company(company) if company else [],
                           ami_open=service.ami_is_open(cycle), **_labels())


def _form_page(form: ApplicationForm, cycle: Cycle, application: Application | None, loose: list[str],
               status: int):
    needs = service.accepted_needs(cycle)
    known = {n.id for n in needs}
    unavailable = []
    if application is not None:
        unavailable = [t.need for t in application.targets if t.need_id not in known and t.need is not None]
    return render_template("applications/form.html", form=form, cycle=cycle, application=application,
                           needs=needs, unavailable=unavailable, loose_errors=loose,
                           ami_title=service.ami_title(cycle), **_labels()), status


def _save_attachments(form: ApplicationForm, application: Application) -> bool:
    """Keep the files sent with the form (PDF only, checked by content); False when one was refused."""
    for storage in form.attachments.data or []:
        if storage is None or not getattr(storage, "filename", None):
            continue
        try:
            uploads.save_upload(storage, application, _me(), allow_office=False)
        except uploads.UploadRefused as refused:
            form.attachments.errors = [*form.attachments.errors, refused.message]
    return not form.attachments.errors


def _after_save(application: Application, wants_submit: bool, created: bool):
    """Commit the saved answer; when asked, submit it in the same transaction, or say what it lacks."""
    if wants_submit:
        try:
            _app, moved = service.submit(application.id, _me())
        except service.Refused as exc:
            transaction.commit()  # the text is saved; the submission waits for what is missing
            flash(_("Votre réponse est enregistrée en brouillon, mais elle ne peut pas encore être soumise : "
                    "complétez ce qui est signalé ci-dessous."), "warning")
            # What is missing is listed once, by the form's error summary (?verifier=1); only the other
            # refusals (the deadline, a state) are said here.
            for refusal in exc.refusals:
                if refusal.code not in service.MISSING_CODES:
                    flash(service.refusal_message(refusal), "error")
            return redirect(url_for("applications.edit", application_id=application.id, verifier=1))
        transaction.commit()
        flash(_("Votre réponse « %(name)s » est soumise. Un courriel récapitulatif vous a été envoyé.",
                name=application.solution_name) if moved else _("Cette réponse était déjà soumise."), "success")
        return redirect(url_for("applications.detail", application_id=application.id))
    transaction.commit()
    flash(_("Votre brouillon est enregistré. Pensez à le soumettre avant la clôture de l'AMI.") if created
          else _("Vos modifications sont enregistrées."), "success")
    return redirect(url_for("applications.detail", application_id=application.id))


@bp.route("/nouvelle", methods=["GET", "POST"])
@requires("application.create")
def new():
    company = _company_or_register()
    if not isinstance(company, Company):
        return company
    need_id = request.args.get("need_id", type=db_id)
    need = service.open_need(need_id)
    cycle = need.cycle if need is not None else service.ami_cycle()
    if cycle is None or not service.ami_is_open(cycle):
        refusals = service.flow.ami_refusals(service.context(cycle)) if cycle is not None else []
        return render_template("applications/closed.html", cycle=cycle,
                               messages=[service.refusal_message(r) for r in refusals], **_labels()), \
            (UNPROCESSABLE if request.method == "POST" else 200)
    form = ApplicationForm()
    if request.method == "GET":
        form.client_token.data = secrets.token_urlsafe(24)
        if need is not None:
            form.targets.data = [(need.id, "")]
        elif need_id:
            flash(_("Le besoin demandé n'est pas ouvert aux réponses : choisissez parmi les besoins publiés."),
                  "warning")
    loose: list[str] = []
    if form.validate_on_submit():
        existing = service.by_client_token(company, form.client_token.data)
        if existing is not None:  # the same form posted twice: one answer
            return redirect(url_for("applications.detail", application_id=existing.id))
        try:
            application = service.create(company, _me(), cycle, form.data_for_service(), form.client_token.data)
            if not _save_attachments(form, application):
                raise Invalid([])
            return _after_save(application, request.form.get("action") == SUBMIT_ACTION, created=True)
        except Invalid as exc:
            transaction.rollback()
            loose = form.place_errors(exc.errors)
        except service.Refused as exc:
            transaction.rollback()
            loose = exc.messages
        except IntegrityError:
            transaction.rollback()
            existing = service.by_client_token(company, form.client_token.data)
            if existing is None:
                raise
            return redirect(url_for("applications.detail", application_id=existing.id))
    return _form_page(form, cycle, None, loose, UNPROCESSABLE if request.method == "POST" else 200)


@bp.get("/<int:application_id>")
@requires("application.access")
def detail(application_id: int):
    application = _load(application_id, "application.view")
    refusals = service.edit_refusals(application) if can(current_user, "application.manage", application) else []
    return render_template(
        "applications/detail.html", application=application, company=application.company,
        ami_title=service.ami_title(application.cycle), read_only_reasons=[
            service.refusal_message(r) for r in refusals if r.code in ("ami_closed", "ami_not_open")],
        submit_form=ButtonForm(formdata=None),
        withdraw_form=WithdrawForm(formdata=None, expected_state=application.status),
        screening_form=ScreeningForm(formdata=None, expected_state=application.status), **_labels())


@bp.route("/<int:application_id>/modifier", methods=["GET", "POST"])
@requires("application.list_own")
def edit(application_id: int):
    application = _load(application_id, "application.manage")
    refusals = service.edit_refusals(application)
    if refusals:
        for message in (service.refusal_message(r) for r in refusals):
            flash(message, "warning")
        return redirect(url_for("applications.detail", application_id=application.id))
    form = ApplicationForm()
    loose: list[str] = []
    if request.method == "GET":
        form.fill_from(application)
        if request.args.get("verifier"):
            loose = form.place_errors(service.field_errors(service.missing_for_submission(application)))
    elif form.validate_on_submit():
        try:
            service.update(application, form.data_for_service(), _me())
            if not _save_attachments(form, application):
                raise Invalid([])
            return _after_save(application, request.form.get("action") == SUBMIT_ACTION, created=False)
        except Invalid as exc:
            transaction.rollback()
            application = _load(application_id, "application.manage")
            loose = form.place_errors(exc.errors)
        except service.Refused as exc:
            transaction.rollback()
            application = _load(application_id, "application.manage")
            loose = exc.messages
    status = UNPROCESSABLE if request.method == "POST" else 200
    return _form_page(form, application.cycle, application, loose, status)


@bp.post("/<int:application_id>/soumettre")
@requires("application.list_own")
def submit(application_id: int):
    application = _load(application_id, "application.manage")
    try:
        _app, moved = service.submit(application.id, _me())
    except service.Refused as exc:
        transaction.rollback()
        for message in exc.messages:
            flash(message, "error")
        codes = {r.code for r in exc.refusals}
        if codes & {"missing", "missing_fit", "need_unavailable"} and not codes & {"ami_closed", "illegal_move"}:
            return redirect(url_for("applications.edit", application_id=application_id, verifier=1))
        return redirect(url_for("applications.detail", application_id=application_id))
    transaction.commit()
    flash(_("Votre réponse « %(name)s » est soumise. Un courriel récapitulatif vous a été envoyé.",
            name=application.solution_name) if moved else _("Cette réponse était déjà soumise."), "success")
    return redirect(url_for("applications.detail", application_id=application_id))


@bp.post("/<int:application_id>/retirer")
@requires("application.list_own")
def withdraw(application_id: int):
    application = _load(application_id, "application.manage")
    form = WithdrawForm()
    back = url_for("applications.detail", application_id=application_id)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return redirect(back)
    try:
        service.withdraw(application.id, _me(), form.expected_state.data or application.status, form.reason.data)
    except service.Refused as exc:
        transaction.rollback()
        for message in exc.messages:
            flash(message, "error")
        return redirect(back)
    transaction.commit()
    flash(_("Votre réponse « %(name)s » est retirée : elle ne sera pas examinée.",
            name=application.solution_name), "success")
    return redirect(back)


# --- eligibility screening (admins) ----------------------------------------------------------------------


@bp.get("/examen")
@requires("application.screen")
def screening():
    page = service.awaiting_screening(page_number(), current_app.config["PAGE_SIZE"])
    # Each size worded once for the page, not once per row.
    labels = {**_labels(), "size_label": translated_once(companies.size_label)}
    return render_template("applications/screening.html", page=page, **labels)


@bp.post("/<int:application_id>/eligibilite")
@requires("application.screen")
def screen(application_id: int):
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    form = ScreeningForm()
    if form.validate_on_submit():
        try:
            service.screen(application.id, _me(), form.decision.data == "eligible", form.reason.data,
                           form.expected_state.data or application.status)
        except service.Refused as exc:
            transaction.rollback()
            for message in exc.messages:
                flash(message, "error")
        else:
            transaction.commit()
            flash(_("La réponse « %(name)s » est déclarée %(state)s.", name=application.solution_name,
                    state=service.state_label(application.status).lower()), "success")
            return redirect(url_for("applications.screening") if request.form.get("from") == "queue"
                            else url_for("applications.detail", application_id=application_id))
        application = db.session.get(Application, application_id)
    return render_template(
        "applications/detail.html", application=application, company=application.company,
        ami_title=service.ami_title(application.cycle), read_only_reasons=[],
        submit_form=ButtonForm(formdata=None),
        withdraw_form=WithdrawForm(formdata=None, expected_state=application.status),
        screening_form=form, **_labels()), UNPROCESSABLE

