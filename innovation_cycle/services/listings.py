"""Listings of a cycle's needs and answers for the secretariat, the PFRA agents and the committee, with
filters, sorting, pagination, and exports (CSV for French Excel, XLSX).

Drafts are private to their organization, so no listing shows them. Each listing is one SELECT of plain
columns with its many-to-one rows joined, plus one SELECT per collection for the page's ids: a page costs the
same number of queries whether it shows 10 rows or 200, and so does an export of 2,000.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased
from xlsxwriter import Workbook

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.formatting import translated_once
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Company,
    Cycle,
    Need,
    Organization,
    OrganizationKind,
    Theme,
    need_themes,
)
from innovation_cycle.params import parse_int
from innovation_cycle.services import applications as application_service
from innovation_cycle.services import companies as company_service
from innovation_cycle.services import directory
from innovation_cycle.services import needs as need_service
from innovation_cycle.services.page_cache import FragmentCache
from workflows.application import STATES as APPLICATION_STATES
from workflows.need import STATES as NEED_STATES

NEED_LISTED_STATES = tuple(s for s in NEED_STATES if s != "draft")
APPLICATION_LISTED_STATES = tuple(s for s in APPLICATION_STATES if s != "draft")
BUYER_KINDS = tuple(k for k in OrganizationKind if k != OrganizationKind.COMPANY)
SIZES = ("micro", "pme", "eti", "ge")
TRL_NA = "na"


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class RowsPage(Pagination):
    """A page of plain rows (Flask-SQLAlchemy's `paginate` returns the first column of each row only), its
    total counted apart by the caller (on the base table rather than over the joined query).

    With `load`, the query gives the page's ids in order and `load(ids)` their rows: the joins that only
    serve the display then run for the page's rows, not for every row the filters keep before the sort."""

    def _query_items(self) -> list[Any]:
        query = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        load = self._query_args.get("load")
        if load is None:
            return list(db.session.execute(query))
        ids = list(db.session.scalars(query))
        by_id = {row.id: row for row in load(ids)} if ids else {}
        return [by_id[i] for i in ids if i in by_id]

    def _query_count(self) -> int:
        return self._query_args["total"]


def rows_page(query: Select, *, page: int, per_page: int, total: int,
              load: Callable[[list[int]], Iterable[Any]] | None = None) -> RowsPage:
    return RowsPage(page=page, per_page=per_page, max_per_page=None, error_out=False, select=query, total=total,
                    load=load)


# --- needs -------------------------------------------------------------------------------------------------

NEED_SORTS: dict[str, tuple[Any, Any]] = {
    "depot": (_l("Date de dépôt"), Need.submitted_at),
    "titre": (_l("Intitulé"), func.lower(Need.title)),
    "acheteur": (_l("Acheteur"), func.lower(Organization.name)),
    "etat": (_l("État"), Need.status),
    "valeur": (_l("Montant estimé"), Need.estimated_value),
}


@dataclass
class NeedFilters:
    theme_id: int | None = None
    kind: str | None = None  # the buyer's organization kind
    department: str | None = None
    status: str | None = None
    q: str = ""
    sort: str = "depot"
    descending: bool = True


def _needs_select(cycle: Cycle, f: NeedFilters, *columns: Any, joined: bool = True) -> Select:
    """The listing's rows as a SELECT of `columns`, filtered; the buyer is joined when asked (the rows, the
    sorts) or when a filter needs it (a count without such a filter reads `needs` alone)."""
    buyer = Organization
    query = select(*columns).select_from(Need)
    if joined or f.kind or f.department or f.q.split():
        query = query.join(buyer, Need.organization_id == buyer.id)
    query = query.where(Need.cycle_id == cycle.id, Need.status.in_(NEED_LISTED_STATES))
    if f.status in NEED_LISTED_STATES:
        query = query.where(Need.status == f.status)
    if f.theme_id:
        query = query.where(Need.id.in_(select(need_themes.c.need_id).where(need_themes.c.theme_id == f.theme_id)))
    if f.kind in {k.value for k in BUYER_KINDS}:
        query = query.where(buyer.kind == OrganizationKind(f.kind))
    if f.department:
        query = query.where(buyer.department == f.department)
    for word in f.q.split()[:8]:
        pattern = _like(word)
        query = query.where(or_(func.lower(Need.title).like(pattern, escape="\\"),
                                func.lower(Need.problem).like(pattern, escape="\\"),
                                func.lower(buyer.name).like(pattern, escape="\\")))
    return query


def _needs_order(query: Select, f: NeedFilters) -> Select:
    column = NEED_SORTS.get(f.sort, NEED_SORTS["depot"])[1]
    order = column.desc().nulls_last() if f.descending else column.asc().nulls_last()
    return query.order_by(order, Need.id.desc() if f.descending else Need.id)


def needs_query(cycle: Cycle, f: NeedFilters) -> Select:
    """The page's rows as plain columns (what the listing shows and the need's policy reads), its buyer joined;
    the themes come from `need_themes_of` for the page's ids. Rows rather than ORM objects: building, tracking
    and uniquing fifty objects and their collections cost more than the rest of the page."""
    return _needs_order(_needs_select(
        cycle, f, Need.id, Need.cycle_id, Need.organization_id, Need.status, Need.title, Need.estimated_value,
        Need.confidential, Need.submitted_at, Organization.name.label("buyer_name"),
        Organization.kind.label("buyer_kind"), Organization.department.label("buyer_department")), f)


def need_themes_of(need_ids: Iterable[int]) -> dict[int, list[str]]:
    """The names of each need's themes, in the themes' order: one query for a whole page."""
    ids = list(need_ids)
    return _grouped(
        select(need_themes.c.need_id, Theme.name).join(Theme, Theme.id == need_themes.c.theme_id)
        .where(need_themes.c.need_id.in_(ids)).order_by(need_themes.c.need_id, Theme.position, Theme.id)
    ) if ids else {}


def _grouped(query: Select) -> dict[Any, list[Any]]:
    """(key, value) rows as {key: [its values, in the query's order]}."""
    grouped: dict[Any, list[Any]] = {}
    for key, value in db.session.execute(query):
        grouped.setdefault(key, []).append(value)
    return grouped


def needs_count(cycle: Cycle, f: NeedFilters) -> int:
    """The listing's total, counted on `needs` (joined only if a filter needs it), not over the page's query."""
    return db.session.scalar(_needs_select(cycle, f, func.count(Need.id), joined=False)) or 0


def answer_counts(need_ids: Iterable[int]) -> dict[int, int]:
    """How many submitted (non-draft) answers target each need: one grouped query for a whole page."""
    ids = list(need_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(ApplicationNeed.need_id, func.count())
        .join(Application, Application.id == ApplicationNeed.application_id)
        .where(ApplicationNeed.need_id.in_(ids), Application.status.in_(APPLICATION_LISTED_STATES))
        .group_by(ApplicationNeed.need_id))
    return {need_id: count for need_id, count in rows}


# --- answers -----------------------------------------------------------------------------------------------

APPLICATION_SORTS: dict[str, tuple[Any, Any]] = {
    "depot": (_l("Date de dépôt"), Application.submitted_at),
    "solution": (_l("Solution"), func.lower(Application.solution_name)),
    "entreprise": (_l("Entreprise"), func.lower(Organization.name)),
    "trl": (_l("TRL"), Application.trl),
    "taille": (_l("Taille"), Company.computed_size),
    "etat": (_l("État"), Application.status),
}


@dataclass
class ApplicationFilters:
    theme_id: int | None = None  # a theme of a targeted need
    need_id: int | None = None  # a targeted need
    kind: str | None = None  # the organization kind of a targeted need's buyer
    department: str | None = None  # the company's
    size: str | None = None  # the computed size category
    trl: str | None = None  # "1".."9" or "na"
    status: str | None = None
    q: str = ""
    sort: str = "depot"
    descending: bool = True
    # Issue 7: a person whose conflicted answers are left out (a committee member), or None.
    hidden_for: int | None = None


def _applications_select(cycle: Cycle, f: ApplicationFilters, *columns: Any, joined: bool = True) -> Select:
    """The listing's rows as a SELECT of `columns`, filtered; the company and its organization are joined when
    asked or when a filter needs them (a count without such a filter reads `applications` alone)."""
    company_org = Organization
    query = select(*columns).select_from(Application)
    if joined or f.department or f.size in SIZES:
        query = (query.join(Company, Application.company_id == Company.id)
                 .join(company_org, Company.organization_id == company_org.id))
    query = query.where(Application.cycle_id == cycle.id, Application.status.in_(APPLICATION_LISTED_STATES))
    if f.status in APPLICATION_LISTED_STATES:
        query = query.where(Application.status == f.status)
    targeted = select(ApplicationNeed.application_id)
    if f.need_id:
        query = query.where(Application.id.in_(targeted.where(ApplicationNeed.need_id == f.need_id)))
    if f.theme_id:
        query = query.where(Application.id.in_(
            targeted.join(need_themes, need_themes.c.need_id == ApplicationNeed.need_id)
            .where(need_themes.c.theme_id == f.theme_id)))
    if f.kind in {k.value for k in BUYER_KINDS}:
        buyer = aliased(Organization)
        query = query.where(Application.id.in_(
            targeted.join(Need, Need.id == ApplicationNeed.need_id).join(buyer, buyer.id == Need.organization_id)
            .where(buyer.kind == OrganizationKind(f.kind))))
    if f.department:
        query = query.where(company_org.department == f.department)
    if f.size in SIZES:
        query = query.where(Company.computed_size == f.size)
    if f.trl == TRL_NA:
        query = query.where(Application.trl_not_applicable.is_(True))
    elif trl := parse_int(f.trl, minimum=1, maximum=9):
        query = query.where(Application.trl == trl)
    if f.hidden_for is not None:
        from innovation_cycle.services.reviews import conflict_clause

        query = query.where(~conflict_clause(f.hidden_for))
    for word in f.q.split()[:8]:
        pattern = _like(word)
        # The company's name and SIRET through EXISTS on its own rows, not through the page's join: PostgreSQL
        # then walks the answers in the listing's order and stops at the page's last row (5 ms on the national
        # dataset), where a word matched in the joined organizations made it join and sort every answer of the
        # cycle (140 ms) — it expects such a word to match almost nothing.
        named = aliased(Organization)
        company_matches = (select(Company.id).join(named, named.id == Company.organization_id)
                           .where(Company.id == Application.company_id,
                                  or_(func.lower(named.name).like(pattern, escape="\\"),
                                      and_(named.siret.is_not(None), named.siret.like(pattern)))))
        query = query.where(or_(func.lower(Application.solution_name).like(pattern, escape="\\"),
                                func.lower(Application.summary).like(pattern, escape="\\"),
                                company_matches.exists()))
    return query


def _applications_order(query: Select, f: ApplicationFilters) -> Select:
    column = APPLICATION_SORTS.get(f.sort, APPLICATION_SORTS["depot"])[1]
    order = column.desc().nulls_last() if f.descending else column.asc().nulls_last()
    return query.order_by(order, Application.id.desc() if f.descending else Application.id)


def applications_query(cycle: Cycle, f: ApplicationFilters) -> Select:
    """The page's answer ids in the listing's order, the company joined only when a filter or the sort needs
    it; `application_rows` reads what the page shows for them. On the national dataset a theme filter keeps
    a thousand answers: joining their companies before the sort cost 48 ms, after it 3."""
    joined = f.sort in ("entreprise", "taille")
    return _applications_order(_applications_select(cycle, f, Application.id, joined=joined), f)


def application_rows(ids: list[int]) -> list[Any]:
    """What the answers listing shows of these answers (not their long texts), as plain rows."""
    return list(db.session.execute(
        select(Application.id, Application.status, Application.solution_name, Application.trl,
               Application.trl_not_applicable, Application.submitted_at, Company.computed_size,
               Organization.name.label("company_name"), Organization.siret, Organization.department)
        .join(Company, Application.company_id == Company.id)
        .join(Organization, Company.organization_id == Organization.id)
        .where(Application.id.in_(ids))))


def target_titles(application_ids: Iterable[int]) -> dict[int, list[str]]:
    """The titles of the needs each answer targets, by need number: one query for a whole page."""
    ids = list(application_ids)
    return _grouped(
        select(ApplicationNeed.application_id, Need.title).join(Need, Need.id == ApplicationNeed.need_id)
        .where(ApplicationNeed.application_id.in_(ids)).order_by(ApplicationNeed.application_id, Need.id)
    ) if ids else {}


def applications_count(cycle: Cycle, f: ApplicationFilters) -> int:
    """The listing's total, counted on `applications` (joined only if a filter needs it): 1 ms on the national
    dataset where counting over the page's joined query took 14."""
    return db.session.scalar(_applications_select(cycle, f, func.count(Application.id), joined=False)) or 0


def need_title(cycle: Cycle, need_id: int | None) -> str | None:
    """The title of the need an answers filter names by its number (an accepted need of the cycle)."""
    if not need_id:
        return None
    return db.session.scalar(select(Need.title).where(Need.id == need_id, Need.cycle_id == cycle.id))


def departments(cycle: Cycle, *, of: str, wanted: str | None = None) -> list[str]:
    """Departments present in the listing (buyers' for needs, companies' for answers): the filter's choices.

    Read once every two minutes per cycle and process, not on every page (it scans the cycle's rows); a
    department asked for that the copy does not know yet (an answer just filed) reads them again."""
    cache = current_app.extensions.setdefault("listing_departments", FragmentCache(size=128, ttl=120))
    key = (cycle.id, of)
    if wanted and wanted not in cache.get_or_set(key, lambda: _departments(cycle, of)):
        cache.discard(key)
    return cache.get_or_set(key, lambda: _departments(cycle, of))


def _departments(cycle: Cycle, of: str) -> list[str]:
    if of == "needs":
        query = (select(Organization.department).join(Need, Need.organization_id == Organization.id)
                 .where(Need.cycle_id == cycle.id))
    else:
        query = (select(Organization.department).join(Company, Company.organization_id == Organization.id)
                 .join(Application, Application.company_id == Company.id).where(Application.cycle_id == cycle.id))
    return sorted({d for d in db.session.scalars(query.distinct()) if d})


# --- exports -----------------------------------------------------------------------------------------------


def _paris(value: datetime | None) -> datetime | None:
    return clock.to_paris(value).replace(tzinfo=None) if value else None


@dataclass
class Export:
    """A listing's export: its headers, the number of rows, and the rows as plain values, produced lazily in
    batches (one query per batch of `BATCH` rows for the collections, never one per row)."""

    headers: list[str]
    count: int
    rows: Iterator[list[Any]]


EXPORT_BATCH = 1000


@dataclass
class Column:
    """A column of a small export built from objects already loaded (the ranking, the minutes)."""

    label: Any
    value: Callable[[Any], Any]


def export_of(items: list[Any], columns: list[Column]) -> Export:
    """An export of rows already in memory, for `to_csv` and `to_xlsx` (labels translated once)."""
    return Export([str(c.label) for c in columns], len(items), iter([[c.value(i) for c in columns] for i in items]))

NEED_HEADERS = [_l("N°"), _l("Intitulé"), _l("Acheteur"), _l("Type d'acheteur"), _l("Département"),
                _l("Confidentiel dans l'AMI"), _l("Thèmes"), _l("État"), _l("Catégorie d'achat"),
                _l("Montant estimé (€ HT)"), _l("Codes CPV"), _l("Horizon d'achat"), _l("Consultation prévue"),
                _l("Expérimentation possible"), _l("Innovation non technologique bienvenue"),
                _l("Problème à résoudre"), _l("Contact"), _l("Courriel du contact"), _l("Déposé le"),
                _l("Réponses reçues")]

APPLICATION_HEADERS = [_l("N°"), _l("Solution"), _l("Entreprise"), _l("SIRET"), _l("Département"),
                       _l("Taille calculée"), _l("Taille déclarée"), _l("JEI"), _l("TRL"),
                       _l("Stade de commercialisation"), _l("Nature de l'innovation"), _l("Besoins visés"),
                       _l("Résumé"), _l("Prix indicatif"), _l("État"), _l("Motif (éligibilité)"), _l("Déposée le")]


def _batches(query: Select) -> Iterator[list[Any]]:
    """The rows of `query` in batches, from a server-side cursor on PostgreSQL: memory bounded by a batch."""
    result = db.session.execute(query.execution_options(yield_per=EXPORT_BATCH))
    for partition in result.partitions():
        yield list(partition)


def needs_export(cycle: Cycle, f: NeedFilters) -> Export:
    """The needs listing as plain rows (columns, not objects), with their themes and answer counts."""
    buyer = Organization
    query = _needs_order(_needs_select(
        cycle, f, Need.id, Need.title, buyer.name.label("buyer_name"), buyer.kind.label("buyer_kind"),
        buyer.department, Need.confidential, Need.status, Need.procurement_category, Need.estimated_value,
        Need.cpv_codes, Need.purchase_horizon, Need.expected_consultation_on, Need.open_to_experimentation,
        Need.non_technological_welcome, Need.problem, Need.contact_name, Need.contact_email, Need.submitted_at), f)
    yes, no = str(_l("oui")), str(_l("non"))
    kind, status = translated_once(directory.kind_label), translated_once(need_service.status_label)
    category = translated_once(lambda c: need_service.CATEGORY_LABELS.get(c, ""))
    horizon = translated_once(lambda h: need_service.HORIZON_LABELS.get(h, ""))

    def rows() -> Iterator[list[Any]]:
        for batch in _batches(query):
            ids = [r.id for r in batch]
            themes = need_themes_of(ids)
            counts = answer_counts(ids)
            for r in batch:
                yield [r.id, r.title, r.buyer_name, kind(r.buyer_kind), r.department, yes if r.confidential else no,
                       ", ".join(themes.get(r.id, [])), status(r.status), category(r.procurement_category),
                       r.estimated_value, ", ".join(r.cpv_codes or []), horizon(r.purchase_horizon),
                       r.expected_consultation_on, yes if r.open_to_experimentation else no,
                       yes if r.non_technological_welcome else no, r.problem, r.contact_name, r.contact_email,
                       _paris(r.submitted_at), counts.get(r.id, 0)]

    return Export([str(h) for h in NEED_HEADERS], needs_count(cycle, f), rows())


def applications_export(cycle: Cycle, f: ApplicationFilters) -> Export:
    """The answers listing as plain rows (columns, not objects), with the needs each one targets."""
    org = Organization
    query = _applications_order(_applications_select(
        cycle, f, Application.id, Application.solution_name, org.name.label("company_name"), org.siret,
        org.department, Company.computed_size, Company.declared_size, Company.young_innovative_company,
        Application.trl_not_applicable, Application.trl, Application.market_status, Application.innovation_kinds,
        Application.summary, Application.indicative_price, Application.status, Application.eligibility_reason,
        Application.submitted_at), f)
    yes, no, not_applicable = str(_l("oui")), str(_l("non")), str(_l("non applicable"))
    size = translated_once(lambda s: company_service.SIZE_LABELS.get(s, ""))
    market = translated_once(lambda m: application_service.MARKET_STATUS_LABELS.get(m, ""))
    innovation = translated_once(lambda k: application_service.INNOVATION_KIND_LABELS.get(k, k))
    state = translated_once(application_service.state_label)
    buyer = aliased(Organization)

    def rows() -> Iterator[list[Any]]:
        for batch in _batches(query):
            targets: dict[int, list[str]] = {}
            for application_id, title, buyer_name in db.session.execute(
                    select(ApplicationNeed.application_id, Need.title, buyer.name)
                    .join(Need, Need.id == ApplicationNeed.need_id).join(buyer, buyer.id == Need.organization_id)
                    .where(ApplicationNeed.application_id.in_([r.id for r in batch]))
                    .order_by(ApplicationNeed.application_id, ApplicationNeed.need_id)):
                targets.setdefault(application_id, []).append(f"{title} ({buyer_name})")
            for r in batch:
                yield [r.id, r.solution_name, r.company_name, r.siret, r.department, size(r.computed_size),
                       size(r.declared_size), yes if r.young_innovative_company else no,
                       not_applicable if r.trl_not_applicable else r.trl, market(r.market_status),
                       ", ".join(innovation(k) for k in (r.innovation_kinds or [])), " | ".join(targets.get(r.id, [])),
                       r.summary, r.indicative_price, state(r.status), r.eligibility_reason, _paris(r.submitted_at)]

    return Export([str(h) for h in APPLICATION_HEADERS], applications_count(cycle, f), rows())


def _csv_cell(value: Any) -> str:
    """French Excel conventions (decimal comma, dd/mm/yyyy), and no formula injection: a text cell that
    starts like a formula is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, Decimal | float):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def csv_chunks(export: Export, rows_per_chunk: int = 500) -> Iterator[bytes]:
    """UTF-8 with a BOM and ';' separators, so that French Excel opens it with its accents and columns; the
    header leaves at once, then a chunk every `rows_per_chunk` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    buffer.write("\ufeff")
    writer.writerow(export.headers)
    yield buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for number, row in enumerate(export.rows, start=1):
        writer.writerow([_csv_cell(value) for value in row])
        if number % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def to_csv(export: Export) -> bytes:
    return b"".join(csv_chunks(export))


# Characters XML 1.0 forbids (control characters but tab, line feed and carriage return): dropped from text.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# What a sheet's name may not hold (Excel's rule).
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _xlsx_text(value: str) -> str:
    """Text without the characters XML forbids (checked by the fast `isprintable` first: nearly all are)."""
    return value if value.isprintable() else ILLEGAL_CHARACTERS_RE.sub("", value)


# Up to this many rows an XLSX keeps its cells in memory and writes each distinct text once (a shared-strings
# table): twice as fast as the constant-memory mode's inline strings (0.34 s against 0.64 s of CPU for 5,000
# answers x 17 columns), for a few megabytes. Past it, constant memory.
XLSX_SHARED_STRINGS_UP_TO = 20_000


def write_xlsx(export: Export, title: str, target: IO[bytes]) -> None:
    """The sheet written by XlsxWriter: in memory with shared strings up to XLSX_SHARED_STRINGS_UP_TO rows,
    past it in its constant-memory mode (each row goes to a temporary file as it comes, strings inline).

    XlsxWriter rather than openpyxl's write-only mode: openpyxl builds a cell object and an lxml element per
    cell (4 s for 5,000 answers on the 2-core machine); XlsxWriter writes the XML as text, twice as fast. Each
    value goes through the typed method (never `write`, which would turn "=..." into a formula or a
    "http://" text into a link): numbers and dates stay typed, so that Excel sorts and sums them."""
    book = Workbook(target, {"constant_memory": export.count > XLSX_SHARED_STRINGS_UP_TO,
                             "strings_to_formulas": False, "strings_to_urls": False,
                             "strings_to_numbers": False,
                             "remove_timezone": True})
    sheet = book.add_worksheet(" ".join(_SHEET_NAME_FORBIDDEN.sub(" ", title).split())[:31].strip("'") or None)
    sheet.freeze_panes(1, 0)
    sheet.set_column(0, 0, 8)
    if len(export.headers) > 1:
        sheet.set_column(1, len(export.headers) - 1, 18)
    bold = book.add_format({"bold": True})
    for column, label in enumerate(export.headers):
        sheet.write_string(0, column, _xlsx_text(str(label)), bold)
    moment = book.add_format({"num_format": "DD/MM/YYYY HH:MM"})
    day = book.add_format({"num_format": "DD/MM/YYYY"})
    amount = book.add_format({"num_format": "#,##0.00"})
    text, number, when = sheet.write_string, sheet.write_number, sheet.write_datetime
    for line, row in enumerate(export.rows, start=1):
        for column, value in enumerate(row):
            kind = type(value)
            if kind is str:
                text(line, column, value if value.isprintable() else ILLEGAL_CHARACTERS_RE.sub("", value))
            elif value is None:
                continue
            elif kind is int:
                number(line, column, value)
            elif kind is Decimal or kind is float:
                number(line, column, float(value), amount)
            elif kind is datetime:
                when(line, column, value, moment)
            elif kind is date:
                when(line, column, value, day)
            else:
                _write_other(sheet, line, column, value, moment, day, amount)
    book.close()


def _write_other(sheet: Any, line: int, column: int, value: Any, moment: Any, day: Any, amount: Any) -> None:
    """The rare values: booleans, subclasses of the usual types (an IntEnum, Markup), anything else as text."""
    if isinstance(value, bool):
        sheet.write_string(line, column, "oui" if value else "non")
    elif isinstance(value, int | float | Decimal):
        sheet.write_number(line, column, float(value) if isinstance(value, Decimal) else value,
                           None if isinstance(value, int) else amount)
    elif isinstance(value, datetime):
        sheet.write_datetime(line, column, value, moment)
    elif isinstance(value, date):
        sheet.write_datetime(line, column, value, day)
    else:
        sheet.write_string(line, column, _xlsx_text(str(value)))


def to_xlsx(export: Export, title: str) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(export, title, buffer)
    return buffer.getvalue()


def export_name(kind: str, cycle: Cycle, extension: str) -> str:
    stamp = clock.to_paris(clock.now()).strftime("%Y-%m-%d")
    return f"{kind}-cycle-{cycle.year}-{stamp}.{extension}"
