"""The secretariat's directory: conventions and their members, organizations, users, and the demo clock.

Every function here checks its rules, writes, adds the audit row, and flushes; the view commits once. A
refusal is an `Invalid` carrying French messages tied to form fields, so the page can show each message
next to its field and none of the change reaches the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from innovation_cycle import clock, formatting
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AuditEvent,
    Convention,
    ConventionMembership,
    Organization,
    OrganizationKind,
    Role,
    Tier,
    User,
    UserRole,
)
from innovation_cycle.services import audit

KIND_LABELS: dict[OrganizationKind, Any] = {
    OrganizationKind.STATE_SERVICE: _l("Service de l'État"),
    OrganizationKind.PFRA: _l("PFRA"),
    OrganizationKind.UGAP: _l("UGAP"),
    OrganizationKind.LOCAL_AUTHORITY: _l("Collectivité territoriale"),
    OrganizationKind.HOSPITAL: _l("Établissement hospitalier"),
    OrganizationKind.PUBLIC_BODY: _l("Établissement public"),
    OrganizationKind.DEVELOPMENT_AGENCY: _l("Agence de développement / d'innovation"),
    OrganizationKind.COMPANY: _l("Entreprise"),
}
TIER_LABELS: dict[Tier, Any] = {
    Tier.FOUNDING_PARTNER: _l("Partenaire fondateur"),
    Tier.ASSOCIATED_MEMBER: _l("Membre associé"),
}

# Metropolitan departments 01–95 (Corsica is 2A/2B since 1976, so no "20") and the overseas ones.
DEPARTMENTS: frozenset[str] = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"] + [str(n) for n in range(971, 977)]
)
MAX_CONVENTION_YEARS = 3

CONVENTION_FIELDS = ["name", "region", "signed_on", "starts_on", "ends_on"]
ORGANIZATION_FIELDS = ["name", "kind", "siren", "siret", "department"]
USER_FIELDS = ["name", "organization_id", "roles", "active"]


@dataclass
class FieldError:
    field: str | None  # the form field the message belongs to; None for the summary only
    message: str


class Invalid(ValueError):
    """The change breaks a rule; nothing was written."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise Invalid(errors)


def kind_label(kind: OrganizationKind | str) -> str:
    return str(KIND_LABELS.get(OrganizationKind(kind), kind))


def tier_label(tier: Tier | str) -> str:
    return str(TIER_LABELS.get(Tier(tier), tier))


