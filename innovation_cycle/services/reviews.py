"""The selection stage's reviewing (issue 7, items 1–5): the cycle's evaluation grid and settings, conflicts of
interest, who reviews what (a min-cost flow), the members' reviews and the buyers' interest.

Rules live here; views load, authorize (`authz`), call these functions and commit. Every change is audited in
the same transaction; mails are outbox rows written in it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from ortools.graph.python import min_cost_flow
from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ColumnElement

from innovation_cycle import clock, signals
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Assignment,
    BuyerInterest,
    CommitteeMember,
    Company,
    Conflict,
    Criterion,
    Cycle,
    Need,
    Organization,
    Review,
    Score,
    SelectionSettings,
    User,
    committee_member_themes,
    need_themes,
)
from innovation_cycle.services import audit, reminders
from innovation_cycle.services.dashboard import TASK_SOURCES, Task

# Answers the committee reviews (and, once decided, still shows).
REVIEWED_STATUSES = ("eligible", "selected", "not_selected")
RECOMMENDATION_LABELS = {
    "select": lazy_gettext("Retenir"),
    "discuss": lazy_gettext("À discuter en comité"),
    "reject": lazy_gettext("Ne pas retenir"),
}
INTEREST_LABELS = {
    "meet": lazy_gettext("Souhaite rencontrer l'entreprise"),
    "test": lazy_gettext("Souhaite tester la solution"),
    "none": lazy_gettext("Pas d'intérêt"),
}
CONFLICT_SOURCE_LABELS = {
    "declared": lazy_gettext("Déclaré par le membre"),
    "same_organization": lazy_gettext("Même organisation"),
    "same_siren": lazy_gettext("Même SIREN"),
}

# The six default criteria (stored as the cycle's data, in French: the grid is the committee's document).
DEFAULT_LEVELS = ["Insuffisant", "Faible", "Moyen", "Bon", "Excellent"]
DEFAULT_CRITERIA: list[dict[str, Any]] = [
    {"label": "Degré d'innovation",
     "help_text": "Nouveauté de la solution au sens de l'article L2172-3 du code de la commande publique : "
                  "produit, service ou procédé nouveau ou sensiblement amélioré.",
     "weight": 2.0,
     "level_labels": ["Aucune nouveauté", "Amélioration marginale", "Amélioration notable",
                      "Innovation nette sur le marché", "Rupture, sans équivalent connu"]},
    {"label": "Adéquation aux besoins visés",
     "help_text": "La solution répond-elle au problème exprimé par les acheteurs dans les besoins qu'elle vise ?",
     "weight": 2.0,
     "level_labels": ["Hors sujet", "Réponse partielle et lointaine", "Réponse partielle",
                      "Bonne réponse", "Réponse complète au besoin"]},
    {"label": "Maturité",
     "help_text": "Niveau de maturité technologique (TRL) et situation sur le marché : prototype, pilote, "
                  "commercialisée.",
     "weight": 1.0,
     "level_labels": ["Idée (TRL 1–3)", "Prototype (TRL 4–5)", "Pilote en conditions réelles (TRL 6–7)",
                      "Premières ventes (TRL 8)", "Commercialisée avec références (TRL 9)"]},
    {"label": "Capacité de l'entreprise à livrer",
     "help_text": "Équipe, moyens, solidité financière et références pour tenir un marché public.",
     "weight": 1.0, "level_labels": DEFAULT_LEVELS},
    {"label": "Crédibilité du coût",
     "help_text": "Le modèle de prix et le prix indicatif sont-ils clairs et réalistes pour un acheteur public ?",
     "weight": 1.0, "level_labels": DEFAULT_LEVELS},
    {"label": "Impact environnemental et social",
     "help_text": "Effets de la solution sur l'environnement, l'inclusion et l'accessibilité.",
     "weight": 1.0, "level_labels": DEFAULT_LEVELS},
]


@dataclass
class FieldError:
    field: str | None
    message: str


class Refused(Exception):
    """A change refused for reasons the person can read (French, next to the field when there is one)."""

    def __init__(self, errors: list[FieldError] | str):
        if isinstance(errors, str):
            errors = [FieldError(None, errors)]
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


# --- settings and the grid -----------------------------------------------------------------------------


def settings_of(cycle: Cycle) -> SelectionSettings:
    """The cycle's selection settings, created with the defaults the first time they are asked for."""
    settings = db.session.get(SelectionSettings, cycle.id)
    if settings is None:
        settings = SelectionSettings(cycle_id=cycle.id, reviewers_per_answer=3, disagreement_threshold=1.5)
        db.session.add(settings)
        db.session.flush()
    return settings


def settings_for_display(cycle: Cycle) -> SelectionSettings:
    """The settings to show: the stored row, or the defaults, not stored (a GET writes nothing)."""
    return db.session.get(SelectionSettings, cycle.id) or SelectionSettings(
        cycle_id=cycle.id, reviewers_per_answer=3, disagreement_threshold=1.5)


def reviews_close_at(cycle: Cycle) -> datetime | None:
    """When reviews close: the settings' date, else the selection window's end."""
    settings = db.session.get(SelectionSettings, cycle.id)
    if settings is not None and settings.reviews_close_at is not None:
        return settings.reviews_close_at
    window = cycle.window("selection")
    return window.closes_at if window else None


def update_settings(cycle: Cycle, *, reviewers_per_answer: int, reviews_close_at: datetime | None,
                    disagreement_threshold: float) -> SelectionSettings:
    errors = []
    if not 1 <= reviewers_per_answer <= 20:
        errors.append(FieldError("reviewers_per_answer", _("Indiquez entre 1 et 20 évaluateurs par réponse.")))
    if disagreement_threshold < 0:
        errors.append(FieldError("disagreement_threshold", _("Le seuil de désaccord doit être positif ou nul.")))
    window = cycle.window("selection")
    if reviews_close_at is not None and window is not None and not (
            window.opens_at < reviews_close_at <= window.closes_at):
        from innovation_cycle.formatting import when

        errors.append(FieldError("reviews_close_at", _(
            "La clôture des évaluations doit tomber dans la période de sélection (du %(start)s au %(end)s).",
            start=when(window.opens_at), end=when(window.closes_at))))
    if errors:
        raise Refused(errors)
    settings = settings_of(cycle)
    fields = ["reviewers_per_answer", "reviews_close_at", "disagreement_threshold"]
    before = audit.snapshot(settings, fields)
    settings.reviewers_per_answer = reviewers_per_answer
    settings.reviews_close_at = reviews_close_at
    settings.disagreement_threshold = disagreement_threshold
    audit.record("selection.settings", cycle, before=before, after=audit.snapshot(settings, fields))
    return settings


