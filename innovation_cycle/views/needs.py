"""Innovation needs: the buyer's drafts and submissions, the PFRA's qualification, the cycle's themes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from forms import options, put_errors
from forms.needs import QUALIFY_FORMS, DeleteForm, FilterForm, MoveForm, NeedForm, ThemeForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Cycle, Need, Role, Theme
from innovation_cycle.params import db_id, page_number, parse_id
from innovation_cycle.services import needs as service
from innovation_cycle.services import uploads
from innovation_cycle.services.cycles import state_label
from workflows import need as flow
from workflows.base import MoveRefused

bp = Blueprint("needs", __name__, url_prefix="/besoins")


@bp.app_template_global("need_status_label")
def need_status_label(status: str) -> str:
    return service.status_label(status)


@bp.app_template_global("need_status_badge")
def need_status_badge(status: str) -> str:
    return service.STATUS_BADGES.get(status, "")


def _load(need_id: int, action: str = "need.view") -> Need:
    need = db.session.get(Need, need_id)
    if need is None:
        abort(404)
    ensure(action, need)
    return need


def _load_cycle(cycle_id: int, action: str) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    ensure(action, cycle)
    return cycle


def _save_attachments(form: NeedForm, need: Need) -> bool:
    """Attach the files sent with the form; a refused one goes next to the field, and the caller rolls the
    whole request back (nothing half-written)."""
    ok = True
    for storage in form.attachments.data or []:
        if not getattr(storage, "filename", None):
            continue
        try:
            uploads.save_upload(storage, need, current_user, allow_office=True)
        except uploads.UploadRefused as refused:
            form.attachments.errors = [*form.attachments.errors,
                                       _("« %(name)s » : %(reason)s", name=storage.filename, reason=refused.message)]
            ok = False
    return ok


def _flash_refusals(exc: MoveRefused) -> None:
    for refusal in exc.refusals:
        flash(service.refusal_message(refusal), "error")


# --- lists ---------------------------------------------------------------------------------------------


@bp.get("/")
@requires("need.list")
def index():
    filters = FilterForm(request.args)
    filters.status.choices = options([("", _("Tous"))] + [(s, service.status_label(s)) for s in flow.STATES])
    cycles = service.cycle_years()
    filters.cycle_id.choices = options([("", _("Tous"))] + [(str(cycle_id), str(year)) for cycle_id, year in cycles])
    filters.validate()
    page = service.list_needs(current_user, status=filters.status.data or None,
                              cycle_id=parse_id(filters.cycle_id.data),
                              q=filters.q.data, page=page_number())
    cycle = service.collection_cycle()
    return render_template(
        "needs/index.html", page=page, filters=filters, cycle=cycle,
        collection_open=service.is_collection_open(cycle), collection_message=service.collection_message(cycle),
        is_buyer=current_user.has_role(Role.BUYER),
        is_qualifier=current_user.has_role(Role.PFRA_AGENT, Role.ADMIN))


# --- the buyer's need ----------------------------------------------------------------------------------


@bp.route("/nouveau", methods=["GET", "POST"])
@requires("need.create")
def new():
    cycle_id = request.args.get("cycle_id", type=db_id)
    cycle = db.session.get(Cycle, cycle_id) if cycle_id else service.collection_cycle()
    if cycle_id and cycle is None:
        abort(404)
    is_open = service.is_collection_open(cycle)
    message = service.collection_message(cycle)
    form = NeedForm()
    if cycle is not None:
        form.set_themes(service.themes_of(cycle))
    if request.method == "GET" or not is_open or cycle is None:
        if request.method == "POST":
            flash(message, "error")
            return redirect(url_for("needs.new", cycle_id=cycle.id if cycle else None))
        return render_template("needs/form.html", form=form, cycle=cycle, need=None, open=is_open,
                               collection_message=message)
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            need = service.create_need(cycle, current_user, form.data_for_service(), form.form_token.data)
        except service.NeedInvalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        except MoveRefused as exc:
            transaction.rollback()
            _flash_refusals(exc)
            return redirect(url_for("needs.new", cycle_id=cycle.id))
        else:
            if not _save_attachments(form, need):
                transaction.rollback()
                return render_template("needs/form.html", form=form, cycle=cycle, need=None, open=True,
                                       collection_message=message, loose_errors=loose), 422
            transaction.commit()
            flash(_("Le brouillon « %(title)s » est enregistré. Il reste visible de votre seule organisation "
                    "jusqu'à sa soumission.", title=need.title), "success")
            return redirect(url_for("needs.show", need_id=need.id))
    return render_template("needs/form.html", form=form, cycle=cycle, need=None, open=True,
                           collection_message=message, loose_errors=loose), 422


@bp.get("/<int:need_id>")
@requires("need.view")
def show(need_id: int):
    need = _load(need_id)
    context = {
        "need": need,
        "collection_open": service.is_collection_open(need.cycle),
        "collection_message": service.collection_message(need.cycle),
        "missing": service.missing_fields(need) if need.status == "draft" else [],
        "move_form": MoveForm(formdata=None, expected_state=need.status),
        "delete_form": DeleteForm(formdata=None),
        "absorbed": service.absorbed(need),
        "field_labels": service.FIELD_LABELS,
        "filled": [name for name in service.CONTENT_FIELDS if getattr(need, name)],
        "category_labels": service.CATEGORY_LABELS,
        "horizon_labels": service.HORIZON_LABELS,
    }
    if can(current_user, "need.qualify", need):
        context["qualify_forms"] = _qualify_forms(need)
        context["qualification_open"] = need.cycle.state == "needs_collection"
    return render_template("needs/show.html", **context)


def _qualify_forms(need: Need) -> dict:
    forms = {}
    for trigger in flow.triggers_from(need.status):
        if trigger not in QUALIFY_FORMS:
            continue
        form = QUALIFY_FORMS[trigger](formdata=None, expected_state=need.status, prefix=trigger)
        if trigger == flow.MERGE:
            candidates = service.merge_candidates(need)
            if not candidates:
                continue
            form.target_id.choices = options([(0, _("— Choisir le besoin —"))] + [
                (n.id, _("n° %(id)s — %(title)s (%(org)s, %(state)s)", id=n.id, title=n.title,
                         org=n.organization.name, state=service.status_label(n.status))) for n in candidates])
        forms[trigger] = form
    return forms


@bp.route("/<int:need_id>/modifier", methods=["GET", "POST"])
@requires("need.edit")
def edit(need_id: int):
    need = _load(need_id)
    ensure("need.submit", need)  # the buyer's own organization
    editable = need.status in flow.EDITABLE and service.is_collection_open(need.cycle)
    if not editable:
        if need.status not in flow.EDITABLE:
            reason = _("Ce besoin est à l'état « %(state)s » : il ne peut plus être modifié.",
                       state=service.status_label(need.status))
        else:
            reason = service.collection_message(need.cycle)
        if request.method == "POST":
            flash(reason, "error")
            return redirect(url_for("needs.show", need_id=need.id))
        return render_template("needs/form.html", form=None, cycle=need.cycle, need=need, open=False,
                               collection_message=reason)
    form = NeedForm()
    form.set_themes(service.themes_of(need.cycle))
    loose: list[str] = []
    if request.method == "GET":
        form.fill_from(need)
    elif form.validate_on_submit():
        was_returned = need.status == "returned"
        try:
            service.update_need(need, current_user, form.data_for_service())
        except service.NeedInvalid as exc:
            transaction.rollback()
            need = _load(need_id)
            loose = put_errors(form, exc.errors)
        except MoveRefused as exc:
            transaction.rollback()
            _flash_refusals(exc)
            return redirect(url_for("needs.show", need_id=need_id))
        else:
            if not _save_attachments(form, need):
                transaction.rollback()
                need = _load(need_id)
                return render_template("needs/form.html", form=form, cycle=need.cycle, need=need, open=True,
                                       collection_message=service.collection_message(need.cycle),
                                       loose_errors=loose), 422
            transaction.commit()
            flash(_("Le besoin est de nouveau un brouillon : soumettez-le quand il est prêt.") if was_returned
                  else _("Les modifications sont enregistrées."), "success")
            return redirect(url_for("needs.show", need_id=need_id))
    status = 422 if request.method == "POST" else 200
    return render_template("needs/form.html", form=form, cycle=need.cycle, need=need, open=True,
                           collection_message=service.collection_message(need.cycle), loose_errors=loose), status


@bp.post("/<int:need_id>/soumettre")
@requires("need.submit")
def submit(need_id: int):
    need = _load(need_id, "need.submit")
    form = MoveForm()
    if not form.validate_on_submit():
        flash(_("Le formulaire a expiré : rechargez la page avant de recommencer."), "error")
        return redirect(url_for("needs.show", need_id=need.id))
    try:
        service.submit(need.id, current_user, expected_state=form.expected_state.data)
    except service.AlreadyDone:
        transaction.rollback()
        flash(_("Ce besoin a déjà été soumis."), "info")
        return redirect(url_for("needs.show", need_id=need_id))
    except MoveRefused as exc:
        transaction.rollback()
        _flash_refusals(exc)
        return redirect(url_for("needs.show", need_id=need_id))
    transaction.commit()
    flash(_("Le besoin est soumis. La plateforme régionale des achats de l'État va le qualifier ; vous serez "
            "prévenu par courriel."), "success")
    return redirect(url_for("needs.show", need_id=need_id))


@bp.post("/<int:need_id>/supprimer")
@requires("need.delete")
def delete(need_id: int):
    need = _load(need_id, "need.delete")
    if not DeleteForm().validate_on_submit():
        abort(400)
    try:
        service.delete_draft(need.id, current_user)
    except MoveRefused as exc:
        transaction.rollback()
        _flash_refusals(exc)
        return redirect(url_for("needs.show", need_id=need_id))
    transaction.commit()
    flash(_("Le brouillon a été supprimé."), "success")
    return redirect(url_for("needs.index"))


# --- qualification -------------------------------------------------------------------------------------


def _qualify(need_id: int, trigger: str):
    need = _load(need_id, "need.qualify")
    form = QUALIFY_FORMS[trigger](prefix=trigger)
    if trigger == flow.MERGE:
        form.target_id.choices = options([(0, "")] + [(n.id, str(n.id)) for n in service.merge_candidates(need)])
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("needs.show", need_id=need.id, _anchor="qualification"))
    try:
        service.qualify(need.id, trigger, current_user, expected_state=form.expected_state.data,
                        comment=form.comment.data or "",
                        target_id=form.target_id.data if trigger == flow.MERGE else None)
    except service.AlreadyDone:
        transaction.rollback()
        flash(_("Cette décision a déjà été enregistrée."), "info")
        return redirect(url_for("needs.show", need_id=need_id))
    except MoveRefused as exc:
        transaction.rollback()
        _flash_refusals(exc)
        return redirect(url_for("needs.show", need_id=need_id, _anchor="qualification"))
    transaction.commit()
    messages = {
        flow.ACCEPT: _("Le besoin est accepté ; il sera publié dans l'AMI. Les acheteurs de l'organisation sont "
                       "prévenus par courriel."),
        flow.RETURN: _("Le besoin est renvoyé à l'acheteur avec votre commentaire ; il est prévenu par courriel."),
        flow.REJECT: _("Le besoin est rejeté ; l'acheteur est prévenu par courriel, avec la raison."),
        flow.MERGE: _("Le besoin est fusionné dans le besoin choisi ; l'acheteur est prévenu par courriel."),
    }
    flash(messages[trigger], "success")
    return redirect(url_for("needs.show", need_id=need_id))


@bp.post("/<int:need_id>/accepter")
@requires("need.qualify")
def accept(need_id: int):
    return _qualify(need_id, flow.ACCEPT)


@bp.post("/<int:need_id>/renvoyer")
@requires("need.qualify")
def return_for_changes(need_id: int):
    return _qualify(need_id, flow.RETURN)


@bp.post("/<int:need_id>/rejeter")
@requires("need.qualify")
def reject(need_id: int):
    return _qualify(need_id, flow.REJECT)


@bp.post("/<int:need_id>/fusionner")
@requires("need.qualify")
def merge(need_id: int):
    return _qualify(need_id, flow.MERGE)


# --- the cycle's themes --------------------------------------------------------------------------------


@bp.route("/themes/<int:cycle_id>", methods=["GET", "POST"])
@requires("theme.manage")
def themes(cycle_id: int):
    cycle = _load_cycle(cycle_id, "theme.manage")
    form = ThemeForm(prefix="new")
    loose: list[str] = []
    if request.method == "POST" and form.validate_on_submit():
        try:
            theme = service.add_theme(cycle, form.name.data)
        except service.NeedInvalid as exc:
            transaction.rollback()
            cycle = _load_cycle(cycle_id, "theme.manage")
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Le thème « %(name)s » est ajouté.", name=theme.name), "success")
            return redirect(url_for("needs.themes", cycle_id=cycle.id))
    rows = service.themes_of(cycle)
    return render_template(
        "needs/themes.html", cycle=cycle, form=form, loose_errors=loose, themes=rows,
        usage=service.theme_usage(cycle), delete_form=DeleteForm(formdata=None),
        rename_forms={t.id: ThemeForm(formdata=None, prefix=f"t{t.id}", name=t.name) for t in rows},
        cycle_state=state_label(cycle.state),
    ), (422 if request.method == "POST" else 200)


def _load_theme(cycle_id: int, theme_id: int) -> Theme:
    cycle = _load_cycle(cycle_id, "theme.manage")
    theme = db.session.get(Theme, theme_id)
    if theme is None or theme.cycle_id != cycle.id:
        abort(404)
    return theme


@bp.post("/themes/<int:cycle_id>/<int:theme_id>/renommer")
@requires("theme.manage")
def theme_rename(cycle_id: int, theme_id: int):
    theme = _load_theme(cycle_id, theme_id)
    form = ThemeForm(prefix=f"t{theme.id}")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("needs.themes", cycle_id=cycle_id))
    try:
        service.rename_theme(theme, form.name.data)
    except service.NeedInvalid as exc:
        transaction.rollback()
        for error in exc.errors:
            flash(error.message, "error")
        return redirect(url_for("needs.themes", cycle_id=cycle_id))
    transaction.commit()
    flash(_("Le thème est renommé « %(name)s ».", name=theme.name), "success")
    return redirect(url_for("needs.themes", cycle_id=cycle_id))


@bp.post("/themes/<int:cycle_id>/<int:theme_id>/supprimer")
@requires("theme.manage")
def theme_delete(cycle_id: int, theme_id: int):
    theme = _load_theme(cycle_id, theme_id)
    if not DeleteForm().validate_on_submit():
        abort(400)
    name = theme.name
    try:
        service.remove_theme(theme)
    except service.NeedInvalid as exc:
        transaction.rollback()
        for error in exc.errors:
            flash(error.message, "error")
        return redirect(url_for("needs.themes", cycle_id=cycle_id))
    transaction.commit()
    flash(_("Le thème « %(name)s » est supprimé.", name=name), "success")
    return redirect(url_for("needs.themes", cycle_id=cycle_id))
