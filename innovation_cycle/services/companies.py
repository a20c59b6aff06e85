"""Companies: registration by a signed-up representative, the size category, and joining a registered company.

The sign-up (services.accounts) creates the representative with an Organization of kind company; registering
completes that organization (SIRET, SIREN, legal name, department: one place per concept) and adds the
Company row with the company's own facts. A SIRET belongs to one organization: a second person of a company
already registered asks to join it, and one of its representatives (or an admin) decides, instead of a
duplicate being created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siret as stdnum_siret

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Company,
    CompanyJoinRequest,
    ConventionMembership,
    Need,
    Organization,
    OrganizationKind,
    Role,
    User,
)
from innovation_cycle.services import audit, mail, notifications
from innovation_cycle.services.directory import DEPARTMENTS, FieldError, Invalid

# --- size category (décret n° 2008-1354 du 18 décembre 2008, art. 3) -----------------------------------

MICRO, PME, ETI, GE = "micro", "pme", "eti", "ge"
SIZE_LABELS: dict[str, Any] = {
    MICRO: _l("Micro-entreprise"),
    PME: _l("PME"),
    ETI: _l("Entreprise de taille intermédiaire (ETI)"),
    GE: _l("Grande entreprise"),
}


@dataclass(frozen=True)
class SizeThreshold:
    """A category holds the firms that employ *fewer than* `headcount_below` people *and* whose turnover
    *or* balance-sheet total does *not exceed* its ceiling (art. 3 of the décret)."""

    category: str
    headcount_below: Decimal
    turnover_max: Decimal
    balance_sheet_max: Decimal


MILLION = Decimal(1_000_000)
SIZE_THRESHOLDS: tuple[SizeThreshold, ...] = (
    SizeThreshold(MICRO, Decimal(10), 2 * MILLION, 2 * MILLION),
    SizeThreshold(PME, Decimal(250), 50 * MILLION, 43 * MILLION),
    SizeThreshold(ETI, Decimal(5000), 1500 * MILLION, 2000 * MILLION),
)


def size_category(headcount: Decimal | int | float, turnover: Decimal | int | float,
                  balance_sheet: Decimal | int | float) -> str:
    """The category of décret 2008-1354 from the last closed year's headcount (full-time equivalents),
    turnover and balance-sheet total in euros: the smallest category whose ceilings the firm meets, else
    a large company. Pure: no database, no clock."""
    people, sales, assets = (Decimal(str(v)) for v in (headcount, turnover, balance_sheet))
    for threshold in SIZE_THRESHOLDS:
        if people < threshold.headcount_below and (
                sales <= threshold.turnover_max or assets <= threshold.balance_sheet_max):
            return threshold.category
    return GE


def size_label(category: str | None) -> str:
    return str(SIZE_LABELS[category]) if category in SIZE_LABELS else _("non calculée")


def computed_size_of(company: Company) -> str | None:
    if company.headcount is None or company.turnover is None or company.balance_sheet is None:
        return None
    return size_category(company.headcount, company.turnover, company.balance_sheet)


# --- identifiers and codes ------------------------------------------------------------------------------

LA_POSTE_PREFIX = "356000000"
NAF_PATTERN = re.compile(r"^(\d{2})\.?(\d{2})\s*([A-Za-z])$")


def compact_siret(value: str | None) -> str:
    """Spaces, dots and dashes are how people write a SIRET; the number is its digits."""
    return stdnum_siret.compact(value or "") if value else ""


def siret_error(value: str | None) -> str | None:
    """The French reason a SIRET is refused, or None when it is valid.

    python-stdnum checks the Luhn key, and La Poste's establishments (SIRET starting 356000000), whose
    digit sum must be a multiple of 5 instead."""
    number = compact_siret(value)
    if not number:
        return _("Indiquez le SIRET de l'établissement (14 chiffres).")
    if not (number.isascii() and number.isdigit()):
        return _("Le SIRET ne contient que des chiffres (14 chiffres, sans lettres).")
    if len(number) != 14:
        return _("Le SIRET comporte exactement 14 chiffres (%(count)s saisis).", count=len(number))
    try:
        stdnum_siret.validate(number)
    except StdnumError:
        return _("Ce SIRET n'existe pas : sa clé de contrôle est fausse. Vérifiez le numéro sur votre "
                 "extrait Kbis ou sur l'annuaire des entreprises.")
    return None


def siren_of(siret: str) -> str:
    return compact_siret(siret)[:9]


def normalise_naf(value: str | None) -> str | None:
    """"62.01Z", "6201Z", "62.01 z" → "62.01Z"; None when blank. Raises ValueError when not a NAF code."""
    value = (value or "").strip()
    if not value:
        return None
    match = NAF_PATTERN.match(value)
    if not match:
        raise ValueError(value)
    return f"{match.group(1)}.{match.group(2)}{match.group(3).upper()}"


def department_from_postal_code(postal_code: str | None) -> str | None:
    """The department a French postal code belongs to (Corsica: 200–201 is 2A, 202–206 is 2B; overseas:
    three digits). None when it cannot be told."""
    code = (postal_code or "").strip()
    if not re.fullmatch(r"\d{5}", code):
        return None
    if code.startswith("97"):
        department = code[:3]
    elif code.startswith("20"):
        department = "2A" if code[:3] in ("200", "201") else "2B"
    else:
        department = code[:2]
    return department if department in DEPARTMENTS else None


# --- registration -----------------------------------------------------------------------------------------

COMPANY_FIELDS = ["address", "postal_code", "city", "website", "naf_code", "created_on", "fiscal_year",
                  "headcount", "turnover", "balance_sheet", "declared_size", "computed_size",
                  "young_innovative_company"]
ORGANIZATION_FIELDS = ["name", "siren", "siret", "department"]


@dataclass
class CompanyData:
    """What the company page asks; the form cleans it, the service checks the rules that need the database."""

    siret: str
    name: str
    address: str
    postal_code: str
    city: str
    department: str | None
    website: str | None
    naf_code: str | None
    created_on: date | None
    fiscal_year: int | None
    headcount: Decimal | None
    turnover: Decimal | None
    balance_sheet: Decimal | None
    declared_size: str | None
    young_innovative_company: bool


class AlreadyRegistered(Exception):
    """The SIRET already belongs to a registered company: the person should ask to join it."""

    def __init__(self, company: Company):
        super().__init__(company.organization.siret)
        self.company = company


def company_of(user: Any) -> Company | None:
    """The registered company the user represents, if any."""
    if not getattr(user, "is_authenticated", False) or user.organization_id is None:
        return None
    return db.session.scalar(select(Company).where(Company.organization_id == user.organization_id))


def company_by_siret(siret: str) -> Company | None:
    return db.session.scalar(
        select(Company).join(Organization).where(Organization.siret == compact_siret(siret)))


def pending_request_of(user: User) -> CompanyJoinRequest | None:
    return db.session.scalar(select(CompanyJoinRequest).where(
        CompanyJoinRequest.user_id == user.id, CompanyJoinRequest.status == "pending"))


def representatives(company: Company) -> list[User]:
    """The active company representatives of the company's organization, by name."""
    users = db.session.scalars(select(User).where(
        User.organization_id == company.organization_id, User.active.is_(True)).order_by(User.name, User.id))
    return [u for u in users if u.has_role(Role.COMPANY)]


