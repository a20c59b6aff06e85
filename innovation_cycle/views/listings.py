"""Listings of needs and answers for the secretariat, PFRA agents and committee members, and their exports."""

from __future__ import annotations

import tempfile
from types import SimpleNamespace

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from forms import options
from forms.listings import ApplicationFilterForm, NeedFilterForm
from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.formatting import Labels
from innovation_cycle.models import CommitteeMember, Cycle, OrganizationKind, Role
from innovation_cycle.params import page_number, parse_id
from innovation_cycle.services import applications as application_service
from innovation_cycle.services import audit, directory, listings
from innovation_cycle.services import companies as company_service
from innovation_cycle.services import needs as need_service
from innovation_cycle.services.ami import themes_of
from innovation_cycle.templating import form_html, url_for_ids

bp = Blueprint("listings", __name__, url_prefix="/suivi")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cycles_for(user) -> list[Cycle]:
    """Every cycle for the secretariat and the PFRA; a committee member's own cycles otherwise."""
    # The windows are not read here (a select of years): not loaded for every cycle of every convention.
    query = (select(Cycle).where(Cycle.state != "draft").order_by(Cycle.year.desc(), Cycle.id.desc())
             .options(lazyload(Cycle.windows)))
    if not user.has_role(Role.ADMIN, Role.PFRA_AGENT):
        query = query.join(CommitteeMember, CommitteeMember.cycle_id == Cycle.id).where(
            CommitteeMember.user_id == user.id)
    return list(db.session.scalars(query))


def _cycle(mine: list[Cycle]) -> Cycle | None:
    """The cycle asked for (404 if unknown, 403 if not the user's), else the user's cycle under way, else
    their latest one."""
    asked = request.args.get("cycle")
    if asked:
        cycle = db.session.get(Cycle, cycle_id) if (cycle_id := parse_id(asked)) else None
        if cycle is None:
            abort(404)
    else:
        running = [c for c in mine if c.state != "closed"]
        cycle = running[0] if running else (mine[0] if mine else None)
    if cycle is not None:
        ensure("listing.view", cycle)
    return cycle


def _common_choices(form, cycle: Cycle, mine: list[Cycle], of: str, sorts: dict, states: tuple[str, ...],
                    label) -> None:
    form.cycle.choices = options([(str(c.id), str(c.year)) for c in mine])
    if str(cycle.id) not in {choice.value for choice in form.cycle.choices}:
        form.cycle.choices.insert(0, *options([(str(cycle.id), str(cycle.year))]))
    form.cycle.data = str(cycle.id)
    form.theme.choices = options([("", _("Tous"))] + [(str(t.id), t.name) for t in themes_of(cycle)])
    form.kind.choices = options([("", _("Toutes"))]
                                + [(k.value, directory.kind_label(k)) for k in listings.BUYER_KINDS])
    wanted = request.args.get("department")
    form.department.choices = options([("", _("Tous"))]
                                      + [(d, d) for d in listings.departments(cycle, of=of, wanted=wanted)])
    form.status.choices = options([("", _("Tous"))] + [(s, label(s)) for s in states])
    form.sort.choices = options([(key, str(title)) for key, (title, _column) in sorts.items()])


def _validated(form) -> bool:
    return True if not request.args else form.validate()


def _int(value: str | None) -> int | None:
    return parse_id(value)


def _need_setup():
    form = NeedFilterForm(formdata=request.args)
    mine = _cycles_for(current_user)
    cycle = _cycle(mine)
    if cycle is None:
        return None, form, None, True
    _common_choices(form, cycle, mine, "needs", listings.NEED_SORTS, listings.NEED_LISTED_STATES,
                    need_service.status_label)
    valid = _validated(form)
    data = {name: (form[name].data if not form[name].errors else None) for name in form.data}
    filters = listings.NeedFilters(
        theme_id=_int(data["theme"]), kind=data["kind"] or None, department=data["department"] or None,
        status=data["status"] or None, q=(data["q"] or "").strip(), sort=data["sort"] or "depot",
        descending=(data["order"] or "desc") != "asc")
    return cycle, form, filters, valid


def _application_setup():
    form = ApplicationFilterForm(formdata=request.args)
    mine = _cycles_for(current_user)
    cycle = _cycle(mine)
    if cycle is None:
        return None, form, None, True
    _common_choices(form, cycle, mine, "applications", listings.APPLICATION_SORTS, listings.APPLICATION_LISTED_STATES,
                    application_service.state_label)
    form.kind.label.text = _("Catégorie d'acheteur des besoins visés")
    form.theme.label.text = _("Thème des besoins visés")
    form.department.label.text = _("Département de l'entreprise")
    form.size.choices = options([("", _("Toutes"))]
                                + [(s, str(company_service.SIZE_LABELS[s])) for s in listings.SIZES])
    form.trl.choices = options([("", _("Tous"))] + [(str(n), _("TRL %(n)s", n=n)) for n in range(1, 10)]
                        + [(listings.TRL_NA, _("Non applicable"))])
    valid = _validated(form)
    data = {name: (form[name].data if not form[name].errors else None) for name in form.data}
    filters = listings.ApplicationFilters(
        theme_id=_int(data["theme"]), need_id=_int((data["need"] or "").strip()), kind=data["kind"] or None,
        department=data["department"] or None, size=data["size"] or None, trl=data["trl"] or None,
        status=data["status"] or None, q=(data["q"] or "").strip(), sort=data["sort"] or "depot",
        descending=(data["order"] or "desc") != "asc",
        # Issue 7: a committee member's listings and exports leave out the answers they are conflicted with.
        hidden_for=None if current_user.has_role(Role.ADMIN) else current_user.id)
    return cycle, form, filters, valid


