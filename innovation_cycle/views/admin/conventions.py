"""Conventions and their members (tier, steering committee)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms import options, put_errors
from forms.admin import ButtonForm, ConventionForm, MembershipAddForm, MembershipEditForm
from innovation_cycle import transaction
from innovation_cycle.authz import ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Convention, ConventionMembership, Organization
from innovation_cycle.services import directory
from innovation_cycle.views.admin import bp


def _load(convention_id: int) -> Convention:
    convention = db.session.get(Convention, convention_id)
    if convention is None:
        abort(404)
    ensure("convention.manage", convention)
    return convention


def _load_membership(convention: Convention, membership_id: int) -> ConventionMembership:
    membership = db.session.get(ConventionMembership, membership_id)
    if membership is None or membership.convention_id != convention.id:
        abort(404)
    return membership


def _add_form(convention: Convention, form: MembershipAddForm | None = None) -> MembershipAddForm:
    """Organizations already members stay listed but disabled, so the list reads as the whole directory."""
    form = form or MembershipAddForm(formdata=None)
    members = {m.organization_id for m in convention.memberships}
    form.organization_id.choices = options([("", _("— Choisir une organisation —"))] + [
        (o.id, o.name, {"disabled": True} if o.id in members else {}) for o in directory.all_organizations()])
    return form


def _edit_forms(memberships: list[ConventionMembership],
                failed: MembershipEditForm | None = None, failed_id: int | None = None) -> dict:
    forms = {}
    for m in memberships:
        if failed is not None and m.id == failed_id:
            forms[m.id] = failed
        else:
            forms[m.id] = MembershipEditForm(formdata=None, prefix=f"m{m.id}", tier=m.tier.value,
                                             on_committee=m.on_committee)
    return forms


def _detail(convention: Convention, *, add_form: MembershipAddForm | None = None,
            failed: MembershipEditForm | None = None, failed_id: int | None = None,
            loose: list[str] | None = None, status: int = 200):
    memberships = directory.memberships_of(convention)
    return render_template(
        "admin/conventions/detail.html", convention=convention, memberships=memberships,
        add_form=_add_form(convention, add_form), edit_forms=_edit_forms(memberships, failed, failed_id),
        loose_errors=loose or [], tier_label=directory.tier_label,
        kind_label=directory.kind_label,
    ), status


@bp.get("/conventions")
@requires("convention.manage")
def conventions():
    return render_template("admin/conventions/list.html", rows=directory.conventions_with_counts())


@bp.route("/conventions/nouvelle", methods=["GET", "POST"])
@requires("convention.manage")
def convention_new():
    form = ConventionForm()
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            convention = directory.create_convention(**form.values())
        except directory.Invalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("La convention « %(name)s » a été créée.", name=convention.name), "success")
            return redirect(url_for("admin.convention", convention_id=convention.id))
    return render_template("admin/conventions/form.html", form=form, convention=None, loose_errors=loose), (
        422 if request.method == "POST" else 200)


@bp.get("/conventions/<int:convention_id>")
@requires("convention.manage")
def convention(convention_id: int):
    return _detail(_load(convention_id))


@bp.route("/conventions/<int:convention_id>/modifier", methods=["GET", "POST"])
@requires("convention.manage")
def convention_edit(convention_id: int):
    convention = _load(convention_id)
    form = ConventionForm(obj=convention)
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            changed = directory.update_convention(convention, **form.values())
        except directory.Invalid as exc:
            transaction.rollback()
            convention = _load(convention_id)
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("La convention a été enregistrée.") if changed else _("Aucune modification."),
                  "success" if changed else "info")
            return redirect(url_for("admin.convention", convention_id=convention.id))
    return render_template("admin/conventions/form.html", form=form, convention=convention,
                           loose_errors=loose), (422 if request.method == "POST" else 200)


@bp.post("/conventions/<int:convention_id>/supprimer")
@requires("convention.manage")
def convention_delete(convention_id: int):
    convention = _load(convention_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    name = convention.name
    try:
        directory.delete_convention(convention)
    except directory.Invalid as exc:
        transaction.rollback()
        for error in exc.errors:
            flash(error.message, "error")
        return redirect(url_for("admin.convention", convention_id=convention_id))
    transaction.commit()
    flash(_("La convention « %(name)s » a été supprimée.", name=name), "success")
    return redirect(url_for("admin.conventions"))


@bp.post("/conventions/<int:convention_id>/membres")
@requires("convention.manage")
def membership_add(convention_id: int):
    convention = _load(convention_id)
    form = _add_form(convention, MembershipAddForm())
    # Already-member organizations are valid choices here so the service can say why they are refused.
    if form.validate_on_submit():
        organization = db.session.get(Organization, form.organization_id.data)
        if organization is None:
            form.organization_id.errors = [_("Organisation inconnue.")]
        else:
            try:
                directory.add_membership(convention, organization, form.tier.data, form.on_committee.data)
            except directory.Invalid as exc:
                transaction.rollback()
                convention = _load(convention_id)
                loose = put_errors(form, exc.errors)
                return _detail(convention, add_form=form, loose=loose, status=422)
            transaction.commit()
            flash(_("« %(name)s » a rejoint la convention comme %(tier)s.", name=organization.name,
                    tier=directory.tier_label(form.tier.data).lower()), "success")
            return redirect(url_for("admin.convention", convention_id=convention.id))
    return _detail(convention, add_form=form, status=422)


@bp.post("/conventions/<int:convention_id>/membres/<int:membership_id>")
@requires("convention.manage")
def membership_update(convention_id: int, membership_id: int):
    convention = _load(convention_id)
    membership = _load_membership(convention, membership_id)
    form = MembershipEditForm(prefix=f"m{membership.id}")
    if not form.validate_on_submit():
        return _detail(convention, failed=form, failed_id=membership.id, status=422)
    changed = directory.update_membership(membership, form.tier.data, form.on_committee.data)
    transaction.commit()
    flash(_("Le rang de « %(name)s » a été enregistré.", name=membership.organization.name) if changed
          else _("Aucune modification."), "success" if changed else "info")
    return redirect(url_for("admin.convention", convention_id=convention.id))


@bp.post("/conventions/<int:convention_id>/membres/<int:membership_id>/retirer")
@requires("convention.manage")
def membership_remove(convention_id: int, membership_id: int):
    convention = _load(convention_id)
    membership = _load_membership(convention, membership_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    name = membership.organization.name
    directory.remove_membership(membership)
    transaction.commit()
    flash(_("« %(name)s » a été retirée de la convention.", name=name), "success")
    return redirect(url_for("admin.convention", convention_id=convention.id))
