"""The AMI: its public page (no login), and the admin's page to write it and attach its rules document."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from forms import options, put_errors
from forms.ami import AmiForm, PublicNeedFilterForm, RulesDocumentForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Cycle
from innovation_cycle.services import ami as ami_service
from innovation_cycle.services import uploads

bp = Blueprint("ami", __name__, url_prefix="/ami")


def _answer_endpoint() -> str | None:
    """The answers area's "new answer" page, once it exists."""
    return "applications.new" if "applications.new" in current_app.view_functions else None


def _filters(cycle: Cycle, themes) -> tuple[PublicNeedFilterForm, ami_service.PublicFilters]:
    form = PublicNeedFilterForm(formdata=request.args)
    form.theme.choices = options([("", _("Tous les thèmes"))] + [(str(t.id), t.name) for t in themes])
    theme_ids = {t.id for t in themes}
    theme = request.args.get("theme", type=int)
    category = form.category.data if form.category.data in ("goods", "services", "works") else None
    q = (form.q.data or "").strip()[:200]
    return form, ami_service.PublicFilters(q=q, theme_id=theme if theme in theme_ids else None, category=category,
                                           experimentation=bool(form.experimentation.data),
                                           non_technological=bool(form.non_technological.data))


def _public_page(cycle: Cycle | None):
    phase = ami_service.phase(cycle)
    ami = ami_service.ami_of(cycle) if cycle else None
    preview = phase == "upcoming" and ami is not None and can(current_user, "ami.manage", cycle)
    context = {"cycle": cycle, "ami": ami, "phase": phase, "preview": preview, "groups": [], "total": 0,
               "rules": ami_service.rules_document(ami), "answer_endpoint": _answer_endpoint(),
               "window": ami_service.window(cycle) if cycle else (None, None),
               "buyer_label": ami_service.buyer_label, "filters": None, "filtered": False}
    if cycle is not None and ami is not None and (phase == "open" or preview):
        themes = ami_service.themes_of(cycle)
        form, filters = _filters(cycle, themes)
        needs = list(db.session.scalars(ami_service.public_needs_query(cycle, filters)))
        context.update(filters=form, total=len(needs), filtered=bool(request.args),
                       groups=ami_service.group_by_theme(needs, themes, filters.theme_id))
    return render_template("ami/public.html", **context)


@bp.get("")
@requires("ami.view")
def public():
    return _public_page(ami_service.public_cycle())


@bp.get("/<int:cycle_id>")
@requires("ami.view")
def cycle_page(cycle_id: int):
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return _public_page(cycle)


def _load_cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    ensure("ami.manage", cycle)
    return cycle


def _edit_page(cycle: Cycle, form: AmiForm, rules_form: RulesDocumentForm, status: int, *,
               text_errors: list[str] | None = None, rules_errors: list[str] | None = None):
    ami = ami_service.ami_of(cycle)
    return render_template("ami/edit.html", cycle=cycle, ami=ami, form=form, rules_form=rules_form,
                           text_errors=text_errors or [], rules_errors=rules_errors or [],
                           editable=ami_service.can_edit(cycle),
                           rules=ami_service.rules_document(ami), window=ami_service.window(cycle),
                           phase=ami_service.phase(cycle)), status


@bp.route("/<int:cycle_id>/rediger", methods=["GET", "POST"])
@requires("ami.manage")
def edit(cycle_id: int):
    cycle = _load_cycle(cycle_id)
    ami = ami_service.ami_of(cycle)
    form = AmiForm(obj=ami)
    if request.method == "GET" and ami is None:
        form.process(data=ami_service.default_texts(cycle))
    loose: list[str] = []
    if form.validate_on_submit():
        values = {name: form[name].data for name in ami_service.TEXT_FIELDS}
        try:
            _ami, changed = ami_service.save_text(cycle, values, actor=current_user, reason=form.reason.data)
        except ami_service.AmiInvalid as exc:
            transaction.rollback()
            cycle = _load_cycle(cycle_id)
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Le texte de l'AMI a été enregistré.") if changed else _("Aucune modification."),
                  "success" if changed else "info")
            return redirect(url_for("ami.edit", cycle_id=cycle.id))
    return _edit_page(cycle, form, RulesDocumentForm(formdata=None), 422 if request.method == "POST" else 200,
                      text_errors=loose)


@bp.post("/<int:cycle_id>/reglement")
@requires("ami.manage")
def rules_upload(cycle_id: int):
    cycle = _load_cycle(cycle_id)
    ami = ami_service.ami_of(cycle)
    rules_form = RulesDocumentForm()
    loose: list[str] = []
    if ami is None:
        loose.append(_("Rédigez et enregistrez d'abord le texte de l'AMI, puis joignez son règlement."))
    elif not ami_service.can_edit(cycle):
        loose.append(_("L'AMI est clos : son règlement ne peut plus être remplacé."))
    elif rules_form.validate_on_submit():
        previous = list(ami.attachments)
        attachment = uploads.save_from_field(rules_form.file, ami, current_user, allow_office=False)
        if attachment is None and not rules_form.file.errors:
            rules_form.file.errors = [_("Choisissez un fichier PDF à envoyer.")]
        if attachment is not None:
            for old in previous:
                if old.id != attachment.id:
                    uploads.delete_attachment(old, current_user)
            transaction.commit()
            flash(_("Le règlement « %(name)s » est joint à l'AMI.", name=attachment.original_name), "success")
            return redirect(url_for("ami.edit", cycle_id=cycle.id))
    transaction.rollback()
    cycle = _load_cycle(cycle_id)
    ami = ami_service.ami_of(cycle)
    return _edit_page(cycle, AmiForm(formdata=None, obj=ami), rules_form, 422, rules_errors=loose)