def criteria_of(cycle: Cycle | int) -> list[Criterion]:
    cycle_id = cycle if isinstance(cycle, int) else cycle.id
    return list(db.session.scalars(select(Criterion).where(Criterion.cycle_id == cycle_id)
                                   .order_by(Criterion.position, Criterion.id)))


def grid_locked(cycle: Cycle) -> bool:
    """Once a review is submitted the grid changes only with a reason (reviews keep their values)."""
    return bool(db.session.scalar(select(exists().where(Review.cycle_id == cycle.id,
                                                        Review.status == "submitted"))))


def propose_default_grid(cycle: Cycle) -> list[Criterion]:
    """The six default criteria, if the cycle has none yet."""
    existing = criteria_of(cycle)
    if existing:
        return existing
    rows = [Criterion(cycle_id=cycle.id, position=i, scale_min=0, scale_max=4, **dict(c))
            for i, c in enumerate(DEFAULT_CRITERIA, start=1)]
    db.session.add_all(rows)
    db.session.flush()
    audit.record("grid.propose_default", cycle, after={"criteria": {str(c.position): c.label for c in rows}})
    return rows


_CRITERION_FIELDS = ["label", "help_text", "weight", "scale_min", "scale_max", "position"]


def _criterion_snapshot(criterion: Criterion) -> dict[str, Any]:
    # The levels keep their order as a dict (the audit trail sorts lists).
    return {**audit.snapshot(criterion, _CRITERION_FIELDS),
            "levels": {str(criterion.scale_min + i): v for i, v in enumerate(criterion.level_labels or [])}}


def _check_reason(cycle: Cycle, reason: str | None) -> None:
    if grid_locked(cycle) and not (reason or "").strip():
        raise Refused([FieldError("reason", _(
            "Des évaluations ont déjà été soumises : indiquez la raison de la modification de la grille. "
            "Les évaluations existantes gardent leurs notes."))])


def _validate_criterion(cycle: Cycle, criterion: Criterion | None, data: dict[str, Any]) -> list[FieldError]:
    errors = []
    label = (data.get("label") or "").strip()
    if not label:
        errors.append(FieldError("label", _("Donnez un intitulé au critère.")))
    elif db.session.scalar(select(Criterion.id).where(
            Criterion.cycle_id == cycle.id, func.lower(Criterion.label) == label.lower(),
            Criterion.id != (criterion.id if criterion else -1))):
        errors.append(FieldError("label", _("La grille a déjà un critère « %(label)s ».", label=label)))
    weight = data.get("weight")
    if weight is None or weight <= 0:
        errors.append(FieldError("weight", _("Le poids doit être un nombre strictement positif.")))
    smin, smax = data.get("scale_min", 0), data.get("scale_max", 4)
    if smin is None or smax is None or smax <= smin or smax - smin > 10:
        errors.append(FieldError("scale_max", _("L'échelle va d'un minimum à un maximum plus grand "
                                                "(dix niveaux d'écart au plus).")))
    else:
        levels = data.get("level_labels") or []
        if len(levels) != smax - smin + 1 or any(not (v or "").strip() for v in levels):
            errors.append(FieldError("level_labels", _(
                "Donnez un libellé à chaque niveau, un par ligne : %(count)s libellés pour l'échelle %(min)s–%(max)s.",
                count=smax - smin + 1, min=smin, max=smax)))
        if criterion is not None and (smin, smax) != (criterion.scale_min, criterion.scale_max) and \
                db.session.scalar(select(exists().where(Score.criterion_id == criterion.id,
                                                        Score.value.is_not(None)))):
            errors.append(FieldError("scale_max", _(
                "Ce critère a déjà été noté : son échelle ne peut plus changer (les notes données la suivent). "
                "Ajoutez plutôt un nouveau critère.")))
    return errors


def save_criterion(cycle: Cycle, criterion: Criterion | None, data: dict[str, Any],
                   reason: str | None = None) -> Criterion:
    """Add (criterion None) or change a criterion of the grid."""
    errors = _validate_criterion(cycle, criterion, data)
    try:
        _check_reason(cycle, reason)
    except Refused as exc:
        errors += exc.errors
    if errors:
        raise Refused(errors)
    before = _criterion_snapshot(criterion) if criterion else None
    if criterion is None:
        position = (db.session.scalar(select(func.max(Criterion.position)).where(Criterion.cycle_id == cycle.id))
                    or 0) + 1
        criterion = Criterion(cycle_id=cycle.id, position=position)
        db.session.add(criterion)
    criterion.label = data["label"].strip()
    criterion.help_text = (data.get("help_text") or "").strip() or None
    criterion.weight = float(data["weight"])
    criterion.scale_min, criterion.scale_max = int(data.get("scale_min", 0)), int(data.get("scale_max", 4))
    criterion.level_labels = [v.strip() for v in data["level_labels"]]
    db.session.flush()
    audit.record("grid.criterion_add" if before is None else "grid.criterion_edit", criterion, before=before,
                 after=_criterion_snapshot(criterion), reason=reason)
    return criterion


def remove_criterion(cycle: Cycle, criterion: Criterion, reason: str | None = None) -> None:
    """Remove a criterion. Once reviews are submitted, their scores on it stay in the audit trail only."""
    _check_reason(cycle, reason)
    before = _criterion_snapshot(criterion)
    scores = db.session.execute(select(Score.review_id, Score.value, Score.comment)
                                .where(Score.criterion_id == criterion.id)).all()
    if scores:
        before["scores"] = {str(r): {"value": v, "comment": c} for r, v, c in scores}
    audit.record("grid.criterion_remove", criterion, before=before, reason=reason)
    db.session.delete(criterion)
    db.session.flush()


def move_criterion(cycle: Cycle, criterion: Criterion, direction: int, reason: str | None = None) -> None:
    """Swap a criterion with its neighbour (direction -1: up, +1: down); positions are renumbered."""
    _check_reason(cycle, reason)
    rows = criteria_of(cycle)
    index = rows.index(criterion)
    other = index + direction
    if not 0 <= other < len(rows):
        return
    rows[index], rows[other] = rows[other], rows[index]
    for position, row in enumerate(rows, start=1):
        row.position = position
    # A dict (position → id): the audit trail sorts lists.
    audit.record("grid.reorder", cycle, after={"order": {str(r.position): r.id for r in rows}}, reason=reason)
    db.session.flush()


def copy_to_next(previous: Cycle, nxt: Cycle) -> None:
    """"Prepare next year": the grid and the settings travel (not the dates: the window moved)."""
    for c in criteria_of(previous):
        db.session.add(Criterion(cycle_id=nxt.id, position=c.position, label=c.label, help_text=c.help_text,
                                 weight=c.weight, scale_min=c.scale_min, scale_max=c.scale_max,
                                 level_labels=list(c.level_labels or [])))
    old = db.session.get(SelectionSettings, previous.id)
    if old is not None:
        db.session.add(SelectionSettings(cycle_id=nxt.id, reviewers_per_answer=old.reviewers_per_answer,
                                         disagreement_threshold=old.disagreement_threshold))
    db.session.flush()


