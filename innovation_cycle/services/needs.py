"""Public buyers' innovation needs: drafting, submission, qualification, themes, and the needs collection's
exit guard.

The rules of the need's life are in `workflows.need`; this module gathers what the guards need (the cycle's
window, the fields a submission lacks, the absorbing need of a merge), locks the row, fires the move, and
writes the audit row and the mails in the same transaction. It flushes, never commits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from innovation_cycle import clock, formatting
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Cycle, Need, Organization, Role, Theme, User, need_themes
from innovation_cycle.services import audit, notifications
from innovation_cycle.services.cycles import register_exit_condition, state_label
from innovation_cycle.services.dashboard import TASK_SOURCES, Task
from innovation_cycle.services.locking import lock_row
from workflows import need as flow
from workflows.base import MoveRefused, Refusal

# --- labels --------------------------------------------------------------------------------------------

STATUS_LABELS = {
    "draft": lazy_gettext("Brouillon"),
    "submitted": lazy_gettext("Soumis, en attente de qualification"),
    "accepted": lazy_gettext("Accepté"),
    "returned": lazy_gettext("Renvoyé pour modification"),
    "rejected": lazy_gettext("Rejeté"),
    "merged": lazy_gettext("Fusionné avec un autre besoin"),
}
STATUS_BADGES = {
    "draft": "fr-badge--new",
    "submitted": "fr-badge--info",
    "accepted": "fr-badge--success",
    "returned": "fr-badge--warning",
    "rejected": "fr-badge--error",
    "merged": "",
}
TRIGGER_LABELS = {
    flow.SUBMIT: lazy_gettext("Soumettre le besoin"),
    flow.ACCEPT: lazy_gettext("Accepter"),
    flow.RETURN: lazy_gettext("Renvoyer pour modification"),
    flow.REVISE: lazy_gettext("Reprendre en brouillon"),
    flow.REJECT: lazy_gettext("Rejeter"),
    flow.MERGE: lazy_gettext("Fusionner dans un autre besoin"),
}
CATEGORY_LABELS = {
    "goods": lazy_gettext("Fournitures"),
    "services": lazy_gettext("Services"),
    "works": lazy_gettext("Travaux"),
}
HORIZON_LABELS = {
    "under_6_months": lazy_gettext("Dans moins de 6 mois"),
    "6_to_12_months": lazy_gettext("Dans 6 à 12 mois"),
    "12_to_24_months": lazy_gettext("Dans 12 à 24 mois"),
    "over_24_months": lazy_gettext("Dans plus de 24 mois"),
}
FIELD_LABELS = {
    "title": lazy_gettext("Intitulé du besoin"),
    "problem": lazy_gettext("Problème à résoudre"),
    "context": lazy_gettext("Contexte"),
    "expected_outcomes": lazy_gettext("Résultats attendus"),
    "constraint_data_protection": lazy_gettext("Protection des données personnelles"),
    "constraint_security": lazy_gettext("Sécurité"),
    "constraint_hosting": lazy_gettext("Hébergement"),
    "constraint_accessibility": lazy_gettext("Accessibilité"),
    "constraint_interoperability": lazy_gettext("Interopérabilité"),
    "environmental_social": lazy_gettext("Attentes environnementales et sociales"),
    "estimated_value": lazy_gettext("Montant estimé (euros hors taxes)"),
    "procurement_category": lazy_gettext("Catégorie d'achat"),
    "cpv_codes": lazy_gettext("Codes CPV"),
    "purchase_horizon": lazy_gettext("Horizon d'achat"),
    "expected_consultation_on": lazy_gettext("Date prévue de la consultation"),
    "theme_ids": lazy_gettext("Thèmes"),
    "scope": lazy_gettext("Périmètre (sites, utilisateurs, quantités)"),
    "open_to_experimentation": lazy_gettext("Prêt à expérimenter une solution"),
    "non_technological_welcome": lazy_gettext("Innovation non technologique bienvenue"),
    "confidential": lazy_gettext("Confidentialité : masquer le nom de notre organisation dans l'AMI"),
    "contact_name": lazy_gettext("Personne à contacter"),
    "contact_email": lazy_gettext("Adresse électronique de contact"),
    "contact_phone": lazy_gettext("Téléphone de contact"),
}
# The fields a need carries; the form fills them, the audit trail records their changes.
CONTENT_FIELDS: tuple[str, ...] = (
    "title", "problem", "context", "expected_outcomes", "constraint_data_protection", "constraint_security",
    "constraint_hosting", "constraint_accessibility", "constraint_interoperability", "environmental_social",
    "estimated_value", "procurement_category", "cpv_codes", "purchase_horizon", "expected_consultation_on",
    "scope", "open_to_experimentation", "non_technological_welcome", "confidential", "contact_name",
    "contact_email", "contact_phone",
)
# What a submitted need must say, so the PFRA can qualify it and companies can answer it.
REQUIRED_TO_SUBMIT: tuple[str, ...] = (
    "title", "problem", "expected_outcomes", "procurement_category", "purchase_horizon", "contact_name",
    "contact_email",
)


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


# --- CPV codes -----------------------------------------------------------------------------------------

# The 45 divisions of the Common Procurement Vocabulary (Regulation (EC) 213/2008): a code's first two digits.
CPV_DIVISIONS = frozenset({
    "03", "09", "14", "15", "16", "18", "19", "22", "24", "30", "31", "32", "33", "34", "35", "37", "38", "39",
    "41", "42", "43", "44", "45", "48", "50", "51", "55", "60", "63", "64", "65", "66", "70", "71", "72", "73",
    "75", "76", "77", "79", "80", "85", "90", "92", "98",
})
CPV_PATTERN = re.compile(r"(\d{8})(?:-(\d))?")
MAX_CPV_CODES = 20


def parse_cpv_codes(text: str | None) -> tuple[list[str], list[str]]:
    """Read the CPV codes typed by a buyer (separated by commas, semicolons, spaces or lines).

    Each is 8 digits, optionally followed by a dash and its check digit (« 72000000-5 »); the first two digits
    must be a CPV division. Returns the codes as typed once normalised, without duplicates, and the French
    reasons for those refused. The EU publishes no reliable formula for the check digit, so its value is not
    recomputed: it is kept as the buyer copied it from the official vocabulary."""
    codes: list[str] = []
    errors: list[str] = []
    seen: set[str] = set()
    for raw in re.split(r"[\s,;]+", (text or "").strip()):
        if not raw:
            continue
        token = raw.replace("\u2010", "-").replace("\u2011", "-").replace("\u2013", "-")
        match = CPV_PATTERN.fullmatch(token)
        if match is None:
            if re.fullmatch(r"\d+(-\d*)?", token):
                errors.append(_("« %(code)s » : un code CPV compte 8 chiffres, suivis le cas échéant d'un tiret "
                                "et d'un chiffre de contrôle (par exemple 72000000-5).", code=raw))
            else:
                errors.append(_("« %(code)s » n'est pas un code CPV : seuls des chiffres sont attendus (par "
                                "exemple 72000000-5).", code=raw))
            continue
        digits = match.group(1)
        if digits[:2] not in CPV_DIVISIONS:
            errors.append(_("« %(code)s » : « %(division)s » n'est pas une division du vocabulaire commun pour les "
                            "marchés publics (CPV).", code=raw, division=digits[:2]))
            continue
        if digits in seen:
            continue
        seen.add(digits)
        codes.append(token)
    if len(codes) > MAX_CPV_CODES:
        errors.append(_("Indiquez au plus %(n)d codes CPV.", n=MAX_CPV_CODES))
    return codes, errors


# --- the needs collection's window ---------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return formatting.when(value, empty="—")


def collection_window(cycle: Cycle) -> tuple[datetime | None, datetime | None]:
    window = cycle.window("needs_collection")
    return (window.opens_at, window.closes_at) if window else (None, None)


def is_collection_open(cycle: Cycle | None, now: datetime | None = None) -> bool:
    if cycle is None:
        return False
    opens_at, closes_at = collection_window(cycle)
    return flow.collection_open(flow.NeedContext(now=now or clock.now(), cycle_state=cycle.state,
                                                 collection_opens_at=opens_at, collection_closes_at=closes_at))


def collection_message(cycle: Cycle | None, now: datetime | None = None) -> str:
    """Why needs can (or cannot) be created and submitted now, and until when: the form says it."""
    if cycle is None:
        return _("Aucun cycle n'est en cours : la collecte des besoins n'est pas ouverte.")
    opens_at, closes_at = collection_window(cycle)
    return _collection_sentence(cycle.year, cycle.state, opens_at, closes_at, now or clock.now())


def _collection_sentence(year: int | None, state: str, opens_at: datetime | None, closes_at: datetime | None,
                         now: datetime) -> str:
    dates = {"year": year or "", "opens": _when(opens_at), "closes": _when(closes_at)}
    if state == "needs_collection" and opens_at and closes_at:
        if now < opens_at:
            return _("La collecte des besoins du cycle %(year)s n'est pas encore ouverte : elle ouvrira le "
                     "%(opens)s et fermera le %(closes)s (heure de Paris).", **dates)
        if now < closes_at:
            return _("La collecte des besoins du cycle %(year)s est ouverte jusqu'au %(closes)s (heure de Paris).",
                     **dates)
        return _("La collecte des besoins du cycle %(year)s est close : elle était ouverte du %(opens)s au "
                 "%(closes)s (heure de Paris). Un besoin ne peut plus être créé ni soumis.", **dates)
    if state == "draft":
        return _("La collecte des besoins du cycle %(year)s n'est pas encore ouverte : elle est prévue du "
                 "%(opens)s au %(closes)s (heure de Paris).", **dates)
    return _("La collecte des besoins du cycle %(year)s est terminée (le cycle est à l'étape « %(stage)s ») : "
             "elle était ouverte du %(opens)s au %(closes)s (heure de Paris). Un besoin ne peut plus être créé "
             "ni soumis.", stage=state_label(state), **dates)


def open_cycles() -> list[Cycle]:
    """Cycles whose needs collection is open now (usually one)."""
    now = clock.now()
    found = db.session.scalars(select(Cycle).where(Cycle.state == "needs_collection")
                               .order_by(Cycle.year.desc(), Cycle.id.desc())).all()
    return [c for c in found if is_collection_open(c, now)]


def cycle_years() -> list[tuple[int, int]]:
    """Every cycle's id and year, latest first: the list's filter (the cycles' ids and years are all it shows,
    not the cycles with their stage windows)."""
    return [(cycle_id, year) for cycle_id, year in db.session.execute(
        select(Cycle.id, Cycle.year).order_by(Cycle.year.desc(), Cycle.id.desc()))]


def collection_cycle() -> Cycle | None:
    """The cycle a new need belongs to by default: one in needs collection, else the latest cycle (the page
    then explains when the collection was or will be open)."""
    cycle = db.session.scalar(select(Cycle).where(Cycle.state == "needs_collection")
                              .order_by(Cycle.year.desc(), Cycle.id.desc()).limit(1))
    return cycle or db.session.scalar(select(Cycle).order_by(Cycle.year.desc(), Cycle.id.desc()).limit(1))


# --- refusals in French --------------------------------------------------------------------------------


def refusal_message(refusal: Refusal) -> str:
    p = refusal.params
    messages: dict[str, Callable[[], str]] = {
        "illegal_move": lambda: _("Ce changement n'est pas possible pour un besoin à l'état « %(state)s ».",
                                  state=status_label(p["state"])),
        "collection_closed": lambda: _collection_sentence(p.get("year"), p["cycle_state"], p.get("opens_at"),
                                                          p.get("closes_at"), p.get("now") or clock.now()),
        "incomplete": lambda: _("Complétez le besoin avant de le soumettre : %(fields)s.",
                                fields=", ".join(p["fields"])),
        "qualification_closed": lambda: _("La qualification des besoins n'est possible que pendant la collecte "
                                          "des besoins ; le cycle est à l'étape « %(stage)s ».",
                                          stage=state_label(p["cycle_state"])),
        "comment_required": lambda: _("Indiquez à l'acheteur ce qu'il doit modifier : ce commentaire lui est "
                                      "transmis."),
        "reason_required": lambda: _("Indiquez la raison du rejet : elle est transmise à l'acheteur."),
        "merge_target_missing": lambda: _("Choisissez le besoin qui absorbe celui-ci."),
        "merge_into_itself": lambda: _("Un besoin ne peut pas être fusionné avec lui-même."),
        "merge_other_cycle": lambda: _("Le besoin choisi appartient à un autre cycle."),
        "merge_target_state": lambda: _("Le besoin choisi est à l'état « %(state)s » : seul un besoin soumis ou "
                                        "accepté peut en absorber un autre.", state=status_label(p["state"])),
        "stale": lambda: _("Le besoin a changé entre-temps (il est maintenant à l'état « %(state)s »). Rechargez "
                           "la page et vérifiez avant de recommencer.", state=status_label(p["state"])),
        "guard_failed": lambda: _("Ce changement a été refusé."),
    }
    make = messages.get(refusal.code)
    return make() if make else str(p.get("message", refusal.code))


@dataclass
class FieldError:
    field: str | None
    message: str


class NeedInvalid(Exception):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class AlreadyDone(Exception):
    """The move was already made (a double click, a second tab): nothing to do, nothing went wrong."""


# --- visibility ----------------------------------------------------------------------------------------


def visible_to(user: User):
    """A select() condition: the needs `user` may see. Drafts stay private to the buyer's organization; the
    PFRA agents and admins see every need once submitted."""
    own = Need.organization_id == user.organization_id if user.organization_id else None
    if user.has_role(Role.ADMIN, Role.PFRA_AGENT):
        shared = Need.status != "draft"
        return shared | own if own is not None else shared
    conditions = []
    if user.has_role(Role.BUYER) and own is not None:
        conditions.append(own)
    if user.has_role(Role.UGAP_AGENT):  # issue 7: from the selection stage, UGAP reads the accepted needs
        from innovation_cycle.authz import SELECTION_ONWARD

        conditions.append((Need.status == "accepted")
                          & Need.cycle_id.in_(select(Cycle.id).where(Cycle.state.in_(SELECTION_ONWARD))))
    if conditions:
        return or_(*conditions)
    return Need.id.is_(None)


@dataclass(frozen=True)
class NeedRow:
    """A line of the needs list: what the page shows of a need, nothing more."""

    id: int
    title: str
    organization_name: str
    year: int
    status: str
    updated_at: datetime


class _NeedsPage(Pagination):
    """The needs list's page (Flask-SQLAlchemy's Pagination, for the macro) read as plain `NeedRow`s."""

    def _query_items(self) -> list[NeedRow]:
        where = self._query_args["where"]
        order = (Need.updated_at.desc(), Need.id.desc())
        # Ordered and cut on `needs` alone (read in ix_needs_updated's order), then joined for the page's rows.
        cut = (select(Need.id, Need.title, Need.organization_id, Need.cycle_id, Need.status, Need.updated_at)
               .where(*where).order_by(*order).limit(self.per_page).offset(self._query_offset).subquery("page"))
        rows = db.session.execute(
            select(cut.c.id, cut.c.title, Organization.name, Cycle.year, cut.c.status, cut.c.updated_at)
            .select_from(cut).join(Organization, Organization.id == cut.c.organization_id)
            .join(Cycle, Cycle.id == cut.c.cycle_id)
            .order_by(cut.c.updated_at.desc(), cut.c.id.desc()))
        return [NeedRow(*row) for row in rows]

    def _query_count(self) -> int:
        # count(*), not count(needs.id): PostgreSQL then counts in ix_needs_status alone (index-only, 6 ms for the
        # national dataset's 50,000 needs) instead of reading the table (40 ms).
        return db.session.scalar(select(func.count()).select_from(Need).where(*self._query_args["where"])) or 0


def list_needs(user: User, *, status: str | None = None, cycle_id: int | None = None, q: str | None = None,
               page: int = 1, per_page: int = 25) -> Pagination:
    """The needs `user` may see, last changed first, a page at a time: plain rows of the columns the list shows
    (loading the needs as objects, with their long texts, their cycles and the cycles' windows, cost more than
    the rest of the page), the total counted on `needs` alone."""
    where = [visible_to(user)]
    if status in flow.STATES:
        where.append(Need.status == status)
    if cycle_id:
        where.append(Need.cycle_id == cycle_id)
    if q:
        like = f"%{q.strip()}%"
        where.append(Need.title.ilike(like) | Need.problem.ilike(like))
    return _NeedsPage(page=page, per_page=per_page, error_out=False, where=where)


def merge_candidates(need: Need) -> list[Need]:
    """The needs of the same cycle that may absorb `need`."""
    return list(db.session.scalars(
        select(Need).where(Need.cycle_id == need.cycle_id, Need.id != need.id,
                           Need.status.in_(flow.ABSORBING_STATES))
        .options(joinedload(Need.organization)).order_by(Need.title, Need.id)))


def absorbed(need: Need) -> list[Need]:
    return list(db.session.scalars(select(Need).where(Need.merged_into_id == need.id).order_by(Need.id)))


# --- writing a need ------------------------------------------------------------------------------------


def _snapshot(need: Need) -> dict[str, Any]:
    data = audit.snapshot(need, list(CONTENT_FIELDS))
    if isinstance(data.get("estimated_value"), Decimal):
        data["estimated_value"] = str(data["estimated_value"])
    data["themes"] = [t.name for t in need.themes]
    return data


def _apply(need: Need, cycle: Cycle, data: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    theme_ids = data.get("theme_ids")
    if theme_ids is not None:
        themes = list(db.session.scalars(select(Theme).where(Theme.id.in_(theme_ids))))
        if len(themes) != len(set(theme_ids)) or any(t.cycle_id != cycle.id for t in themes):
            errors.append(FieldError("theme_ids", _("Choisissez des thèmes dans la liste du cycle.")))
        else:
            need.themes = sorted(themes, key=lambda t: (t.position, t.id))
    if data.get("procurement_category") not in (None, *CATEGORY_LABELS):
        errors.append(FieldError("procurement_category", _("Choisissez une catégorie d'achat dans la liste.")))
    if data.get("purchase_horizon") not in (None, *HORIZON_LABELS):
        errors.append(FieldError("purchase_horizon", _("Choisissez un horizon d'achat dans la liste.")))
    if errors:
        raise NeedInvalid(errors)
    for name in CONTENT_FIELDS:
        if name in data:
            value = data[name]
            if isinstance(value, str):
                value = value.strip() or None
            if name in ("title", "problem"):
                value = value or ""
            if name == "cpv_codes":
                value = list(value or [])
            setattr(need, name, value)


def missing_fields(need: Need) -> list[str]:
    """Labels of what a submission still lacks."""
    missing = [str(FIELD_LABELS[name]) for name in REQUIRED_TO_SUBMIT if not getattr(need, name)]
    has_themes = db.session.scalar(select(func.count(Theme.id)).where(Theme.cycle_id == need.cycle_id))
    if has_themes and not need.themes:
        missing.append(str(FIELD_LABELS["theme_ids"]))
    return missing


def _ensure_collection_open(cycle: Cycle) -> None:
    now = clock.now()
    if not is_collection_open(cycle, now):
        opens_at, closes_at = collection_window(cycle)
        raise MoveRefused([Refusal("collection_closed", {"year": cycle.year, "cycle_state": cycle.state,
                                                         "opens_at": opens_at, "closes_at": closes_at,
                                                         "now": now})])


def create_need(cycle: Cycle, user: User, data: dict[str, Any], token: str) -> Need:
    """Create a draft for the user's organization. The form's one-time `token` makes a double submission
    return the need the first one created (the unique column settles a race between the two)."""
    existing = db.session.scalar(select(Need).where(Need.creation_token == token))
    if existing is not None:
        if existing.organization_id != user.organization_id:
            raise NeedInvalid([FieldError(None, _("Ce formulaire a expiré : rechargez la page."))])
        return existing
    _ensure_collection_open(cycle)
    now = clock.now()
    need = Need(cycle=cycle, organization_id=user.organization_id, author_id=user.id, status="draft",
                title="", problem="", cpv_codes=[], creation_token=token, created_at=now, updated_at=now)
    _apply(need, cycle, data)
    db.session.add(need)
    try:
        db.session.flush()
    except IntegrityError:
        # The same form, sent twice at once: the other request created it. Nothing else was written yet in
        # this request, so dropping the transaction loses nothing (no savepoint: pysqlite's are unreliable).
        db.session.rollback()
        existing = db.session.scalar(select(Need).where(Need.creation_token == token))
        if existing is None or existing.organization_id != user.organization_id:
            raise
        return existing
    audit.record("need.create", need, after={"cycle_id": cycle.id, "organization_id": need.organization_id,
                                             **_snapshot(need)}, actor=user)
    return need


def update_need(need: Need, user: User, data: dict[str, Any]) -> Need:
    """Save the buyer's changes. A returned need taken up again goes back to draft (audited)."""
    need = _lock(need.id)
    if need.status not in flow.EDITABLE:
        raise MoveRefused([Refusal("illegal_move", {"state": need.status, "trigger": "edit"})])
    _ensure_collection_open(need.cycle)
    if need.status == "returned":
        _fire(need, flow.REVISE, user)
    before = _snapshot(need)
    _apply(need, need.cycle, data)
    after = _snapshot(need)
    changed = {k for k in after if after[k] != before[k]}
    if changed:
        need.updated_at = clock.now()
        audit.record("need.update", need, before={k: before[k] for k in sorted(changed)},
                     after={k: after[k] for k in sorted(changed)}, actor=user)
    db.session.flush()
    return need