def _fmt(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- conventions ---------------------------------------------------------------------------------------


def latest_end(starts_on: date) -> date:
    """Three years at most: a convention ends, at the latest, the day before its third anniversary."""
    return _add_years(starts_on, MAX_CONVENTION_YEARS) - timedelta(days=1)


def _convention_errors(convention: Convention | None, signed_on: date, starts_on: date,
                       ends_on: date) -> list[FieldError]:
    errors: list[FieldError] = []
    if ends_on <= starts_on:
        errors.append(FieldError("ends_on", _("La date de fin doit être postérieure à la date de début.")))
    elif ends_on > latest_end(starts_on):
        errors.append(FieldError("ends_on", _(
            "Une convention dure trois ans au plus : avec un début le %(start)s, elle doit finir "
            "au plus tard le %(latest)s.", start=_fmt(starts_on), latest=_fmt(latest_end(starts_on)))))
    if signed_on > _add_years(starts_on, 1):
        errors.append(FieldError("signed_on", _(
            "La date de signature ne peut pas être plus d'un an après le début de la convention (%(start)s).",
            start=_fmt(starts_on))))
    if convention is not None and not errors:
        # The convention's cycles must stay inside its dates; otherwise their calendars silently break.
        years = set(range(starts_on.year, ends_on.year + 1))
        for cycle in convention.cycles:
            days = [clock.to_paris(d).date() for w in cycle.windows for d in (w.opens_at, w.closes_at)]
            if cycle.year not in years or any(not starts_on <= d <= ends_on for d in days):
                errors.append(FieldError(None, _(
                    "Le cycle %(year)s de cette convention sortirait de ses nouvelles dates : "
                    "modifiez d'abord son calendrier.", year=cycle.year)))
    return errors


def create_convention(*, name: str, region: str, signed_on: date, starts_on: date,
                      ends_on: date) -> Convention:
    _raise_if(_convention_errors(None, signed_on, starts_on, ends_on))
    convention = Convention(name=name.strip(), region=region.strip(), signed_on=signed_on,
                            starts_on=starts_on, ends_on=ends_on)
    db.session.add(convention)
    db.session.flush()
    audit.record("convention.create", convention, after=audit.snapshot(convention, CONVENTION_FIELDS))
    return convention


def update_convention(convention: Convention, *, name: str, region: str, signed_on: date, starts_on: date,
                      ends_on: date) -> bool:
    """Returns False when nothing changed (and writes no audit row)."""
    _raise_if(_convention_errors(convention, signed_on, starts_on, ends_on))
    before = audit.snapshot(convention, CONVENTION_FIELDS)
    convention.name, convention.region = name.strip(), region.strip()
    convention.signed_on, convention.starts_on, convention.ends_on = signed_on, starts_on, ends_on
    after = audit.snapshot(convention, CONVENTION_FIELDS)
    if after == before:
        return False
    db.session.flush()
    audit.record("convention.update", convention, before=before, after=after)
    return True


def delete_convention(convention: Convention) -> None:
    """Only a convention without cycles goes: a cycle's history must keep its convention."""
    if convention.cycles:
        raise Invalid([FieldError(None, _(
            "Cette convention a des cycles : elle ne peut pas être supprimée."))])
    audit.record("convention.delete", convention, before={
        **audit.snapshot(convention, CONVENTION_FIELDS),
        "memberships": [{"organization_id": m.organization_id, "tier": m.tier.value,
                         "on_committee": m.on_committee} for m in convention.memberships]})
    db.session.delete(convention)
    db.session.flush()


def conventions_with_counts() -> list[tuple[Convention, int]]:
    members = (select(ConventionMembership.convention_id, func.count().label("n"))
               .group_by(ConventionMembership.convention_id).subquery())
    rows = db.session.execute(
        select(Convention, func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.convention_id == Convention.id)
        .order_by(Convention.starts_on.desc(), Convention.id.desc()))
    return [(c, n) for c, n in rows]


def memberships_of(convention: Convention) -> list[ConventionMembership]:
    return list(db.session.scalars(
        select(ConventionMembership).join(Organization)
        .where(ConventionMembership.convention_id == convention.id)
        .order_by(ConventionMembership.tier, Organization.name)))


def _membership_snapshot(m: ConventionMembership) -> dict[str, Any]:
    return {"convention_id": m.convention_id, "organization_id": m.organization_id, "tier": m.tier.value,
            "on_committee": m.on_committee}


def add_membership(convention: Convention, organization: Organization, tier: Tier,
                   on_committee: bool) -> ConventionMembership:
    exists = db.session.scalar(select(ConventionMembership.id).where(
        ConventionMembership.convention_id == convention.id,
        ConventionMembership.organization_id == organization.id))
    if exists:
        raise Invalid([FieldError("organization_id", _(
            "« %(name)s » est déjà membre de cette convention : modifiez son rang dans la liste.",
            name=organization.name))])
    membership = ConventionMembership(convention=convention, organization=organization, tier=Tier(tier),
                                      on_committee=on_committee)
    db.session.add(membership)
    db.session.flush()
    audit.record("membership.add", membership, after=_membership_snapshot(membership))
    return membership


def update_membership(membership: ConventionMembership, tier: Tier, on_committee: bool) -> bool:
    before = _membership_snapshot(membership)
    membership.tier, membership.on_committee = Tier(tier), on_committee
    after = _membership_snapshot(membership)
    if after == before:
        return False
    db.session.flush()
    audit.record("membership.update", membership, before=before, after=after)
    return True


def remove_membership(membership: ConventionMembership) -> None:
    audit.record("membership.remove", membership, before=_membership_snapshot(membership))
    db.session.delete(membership)
    db.session.flush()


# --- organizations -------------------------------------------------------------------------------------


def _identifier_error(module: Any, value: str, name: str, digits: int) -> str | None:
    try:
        module.validate(value)
    except (InvalidFormat, InvalidLength):
        return _("Le %(name)s doit comporter exactement %(digits)s chiffres.", name=name, digits=digits)
    except (InvalidChecksum, InvalidComponent):
        return _("Ce %(name)s n'existe pas : sa clé de contrôle est fausse. Vérifiez le numéro.", name=name)
    except ValidationError:
        return _("Ce %(name)s n'est pas valide.", name=name)
    return None


def normalise_department(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value or None


def _organization_errors(organization: Organization | None, siren: str | None, siret: str | None,
                         department: str | None) -> list[FieldError]:
    errors: list[FieldError] = []
    if siren and (message := _identifier_error(stdnum_siren, siren, "SIREN", 9)):
        errors.append(FieldError("siren", message))
    if siret and (message := _identifier_error(stdnum_siret, siret, "SIRET", 14)):
        errors.append(FieldError("siret", message))
    if siren and siret and not errors and not siret.startswith(siren):
        errors.append(FieldError("siret", _(
            "Le SIRET doit commencer par le SIREN (%(siren)s) : un établissement appartient à "
            "son entreprise.",
            siren=siren)))
    if department is not None and department not in DEPARTMENTS:
        errors.append(FieldError("department", _(
            "Département inconnu : indiquez un code de 01 à 95 (2A ou 2B pour la Corse) ou de 971 à 976.")))
    if siret and not errors:
        query = select(Organization).where(Organization.siret == siret)
        if organization is not None and organization.id is not None:
            query = query.where(Organization.id != organization.id)
        other = db.session.scalar(query)
        if other is not None:
            errors.append(FieldError("siret", _(
                "Ce SIRET est déjà celui de l'organisation « %(name)s ».", name=other.name)))
    return errors


def _clean_identifiers(siren: str | None, siret: str | None) -> tuple[str | None, str | None]:
    """Spaces and dots as people type them are removed; SIREN comes from SIRET when only SIRET is given."""
    siren = stdnum_siren.compact(siren) if siren and siren.strip() else None
    siret = stdnum_siret.compact(siret) if siret and siret.strip() else None
    if siret and not siren and len(siret) == 14 and siret.isdigit():
        siren = siret[:9]
    return siren, siret


def _apply_organization(organization: Organization, *, name: str, kind: OrganizationKind, siren: str | None,
                        siret: str | None, department: str | None) -> None:
    siren, siret = _clean_identifiers(siren, siret)
    department = normalise_department(department)
    _raise_if(_organization_errors(organization, siren, siret, department))
    organization.name, organization.kind = name.strip(), OrganizationKind(kind)
    organization.siren, organization.siret, organization.department = siren, siret, department


def create_organization(*, name: str, kind: OrganizationKind, siren: str | None = None,
                        siret: str | None = None, department: str | None = None) -> Organization:
    organization = Organization()
    _apply_organization(organization, name=name, kind=kind, siren=siren, siret=siret, department=department)
    db.session.add(organization)
    db.session.flush()
    audit.record("organization.create", organization, after=audit.snapshot(organization, ORGANIZATION_FIELDS))
    return organization


def update_organization(organization: Organization, *, name: str, kind: OrganizationKind,
                        siren: str | None = None, siret: str | None = None,
                        department: str | None = None) -> bool:
    before = audit.snapshot(organization, ORGANIZATION_FIELDS)
    _apply_organization(organization, name=name, kind=kind, siren=siren, siret=siret, department=department)
    after = audit.snapshot(organization, ORGANIZATION_FIELDS)
    if after == before:
        return False
    db.session.flush()
    audit.record("organization.update", organization, before=before, after=after)
    return True


def organizations_query(*, kind: str | None = None, department: str | None = None,
                        text: str | None = None) -> Select:
    query = select(Organization).order_by(Organization.name, Organization.id)
    if kind:
        query = query.where(Organization.kind == OrganizationKind(kind))
    if department:
        query = query.where(Organization.department == normalise_department(department))
    if text and text.strip():
        term = text.strip()
        digits = term.replace(" ", "")
        condition = Organization.name.icontains(term, autoescape=True)
        if digits.isdigit():
            condition = condition | Organization.siret.startswith(digits, autoescape=True) \
                | Organization.siren.startswith(digits, autoescape=True)
        query = query.where(condition)
    return query


def all_organizations() -> list[Organization]:
    return list(db.session.scalars(select(Organization).order_by(Organization.name, Organization.id)))


def organizations_with_users(also: int | None = None) -> list[Organization]:
    """The users listing's organization filter: the organizations that have accounts (and the one asked for, if
    it exists), not the whole directory: at national scale it holds tens of thousands of companies, each an
    <option> of a 2.5 MB page (issue 11). Filtering on an organization without accounts lists nobody either way."""
    wanted = select(User.organization_id).where(User.organization_id.is_not(None))
    condition = Organization.id.in_(wanted) | (Organization.id == also) if also else Organization.id.in_(wanted)
    return list(db.session.scalars(select(Organization).where(condition).order_by(Organization.name, Organization.id)))


def departments_in_use() -> list[str]:
    return list(db.session.scalars(select(Organization.department).where(Organization.department.is_not(None))
                                   .distinct().order_by(Organization.department)))


# --- users ---------------------------------------------------------------------------------------------


def _user_snapshot(user: User) -> dict[str, Any]:
    return {"name": user.name, "organization_id": user.organization_id,
            "roles": sorted(r.value for r in user.roles), "active": user.active}


def users_query(*, role: str | None = None, organization_id: int | None = None, active: bool | None = None,
                text: str | None = None) -> Select:
    query = select(User).order_by(User.name, User.id)
    if role:
        query = query.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == Role(role))))
    if organization_id:
        query = query.where(User.organization_id == organization_id)
    if active is not None:
        query = query.where(User.active.is_(active))
    if text and text.strip():
        term = text.strip()
        query = query.where(User.name.icontains(term, autoescape=True)
                            | User.email.icontains(term, autoescape=True))
    return query