# --- conflicts of interest -----------------------------------------------------------------------------


def conflict_clause(user_id: Any, application: Any = Application) -> ColumnElement[bool]:
    """SQL: the user (an id or a column) is conflicted with the answer (`Application` or an alias): a row in
    `conflicts`, or, checked live, the user's organization is the company's or shares its SIREN. For listings
    (`~conflict_clause(current_user.id)`) and for the ranking."""
    declared = exists().where(Conflict.cycle_id == application.cycle_id, Conflict.user_id == user_id,
                              Conflict.company_id == application.company_id)
    user_org, company_org = aliased(Organization), aliased(Organization)
    person = aliased(User)
    automatic = exists(
        select(person.id).join(user_org, user_org.id == person.organization_id)
        .join(Company, Company.id == application.company_id)
        .join(company_org, company_org.id == Company.organization_id)
        .where(person.id == user_id,
               or_(user_org.id == company_org.id,
                   and_(user_org.siren.is_not(None), user_org.siren == company_org.siren))))
    return or_(declared, automatic)


def is_conflicted(user: Any, application: Application) -> bool:
    """The one predicate: may this person not touch this answer? Admins are never conflicted."""
    if not getattr(user, "is_authenticated", False) or application is None:
        return False
    from innovation_cycle.models import Role

    if user.has_role(Role.ADMIN):
        return False
    cache = request_cache()
    key = ("conflict", user.id, application.id)
    if key not in cache:
        cache[key] = bool(db.session.scalar(select(conflict_clause(user.id, Application))
                                            .where(Application.id == application.id)))
    return cache[key]


def request_cache() -> dict:
    """A dict that lives as long as the request (a page asks the policy many times about one answer); outside
    a request, a fresh one each time (no cache)."""
    from flask import has_request_context, request

    if not has_request_context():
        return {}
    return request.environ.setdefault("innovation_cycle.authz_cache", {})


def _forget_cache() -> None:
    request_cache().clear()


def declare_conflict(cycle: Cycle, user: User, company: Company, reason: str) -> Conflict:
    if not (reason or "").strip():
        raise Refused([FieldError("reason", _("Indiquez la raison du conflit d'intérêts."))])
    if not db.session.scalar(select(CommitteeMember.id).where(CommitteeMember.cycle_id == cycle.id,
                                                              CommitteeMember.user_id == user.id)):
        raise Refused(_("Vous ne faites pas partie du comité de ce cycle."))
    existing = db.session.scalar(select(Conflict).where(Conflict.cycle_id == cycle.id, Conflict.user_id == user.id,
                                                        Conflict.company_id == company.id))
    if existing is not None:
        raise Refused([FieldError("company_id", _("Ce conflit est déjà enregistré."))])
    conflict = Conflict(cycle_id=cycle.id, user_id=user.id, company_id=company.id, source="declared",
                        reason=reason.strip(), created_at=clock.now())
    db.session.add(conflict)
    db.session.flush()
    # A conflicted member no longer reviews the company's answers (a proposed or confirmed assignment goes).
    dropped = _drop_conflicted_assignments(cycle, user.id, company.id, conflict)
    audit.record("conflict.declare", conflict, after={"user_id": user.id, "company_id": company.id,
                                                      "dropped_assignments": dropped}, reason=reason.strip())
    _forget_cache()
    return conflict


def _drop_conflicted_assignments(cycle: Cycle, user_id: int, company_id: int, conflict: Conflict) -> list[int]:
    """A member found conflicted no longer reviews the company's answers, and a review already written no longer
    counts. Nothing goes silently: each dropped
    assignment is audited; when it was confirmed (the member had been told to review it), the member gets a
    mail saying which answers are withdrawn, and the assignments page lists the answers now short of a
    reviewer for the admin to complete (`understaffed`, `complete_assignments`)."""
    rows = list(db.session.scalars(select(Assignment).join(Application).where(
        Assignment.cycle_id == cycle.id, Assignment.user_id == user_id, Application.company_id == company_id)
        .order_by(Assignment.application_id)))
    confirmed = []
    for row in rows:
        audit.record("assignment.drop_conflict", row, before={
            "application_id": row.application_id, "user_id": user_id, "status": row.status,
            "conflict_source": conflict.source}, reason=conflict.reason)
        if row.status == "confirmed":
            confirmed.append(row.application)
        db.session.delete(row)
    # A review written before the conflict came to light is not a fair one: it leaves the ranking with the
    # assignment (its content stays in the audit row, as every version of a review does).
    reviews = list(db.session.scalars(select(Review).join(Application).where(
        Review.cycle_id == cycle.id, Review.reviewer_id == user_id, Application.company_id == company_id)
        .order_by(Review.application_id)))
    for review in reviews:
        audit.record("review.void_conflict", review, before={
            "application_id": review.application_id, "user_id": user_id, "status": review.status,
            "recommendation": review.recommendation, "weighted_score": review.weighted_score,
            "scores": {str(score.criterion_id): score.value for score in review.scores},
            "conflict_source": conflict.source}, reason=conflict.reason)
        db.session.delete(review)
    if rows or reviews:
        db.session.flush()
    if confirmed:
        _mail_withdrawn(cycle, conflict, db.session.get(User, user_id), confirmed)
    return [row.application_id for row in rows]


def _mail_withdrawn(cycle: Cycle, conflict: Conflict, user: User, answers: list[Application]) -> None:
    from innovation_cycle.services import notifications

    listing = "\n".join(f"- {a.solution_name} (n° {a.id})" for a in answers)
    message = _("Un conflit d'intérêts a été constaté entre vous et l'entreprise %(company)s. Les réponses "
                "suivantes, qui vous avaient été confiées, ne le sont plus : vous ne les évaluez pas et ne voyez "
                "plus leurs évaluations.\n%(listing)s\nLe secrétariat du comité les confie à un autre membre.",
                company=conflict.company.organization.name, listing=listing)
    notifications.notify_event("reviews.withdrawn", conflict, [user], subject=_(
        "Cycle %(year)s : réponses retirées de vos évaluations (conflit d'intérêts)", year=cycle.year),
        message=message, link=notifications.external_url("reviews.index"))