def delete_draft(need_id: int, user: User) -> None:
    need = _lock(need_id)
    if need.status != "draft":
        raise MoveRefused([Refusal("illegal_move", {"state": need.status, "trigger": "delete"})])
    audit.record("need.delete", need, before={"cycle_id": need.cycle_id, **_snapshot(need)}, actor=user)
    db.session.delete(need)
    db.session.flush()


# --- moves ---------------------------------------------------------------------------------------------


def _lock(need_id: int) -> Need:
    need = lock_row(Need, need_id)
    if need is None:
        raise LookupError(need_id)
    return need


def _context(need: Need, *, comment: str = "", target: Need | None = None) -> flow.NeedContext:
    opens_at, closes_at = collection_window(need.cycle)
    ctx = flow.NeedContext(now=clock.now(), cycle_state=need.cycle.state, cycle_year=need.cycle.year,
                           collection_opens_at=opens_at, collection_closes_at=closes_at, comment=comment or "",
                           need_id=need.id)
    if target is not None:
        ctx.target_id, ctx.target_state = target.id, target.status
        ctx.target_same_cycle = target.cycle_id == need.cycle_id
    return ctx


def _fire(need: Need, trigger: str, user: User | None, *, comment: str = "",
          target: Need | None = None) -> AuditEvent:
    """Fire the move on the locked row and write its audit row (returned: its id names the occurrence)."""
    ctx = _context(need, comment=comment, target=target)
    if trigger == flow.SUBMIT:
        ctx.missing = missing_fields(need)
    before = need.status
    new_state = flow.NeedFlow(before, ctx).fire(trigger)
    need.status = new_state
    now = clock.now()
    need.updated_at = now
    if trigger == flow.SUBMIT:
        need.submitted_at = now
    if trigger in flow.QUALIFIER_TRIGGERS:
        need.qualified_at = now
        need.qualification_comment = comment.strip() or None
    if trigger == flow.MERGE and target is not None:
        need.merged_into_id = target.id
    _flush_or_stale(need.id, before, trigger)
    after: dict[str, Any] = {"state": new_state}
    if target is not None:
        after["merged_into_id"] = target.id
    return audit.record(f"need.{trigger}", need, before={"state": before}, after=after,
                        reason=comment.strip() or None, actor=user)


