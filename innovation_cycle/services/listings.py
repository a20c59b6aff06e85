"""Listings of a cycle's needs and answers for the secretariat, the PFRA agents and the committee, with
filters, sorting, pagination, and exports (CSV for French Excel, XLSX).

Drafts are private to their organization, so no listing shows them. Each listing is one SELECT with its
many-to-one rows joined, plus one SELECT per collection (selectinload): a page costs the same number of
queries whether it shows 10 rows or 200, and so does an export of 2,000.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased, contains_eager, selectinload

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Company,
    Cycle,
    Need,
    Organization,
    OrganizationKind,
    need_themes,
)
from innovation_cycle.params import parse_int
from innovation_cycle.services import applications as application_service
from innovation_cycle.services import companies as company_service
from innovation_cycle.services import directory
from innovation_cycle.services import needs as need_service
from workflows.application import STATES as APPLICATION_STATES
from workflows.need import STATES as NEED_STATES

NEED_LISTED_STATES = tuple(s for s in NEED_STATES if s != "draft")
APPLICATION_LISTED_STATES = tuple(s for s in APPLICATION_STATES if s != "draft")
BUYER_KINDS = tuple(k for k in OrganizationKind if k != OrganizationKind.COMPANY)
SIZES = ("micro", "pme", "eti", "ge")
TRL_NA = "na"


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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


def needs_query(cycle: Cycle, f: NeedFilters) -> Select:
    buyer = Organization
    query = (select(Need).join(buyer, Need.organization_id == buyer.id)
             .where(Need.cycle_id == cycle.id, Need.status.in_(NEED_LISTED_STATES))
             .options(contains_eager(Need.organization), selectinload(Need.themes)))
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
    column = NEED_SORTS.get(f.sort, NEED_SORTS["depot"])[1]
    order = column.desc().nulls_last() if f.descending else column.asc().nulls_last()
    return query.order_by(order, Need.id.desc() if f.descending else Need.id)


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


def applications_query(cycle: Cycle, f: ApplicationFilters) -> Select:
    company_org = Organization
    query = (select(Application)
             .join(Company, Application.company_id == Company.id)
             .join(company_org, Company.organization_id == company_org.id)
             .where(Application.cycle_id == cycle.id, Application.status.in_(APPLICATION_LISTED_STATES))
             .options(contains_eager(Application.company).contains_eager(Company.organization),
                      selectinload(Application.targets).selectinload(ApplicationNeed.need)
                      .selectinload(Need.organization)))
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
    for word in f.q.split()[:8]:
        pattern = _like(word)
        query = query.where(or_(func.lower(Application.solution_name).like(pattern, escape="\\"),
                                func.lower(Application.summary).like(pattern, escape="\\"),
                                func.lower(company_org.name).like(pattern, escape="\\"),
                                and_(company_org.siret.is_not(None), company_org.siret.like(pattern))))
    column = APPLICATION_SORTS.get(f.sort, APPLICATION_SORTS["depot"])[1]
    order = column.desc().nulls_last() if f.descending else column.asc().nulls_last()
    return query.order_by(order, Application.id.desc() if f.descending else Application.id)


def need_choices(cycle: Cycle) -> list[tuple[int, str]]:
    """The needs an answer may target (accepted ones), for the answers listing's filter."""
    return [(need_id, title) for need_id, title in db.session.execute(
        select(Need.id, Need.title).where(Need.cycle_id == cycle.id, Need.status == "accepted")
        .order_by(func.lower(Need.title), Need.id))]


def departments(cycle: Cycle, *, of: str) -> list[str]:
    """Departments present in the listing (buyers' for needs, companies' for answers): the filter's choices."""
    if of == "needs":
        query = (select(Organization.department).join(Need, Need.organization_id == Organization.id)
                 .where(Need.cycle_id == cycle.id))
    else:
        query = (select(Organization.department).join(Company, Company.organization_id == Organization.id)
                 .join(Application, Application.company_id == Company.id).where(Application.cycle_id == cycle.id))
    return sorted({d for d in db.session.scalars(query.distinct()) if d})


# --- exports -----------------------------------------------------------------------------------------------


@dataclass
class Column:
    label: Any
    value: Callable[[Any], Any]


def _paris(value: datetime | None) -> datetime | None:
    return clock.to_paris(value).replace(tzinfo=None) if value else None


def _need_link_titles(application: Application) -> str:
    return " | ".join(f"{t.need.title} ({t.need.organization.name})" for t in
                      sorted(application.targets, key=lambda t: t.need_id))