def sync_automatic_conflicts(cycle: Cycle, user_ids: list[int] | None = None) -> int:
    """Write the conflicts the application finds itself (same organization, same SIREN) for the cycle's
    committee and its submitted answers, so the admin sees them and SQL against `conflicts` finds them."""
    user_org, company_org = aliased(Organization), aliased(Organization)
    query = (select(User.id, Company.id, user_org.id == company_org.id)
             .select_from(CommitteeMember).join(User, User.id == CommitteeMember.user_id)
             .join(user_org, user_org.id == User.organization_id)
             .join(Application, Application.cycle_id == CommitteeMember.cycle_id)
             .join(Company, Company.id == Application.company_id)
             .join(company_org, company_org.id == Company.organization_id)
             .where(CommitteeMember.cycle_id == cycle.id, Application.status != "draft",
                    or_(user_org.id == company_org.id,
                        and_(user_org.siren.is_not(None), user_org.siren == company_org.siren)))
             .distinct())
    if user_ids is not None:
        query = query.where(User.id.in_(user_ids))
    existing = set(db.session.execute(select(Conflict.user_id, Conflict.company_id)
                                      .where(Conflict.cycle_id == cycle.id)).all())
    now = clock.now()
    added = 0
    for user_id, company_id, same_org in db.session.execute(query).all():
        if (user_id, company_id) in existing:
            continue
        existing.add((user_id, company_id))
        conflict = Conflict(cycle_id=cycle.id, user_id=user_id, company_id=company_id,
                            source="same_organization" if same_org else "same_siren", created_at=now)
        db.session.add(conflict)
        db.session.flush()
        added += 1
        _drop_conflicted_assignments(cycle, user_id, company_id, conflict)
    if added:
        db.session.flush()
        audit.record("conflict.automatic", cycle, after={"added": added}, actor=None)
    _forget_cache()
    return added


def conflicts_of(cycle: Cycle) -> list[Conflict]:
    return list(db.session.scalars(select(Conflict).where(Conflict.cycle_id == cycle.id)
                                   .options(selectinload(Conflict.user),
                                            selectinload(Conflict.company).selectinload(Company.organization))
                                   .order_by(Conflict.user_id, Conflict.company_id)))


def remove_declared_conflict(conflict: Conflict, user: User) -> None:
    if conflict.source != "declared" or conflict.user_id != user.id:
        raise Refused(_("Seul un conflit que vous avez déclaré peut être retiré ; les autres sont constatés."))
    audit.record("conflict.remove", conflict, before={"company_id": conflict.company_id, "reason": conflict.reason})
    db.session.delete(conflict)
    db.session.flush()
    _forget_cache()


# --- assignments ---------------------------------------------------------------------------------------


@dataclass
class Problem:
    """What the solver is given: answers, members, the conflicted pairs and who prefers what."""

    answers: list[int]
    members: list[int]
    per_answer: int
    conflicts: set[tuple[int, int]] = field(default_factory=set)  # (answer, member)
    preferred: set[tuple[int, int]] = field(default_factory=set)  # (answer, member): a shared theme
    themed: set[int] = field(default_factory=set)  # members who declared themes


class Infeasible(Refused):
    pass


def solve(problem: Problem) -> dict[int, list[int]]:
    """Each answer gets `per_answer` distinct unconflicted members; loads differ by at most one whenever that
    is possible; shared themes are preferred. A min-cost flow (OR-Tools' SimpleMinCostFlow):

        source → answer (capacity N) → member (capacity 1, cost 0 if a shared theme, 1 if the member declared
        no theme, 2 otherwise) → sink through three parallel arcs: floor(T/m) units at a cost of -BIG (filled
        first: everybody reaches the floor), 1 unit at 0, and the rest at +BIG (overload, only when conflicts
        leave no balanced way).
    """
    n, answers, members = problem.per_answer, problem.answers, problem.members
    short = [a for a in answers if sum((a, m) not in problem.conflicts for m in members) < n]
    if short:
        raise Infeasible(ngettext(
            "Affectation impossible : %(num)d réponse n'a pas %(n)s membres du comité sans conflit "
            "d'intérêts (réponse n° %(ids)s). Ajoutez des membres au comité ou réduisez le nombre d'évaluateurs "
            "par réponse.",
            "Affectation impossible : %(num)d réponses n'ont pas %(n)s membres du comité sans conflit "
            "d'intérêts (réponses n° %(ids)s). Ajoutez des membres au comité ou réduisez le nombre d'évaluateurs "
            "par réponse.", len(short), n=n, ids=", ".join(str(a) for a in short[:20])))
    if not answers:
        return {}
    total = n * len(answers)
    floor = total // len(members)
    big = 3 * total + 1
    network = _ReviewerFlow(problem, answers, members)
    for a in answers:
        network.supply(a, n)
    for a in answers:
        for m in members:
            if (a, m) not in problem.conflicts:
                network.candidate(a, m)
    for m in members:
        if floor:
            network.to_sink(m, floor, -big)
        network.to_sink(m, 1, 0)
        network.to_sink(m, total, big)
    return network.solve(total, _("Affectation impossible avec ces conflits d'intérêts."))


class _ReviewerFlow:
    """The flow network both solvers build: source (node 0) → answer → member → sink (node 1), solved by
    OR-Tools' SimpleMinCostFlow. The source's arcs come first and the answer → member arcs right after, so
    that the units on the latter read back as (answer, member) pairs."""

    def __init__(self, problem: Problem, answers: list[int], members: list[int]) -> None:
        self.problem, self.answers, self.members = problem, answers, members
        self.answer_node = {a: 2 + i for i, a in enumerate(answers)}
        self.member_node = {m: 2 + len(answers) + j for j, m in enumerate(members)}
        self.tails: list[int] = []
        self.heads: list[int] = []
        self.capacities: list[int] = []
        self.costs: list[int] = []
        self.pairs: list[tuple[int, int]] = []

    def _arc(self, tail: int, head: int, capacity: int, cost: int) -> None:
        self.tails.append(tail)
        self.heads.append(head)
        self.capacities.append(capacity)
        self.costs.append(cost)

    def supply(self, answer: int, units: int) -> None:
        """The reviewers the answer needs (called for every answer before any candidate)."""
        self._arc(0, self.answer_node[answer], units, 0)

    def candidate(self, answer: int, member: int) -> None:
        """The member may review the answer: free with a shared theme, 1 with no declared theme, 2 otherwise."""
        self.pairs.append((answer, member))
        cost = 0 if (answer, member) in self.problem.preferred else (2 if member in self.problem.themed else 1)
        self._arc(self.answer_node[answer], self.member_node[member], 1, cost)

    def to_sink(self, member: int, capacity: int, cost: int) -> None:
        self._arc(self.member_node[member], 1, capacity, cost)

    def solve(self, total: int, refusal: str) -> dict[int, list[int]]:
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(np.array(self.tails), np.array(self.heads),
                                                  np.array(self.capacities), np.array(self.costs))
        supplies = np.zeros(2 + len(self.answers) + len(self.members), dtype=np.int64)
        supplies[0], supplies[1] = total, -total
        flow.set_nodes_supplies(np.arange(len(supplies)), supplies)
        if flow.solve() != flow.OPTIMAL:  # pragma: no cover - the callers check feasibility first
            raise Infeasible(refusal)
        first = len(self.answers)
        used = flow.flows(np.arange(first, first + len(self.pairs)))
        result: dict[int, list[int]] = {a: [] for a in self.answers}
        for (a, m), units in zip(self.pairs, used, strict=True):
            if units > 0:
                result[a].append(m)
        return {a: sorted(ms) for a, ms in result.items()}