def _flush_or_stale(need_id: int, before: str, trigger: str) -> None:
    """Flush the move; if another request moved the need since it was read (the version column: SQLite has no
    row lock), the move is not made twice: "already done" when the other made this very move, else stale."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        current = db.session.get(Need, need_id)
        state = current.status if current is not None else None
        if state is not None and flow.destination(before, trigger) == state:
            raise AlreadyDone() from None
        raise MoveRefused([Refusal("stale", {"state": state})]) from None


def _expect(need: Need, expected_state: str, trigger: str) -> None:
    if need.status == expected_state:
        return
    if flow.destination(expected_state, trigger) == need.status:
        raise AlreadyDone()
    raise MoveRefused([Refusal("stale", {"state": need.status})])


def submit(need_id: int, user: User, *, expected_state: str = "draft") -> Need:
    need = _lock(need_id)
    _expect(need, expected_state, flow.SUBMIT)
    event = _fire(need, flow.SUBMIT, user)
    _mail_qualifiers(need, event)
    return need


def qualifier_recipients() -> list[User]:
    """The active PFRA agents: they qualify the needs the buyers submit."""
    from innovation_cycle.models import UserRole

    return list(db.session.scalars(select(User).join(UserRole, UserRole.user_id == User.id).where(
        UserRole.role == Role.PFRA_AGENT, User.active.is_(True)).order_by(User.id)))


def _mail_qualifiers(need: Need, event: AuditEvent) -> None:
    """The PFRA hears of a need submitted for qualification (issue 10); a need submitted again after being
    returned is a mail of its own (the audit row names the occurrence)."""
    db.session.flush()
    notifications.notify_event(
        "need_submitted", need, qualifier_recipients(),
        subject=_("Besoin à qualifier : « %(title)s »", title=_short(need.title)), occurrence=event.id,
        message=_("%(organization)s a soumis le besoin « %(title)s » au cycle %(year)s. Il attend votre "
                  "qualification : l'accepter, le renvoyer à l'acheteur, le rejeter ou le fusionner avec un autre.",
                  organization=need.organization.name, title=need.title, year=need.cycle.year),
        link=url_for("needs.show", need_id=need.id, _external=True))


def qualify(need_id: int, trigger: str, user: User, *, expected_state: str = "submitted", comment: str = "",
            target_id: int | None = None) -> Need:
    """Accept, return, reject or merge a submitted need, as a PFRA agent or an admin; mails the buyers."""
    if trigger not in flow.QUALIFIER_TRIGGERS:
        raise MoveRefused([Refusal("illegal_move", {"state": expected_state, "trigger": trigger})])
    need = _lock(need_id)
    _expect(need, expected_state, trigger)
    target = db.session.get(Need, target_id) if target_id else None
    if trigger == flow.MERGE and target is not None and target.status == "draft":
        target = None  # a draft is private to its organization: the qualifier cannot name it
    event = _fire(need, trigger, user, comment=comment, target=target)
    _mail_buyers(need, trigger, target, event)
    return need


EVENT_MAILS = {
    flow.ACCEPT: ("need_accepted", lazy_gettext("Votre besoin « %(title)s » a été accepté")),
    flow.RETURN: ("need_returned", lazy_gettext("Votre besoin « %(title)s » vous est renvoyé pour modification")),
    flow.REJECT: ("need_rejected", lazy_gettext("Votre besoin « %(title)s » n'a pas été retenu")),
    flow.MERGE: ("need_merged", lazy_gettext("Votre besoin « %(title)s » a été regroupé avec un autre besoin")),
}


def buyer_recipients(need: Need) -> list[User]:
    """The buyer organization's active buyers: a need belongs to the organization, not to one person."""
    return [u for u in need.organization.users if u.active and u.has_role(Role.BUYER)]