def pending_requests(company: Company) -> list[CompanyJoinRequest]:
    return list(db.session.scalars(select(CompanyJoinRequest).where(
        CompanyJoinRequest.company_id == company.id, CompanyJoinRequest.status == "pending")
        .order_by(CompanyJoinRequest.created_at, CompanyJoinRequest.id)))


def _data_errors(data: CompanyData, organization: Organization) -> list[FieldError]:
    errors: list[FieldError] = []
    if message := siret_error(data.siret):
        errors.append(FieldError("siret", message))
    if data.department is not None and data.department not in DEPARTMENTS:
        errors.append(FieldError("department", _(
            "Département inconnu : indiquez un code comme 59, 2A ou 974.")))
    today = clock.to_paris(clock.now()).date()
    if data.created_on and data.created_on > today:
        errors.append(FieldError("created_on", _("La date de création ne peut pas être dans le futur.")))
    if data.fiscal_year is not None:
        if data.fiscal_year > today.year:
            errors.append(FieldError("fiscal_year", _(
                "L'exercice doit être clos : indiquez %(year)s au plus.", year=today.year)))
        elif data.created_on and data.fiscal_year < data.created_on.year:
            errors.append(FieldError("fiscal_year", _(
                "L'exercice ne peut pas précéder la création de l'entreprise (%(year)s).",
                year=data.created_on.year)))
    if not errors:
        owner = db.session.scalar(select(Organization).where(
            Organization.siret == compact_siret(data.siret), Organization.id != organization.id))
        if owner is not None:
            company = db.session.scalar(select(Company).where(Company.organization_id == owner.id))
            if company is not None and organization.kind == OrganizationKind.COMPANY \
                    and not _has_company(organization):
                raise AlreadyRegistered(company)
            errors.append(FieldError("siret", _(
                "Ce SIRET est déjà celui de l'organisation « %(name)s ».", name=owner.name)))
    return errors


