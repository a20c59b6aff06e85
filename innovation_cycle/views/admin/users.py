"""Users and their roles: list, invitation, edit, new invitation link."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from forms import options, put_errors
from forms.admin import ButtonForm, InviteForm, UserEditForm, UserFilterForm, filter_value
from innovation_cycle import transaction
from innovation_cycle.authz import ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Organization, Role, User
from innovation_cycle.params import db_id, page_number, parse_id
from innovation_cycle.services import accounts, directory
from innovation_cycle.views.admin import bp


def _load(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    ensure("user.manage", user)
    return user


def _role_choices() -> list[tuple[str, str]]:
    return [(r.value, accounts.role_label(r)) for r in Role]


def _organization_choices(empty_label: str) -> list[tuple[object, str]]:
    return [("", empty_label)] + [(o.id, o.name) for o in directory.all_organizations()]


def _with_choices(form, empty_label: str | None = None):
    form.roles.choices = options(_role_choices())
    form.organization_id.choices = options(_organization_choices(empty_label or _("— Aucune organisation —")))
    return form


def _organization(form) -> Organization | None:
    """The chosen organization, or None; an unknown id becomes a field error (returns False)."""
    if form.organization_id.data is None:
        return None
    organization = db.session.get(Organization, form.organization_id.data)
    if organization is None:
        form.organization_id.errors = [_("Organisation inconnue.")]
    return organization


@bp.get("/utilisateurs")
@requires("user.manage")
def users():
    filters = UserFilterForm(formdata=request.args)
    filters.role.choices = options([("", _("Tous"))] + _role_choices())
    asked = parse_id(request.args.get("organization_id"))
    filters.organization_id.choices = options(
        [("", _("Toutes"))] + [(o.id, o.name) for o in directory.organizations_with_users(also=asked)])
    valid = filters.validate() if request.args else True
    query = directory.users_query(role=filter_value(filters.role),
                                  organization_id=filter_value(filters.organization_id),
                                  active={"1": True, "0": False}.get(filter_value(filters.active) or ""),
                                  text=filter_value(filters.q))
    page = db.paginate(query, page=page_number(),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("admin/users/list.html", filters=filters, page=page,
                           role_label=accounts.role_label), (200 if valid else 422)


@bp.route("/utilisateurs/inviter", methods=["GET", "POST"])
@requires("user.manage")
def user_invite():
    form = _with_choices(InviteForm())
    if request.method == "GET" and request.args.get("organization_id", type=db_id):
        form.organization_id.data = request.args.get("organization_id", type=db_id)
    loose: list[str] = []
    if form.validate_on_submit():
        organization = _organization(form)
        if not form.organization_id.errors:
            try:
                user = directory.invite(email=form.email.data, name=form.name.data, organization=organization,
                                        roles=form.roles.data, invited_by=current_user._get_current_object())
            except directory.Invalid as exc:
                transaction.rollback()
                loose = put_errors(form, exc.errors)
            else:
                transaction.commit()
                flash(_("Invitation envoyée à %(email)s.", email=user.email), "success")
                return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/users/invite.html", form=form, loose_errors=loose), (
        422 if request.method == "POST" else 200)


@bp.route("/utilisateurs/<int:user_id>", methods=["GET", "POST"])
@requires("user.manage")
def user_edit(user_id: int):
    user = _load(user_id)
    form = _with_choices(UserEditForm(obj=user))
    if request.method == "GET":
        form.roles.data = sorted(r.value for r in user.roles)
    loose: list[str] = []
    if form.validate_on_submit():
        organization = _organization(form)
        if not form.organization_id.errors:
            try:
                changed = directory.update_user(user, name=form.name.data, organization=organization,
                                                roles=form.roles.data or [], active=form.active.data,
                                                actor=current_user._get_current_object())
            except directory.Invalid as exc:
                transaction.rollback()
                user = _load(user_id)
                loose = put_errors(form, exc.errors)
            else:
                transaction.commit()
                flash(_("Le compte de %(name)s a été enregistré.", name=user.name) if changed
                      else _("Aucune modification."), "success" if changed else "info")
                return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/users/edit.html", user=user, form=form, loose_errors=loose,
                           role_label=accounts.role_label), (
        422 if request.method == "POST" else 200)


@bp.post("/utilisateurs/<int:user_id>/renvoyer-invitation")
@requires("user.manage")
def user_resend(user_id: int):
    user = _load(user_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        directory.resend_invitation(user, current_user._get_current_object())
    except directory.Invalid as exc:
        transaction.rollback()
        for error in exc.errors:
            flash(error.message, "error")
    else:
        transaction.commit()
        flash(_("Une nouvelle invitation a été envoyée à %(email)s ; les liens précédents ne marchent plus.",
                email=user.email), "success")
    return redirect(url_for("admin.user_edit", user_id=user_id))