NEED_COLUMNS = [
    Column(_l("N°"), lambda n: n.id),
    Column(_l("Intitulé"), lambda n: n.title),
    Column(_l("Acheteur"), lambda n: n.organization.name),
    Column(_l("Type d'acheteur"), lambda n: directory.kind_label(n.organization.kind)),
    Column(_l("Département"), lambda n: n.organization.department),
    Column(_l("Confidentiel dans l'AMI"), lambda n: _l("oui") if n.confidential else _l("non")),
    Column(_l("Thèmes"), lambda n: ", ".join(t.name for t in n.themes)),
    Column(_l("État"), lambda n: need_service.status_label(n.status)),
    Column(_l("Catégorie d'achat"), lambda n: need_service.CATEGORY_LABELS.get(n.procurement_category, "")),
    Column(_l("Montant estimé (€ HT)"), lambda n: n.estimated_value),
    Column(_l("Codes CPV"), lambda n: ", ".join(n.cpv_codes or [])),
    Column(_l("Horizon d'achat"), lambda n: need_service.HORIZON_LABELS.get(n.purchase_horizon, "")),
    Column(_l("Consultation prévue"), lambda n: n.expected_consultation_on),
    Column(_l("Expérimentation possible"), lambda n: _l("oui") if n.open_to_experimentation else _l("non")),
    Column(_l("Innovation non technologique bienvenue"),
           lambda n: _l("oui") if n.non_technological_welcome else _l("non")),
    Column(_l("Problème à résoudre"), lambda n: n.problem),
    Column(_l("Contact"), lambda n: n.contact_name),
    Column(_l("Courriel du contact"), lambda n: n.contact_email),
    Column(_l("Déposé le"), lambda n: _paris(n.submitted_at)),
    Column(_l("Réponses reçues"), lambda n: getattr(n, "answer_count", None)),
]

APPLICATION_COLUMNS = [
    Column(_l("N°"), lambda a: a.id),
    Column(_l("Solution"), lambda a: a.solution_name),
    Column(_l("Entreprise"), lambda a: a.company.organization.name),
    Column(_l("SIRET"), lambda a: a.company.organization.siret),
    Column(_l("Département"), lambda a: a.company.organization.department),
    Column(_l("Taille calculée"), lambda a: company_service.SIZE_LABELS.get(a.company.computed_size, "")),
    Column(_l("Taille déclarée"), lambda a: company_service.SIZE_LABELS.get(a.company.declared_size, "")),
    Column(_l("JEI"), lambda a: _l("oui") if a.company.young_innovative_company else _l("non")),
    Column(_l("TRL"), lambda a: _l("non applicable") if a.trl_not_applicable else a.trl),
    Column(_l("Stade de commercialisation"),
           lambda a: application_service.MARKET_STATUS_LABELS.get(a.market_status, "")),
    Column(_l("Nature de l'innovation"), lambda a: ", ".join(
        str(application_service.INNOVATION_KIND_LABELS.get(k, k)) for k in (a.innovation_kinds or []))),
    Column(_l("Besoins visés"), _need_link_titles),
    Column(_l("Résumé"), lambda a: a.summary),
    Column(_l("Prix indicatif"), lambda a: a.indicative_price),
    Column(_l("État"), lambda a: application_service.state_label(a.status)),
    Column(_l("Motif (éligibilité)"), lambda a: a.eligibility_reason),
    Column(_l("Déposée le"), lambda a: _paris(a.submitted_at)),
]


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


def to_csv(rows: Iterable[Any], columns: list[Column]) -> bytes:
    """UTF-8 with a BOM and ';' separators, so that French Excel opens it with its accents and columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([str(c.label) for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(c.value(row)) for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_value(value: Any) -> Any:
    """Numbers and dates stay typed (Excel sorts and sums them); text loses the characters XML forbids."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, int | float | datetime | date):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def to_xlsx(rows: Iterable[Any], columns: list[Column], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    for index in range(1, len(columns) + 1):
        sheet.column_dimensions[get_column_letter(index)].width = 18 if index > 1 else 8
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=str(column.label))
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells = []
        for column in columns:
            value = _xlsx_value(column.value(row))
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, never a formula
            elif isinstance(value, datetime):
                cell.number_format = "DD/MM/YYYY HH:MM"
            elif isinstance(value, date):
                cell.number_format = "DD/MM/YYYY"
            elif isinstance(value, float):
                cell.number_format = "#,##0.00"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export_name(kind: str, cycle: Cycle, extension: str) -> str:
    stamp = clock.to_paris(clock.now()).strftime("%Y-%m-%d")
    return f"{kind}-cycle-{cycle.year}-{stamp}.{extension}"