def eligible_answers(cycle: Cycle) -> list[Application]:
    return list(db.session.scalars(select(Application).where(Application.cycle_id == cycle.id,
                                                             Application.status.in_(REVIEWED_STATUSES))
                                   .order_by(Application.id)))


def committee_user_ids(cycle: Cycle) -> list[int]:
    return list(db.session.scalars(select(CommitteeMember.user_id).join(User, User.id == CommitteeMember.user_id)
                                   .where(CommitteeMember.cycle_id == cycle.id, User.active.is_(True))
                                   .order_by(CommitteeMember.user_id)))


def problem_of(cycle: Cycle) -> Problem:
    answers = [a.id for a in eligible_answers(cycle)]
    members = committee_user_ids(cycle)
    conflicts: set[tuple[int, int]] = set()
    if answers and members:
        rows = db.session.execute(select(Application.id, User.id).select_from(Application).join(User, User.id.in_(
            members)).where(Application.id.in_(answers), conflict_clause(User.id, Application))).all()
        conflicts = {(a, m) for a, m in rows}
    member_themes = db.session.execute(
        select(CommitteeMember.user_id, committee_member_themes.c.theme_id)
        .join(committee_member_themes, committee_member_themes.c.committee_member_id == CommitteeMember.id)
        .where(CommitteeMember.cycle_id == cycle.id)).all()
    answer_themes = db.session.execute(
        select(ApplicationNeed.application_id, need_themes.c.theme_id)
        .join(need_themes, need_themes.c.need_id == ApplicationNeed.need_id)
        .where(ApplicationNeed.application_id.in_(answers))).all() if answers else []
    by_member: dict[int, set[int]] = defaultdict(set)
    for m, t in member_themes:
        by_member[m].add(t)
    by_answer: dict[int, set[int]] = defaultdict(set)
    for a, t in answer_themes:
        by_answer[a].add(t)
    preferred = {(a, m) for a in answers for m in members if by_answer[a] & by_member[m]}
    return Problem(answers, members, settings_of(cycle).reviewers_per_answer, conflicts, preferred,
                   set(by_member))


def assignments_confirmed(cycle: Cycle) -> bool:
    settings = db.session.get(SelectionSettings, cycle.id)
    return settings is not None and settings.assignments_confirmed_at is not None


def propose_assignments(cycle: Cycle) -> int:
    """Replace the proposal by the solver's; confirmed assignments are kept as they are (after confirmation,
    the admin edits by hand)."""
    if cycle.state != "selection":
        raise Refused(_("Les affectations se préparent pendant l'étape « Listing et sélection »."))
    if assignments_confirmed(cycle):
        raise Refused(_("Les affectations sont déjà confirmées : modifiez-les à la main."))
    if len(committee_user_ids(cycle)) < settings_of(cycle).reviewers_per_answer:
        raise Infeasible(_("Le comité compte moins de membres que d'évaluateurs demandés par réponse (%(n)s).",
                           n=settings_of(cycle).reviewers_per_answer))
    sync_automatic_conflicts(cycle)
    result = solve(problem_of(cycle))
    db.session.execute(delete(Assignment).where(Assignment.cycle_id == cycle.id, Assignment.status == "proposed")
                       .execution_options(synchronize_session=False))
    now = clock.now()
    rows = [Assignment(cycle_id=cycle.id, application_id=a, user_id=m, status="proposed", created_at=now)
            for a, ms in result.items() for m in ms]
    db.session.add_all(rows)
    db.session.flush()
    audit.record("assignment.propose", cycle, after={"assignments": len(rows), "answers": len(result)})
    return len(rows)


def assignments_of(cycle: Cycle) -> dict[int, list[Assignment]]:
    rows = db.session.scalars(select(Assignment).where(Assignment.cycle_id == cycle.id)
                              .options(selectinload(Assignment.user)).order_by(Assignment.user_id))
    result: dict[int, list[Assignment]] = defaultdict(list)
    for row in rows:
        result[row.application_id].append(row)
    return result


def loads(cycle: Cycle) -> dict[int, int]:
    return dict(db.session.execute(select(Assignment.user_id, func.count()).where(Assignment.cycle_id == cycle.id)
                                   .group_by(Assignment.user_id)).all())