def _mail_buyers(need: Need, trigger: str, target: Need | None, event: AuditEvent) -> None:
    """An event mail per buyer of the organization, sent after the commit; a need returned twice is two mails
    (the audit row names the occurrence)."""
    template, subject = EVENT_MAILS[trigger]
    db.session.flush()
    notifications.notify_event(f"need_{trigger}", need, buyer_recipients(need), template,
                               subject=str(subject) % {"title": _short(need.title)}, occurrence=event.id,
                               need=need, target=target, link=notifications.external_url("needs.show", need_id=need.id))


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- themes --------------------------------------------------------------------------------------------


def _theme_name_errors(cycle: Cycle, name: str, theme: Theme | None = None) -> list[FieldError]:
    name = " ".join(name.split())
    if not name:
        return [FieldError("name", _("Indiquez le nom du thème."))]
    clash = db.session.scalar(select(Theme.id).where(Theme.cycle_id == cycle.id,
                                                     func.lower(Theme.name) == name.lower()))
    if clash and (theme is None or clash != theme.id):
        return [FieldError("name", _("Le cycle a déjà un thème « %(name)s ».", name=name))]
    return []


def _themes_editable(cycle: Cycle) -> None:
    if cycle.state == "closed":
        raise NeedInvalid([FieldError(None, _("Le cycle %(year)s est clos : ses thèmes ne changent plus.",
                                              year=cycle.year))])