def invite(*, email: str, name: str, organization: Organization | None, roles: Iterable[Role],
           invited_by: User) -> User:
    """Create the account and queue its invitation (accounts owns the token, the mail and the audit row)."""
    from innovation_cycle.services import accounts

    roles = [Role(r) for r in roles]
    if not roles:
        raise Invalid([FieldError("roles", _("Choisissez au moins un rôle."))])
    try:
        user = accounts.invite_user(email.strip(), name.strip(), organization, roles, invited_by)
    except ValueError as exc:  # accounts' duplicate-email refusal carries its French message
        raise Invalid([FieldError("email", str(exc))]) from exc
    return user


def update_user(user: User, *, name: str, organization: Organization | None, roles: Iterable[Role],
                active: bool, actor: User) -> bool:
    """Edit a user; an admin keeps their own admin role and their own access (no one to restore them)."""
    roles = {Role(r) for r in roles}
    errors: list[FieldError] = []
    if not roles:
        errors.append(FieldError("roles", _("Choisissez au moins un rôle.")))
    if user.id == actor.id:
        if Role.ADMIN in user.roles and Role.ADMIN not in roles:
            errors.append(FieldError("roles", _(
                "Vous ne pouvez pas retirer votre propre rôle d'administrateur : demandez-le à un autre "
                "administrateur.")))
        if not active:
            errors.append(FieldError("active", _("Vous ne pouvez pas désactiver votre propre compte.")))
    _raise_if(errors)
    before = _user_snapshot(user)
    user.name = name.strip()
    user.organization = organization
    kept = [row for row in user.role_rows if row.role in roles]
    user.role_rows = kept + [UserRole(role=r) for r in sorted(roles - {row.role for row in kept})]
    user.active = active
    db.session.flush()
    after = _user_snapshot(user)
    if after == before:
        return False
    audit.record("user.update", user, before=before, after=after)
    return True