def add_reviewer(cycle: Cycle, application: Application, user: User) -> Assignment:
    if application.cycle_id != cycle.id or application.status not in REVIEWED_STATUSES:
        raise Refused(_("Seules les réponses éligibles du cycle reçoivent des évaluateurs."))
    if user.id not in committee_user_ids(cycle):
        raise Refused([FieldError("user_id", _("Cette personne ne fait pas partie du comité du cycle."))])
    if is_conflicted(user, application):
        raise Refused([FieldError("user_id", _("%(name)s est en conflit d'intérêts avec cette entreprise : "
                                               "affectation refusée.", name=user.name))])
    if db.session.scalar(select(Assignment.id).where(Assignment.application_id == application.id,
                                                     Assignment.user_id == user.id)):
        raise Refused([FieldError("user_id", _("%(name)s évalue déjà cette réponse.", name=user.name))])
    confirmed = assignments_confirmed(cycle)
    row = Assignment(cycle_id=cycle.id, application_id=application.id, user_id=user.id,
                     status="confirmed" if confirmed else "proposed", created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    audit.record("assignment.add", row, after={"application_id": application.id, "user_id": user.id})
    if confirmed:
        _mail_assignments(cycle, {user.id: [application]}, occurrence=f"add{row.id}")
    return row


def remove_reviewer(assignment: Assignment) -> None:
    if db.session.scalar(select(Review.id).where(Review.application_id == assignment.application_id,
                                                 Review.reviewer_id == assignment.user_id,
                                                 Review.status == "submitted")):
        raise Refused(_("Cet évaluateur a déjà soumis son évaluation : elle reste acquise."))
    audit.record("assignment.remove", assignment, before={"application_id": assignment.application_id,
                                                          "user_id": assignment.user_id})
    db.session.delete(assignment)
    db.session.flush()


def confirm_assignments(cycle: Cycle) -> int:
    """Confirm the proposal and mail each member ONE message listing their answers."""
    settings = settings_of(cycle)
    if settings.assignments_confirmed_at is not None:
        raise Refused(_("Les affectations sont déjà confirmées."))
    by_app = assignments_of(cycle)
    if not by_app:
        raise Refused(_("Aucune affectation à confirmer : proposez d'abord une affectation."))
    for rows in by_app.values():
        for row in rows:
            row.status = "confirmed"
    settings.assignments_confirmed_at = clock.now()
    per_member: dict[int, list[Application]] = defaultdict(list)
    apps = {a.id: a for a in db.session.scalars(select(Application).where(Application.id.in_(list(by_app))))}
    for app_id, rows in by_app.items():
        for row in rows:
            per_member[row.user_id].append(apps[app_id])
    db.session.flush()
    audit.record("assignment.confirm", cycle, after={"members": len(per_member),
                                                     "assignments": sum(len(r) for r in by_app.values())})
    _mail_assignments(cycle, per_member, occurrence="confirm")
    return len(per_member)


@dataclass
class Understaffed:
    """An answer with fewer reviewers than the settings ask (after a conflict found late, a member gone)."""

    application: Application
    assigned: int
    missing: int


def understaffed(cycle: Cycle) -> list[Understaffed]:
    """The eligible answers short of reviewers, once the assignments are confirmed (before, the proposal is
    simply redone)."""
    if not assignments_confirmed(cycle):
        return []
    wanted = settings_for_display(cycle).reviewers_per_answer
    counts = loads_by_answer(cycle)
    return [Understaffed(a, counts.get(a.id, 0), wanted - counts.get(a.id, 0))
            for a in eligible_answers(cycle) if counts.get(a.id, 0) < wanted]


def loads_by_answer(cycle: Cycle) -> dict[int, int]:
    return dict(db.session.execute(select(Assignment.application_id, func.count())
                                   .where(Assignment.cycle_id == cycle.id)
                                   .group_by(Assignment.application_id)).all())


def solve_completion(problem: Problem, missing: dict[int, int], assigned: set[tuple[int, int]],
                     current: dict[int, int]) -> dict[int, list[int]]:
    """Give each short answer its `missing` reviewers among the members neither conflicted with it nor already
    on it, keeping the loads as even as they can be: a min-cost flow whose member → sink arcs cost more with
    each answer the member already has (a convex cost, so the flow fills the least loaded members first);
    shared themes break ties."""
    short = [a for a in problem.answers if missing.get(a, 0) > 0]
    free = {a: [m for m in problem.members if (a, m) not in problem.conflicts and (a, m) not in assigned]
            for a in short}
    lacking = [a for a in short if len(free[a]) < missing[a]]
    if lacking:
        raise Infeasible(ngettext(
            "Impossible de compléter : %(num)d réponse n'a plus assez de membres du comité sans conflit "
            "d'intérêts (réponse n° %(ids)s). Ajoutez des membres au comité ou réduisez le nombre d'évaluateurs "
            "par réponse.",
            "Impossible de compléter : %(num)d réponses n'ont plus assez de membres du comité sans conflit "
            "d'intérêts (réponses n° %(ids)s). Ajoutez des membres au comité ou réduisez le nombre d'évaluateurs "
            "par réponse.", len(lacking), ids=", ".join(str(a) for a in lacking[:20])))
    total = sum(missing[a] for a in short)
    if not total:
        return {}
    big = 3 * total + 1
    network = _ReviewerFlow(problem, short, problem.members)
    for a in short:
        network.supply(a, missing[a])
    for a in short:
        for m in free[a]:
            network.candidate(a, m)
    for m in problem.members:
        for k in range(total):
            network.to_sink(m, 1, big * (current.get(m, 0) + k))
    return network.solve(total, _("Impossible de compléter l'affectation avec ces conflits d'intérêts."))


def complete_assignments(cycle: Cycle) -> int:
    """After confirmation, give the answers short of reviewers (a conflict found late) the missing ones with
    the solver; the members added are confirmed at once and get one mail each. Returns the reviewers added."""
    if cycle.state != "selection":
        raise Refused(_("Les affectations se modifient pendant l'étape « Listing et sélection »."))
    if not assignments_confirmed(cycle):
        raise Refused(_("Les affectations ne sont pas encore confirmées : proposez-en une nouvelle."))
    short = understaffed(cycle)
    if not short:
        raise Refused(_("Aucune réponse ne manque d'évaluateur."))
    problem = problem_of(cycle)
    assigned = set(db.session.execute(select(Assignment.application_id, Assignment.user_id)
                                      .where(Assignment.cycle_id == cycle.id)).all())
    result = solve_completion(problem, {u.application.id: u.missing for u in short}, assigned, loads(cycle))
    now = clock.now()
    rows = [Assignment(cycle_id=cycle.id, application_id=a, user_id=m, status="confirmed", created_at=now)
            for a, ms in result.items() for m in ms]
    db.session.add_all(rows)
    db.session.flush()
    audit.record("assignment.complete", cycle, after={
        "added": {str(r.id): {"application_id": r.application_id, "user_id": r.user_id} for r in rows}})
    apps = {u.application.id: u.application for u in short}
    per_member: dict[int, list[Application]] = defaultdict(list)
    for row in rows:
        per_member[row.user_id].append(apps[row.application_id])
    _mail_assignments(cycle, per_member, occurrence=f"complete{min(r.id for r in rows)}")
    return len(rows)


def _mail_assignments(cycle: Cycle, per_member: dict[int, list[Application]], occurrence: str) -> None:
    from innovation_cycle.services import notifications

    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(per_member))))}
    link = notifications.external_url("reviews.index")
    close = reviews_close_at(cycle)
    from innovation_cycle.formatting import when

    for user_id, answers in per_member.items():
        listing = "\n".join(f"- {a.solution_name} (n° {a.id})" for a in sorted(answers, key=lambda a: a.id))
        message = ngettext(
            "Le comité de pilotage du cycle %(year)s vous confie l'évaluation d'une réponse à l'AMI :\n"
            "%(listing)s\nÉvaluation attendue avant le %(date)s.",
            "Le comité de pilotage du cycle %(year)s vous confie l'évaluation de %(num)d réponses à l'AMI :\n"
            "%(listing)s\nÉvaluations attendues avant le %(date)s.", len(answers), year=cycle.year,
            listing=listing, date=when(close) if close else "—")
        notifications.notify_event("reviews.assigned", cycle, [users[user_id]], subject=_(
            "Cycle %(year)s : vos réponses à évaluer", year=cycle.year), occurrence=occurrence, message=message,
            link=link)


# --- reviews -------------------------------------------------------------------------------------------