def add_theme(cycle: Cycle, name: str) -> Theme:
    _themes_editable(cycle)
    errors = _theme_name_errors(cycle, name)
    if errors:
        raise NeedInvalid(errors)
    last = db.session.scalar(select(func.max(Theme.position)).where(Theme.cycle_id == cycle.id))
    theme = Theme(cycle=cycle, name=" ".join(name.split()), position=(last or 0) + 1)
    db.session.add(theme)
    db.session.flush()
    audit.record("theme.create", theme, after={"cycle_id": cycle.id, "name": theme.name})
    return theme


def rename_theme(theme: Theme, name: str) -> Theme:
    _themes_editable(theme.cycle)
    errors = _theme_name_errors(theme.cycle, name, theme)
    if errors:
        raise NeedInvalid(errors)
    before = theme.name
    theme.name = " ".join(name.split())
    db.session.flush()
    if before != theme.name:
        audit.record("theme.rename", theme, before={"name": before}, after={"name": theme.name})
    return theme


def theme_usage(cycle: Cycle) -> dict[int, dict[str, int]]:
    """Per theme: how many needs use it, drafts apart (a removal would silently take it from them)."""
    rows = db.session.execute(
        select(need_themes.c.theme_id, Need.status, func.count())
        .join(Need, Need.id == need_themes.c.need_id).where(Need.cycle_id == cycle.id)
        .group_by(need_themes.c.theme_id, Need.status))
    usage: dict[int, dict[str, int]] = {}
    for theme_id, status, count in rows:
        usage.setdefault(theme_id, {"draft": 0, "shared": 0})["draft" if status == "draft" else "shared"] += count
    return usage