def _has_company(organization: Organization) -> bool:
    return db.session.scalar(select(Company.id).where(Company.organization_id == organization.id)) is not None


def _apply(company: Company, organization: Organization, data: CompanyData) -> None:
    siret = compact_siret(data.siret)
    organization.name = data.name.strip()
    organization.siret, organization.siren = siret, siren_of(siret)
    organization.department = data.department or department_from_postal_code(data.postal_code)
    company.address = data.address.strip() or None
    company.postal_code = (data.postal_code or "").strip() or None
    company.city = (data.city or "").strip() or None
    company.website = data.website or None
    company.naf_code = data.naf_code
    company.created_on = data.created_on
    company.fiscal_year = data.fiscal_year
    company.headcount = _quantize(data.headcount, "0.1")
    company.turnover, company.balance_sheet = _quantize(data.turnover, "0.01"), _quantize(data.balance_sheet, "0.01")
    company.declared_size = data.declared_size or None
    company.young_innovative_company = bool(data.young_innovative_company)
    company.computed_size = computed_size_of(company)
    company.updated_at = clock.now()


def _quantize(value: Decimal | None, places: str) -> Decimal | None:
    """To the column's scale, so the figure in memory is the one the database will give back."""
    return None if value is None else Decimal(value).quantize(Decimal(places))


def _snapshot(company: Company) -> dict[str, Any]:
    snap = audit.snapshot(company, COMPANY_FIELDS)
    snap.update({f"organization.{k}": v for k, v in audit.snapshot(company.organization, ORGANIZATION_FIELDS).items()})
    # "8", not "8.0" then "8": the same figure read back from the database must compare equal.
    return {k: (format(v.normalize(), "f") if isinstance(v, Decimal) else v) for k, v in snap.items()}


class CannotRegister(ValueError):
    """The user cannot register a company (not a representative, already registered, join pending)."""


def register(user: User, data: CompanyData) -> Company:
    """Complete the representative's organization and create its Company.

    Raises `AlreadyRegistered` when the SIRET is another registered company's (the person asks to join
    it instead), `Invalid` with French messages per field otherwise."""
    organization = user.organization
    if not user.has_role(Role.COMPANY) or organization is None or organization.kind != OrganizationKind.COMPANY:
        raise CannotRegister(_("Seul un représentant d'entreprise inscrit peut enregistrer une entreprise."))
    if _has_company(organization):
        raise CannotRegister(_("Votre entreprise est déjà enregistrée."))
    if pending_request_of(user) is not None:
        raise CannotRegister(_("Votre demande pour rejoindre une entreprise est en attente : annulez-la "
                               "avant d'enregistrer une autre entreprise."))
    errors = _data_errors(data, organization)
    if errors:
        raise Invalid(errors)
    now = clock.now()
    company = Company(organization=organization, created_at=now, updated_at=now)
    _apply(company, organization, data)
    db.session.add(company)
    db.session.flush()
    audit.record("company.register", company, actor=user, after=_snapshot(company))
    return company


def update(company: Company, data: CompanyData, actor: User) -> bool:
    """Change the company's facts; False when nothing changed (no audit row then)."""
    errors = _data_errors(data, company.organization)
    if errors:
        raise Invalid(errors)
    before = _snapshot(company)
    _apply(company, company.organization, data)
    after = _snapshot(company)
    if after == before:
        return False
    db.session.flush()
    audit.record("company.update", company, actor=actor, before=before, after=after)
    return True