def is_assigned(user: Any, application: Application) -> bool:
    if not getattr(user, "is_authenticated", False) or application is None:
        return False
    return bool(db.session.scalar(select(Assignment.id).where(Assignment.application_id == application.id,
                                                              Assignment.user_id == user.id)))


def on_committee(user: Any, cycle: Cycle) -> bool:
    return bool(getattr(user, "is_authenticated", False) and db.session.scalar(
        select(CommitteeMember.id).where(CommitteeMember.cycle_id == cycle.id, CommitteeMember.user_id == user.id)))


def reviews_open(cycle: Cycle, now: datetime | None = None) -> bool:
    close = reviews_close_at(cycle)
    return cycle.state == "selection" and (close is None or (now or clock.now()) < close)


def review_of(application: Application, user: Any) -> Review | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(select(Review).where(Review.application_id == application.id,
                                                  Review.reviewer_id == user.id)
                             .options(selectinload(Review.scores)))


def has_submitted(user: Any, application: Application) -> bool:
    return bool(getattr(user, "is_authenticated", False) and db.session.scalar(select(Review.id).where(
        Review.application_id == application.id, Review.reviewer_id == user.id, Review.status == "submitted")))


def submitted_reviews(application: Application) -> list[Review]:
    return list(db.session.scalars(select(Review).where(Review.application_id == application.id,
                                                        Review.status == "submitted")
                                   .options(selectinload(Review.scores), selectinload(Review.reviewer))
                                   .order_by(Review.submitted_at, Review.id)))


def _review_snapshot(review: Review) -> dict[str, Any]:
    return {"status": review.status, "recommendation": review.recommendation,
            "committee_comment": review.committee_comment, "company_comment": review.company_comment,
            "scores": {str(s.criterion_id): {"value": s.value, "comment": s.comment} for s in review.scores}}


def save_review(application: Application, user: User, data: dict[str, Any], *, submit: bool,
                expected_version: int | None = None) -> Review:
    """Save a draft, or submit (every criterion scored, a recommendation); a submitted review may change
    until reviews close, and stays submitted. Each saved version is audited."""
    cycle = application.cycle
    if not reviews_open(cycle):
        raise Refused(_("Les évaluations sont closes pour ce cycle."))
    if not (on_committee(user, cycle) and is_assigned(user, application)) or is_conflicted(user, application):
        raise Refused(_("Cette réponse ne vous est pas confiée."))
    criteria = criteria_of(cycle)
    errors = []
    scores: dict[int, tuple[int | None, str | None]] = data.get("scores", {})
    for c in criteria:
        value, _comment = scores.get(c.id, (None, None))
        if value is not None and not c.scale_min <= value <= c.scale_max:
            errors.append(FieldError(f"score_{c.id}", _("Choisissez un niveau de l'échelle.")))
    review = review_of(application, user)
    will_submit = submit or (review is not None and review.status == "submitted")
    if will_submit:
        for c in criteria:
            if scores.get(c.id, (None, None))[0] is None:
                errors.append(FieldError(f"score_{c.id}", _("Notez le critère « %(label)s ».", label=c.label)))
        if data.get("recommendation") not in RECOMMENDATION_LABELS:
            errors.append(FieldError("recommendation", _("Choisissez une recommandation.")))
    elif data.get("recommendation") and data["recommendation"] not in RECOMMENDATION_LABELS:
        errors.append(FieldError("recommendation", _("Recommandation inconnue.")))
    if review is not None and expected_version is not None and review.version != expected_version:
        errors.append(FieldError(None, _("Votre évaluation a été modifiée entre-temps (dans un autre onglet ?). "
                                         "Rechargez la page avant d'enregistrer.")))
    if errors:
        raise Refused(errors)
    now = clock.now()
    before = _review_snapshot(review) if review is not None else None
    if review is None:
        review = Review(cycle_id=cycle.id, application_id=application.id, reviewer_id=user.id, status="draft",
                        created_at=now, updated_at=now)
        db.session.add(review)
    review.recommendation = data.get("recommendation") or None
    review.committee_comment = (data.get("committee_comment") or "").strip() or None
    review.company_comment = (data.get("company_comment") or "").strip() or None
    existing = {s.criterion_id: s for s in review.scores}
    for c in criteria:
        value, comment = scores.get(c.id, (None, None))
        row = existing.get(c.id)
        if row is None:
            row = Score(criterion_id=c.id)
            review.scores.append(row)
        row.value, row.comment = value, (comment or "").strip() or None
    review.updated_at = now
    if will_submit and review.status != "submitted":
        review.status, review.submitted_at = "submitted", now
    try:
        db.session.flush()
    except StaleDataError:  # saved at the same moment from another tab: the version column caught it
        db.session.rollback()
        raise Refused(_("Votre évaluation a été modifiée entre-temps (dans un autre onglet ?). "
                        "Rechargez la page avant d'enregistrer.")) from None
    action = "review.submit" if (submit and (before is None or before["status"] == "draft")) else (
        "review.revise" if will_submit else "review.draft")
    audit.record(action, review, before=before, after={**_review_snapshot(review), "version": review.version})
    return review


def my_assignments(user: User, cycle: Cycle) -> list[dict[str, Any]]:
    """The member's answers in the cycle, with their review's state (two queries)."""
    rows = db.session.execute(
        select(Application, Review.status).join(Assignment, Assignment.application_id == Application.id)
        .outerjoin(Review, and_(Review.application_id == Application.id, Review.reviewer_id == user.id))
        .where(Assignment.user_id == user.id, Assignment.cycle_id == cycle.id,
               ~conflict_clause(user.id, Application))
        .options(selectinload(Application.company).selectinload(Company.organization))
        .order_by(Application.id)).all()
    return [{"application": a, "status": status or "todo"} for a, status in rows]


def reviews_left(cycle: Cycle) -> dict[int, int]:
    """Members with confirmed assignments not yet submitted, and how many."""
    submitted = exists().where(Review.application_id == Assignment.application_id,
                               Review.reviewer_id == Assignment.user_id, Review.status == "submitted")
    return dict(db.session.execute(
        select(Assignment.user_id, func.count()).where(Assignment.cycle_id == cycle.id,
                                                       Assignment.status == "confirmed", ~submitted)
        .group_by(Assignment.user_id)).all())


def members_with_reviews_left(cycle: Cycle) -> list[User]:
    """The selection stage's reminder audience."""
    left = reviews_left(cycle)
    if not left:
        return []
    return list(db.session.scalars(select(User).where(User.id.in_(list(left)), User.active.is_(True))
                                   .order_by(User.id)))


# --- buyers' interest ----------------------------------------------------------------------------------