def _endpoint(name: str) -> str | None:
    return name if name in current_app.view_functions else None


def _paginate(query, total: int, load=None):
    """A page of the listing's rows, its total counted apart (on the base table) rather than over the joined
    query."""
    return listings.rows_page(query, page=page_number(), per_page=current_app.config["PAGE_SIZE"], total=total,
                              load=load)


@bp.get("/besoins")
@requires("listing.view")
def needs():
    cycle, form, filters, valid = _need_setup()
    page = row_extras = need_url = answers_url = None
    if cycle is not None:
        page = _paginate(listings.needs_query(cycle, filters), listings.needs_count(cycle, filters))
        counts = listings.answer_counts(n.id for n in page.items)
        themes = listings.need_themes_of(n.id for n in page.items)
        openable: set[int] = set()
        if _endpoint("needs.show") and can(current_user, "listing.open_needs"):
            openable = {n.id for n in page.items}
        elif _endpoint("needs.show"):
            # The need's own rule, asked of each row (a buyer who is also a member opens its own needs only).
            openable = {n.id for n in page.items
                        if can(current_user, "need.view", SimpleNamespace(**n._mapping, cycle=cycle))}
        need_url = url_for_ids("needs.show", "need_id") if openable else None
        answers_url = url_for_ids("listings.applications", "need", cycle=cycle.id)

        def row_extras(n) -> dict:
            return {"open": n.id in openable, "answered": counts.get(n.id, 0),
                    "themes": ", ".join(themes.get(n.id, ())) or "—"}

    filter_form = form_html("listings/_need_filters.html", form) if cycle is not None else ""
    return render_template("listings/needs.html", cycle=cycle, form=form, filter_form=filter_form,
                           filters=filters, page=page, sorts=listings.NEED_SORTS, row_extras=row_extras,
                           need_url=need_url, answers_url=answers_url,
                           # Labels as mappings (a lookup per row, not a call): worded once per page.
                           status_labels=Labels.of(need_service.status_label, listings.NEED_LISTED_STATES),
                           kind_labels=Labels.of(directory.kind_label, OrganizationKind),
                           ), (200 if valid else 422)


@bp.get("/reponses")
@requires("listing.view")
def applications():
    cycle, form, filters, valid = _application_setup()
    page = need_title = answer_url = row_extras = None
    if cycle is not None:
        page = _paginate(listings.applications_query(cycle, filters), listings.applications_count(cycle, filters),
                         load=listings.application_rows)
        need_title = listings.need_title(cycle, filters.need_id)
        targets = listings.target_titles(a.id for a in page.items)
        # The listing leaves out what its reader may not open (drafts; a member's conflicted answers): its rows'
        # links are decided once for the page (tests/test_listings.py checks that every listed answer is one
        # `application.view` lets the reader open).
        if _endpoint("applications.detail") and can(current_user, "listing.open_answers", cycle):
            answer_url = url_for_ids("applications.detail", "application_id")

        def row_extras(a) -> dict:
            return {"targets": " ; ".join(targets.get(a.id, ())) or "—"}

    filter_form = (form_html("listings/_application_filters.html", form, need_id=filters.need_id,
                             need_title=need_title) if cycle is not None else "")
    return render_template("listings/applications.html", cycle=cycle, form=form, filter_form=filter_form,
                           filters=filters, page=page, sorts=listings.APPLICATION_SORTS, row_extras=row_extras,
                           answer_url=answer_url,
                           state_labels=Labels.of(application_service.state_label,
                                                   listings.APPLICATION_LISTED_STATES),
                           size_labels=Labels.of(company_service.size_label, company_service.SIZE_LABELS, missing="—"),
                           need_title=need_title, siret=_("SIRET %(siret)s", siret="\x00").partition("\x00"),
                           ), (200 if valid else 422)


def _export(kind: str, export: listings.Export, cycle: Cycle, title: str) -> Response:
    """The file is streamed: the CSV's first bytes leave at once, rows follow as they are read (a batch at a
    time); the XLSX is written by XlsxWriter (constant memory) to a temporary file, then sent in chunks."""
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(404)
    filename = listings.export_name(kind, cycle, fmt)
    # Who took which data out, with which filters: exports carry companies' and buyers' information.
    audit.record(f"listing.export_{kind}", cycle, after={"format": fmt, "rows": export.count,
                                                           "filters": request.args.to_dict()})
    transaction.commit()
    if fmt == "csv":
        body, mimetype = listings.csv_chunks(export), "text/csv; charset=utf-8"
    else:
        body, mimetype = _xlsx_chunks(export, title), XLSX
    response = Response(stream_with_context(body), content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _xlsx_chunks(export: listings.Export, title: str, size: int = 64 * 1024):
    with tempfile.TemporaryFile() as spool:
        listings.write_xlsx(export, title, spool)
        spool.seek(0)
        while chunk := spool.read(size):
            yield chunk


@bp.get("/besoins/export")
@requires("listing.export")
def needs_export():
    cycle, _form, filters, _valid = _need_setup()
    if cycle is None:
        abort(404)
    return _export("besoins", listings.needs_export(cycle, filters), cycle, _("Besoins %(year)s", year=cycle.year))


@bp.get("/reponses/export")
@requires("listing.export")
def applications_export():
    cycle, _form, filters, _valid = _application_setup()
    if cycle is None:
        abort(404)
    return _export("reponses", listings.applications_export(cycle, filters), cycle,
                   _("Réponses %(year)s", year=cycle.year))
