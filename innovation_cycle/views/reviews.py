"""The selection stage's reviewing (issue 7): the admin's grid and assignments, the member's reviews and
conflicts, the buyer's interest. Blueprint `reviews`, under /evaluation."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from forms import options, put_errors
from forms.reviews import (
    AddReviewerForm,
    ButtonForm,
    ConflictForm,
    CriterionForm,
    InterestForm,
    MoveCriterionForm,
    ReasonForm,
    SettingsForm,
    review_data,
    review_form,
)
from innovation_cycle import clock, transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Assignment,
    CommitteeMember,
    Company,
    Conflict,
    Criterion,
    Cycle,
    Need,
    Role,
    User,
)
from innovation_cycle.params import parse_id, parse_int
from innovation_cycle.services import reviews as service

bp = Blueprint("reviews", __name__, url_prefix="/evaluation")


@bp.app_template_global("recommendation_label")
def recommendation_label(value: str | None) -> str:
    return str(service.RECOMMENDATION_LABELS.get(value, "—")) if value else "—"


@bp.app_template_global("interest_label")
def interest_label(value: str | None) -> str:
    return str(service.INTEREST_LABELS.get(value, "—")) if value else "—"


def _cycle(cycle_id: int, action: str) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    ensure(action, cycle)
    return cycle


def _answer(application_id: int) -> Application:
    """An answer, or 404 — also when the person is conflicted with its company (nothing exists for them)."""
    application = db.session.get(Application, application_id)
    if application is None or service.is_conflicted(current_user, application):
        abort(404)
    return application


def _refused(exc: service.Refused) -> None:
    for error in exc.errors:
        flash(error.message, "error")


# --- the admin's grid and settings ----------------------------------------------------------------------


@bp.get("/admin/cycles/<int:cycle_id>/grille")
@requires("grid.manage")
def grid(cycle_id: int):
    cycle = _cycle(cycle_id, "grid.manage")
    settings = service.settings_for_display(cycle)
    form = SettingsForm(formdata=None, obj=settings)
    if settings.reviews_close_at:
        form.reviews_close_at.data = clock.to_paris(settings.reviews_close_at).replace(tzinfo=None)
    return _grid_page(cycle, form)


def _grid_page(cycle: Cycle, settings_form: SettingsForm, loose: list[str] | None = None, status: int = 200):
    return render_template("reviews/grid.html", cycle=cycle, criteria=service.criteria_of(cycle),
                           locked=service.grid_locked(cycle), settings_form=settings_form, button=ButtonForm(),
                           reason_form=ReasonForm(formdata=None), loose_errors=loose or []), status


@bp.post("/admin/cycles/<int:cycle_id>/grille/proposer")
@requires("grid.manage")
def grid_default(cycle_id: int):
    cycle = _cycle(cycle_id, "grid.manage")
    if not ButtonForm().validate_on_submit():
        abort(400)
    service.propose_default_grid(cycle)
    transaction.commit()
    flash(_("La grille par défaut est proposée : adaptez-la si besoin."), "success")
    return redirect(url_for("reviews.grid", cycle_id=cycle.id))


@bp.post("/admin/cycles/<int:cycle_id>/parametres")
@requires("grid.manage")
def settings(cycle_id: int):
    cycle = _cycle(cycle_id, "grid.manage")
    form = SettingsForm()
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            service.update_settings(cycle, reviewers_per_answer=form.reviewers_per_answer.data,
                                    reviews_close_at=form.close_at(),
                                    disagreement_threshold=form.disagreement_threshold.data)
        except service.Refused as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Les paramètres de la sélection sont enregistrés."), "success")
            return redirect(url_for("reviews.grid", cycle_id=cycle.id))
    cycle = _cycle(cycle_id, "grid.manage")
    return _grid_page(cycle, form, loose, 422)


def _criterion(cycle: Cycle, criterion_id: int) -> Criterion:
    criterion = db.session.get(Criterion, criterion_id)
    if criterion is None or criterion.cycle_id != cycle.id:
        abort(404)
    return criterion


@bp.route("/admin/cycles/<int:cycle_id>/grille/critere", methods=["GET", "POST"])
@requires("grid.manage")
def criterion_new(cycle_id: int):
    return _criterion_form(cycle_id, None)


@bp.route("/admin/cycles/<int:cycle_id>/grille/<int:criterion_id>", methods=["GET", "POST"])
@requires("grid.manage")
def criterion_edit(cycle_id: int, criterion_id: int):
    return _criterion_form(cycle_id, criterion_id)


def _criterion_form(cycle_id: int, criterion_id: int | None):
    cycle = _cycle(cycle_id, "grid.manage")
    criterion = _criterion(cycle, criterion_id) if criterion_id is not None else None
    form = CriterionForm(obj=criterion) if request.method == "POST" else CriterionForm(formdata=None, obj=criterion)
    if request.method == "GET" and criterion is not None:
        form.level_labels.data = "\n".join(criterion.level_labels or [])
    elif request.method == "GET":
        form.level_labels.data = "\n".join(service.DEFAULT_LEVELS)
    loose: list[str] = []
    if request.method == "POST" and form.validate_on_submit():
        try:
            service.save_criterion(cycle, criterion, form.data_for_service(), reason=form.reason.data)
        except service.Refused as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Le critère est enregistré."), "success")
            return redirect(url_for("reviews.grid", cycle_id=cycle_id))
        cycle = _cycle(cycle_id, "grid.manage")
    return render_template("reviews/criterion.html", cycle=cycle, criterion=criterion, form=form,
                           locked=service.grid_locked(cycle), loose_errors=loose), (
        422 if request.method == "POST" else 200)


@bp.post("/admin/cycles/<int:cycle_id>/grille/<int:criterion_id>/deplacer")
@requires("grid.manage")
def criterion_move(cycle_id: int, criterion_id: int):
    cycle = _cycle(cycle_id, "grid.manage")
    criterion = _criterion(cycle, criterion_id)
    form = MoveCriterionForm()
    if not form.validate_on_submit() or form.direction.data not in ("-1", "1"):
        flash(_("Déplacement inconnu."), "error")
        return redirect(url_for("reviews.grid", cycle_id=cycle_id))
    try:
        service.move_criterion(cycle, criterion, int(form.direction.data), reason=form.reason.data)
    except service.Refused as exc:
        transaction.rollback()
        _refused(exc)
    else:
        transaction.commit()
    return redirect(url_for("reviews.grid", cycle_id=cycle_id))


@bp.post("/admin/cycles/<int:cycle_id>/grille/<int:criterion_id>/supprimer")
@requires("grid.manage")
def criterion_remove(cycle_id: int, criterion_id: int):
    cycle = _cycle(cycle_id, "grid.manage")
    criterion = _criterion(cycle, criterion_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.remove_criterion(cycle, criterion, reason=form.reason.data)
    except service.Refused as exc:
        transaction.rollback()
        _refused(exc)
    else:
        transaction.commit()
        flash(_("Le critère est supprimé."), "success")
    return redirect(url_for("reviews.grid", cycle_id=cycle_id))


# --- the admin's assignments and the conflicts ------------------------------------------------------------


@bp.get("/admin/cycles/<int:cycle_id>/affectations")
@requires("assignment.manage")
def assignments(cycle_id: int):
    cycle = _cycle(cycle_id, "assignment.manage")
    answers = db.session.scalars(select(Application).where(Application.cycle_id == cycle.id,
                                                           Application.status.in_(service.REVIEWED_STATUSES))
                                 .options(selectinload(Application.company).selectinload(Company.organization))
                                 .order_by(Application.id)).all()
    members = db.session.scalars(select(User).join(CommitteeMember, CommitteeMember.user_id == User.id)
                                 .where(CommitteeMember.cycle_id == cycle.id).order_by(User.name)).all()
    settings = service.settings_for_display(cycle)
    return render_template("reviews/assignments.html", cycle=cycle, answers=answers, members=members,
                           by_answer=service.assignments_of(cycle), loads=service.loads(cycle),
                           conflicts=service.conflicts_of(cycle), settings=settings, button=ButtonForm(),
                           add_form=AddReviewerForm(formdata=None), left=service.reviews_left(cycle),
                           source_labels=service.CONFLICT_SOURCE_LABELS, short=service.understaffed(cycle))


def _assignments_button(cycle_id: int, do: Callable[[Cycle], int], said: Callable[[int], str]):
    """The assignments page's buttons (propose, confirm, complete): one service call, its refusals flashed in
    French, or the commit and what it did; back to the page either way."""
    cycle = _cycle(cycle_id, "assignment.manage")
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        count = do(cycle)
    except service.Refused as exc:
        transaction.rollback()
        _refused(exc)
    else:
        transaction.commit()
        flash(said(count), "success")
    return redirect(url_for("reviews.assignments", cycle_id=cycle_id))


@bp.post("/admin/cycles/<int:cycle_id>/affectations/proposer")
@requires("assignment.manage")
def assignments_propose(cycle_id: int):
    return _assignments_button(cycle_id, service.propose_assignments, lambda count: _(
        "Affectation proposée : %(count)s évaluations à répartir. Vérifiez-la, modifiez-la puis confirmez-la.",
        count=count))


@bp.post("/admin/cycles/<int:cycle_id>/affectations/confirmer")
@requires("assignment.manage")
def assignments_confirm(cycle_id: int):
    return _assignments_button(cycle_id, service.confirm_assignments, lambda count: _(
        "Affectations confirmées : %(count)s membres ont reçu la liste de leurs réponses à évaluer.", count=count))


@bp.post("/admin/cycles/<int:cycle_id>/affectations/completer")
@requires("assignment.manage")
def assignments_complete(cycle_id: int):
    """After a conflict found late: the solver gives the answers short of reviewers the missing ones."""
    return _assignments_button(cycle_id, service.complete_assignments, lambda added: ngettext(
        "%(num)d évaluateur ajouté ; chaque membre concerné a reçu un message.",
        "%(num)d évaluateurs ajoutés ; chaque membre concerné a reçu un message.", added))


@bp.post("/admin/affectations/<int:answer_id>/ajouter")
@requires("assignment.manage")
def assignment_add(answer_id: int):
    application = db.session.get(Application, answer_id)
    if application is None:
        abort(404)
    cycle = _cycle(application.cycle_id, "assignment.manage")
    cycle_id = cycle.id
    form = AddReviewerForm()
    form.user_id.choices = options([(u, str(u)) for u in service.committee_user_ids(cycle)])
    if not form.validate_on_submit():
        flash(_("Choisissez un membre du comité du cycle."), "error")
        return redirect(url_for("reviews.assignments", cycle_id=cycle_id))
    try:
        service.add_reviewer(cycle, application, db.session.get(User, form.user_id.data))
    except service.Refused as exc:
        transaction.rollback()
        _refused(exc)
    else:
        transaction.commit()
        flash(_("Évaluateur ajouté."), "success")
    return redirect(url_for("reviews.assignments", cycle_id=cycle_id))


@bp.post("/admin/affectations/retirer/<int:assignment_id>")
@requires("assignment.manage")
def assignment_remove(assignment_id: int):
    row = db.session.get(Assignment, assignment_id)
    if row is None:
        abort(404)
    cycle_id = _cycle(row.cycle_id, "assignment.manage").id
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        service.remove_reviewer(row)
    except service.Refused as exc:
        transaction.rollback()
        _refused(exc)
    else:
        transaction.commit()
        flash(_("Évaluateur retiré."), "success")
    return redirect(url_for("reviews.assignments", cycle_id=cycle_id))


# --- the member's and the buyer's pages ------------------------------------------------------------------


def _selection_cycles() -> list[Cycle]:
    return list(db.session.scalars(select(Cycle).where(Cycle.state == "selection").order_by(Cycle.year.desc())))


@bp.get("/")
@requires("review.index")
def index():
    """A member's answers to review (done, left, deadline); a buyer's answers to its needs (interest)."""
    blocks = []
    for cycle in _selection_cycles():
        block = {"cycle": cycle, "close": service.reviews_close_at(cycle), "open": service.reviews_open(cycle),
                 "assigned": [], "buyer": []}
        if current_user.has_role(Role.COMMITTEE_MEMBER) and service.on_committee(current_user, cycle):
            block["assigned"] = service.my_assignments(current_user, cycle)
            block["member"] = True
        if current_user.has_role(Role.BUYER) and current_user.organization_id:
            block["buyer"] = _buyer_answers(cycle)
        blocks.append(block)
    return render_template("reviews/index.html", blocks=blocks)


def _buyer_answers(cycle: Cycle) -> list[dict]:
    rows = db.session.execute(
        select(Application, Need).join(ApplicationNeed, ApplicationNeed.application_id == Application.id)
        .join(Need, Need.id == ApplicationNeed.need_id)
        .where(Application.cycle_id == cycle.id, Application.status.in_(service.REVIEWED_STATUSES),
               Need.organization_id == current_user.organization_id)
        .order_by(Need.id, Application.id)).all()
    from innovation_cycle.models import BuyerInterest

    given = dict(((a, n), level) for a, n, level in db.session.execute(
        select(BuyerInterest.application_id, BuyerInterest.need_id, BuyerInterest.level)
        .where(BuyerInterest.organization_id == current_user.organization_id)).all())
    return [{"application": a, "need": n, "level": given.get((a.id, n.id))} for a, n in rows]


@bp.get("/reponses/<int:answer_id>")
@requires("review.page")
def review(answer_id: int):
    """The answer's review page: the member's form, others' reviews once one's own is submitted, the buyers'
    interest beside (not mixed into) the scores."""
    application = _answer(answer_id)
    if not (can(current_user, "review.write", application) or can(current_user, "review.read_others", application)
            or can(current_user, "interest.view", application)):
        abort(403)
    form = None
    if can(current_user, "review.write", application):
        form = review_form(service.criteria_of(application.cycle), service.RECOMMENDATION_LABELS, formdata=None)
        mine = service.review_of(application, current_user)
        if mine is not None:
            form.version.data = mine.version
            form.recommendation.data = mine.recommendation
            form.committee_comment.data = mine.committee_comment
            form.company_comment.data = mine.company_comment
            for score in mine.scores:
                if f"score_{score.criterion_id}" in form:
                    form[f"score_{score.criterion_id}"].data = str(score.value) if score.value is not None else None
                    form[f"comment_{score.criterion_id}"].data = score.comment
    return _review_page(application, form)


def _review_page(application: Application, form, loose: list[str] | None = None, status: int = 200):
    cycle = application.cycle
    may_read = can(current_user, "review.read_others", application)
    others = [r for r in service.submitted_reviews(application) if r.reviewer_id != current_user.id] \
        if may_read else None
    interests = service.interests_of(application) if can(current_user, "interest.view", application) else []
    return render_template("reviews/review.html", application=application, cycle=cycle,
                           criteria=service.criteria_of(cycle), form=form,
                           mine=service.review_of(application, current_user), others=others, interests=interests,
                           loose_errors=loose or [], open=service.reviews_open(cycle),
                           close=service.reviews_close_at(cycle),
                           may_give_interest=can(current_user, "interest.give", application)), status


@bp.post("/reponses/<int:answer_id>")
@requires("review.member")
def review_save(answer_id: int):
    application = _answer(answer_id)
    ensure("review.write", application)
    form = review_form(service.criteria_of(application.cycle), service.RECOMMENDATION_LABELS,
                       formdata=request.form)
    loose: list[str] = []
    if form.validate_on_submit():
        version = int(form.version.data) if (form.version.data or "").isdigit() else None
        try:
            saved = service.save_review(application, current_user, review_data(form),
                                        submit=request.form.get("action") == "submit", expected_version=version)
        except service.Refused as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Votre évaluation est soumise.") if saved.status == "submitted"
                  else _("Brouillon enregistré."), "success")
            return redirect(url_for("reviews.review", answer_id=answer_id))
    return _review_page(_answer(answer_id), form, loose, 422)


@bp.route("/reponses/<int:answer_id>/interet", methods=["GET", "POST"])
@requires("review.index")
def interest(answer_id: int):
    application = _answer(answer_id)
    ensure("interest.give", application)
    needs = service.own_targeted_needs(current_user, application)
    existing = {i.need_id: i for i in service.interests_of(application)}
    forms = []
    for need in needs:
        form = InterestForm(formdata=None, prefix=f"n{need.id}")
        form.level.choices = options([(k, str(v)) for k, v in service.INTEREST_LABELS.items()])
        form.need_id.data = need.id
        form.version.data = existing[need.id].version if need.id in existing else 0
        if need.id in existing:
            form.level.data, form.comment.data = existing[need.id].level, existing[need.id].comment
        forms.append((need, form))
    status = 200
    if request.method == "POST":
        need_id = parse_id(request.form.get("need"))
        need = next((n for n in needs if n.id == need_id), None)
        if need is None:
            flash(_("Choisissez l'un des besoins de votre organisation."), "error")
            return redirect(url_for("reviews.interest", answer_id=answer_id))
        form = InterestForm(prefix=f"n{need.id}")
        form.level.choices = options([(k, str(v)) for k, v in service.INTEREST_LABELS.items()])
        if form.validate_on_submit():
            try:
                service.set_interest(application, need, current_user, form.level.data, form.comment.data,
                                     expected_version=parse_int(form.version.data))
            except service.Refused as exc:
                transaction.rollback()
                _refused(exc)
                return redirect(url_for("reviews.interest", answer_id=answer_id))
            transaction.commit()
            flash(_("L'intérêt de votre organisation est enregistré."), "success")
            return redirect(url_for("reviews.index"))
        forms = [(n, form if n.id == need.id else f) for n, f in forms]
        status = 422
    return render_template("reviews/interest.html", application=application, forms=forms), status


# --- the member's conflicts ------------------------------------------------------------------------------


@bp.route("/cycles/<int:cycle_id>/conflits", methods=["GET", "POST"])
@requires("review.member")
def conflicts(cycle_id: int):
    cycle = _cycle(cycle_id, "conflict.declare")
    companies = db.session.execute(
        select(Company.id, Company.organization_id).join(Application, Application.company_id == Company.id)
        .where(Application.cycle_id == cycle.id, Application.status != "draft").distinct()).all()
    from innovation_cycle.models import Organization

    names = dict(db.session.execute(select(Organization.id, Organization.name).where(
        Organization.id.in_([o for _c, o in companies]))).all()) if companies else {}
    form = ConflictForm()
    form.company_id.choices = options(sorted(((c, names.get(o, "")) for c, o in companies), key=lambda p: p[1]))
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                service.declare_conflict(cycle, current_user, db.session.get(Company, form.company_id.data),
                                         form.reason.data)
            except service.Refused as exc:
                transaction.rollback()
                put_errors(form, exc.errors)
            else:
                transaction.commit()
                flash(_("Conflit d'intérêts enregistré : les réponses de cette entreprise ne vous sont plus "
                        "accessibles."), "success")
                return redirect(url_for("reviews.conflicts", cycle_id=cycle_id))
        status = 422
    mine = db.session.scalars(select(Conflict).where(Conflict.cycle_id == cycle.id,
                                                     Conflict.user_id == current_user.id)
                              .options(selectinload(Conflict.company).selectinload(Company.organization))).all()
    return render_template("reviews/conflicts.html", cycle=cycle, form=form, mine=mine, button=ButtonForm(),
                           source_labels=service.CONFLICT_SOURCE_LABELS), status


@bp.post("/conflits/<int:conflict_id>/retirer")
@requires("review.member")
def conflict_remove(conflict_id: int):
    conflict = db.session.get(Conflict, conflict_id)
    if conflict is None or conflict.user_id != current_user.id:
        abort(404)
    cycle_id = conflict.cycle_id
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        service.remove_declared_conflict(conflict, current_user)
    except service.Refused as exc:
        transaction.rollback()
        _refused(exc)
    else:
        transaction.commit()
        flash(_("Déclaration de conflit retirée."), "success")
    return redirect(url_for("reviews.conflicts", cycle_id=cycle_id))


# --- aggregate figures ---------------------------------------------------------------------------------


@bp.get("/cycles/<int:cycle_id>/chiffres")
@requires("selection.figures_access")
def figures(cycle_id: int):
    """The cycle's figures for every convention member from the selection stage on (the associated development
    agencies see these, never a company's file)."""
    cycle = _cycle(cycle_id, "selection.figures")
    from innovation_cycle.services.applications import state_label

    return render_template("reviews/figures.html", cycle=cycle, figures=service.figures(cycle),
                           state_label=state_label)