def resend_invitation(user: User, actor: User) -> None:
    """A new link for someone who never chose a password (accounts voids the old links and audits)."""
    from innovation_cycle.services import accounts

    if not user.active:
        raise Invalid([FieldError(None, _(
            "Ce compte est désactivé : réactivez-le avant de renvoyer l'invitation."))])
    try:
        accounts.resend_invitation(user, actor)
    except ValueError as exc:  # the invitation was already accepted
        raise Invalid([FieldError(None, str(exc))]) from exc


# --- audit trail (read only; the outbox is in services.notifications) ----------------------------------


def audit_query(*, action: str | None = None, object_type: str | None = None, actor: str | None = None,
                since: date | None = None, until: date | None = None, object_id: int | None = None) -> Select:
    """Newest first. `since`/`until` are Paris calendar days, both included."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if actor and actor.strip():
        query = query.where(AuditEvent.actor_label.icontains(actor.strip(), autoescape=True))
    if since:
        query = query.where(AuditEvent.at >= clock.paris_datetime(since.year, since.month, since.day))
    if until:
        after = until + timedelta(days=1)
        query = query.where(AuditEvent.at < clock.paris_datetime(after.year, after.month, after.day))
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    return query


def audit_choices() -> tuple[list[str], list[str]]:
    """The actions and object types present in the trail, for the filters' lists."""
    actions = db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    types = db.session.scalars(select(AuditEvent.object_type).distinct().order_by(AuditEvent.object_type))
    return list(actions), [t for t in types if t]