def remove_theme(theme: Theme) -> None:
    """Remove a theme no submitted need uses; drafts that use it simply lose it."""
    _themes_editable(theme.cycle)
    used = theme_usage(theme.cycle).get(theme.id, {}).get("shared", 0)
    if used:
        raise NeedInvalid([FieldError(None, ngettext(
            "Le thème « %(name)s » est utilisé par %(num)d besoin déjà soumis : renommez-le plutôt.",
            "Le thème « %(name)s » est utilisé par %(num)d besoins déjà soumis : renommez-le plutôt.",
            used, name=theme.name))])
    audit.record("theme.delete", theme, before={"cycle_id": theme.cycle_id, "name": theme.name})
    db.session.delete(theme)
    db.session.flush()


def themes_of(cycle: Cycle) -> list[Theme]:
    return list(db.session.scalars(select(Theme).where(Theme.cycle_id == cycle.id)
                                   .order_by(Theme.position, Theme.id)))


# --- the cycle's exit guard ----------------------------------------------------------------------------


def _at_least_one_accepted(cycle: Cycle) -> list[Refusal]:
    counts = dict(db.session.execute(select(Need.status, func.count()).where(Need.cycle_id == cycle.id)
                                     .group_by(Need.status)).tuples().all())
    if counts.get("accepted"):
        return []
    waiting = counts.get("submitted", 0)
    message = _("Aucun besoin n'a été accepté : la collecte des besoins ne peut se terminer qu'avec au moins un "
                "besoin accepté.")
    if waiting:
        message += " " + ngettext("%(num)d besoin soumis attend sa qualification.",
                                  "%(num)d besoins soumis attendent leur qualification.", waiting)
    return [Refusal("needs_none_accepted", {"message": message, "submitted": waiting})]


