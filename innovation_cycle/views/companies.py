"""Companies: the representative's company page, registering it, joining one already registered."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from forms import put_errors
from forms.companies import ButtonForm, CompanyForm, DecisionForm, JoinForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Company, CompanyJoinRequest, User
from innovation_cycle.services import applications as application_service
from innovation_cycle.services import companies
from innovation_cycle.services.directory import Invalid
from innovation_cycle.urls import safe_next

bp = Blueprint("companies", __name__, url_prefix="/entreprise")

UNPROCESSABLE = 422


def _me() -> User:
    return current_user._get_current_object()


def _load(company_id: int, action: str) -> Company:
    company = db.session.get(Company, company_id)
    if company is None:
        abort(404)
    ensure(action, company)
    return company


def _company_page(company: Company):
    answers = [a for a in application_service.for_company(company) if can(current_user, "application.view", a)]
    ami = application_service.ami_cycle()
    ami_open = application_service.ami_is_open(ami)
    return render_template(
        "companies/detail.html", company=company, representatives=companies.representatives(company),
        requests=companies.pending_requests(company) if current_user.is_authenticated else [],
        answers=answers, ami_open=ami_open,
        answered=ami_open and any(a.cycle_id == ami.id and a.status != "withdrawn" for a in answers),
        size_label=companies.size_label,
        state_label=application_service.state_label, badges=application_service.STATE_BADGES,
        decision_form=DecisionForm(formdata=None), number=format_decimal)


@bp.get("/")
@requires("company.home")
def mine():
    """The representative's company; before registration, what to do next (register, or wait for a join)."""
    company = companies.company_of(current_user)
    if company is not None:
        return _company_page(company)
    return render_template("companies/unregistered.html", pending=companies.pending_request_of(_me()),
                           form=ButtonForm(formdata=None))


@bp.route("/inscription", methods=["GET", "POST"])
@requires("company.register")
def register():
    next_url = safe_next(request.args.get("next"))
    if companies.company_of(current_user) is not None:
        flash(_("Votre entreprise est déjà enregistrée."), "info")
        return redirect(next_url or url_for("companies.mine"))
    form = CompanyForm()
    if request.method == "GET" and current_user.organization is not None:
        form.name.data = current_user.organization.name
    loose: list[str] = []
    existing: Company | None = None
    if form.validate_on_submit():
        try:
            company = companies.register(_me(), form.data_for_service())
            transaction.commit()
        except companies.AlreadyRegistered as exc:
            transaction.rollback()
            existing = exc.company
            form.siret.errors = [*form.siret.errors, _(
                "Ce SIRET est déjà inscrit par l'entreprise « %(name)s » : demandez à la rejoindre plutôt que de "
                "l'inscrire une seconde fois.", name=existing.organization.name)]
        except Invalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        except companies.CannotRegister as exc:
            transaction.rollback()
            loose = [str(exc)]
        except IntegrityError:
            # The same SIRET was registered between our check and the commit.
            transaction.rollback()
            existing = companies.company_by_siret(form.siret.data)
            if existing is None:
                raise
            form.siret.errors = [*form.siret.errors, _(
                "Ce SIRET vient d'être inscrit par l'entreprise « %(name)s » : demandez à la rejoindre.",
                name=existing.organization.name)]
        else:
            flash(_("L'entreprise « %(name)s » est enregistrée. Vous pouvez répondre à l'AMI.",
                    name=company.organization.name), "success")
            return redirect(next_url or url_for("companies.mine"))
    join_form = JoinForm(formdata=None, siret=companies.compact_siret(form.siret.data)) if existing else None
    return render_template("companies/form.html", form=form, company=None, loose_errors=loose,
                           existing=existing, join_form=join_form, next_url=next_url), \
        (UNPROCESSABLE if request.method == "POST" else 200)


@bp.post("/rejoindre")
@requires("company.join")
def join():
    form = JoinForm()
    if not form.validate_on_submit():
        flash(_("Indiquez le SIRET de l'entreprise à rejoindre."), "error")
        return redirect(url_for("companies.register"))
    try:
        join_request = companies.request_join(_me(), form.siret.data)
        transaction.commit()
    except Invalid as exc:
        transaction.rollback()
        for error in exc.errors:
            flash(error.message, "error")
        return redirect(url_for("companies.mine"))
    flash(_("Votre demande pour rejoindre « %(name)s » est envoyée à ses représentants. Vous recevrez un courriel "
            "dès qu'elle sera traitée.", name=join_request.company.organization.name), "success")
    return redirect(url_for("companies.mine"))


@bp.post("/rejoindre/annuler")
@requires("company.join")
def join_cancel():
    if companies.cancel_join(_me()) is not None:
        transaction.commit()
        flash(_("Votre demande est annulée."), "success")
    return redirect(url_for("companies.mine"))


@bp.get("/<int:company_id>")
@requires("dashboard.view")  # the admins and the company's own representatives: the target decides
def detail(company_id: int):
    return _company_page(_load(company_id, "company.view"))


@bp.route("/<int:company_id>/modifier", methods=["GET", "POST"])
@requires("dashboard.view")  # the admins and the company's own representatives: the target decides
def edit(company_id: int):
    company = _load(company_id, "company.edit")
    form = CompanyForm()
    if request.method == "GET":
        form.fill_from(company)
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            changed = companies.update(company, form.data_for_service(), _me())
            transaction.commit()
        except (Invalid, companies.AlreadyRegistered) as exc:
            transaction.rollback()
            company = _load(company_id, "company.edit")
            if isinstance(exc, Invalid):
                    loose = put_errors(form, exc.errors)
            else:
                form.siret.errors = [*form.siret.errors, _("Ce SIRET est déjà celui d'une autre entreprise.")]
        except IntegrityError:
            transaction.rollback()
            company = _load(company_id, "company.edit")
            form.siret.errors = [*form.siret.errors, _("Ce SIRET est déjà celui d'une autre entreprise.")]
        else:
            flash(_("Les informations de l'entreprise sont enregistrées.") if changed else _("Aucune modification."),
                  "success" if changed else "info")
            return redirect(url_for("companies.detail", company_id=company.id))
    return render_template("companies/form.html", form=form, company=company, loose_errors=loose,
                           existing=None, join_form=None, next_url=None), \
        (UNPROCESSABLE if request.method == "POST" else 200)


@bp.post("/demandes/<int:request_id>")
@requires("dashboard.view")  # a representative of the company asked to be joined, or an admin
def join_decide(request_id: int):
    join_request = db.session.get(CompanyJoinRequest, request_id)
    if join_request is None:
        abort(404)
    ensure("company.join_decide", join_request)
    form = DecisionForm()
    back = url_for("companies.detail", company_id=join_request.company_id)
    if not form.validate_on_submit():
        flash(_("Choisissez d'accepter ou de refuser la demande."), "error")
        return redirect(back)
    approve = form.decision.data == "approve"
    name = join_request.user.name
    try:
        companies.decide_join(join_request, approve, _me())
        transaction.commit()
    except Invalid as exc:
        transaction.rollback()
        for error in exc.errors:
            flash(error.message, "error")
        return redirect(back)
    flash(_("%(name)s représente désormais l'entreprise.", name=name) if approve
          else _("La demande de %(name)s est refusée.", name=name), "success")
    return redirect(back)