# --- the demo clock ------------------------------------------------------------------------------------
# The offset lives in clock.simulate (a Setting row); here are the secretariat's rules and the audit row.
# The simulated time may sit in the past (the demo convention runs in 2017), so the rule is about the
# simulated time itself: it only moves forward, except "back to the real time".


def _check_simulation_range(target: datetime, field: str) -> None:
    low, high = clock.SIMULATION_RANGE
    try:
        inside = low <= target < high
    except OverflowError:  # year 1 in Paris is before year 1 in UTC
        inside = False
    if not inside:
        raise Invalid([FieldError(field, _("Choisissez une date entre le %(low)s et le %(high)s.",
                                           low=formatting.day(low), high=formatting.day(high)))])


def set_simulated_time(target: datetime) -> datetime:
    _check_simulation_range(target, "target")
    if target <= clock.now():
        raise Invalid([FieldError("target", _(
            "Choisissez une date postérieure à la date simulée actuelle (%(now)s) : l'horloge n'avance que "
            "vers le futur. Pour revenir à la date réelle, utilisez « Revenir à la date réelle ».",
            now=formatting.when(clock.now())))])
    return _simulate(target)


def advance_clock(*, days: int = 0, hours: int = 0) -> datetime:
    if days <= 0 and hours <= 0:
        raise Invalid([FieldError("days", _("Indiquez un nombre de jours ou d'heures supérieur à zéro."))])
    try:
        target = clock.now() + timedelta(days=days, hours=hours)
    except OverflowError:
        target = datetime.max.replace(tzinfo=UTC)
    _check_simulation_range(target, "days")
    return _simulate(target)


def reset_clock() -> datetime:
    return _simulate(None)


def _simulate(target: datetime | None) -> datetime:
    before = {"offset_seconds": round(clock.get_clock().offset().total_seconds()), "simulated_now": clock.now()}
    clock.simulate(target)  # flushes and clears the request's cached offset
    now = clock.now()
    audit.record("clock.move", object_type="settings", before=before,
                 after={"offset_seconds": round(clock.get_clock().offset().total_seconds()), "simulated_now": now})
    return now