def own_targeted_needs(user: Any, application: Application) -> list[Need]:
    """The needs of the user's organization that this answer targets."""
    if not getattr(user, "is_authenticated", False) or user.organization_id is None:
        return []
    return list(db.session.scalars(select(Need).join(ApplicationNeed, ApplicationNeed.need_id == Need.id).where(
        ApplicationNeed.application_id == application.id, Need.organization_id == user.organization_id)
        .order_by(Need.id)))


def interests_of(application: Application) -> list[BuyerInterest]:
    return list(db.session.scalars(select(BuyerInterest).where(BuyerInterest.application_id == application.id)
                                   .options(selectinload(BuyerInterest.need),
                                            selectinload(BuyerInterest.organization))
                                   .order_by(BuyerInterest.need_id)))


STALE_INTEREST = lazy_gettext(
    "L'intérêt de votre organisation pour ce besoin a été enregistré entre-temps par une autre personne : rien "
    "n'a été modifié. Voici la valeur enregistrée ; changez-la si besoin et enregistrez à nouveau.")


def set_interest(application: Application, need: Need, user: User, level: str, comment: str | None,
                 expected_version: int | None = None) -> BuyerInterest:
    """Record the organization's interest for one of its needs. Several buyers of the organization may answer:
    `expected_version` is the version the form showed (0: none was recorded yet). A form older than the row
    is refused, and so is the second of two saves made at the same moment (the version column turns its
    UPDATE into a StaleDataError; the unique (answer, need) pair turns its INSERT into an IntegrityError):
    nothing is overwritten silently."""
    if application.cycle.state != "selection" or application.status not in REVIEWED_STATUSES:
        raise Refused(_("L'intérêt des acheteurs se donne pendant l'étape de sélection, sur les réponses "
                        "éligibles."))
    if need.id not in {n.id for n in own_targeted_needs(user, application)}:
        raise Refused(_("Vous ne pouvez donner votre intérêt que pour les besoins de votre organisation."))
    if level not in INTEREST_LABELS:
        raise Refused([FieldError("level", _("Choisissez un niveau d'intérêt."))])
    row = db.session.scalar(select(BuyerInterest).where(BuyerInterest.application_id == application.id,
                                                        BuyerInterest.need_id == need.id))
    if expected_version is not None and (row.version if row is not None else 0) != expected_version:
        raise Refused(str(STALE_INTEREST))
    before = audit.snapshot(row, ["level", "comment"]) if row else None
    if row is None:
        row = BuyerInterest(application_id=application.id, need_id=need.id, organization_id=need.organization_id)
        db.session.add(row)
    row.level, row.comment, row.user_id, row.updated_at = level, (comment or "").strip() or None, user.id, clock.now()
    try:
        db.session.flush()
    except (StaleDataError, IntegrityError):  # saved at the same moment by another buyer of the organization
        db.session.rollback()
        raise Refused(str(STALE_INTEREST)) from None
    audit.record("interest.set", row, before=before, after=audit.snapshot(row, ["level", "comment"]))
    return row


def answers_awaiting_interest(user: User, cycle: Cycle) -> int:
    """How many (answer, own need) pairs still lack this organization's interest."""
    if user.organization_id is None:
        return 0
    given = exists().where(BuyerInterest.application_id == ApplicationNeed.application_id,
                           BuyerInterest.need_id == ApplicationNeed.need_id)
    return db.session.scalar(select(func.count()).select_from(ApplicationNeed)
                             .join(Need, Need.id == ApplicationNeed.need_id)
                             .join(Application, Application.id == ApplicationNeed.application_id)
                             .where(Need.organization_id == user.organization_id, Application.cycle_id == cycle.id,
                                    Application.status == "eligible", ~given)) or 0


# --- hooks: signals, reminders, dashboard --------------------------------------------------------------


@signals.next_cycle_prepared.connect
def _on_next_cycle(cycle: Cycle, **kw: Any) -> None:
    copy_to_next(cycle, kw["nxt"])


@signals.committee_member_added.connect
def _on_member_added(cycle: Cycle, **kw: Any) -> None:
    sync_automatic_conflicts(cycle, [kw["user_id"]])


reminders.register_audience("selection", members_with_reviews_left, text=lazy_gettext(
    "Des réponses à l'AMI qui vous sont confiées attendent encore votre évaluation. Soumettez vos évaluations "
    "avant la clôture des évaluations."), endpoints=("reviews.index",))


def _review_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Task]:
    """Members: reviews left (link to their list); buyers: answers to their needs awaiting their interest."""
    if cycle is None or cycle.state != "selection":
        return []
    from innovation_cycle.models import Role

    tasks: list[Task] = []
    close = reviews_close_at(cycle)
    if user.has_role(Role.COMMITTEE_MEMBER):
        left = reviews_left(cycle).get(user.id, 0)
        if left:
            tasks.append(Task(ngettext("%(num)d évaluation à soumettre", "%(num)d évaluations à soumettre", left),
                              close, url_for("reviews.index")))
    if user.has_role(Role.BUYER) and reviews_open(cycle, now):
        waiting = answers_awaiting_interest(user, cycle)
        if waiting:
            tasks.append(Task(ngettext(
                "%(num)d réponse visant vos besoins attend votre avis d'intérêt",
                "%(num)d réponses visant vos besoins attendent votre avis d'intérêt", waiting),
                close, url_for("reviews.index")))
    return tasks


if _review_tasks not in TASK_SOURCES:
    TASK_SOURCES.append(_review_tasks)


# --- aggregate figures (issue 7, item 12: what an associated development agency sees) -------------------


def figures(cycle: Cycle) -> dict[str, Any]:
    """Counts only, never a company's file: answers by state and by theme, reviews done and expected."""
    from innovation_cycle.models import Theme

    by_status = dict(db.session.execute(select(Application.status, func.count()).where(
        Application.cycle_id == cycle.id, Application.status != "draft").group_by(Application.status)).all())
    by_theme = db.session.execute(
        select(Theme.name, func.count(func.distinct(ApplicationNeed.application_id)))
        .join(need_themes, need_themes.c.theme_id == Theme.id)
        .join(ApplicationNeed, ApplicationNeed.need_id == need_themes.c.need_id)
        .join(Application, Application.id == ApplicationNeed.application_id)
        .where(Theme.cycle_id == cycle.id, Application.status.in_(REVIEWED_STATUSES))
        .group_by(Theme.name).order_by(Theme.name)).all()
    expected = db.session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.cycle_id == cycle.id)) or 0
    done = db.session.scalar(select(func.count()).select_from(Review).where(
        Review.cycle_id == cycle.id, Review.status == "submitted")) or 0
    return {"by_status": by_status, "by_theme": by_theme, "expected": expected, "done": done,
            "eligible": sum(by_status.get(s, 0) for s in REVIEWED_STATUSES)}