# --- joining a registered company ----------------------------------------------------------------------


def request_join(user: User, siret: str) -> CompanyJoinRequest:
    """Ask to join the registered company with this SIRET; its representatives get an email."""
    if message := siret_error(siret):
        raise Invalid([FieldError("siret", message)])
    company = company_by_siret(siret)
    if company is None:
        raise Invalid([FieldError("siret", _("Aucune entreprise inscrite n'a ce SIRET : enregistrez la vôtre."))])
    if user.organization_id == company.organization_id:
        raise Invalid([FieldError(None, _("Vous représentez déjà cette entreprise."))])
    if not user.has_role(Role.COMPANY) or (user.organization is not None and _has_company(user.organization)):
        raise Invalid([FieldError(None, _(
            "Seul un représentant d'entreprise qui n'a pas encore enregistré d'entreprise peut demander à en "
            "rejoindre une."))])
    pending = pending_request_of(user)
    if pending is not None:
        if pending.company_id == company.id:
            return pending  # asked twice (double click): one request
        raise Invalid([FieldError(None, _("Vous avez déjà une demande en attente pour « %(name)s ».",
                                          name=pending.company.organization.name))])
    join = db.session.scalar(select(CompanyJoinRequest).where(
        CompanyJoinRequest.company_id == company.id, CompanyJoinRequest.user_id == user.id))
    if join is None:
        join = CompanyJoinRequest(company=company, user=user)
        db.session.add(join)
    join.status, join.created_at, join.decided_by_id, join.decided_at = "pending", clock.now(), None, None
    db.session.flush()
    audit.record("company.join_request", join, actor=user,
                 after={"company_id": company.id, "user_id": user.id, "status": "pending"})
    link = notifications.external_url("companies.detail", company_id=company.id)
    for rep in representatives(company):
        mail.queue(rep.email, _("%(name)s demande à rejoindre votre entreprise", name=user.name),
                   "company_join_request", person=rep, requester=user, company=company, link=link)
    return join


def cancel_join(user: User) -> CompanyJoinRequest | None:
    join = pending_request_of(user)
    if join is None:
        return None
    join.status, join.decided_at, join.decided_by_id = "refused", clock.now(), user.id
    audit.record("company.join_cancel", join, actor=user, before={"status": "pending"}, after={"status": "refused"})
    return join


def _placeholder_is_empty(organization: Organization, leaving: User) -> bool:
    """The organization the sign-up made for the requester holds nothing else, so it can go."""
    if organization.kind != OrganizationKind.COMPANY or _has_company(organization):
        return False
    others = db.session.scalar(select(func.count(User.id)).where(
        User.organization_id == organization.id, User.id != leaving.id))
    members = db.session.scalar(select(func.count(ConventionMembership.id)).where(
        ConventionMembership.organization_id == organization.id))
    needs = db.session.scalar(select(func.count(Need.id)).where(Need.organization_id == organization.id))
    return not (others or members or needs)


def decide_join(join: CompanyJoinRequest, approve: bool, actor: User) -> None:
    """A representative (or an admin) approves or refuses; approving moves the person into the company's
    organization and removes the empty organization their sign-up had made."""
    if join.status != "pending":
        raise Invalid([FieldError(None, _("Cette demande a déjà été traitée."))])
    requester = join.user
    join.status = "approved" if approve else "refused"
    join.decided_by_id, join.decided_at = actor.id, clock.now()
    after: dict[str, Any] = {"status": join.status}
    if approve:
        old = requester.organization
        requester.organization = join.company.organization
        after["organization_id"] = join.company.organization_id
        if old is not None and _placeholder_is_empty(old, requester):
            after["removed_organization"] = {"id": old.id, "name": old.name}
            db.session.flush()
            db.session.delete(old)
    db.session.flush()
    audit.record("company.join_approve" if approve else "company.join_refuse", join, actor=actor,
                 before={"status": "pending", "user_id": requester.id}, after=after)
    mail.queue(requester.email,
               _("Votre demande pour rejoindre %(name)s", name=join.company.organization.name),
               "company_join_decision", requester=requester, company=join.company, approved=approve,
               link=notifications.external_url("companies.mine"))