register_exit_condition("needs_collection", _at_least_one_accepted)


# --- dashboard -----------------------------------------------------------------------------------------


def _needs_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Task]:
    """Buyers: drafts to submit and returned needs to correct; PFRA agents and admins: needs to qualify.
    About the cycle the dashboard shows, while it is in its needs collection (one query per person)."""
    if cycle is None or cycle.state != "needs_collection":
        return []
    deadline = collection_window(cycle)[1]
    tasks: list[Task] = []
    if user.has_role(Role.BUYER) and user.organization_id and is_collection_open(cycle, now):
        counts = _counts(select(Need.status, func.count()).where(
            Need.cycle_id == cycle.id, Need.organization_id == user.organization_id,
            Need.status.in_(flow.EDITABLE)).group_by(Need.status))
        if counts.get("returned"):
            n = counts["returned"]
            tasks.append(Task(ngettext("%(num)d besoin renvoyé pour modification : corrigez-le et soumettez-le",
                                       "%(num)d besoins renvoyés pour modification : corrigez-les et "
                                       "soumettez-les", n),
                              deadline, url_for("needs.index", status="returned"), urgent=True))
        if counts.get("draft"):
            n = counts["draft"]
            tasks.append(Task(ngettext("%(num)d besoin en brouillon à soumettre avant la clôture",
                                       "%(num)d besoins en brouillon à soumettre avant la clôture", n),
                              deadline, url_for("needs.index", status="draft")))
    if user.has_role(Role.PFRA_AGENT, Role.ADMIN):
        waiting = db.session.scalar(select(func.count(Need.id)).where(Need.cycle_id == cycle.id,
                                                                      Need.status == "submitted"))
        if waiting:
            tasks.append(Task(ngettext("%(num)d besoin soumis à qualifier", "%(num)d besoins soumis à qualifier",
                                       waiting), deadline, url_for("needs.index", status="submitted",
                                                                   cycle_id=cycle.id)))
    return tasks


