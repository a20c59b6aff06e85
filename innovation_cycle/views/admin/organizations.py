"""Organizations: the directory (admins) and each organization's page (admins and its own members)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms import put_errors
from forms.admin import OrganizationFilterForm, OrganizationForm, filter_value
from innovation_cycle import transaction
from innovation_cycle.authz import ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Organization
from innovation_cycle.params import page_number
from innovation_cycle.services import directory
from innovation_cycle.views.admin import bp


def _load(organization_id: int, action: str) -> Organization:
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        abort(404)
    ensure(action, organization)
    return organization


@bp.get("/organisations")
@requires("organization.manage")
def organizations():
    filters = OrganizationFilterForm(formdata=request.args)
    valid = filters.validate() if request.args else True
    query = directory.organizations_query(kind=filter_value(filters.kind),
                                          department=filter_value(filters.department),
                                          text=filter_value(filters.q))
    page = db.paginate(query, page=page_number(),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("admin/organizations/list.html", filters=filters, page=page,
                           kind_label=directory.kind_label), (200 if valid else 422)


@bp.route("/organisations/nouvelle", methods=["GET", "POST"])
@requires("organization.manage")
def organization_new():
    form = OrganizationForm()
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            organization = directory.create_organization(**form.values())
        except directory.Invalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("L'organisation « %(name)s » a été créée.", name=organization.name), "success")
            return redirect(url_for("admin.organization", organization_id=organization.id))
    return render_template("admin/organizations/form.html", form=form, organization=None,
                           loose_errors=loose), (422 if request.method == "POST" else 200)


@bp.get("/organisations/<int:organization_id>")
@requires("dashboard.view")  # its own members may read it too: the target decides (organization.view)
def organization(organization_id: int):
    organization = _load(organization_id, "organization.view")
    memberships = sorted(organization.memberships, key=lambda m: m.convention.starts_on, reverse=True)
    users = sorted(organization.users, key=lambda u: (u.name.lower(), u.id))
    return render_template("admin/organizations/detail.html", organization=organization, users=users,
                           memberships=memberships, kind_label=directory.kind_label,
                           tier_label=directory.tier_label)


@bp.route("/organisations/<int:organization_id>/modifier", methods=["GET", "POST"])
@requires("organization.manage")
def organization_edit(organization_id: int):
    organization = _load(organization_id, "organization.manage")
    form = OrganizationForm(obj=organization)
    if request.method == "GET":
        form.kind.data = organization.kind.value
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            changed = directory.update_organization(organization, **form.values())
        except directory.Invalid as exc:
            transaction.rollback()
            organization = _load(organization_id, "organization.manage")
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("L'organisation a été enregistrée.") if changed else _("Aucune modification."),
                  "success" if changed else "info")
            return redirect(url_for("admin.organization", organization_id=organization.id))
    return render_template("admin/organizations/form.html", form=form, organization=organization,
                           loose_errors=loose), (422 if request.method == "POST" else 200)