def _counts(query) -> dict[str, int]:
    return {status: count for status, count in db.session.execute(query)}


def register_dashboard() -> None:
    if _needs_tasks not in TASK_SOURCES:
        TASK_SOURCES.append(_needs_tasks)


register_dashboard()


def themes_label(themes: Iterable[Theme]) -> str:
    return ", ".join(t.name for t in themes)


# --- reminders (issue 7, item 11: each area owns its audience) --------------------------------------------


def buyers_with_draft_needs(cycle: Cycle) -> list[User]:
    """Buyers whose organization has needs not yet submitted (drafts, or returned for changes)."""
    from innovation_cycle.services import reminders

    organizations = select(Need.organization_id).where(Need.cycle_id == cycle.id,
                                                       Need.status.in_(("draft", "returned")))
    return reminders.ordered(reminders.active_users().where(reminders.having_role(Role.BUYER),
                                                            User.organization_id.in_(organizations)))


def _register_reminders() -> None:
    from innovation_cycle.services import reminders

    reminders.register_audience("needs_collection", buyers_with_draft_needs, text=lazy_gettext(
        "Votre organisation a encore des besoins en brouillon ou renvoyés pour modification, qui ne sont pas "
        "soumis. Soumettez-les avant la clôture de la collecte : un besoin non soumis ne sera pas publié dans "
        "l'AMI."), endpoints=("needs.index",))


_register_reminders()
