"""The steering committee's meetings and decisions, their release to companies and buyers, and the guard that
keeps a cycle in selection until every eligible answer has a decision and the decisions are released.

A decision is recorded in an open, quorate meeting, with a rationale; it moves the answer's machine
(workflows.application) in the same transaction as its audit row. Two admins recording a decision on the
same answer at once end with one decision: the answer's row is locked (SELECT … FOR UPDATE on PostgreSQL),
the decision's `application_id` is unique, and its version column turns a stale form into a refusal.

Nothing of a decision reaches a company until the admin releases the cycle's decisions, once, in one batch:
one mail per company, one shortlist per buyer of a need with selected solutions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from innovation_cycle import clock, formatting
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Attendance,
    CommitteeMember,
    Company,
    ConventionMembership,
    Cycle,
    Decision,
    DecisionNeed,
    Meeting,
    Need,
    Organization,
    Role,
    Tier,
    User,
)
from innovation_cycle.models.reviews import Review, SelectionSettings
from innovation_cycle.services import audit, cycles, mail
from innovation_cycle.services.companies import representatives
from innovation_cycle.services.dashboard import TASK_SOURCES, Task
from innovation_cycle.services.directory import FieldError, Invalid
from innovation_cycle.services.locking import lock_row
from workflows import application as flow
from workflows.base import MoveRefused, Refusal

OUTCOME_LABELS: dict[str, Any] = {
    "selected": lazy_gettext("Retenue"),
    "waiting_list": lazy_gettext("Liste d'attente"),
    "not_selected": lazy_gettext("Non retenue"),
}
MEETING_STATE_LABELS: dict[str, Any] = {
    "scheduled": lazy_gettext("Programmée"),
    "open": lazy_gettext("Ouverte"),
    "closed": lazy_gettext("Close"),
}
# Where each outcome leaves the answer, and the trigger that takes it there.
OUTCOME_STATE = {"selected": "selected", "waiting_list": "eligible", "not_selected": "not_selected"}
OUTCOME_TRIGGER = {"selected": flow.SELECT, "waiting_list": flow.WAIT_LIST, "not_selected": flow.NOT_SELECT}
DECIDABLE_STATES = ("eligible", "selected", "not_selected")


def outcome_label(outcome: str | None) -> str:
    return str(OUTCOME_LABELS.get(outcome or "", outcome or ""))


def meeting_state_label(state: str) -> str:
    return str(MEETING_STATE_LABELS.get(state, state))


class Refused(Exception):
    """The action is refused now; `messages` are French sentences for the page."""

    def __init__(self, refusals: list[Refusal]):
        super().__init__(", ".join(r.code for r in refusals))
        self.refusals = refusals

    @property
    def messages(self) -> list[str]:
        return list(dict.fromkeys(refusal_message(r) for r in self.refusals))


def refusal_message(refusal: Refusal) -> str:
    p = refusal.params
    messages: dict[str, Callable[[], str]] = {
        "decision_stage": lambda: _("Les décisions du comité se prennent pendant l'étape de sélection (le cycle est à "
                                    "l'étape « %(stage)s »).", stage=cycles.state_label(p["cycle_state"])),
        "decisions_released": lambda: _("Les décisions du cycle ont été communiquées aux entreprises : elles ne "
                                        "se modifient plus."),
        "meeting_not_open": lambda: _("Ouvrez la séance (après avoir relevé les présences) avant d'enregistrer une "
                                      "décision."),
        "no_quorum": lambda: _("Le quorum n'est pas atteint : une décision ne peut pas être prise."),
        "rationale_required": lambda: _("La motivation de la décision est obligatoire."),
        "illegal_move": lambda: _("Une décision n'est possible que pour une réponse éligible (celle-ci est « "
                                  "%(state)s »).", state=str(p.get("state"))),
        "stale": lambda: _("Une autre décision a été enregistrée entre-temps sur cette réponse : rechargez la page "
                           "et vérifiez avant de recommencer."),
        "meeting_closed": lambda: _("La séance est close."),
        "meeting_state": lambda: _("Cette action n'est pas possible pour une séance « %(state)s ».",
                                   state=meeting_state_label(p["state"])),
        "not_in_selection": lambda: _("Les décisions se communiquent pendant l'étape de sélection."),
        "nothing_to_release": lambda: _("Aucune décision n'a encore été enregistrée."),
    }
    make = messages.get(refusal.code)
    return make() if make else str(p.get("message", refusal.code))


# --- meetings --------------------------------------------------------------------------------------------


def meetings_of(cycle: Cycle) -> list[Meeting]:
    return list(db.session.scalars(select(Meeting).where(Meeting.cycle_id == cycle.id)
                                   .order_by(Meeting.scheduled_at, Meeting.id)))


def schedule(cycle: Cycle, title: str, scheduled_at: datetime | None, location: str | None, actor: User) -> Meeting:
    errors = []
    if not (title or "").strip():
        errors.append(FieldError("title", _("Donnez un intitulé à la séance.")))
    if scheduled_at is None:
        errors.append(FieldError("scheduled_at", _("Indiquez la date et l'heure de la séance.")))
    if cycle.state in ("closed", "results_communication", "commitment_census"):
        errors.append(FieldError(None, _("La sélection de ce cycle est terminée.")))
    if errors:
        raise Invalid(errors)
    meeting = Meeting(cycle_id=cycle.id, title=title.strip(), scheduled_at=scheduled_at,
                      location=(location or "").strip() or None, status="scheduled", created_at=clock.now())
    db.session.add(meeting)
    db.session.flush()
    audit.record("meeting.schedule", meeting, actor=actor,
                 after={"title": meeting.title, "scheduled_at": scheduled_at, "location": meeting.location})
    return meeting


def committee_of(cycle: Cycle) -> list[User]:
    """The cycle's committee members with their organizations, by organization then name."""
    return list(db.session.scalars(
        select(User).join(CommitteeMember, CommitteeMember.user_id == User.id)
        .where(CommitteeMember.cycle_id == cycle.id)
        .options(selectinload(User.organization))
        .order_by(User.name, User.id)))


def record_attendance(meeting_id: int, present_ids: set[int], actor: User) -> Meeting:
    """Who attends (committee members only), each for their organization; changeable until the meeting closes."""
    meeting = lock_row(Meeting, meeting_id)
    if meeting is None:
        raise LookupError(meeting_id)
    if meeting.status == "closed":
        raise Refused([Refusal("meeting_closed")])
    members = {u.id: u for u in committee_of(meeting.cycle)}
    unknown = present_ids - set(members)
    if unknown:
        raise Invalid([FieldError("present", _("Seuls les membres du comité de ce cycle peuvent être présents."))])
    before = sorted(a.user_id for a in meeting.attendance if a.present)
    meeting.attendance.clear()
    db.session.flush()
    for user_id in sorted(present_ids):
        meeting.attendance.append(Attendance(user_id=user_id, organization_id=members[user_id].organization_id,
                                             present=True))
    db.session.flush()
    audit.record("meeting.attendance", meeting, actor=actor, before={"present": before},
                 after={"present": sorted(present_ids)})
    return meeting


@dataclass
class Quorum:
    reached: bool
    present: int
    required: int
    missing_partners: list[str]  # founding partners with no one present


def quorum(meeting: Meeting) -> Quorum:
    """The convention's quorum: one representative present of each founding partner (when the convention
    asks so) and at least `quorum_min_present` members present."""
    convention = meeting.cycle.convention
    present_orgs = {a.organization_id for a in meeting.attendance if a.present}
    present = sum(1 for a in meeting.attendance if a.present)
    missing: list[str] = []
    if convention.quorum_each_founding_partner:
        for org_id, name in db.session.execute(
                select(Organization.id, Organization.name)
                .join(ConventionMembership, ConventionMembership.organization_id == Organization.id)
                .where(ConventionMembership.convention_id == convention.id,
                       ConventionMembership.tier == Tier.FOUNDING_PARTNER).order_by(Organization.name)):
            if org_id not in present_orgs:
                missing.append(name)
    required = max(convention.quorum_min_present or 0, 1)
    return Quorum(reached=not missing and present >= required, present=present, required=required,
                  missing_partners=missing)


def open_meeting(meeting_id: int, actor: User) -> Meeting:
    meeting = lock_row(Meeting, meeting_id)
    if meeting is None:
        raise LookupError(meeting_id)
    if meeting.status != "scheduled":
        raise Refused([Refusal("meeting_state", {"state": meeting.status})])
    meeting.status, meeting.opened_at = "open", clock.now()
    q = quorum(meeting)
    audit.record("meeting.open", meeting, actor=actor, before={"status": "scheduled"},
                 after={"status": "open", "quorate": q.reached, "present": q.present})
    return meeting


def close_meeting(meeting_id: int, actor: User) -> Meeting:
    meeting = lock_row(Meeting, meeting_id)
    if meeting is None:
        raise LookupError(meeting_id)
    if meeting.status != "open":
        raise Refused([Refusal("meeting_state", {"state": meeting.status})])
    meeting.status, meeting.closed_at = "closed", clock.now()
    audit.record("meeting.close", meeting, actor=actor, before={"status": "open"}, after={"status": "closed"})
    return meeting


# --- decisions -------------------------------------------------------------------------------------------


def released(cycle: Cycle) -> bool:
    settings = db.session.get(SelectionSettings, cycle.id)
    return bool(settings and settings.decisions_released_at)


def decision_of(application_id: int) -> Decision | None:
    return db.session.scalar(select(Decision).where(Decision.application_id == application_id))


def _context(meeting: Meeting, application: Application, rationale: str) -> flow.MoveContext:
    q = quorum(meeting)
    return flow.MoveContext(now=clock.now(), cycle_state=application.cycle.state, reason=rationale or "",
                            meeting_open=meeting.status == "open", quorate=q.reached,
                            released=released(application.cycle))


def decide(meeting_id: int, application_id: int, *, outcome: str, need_ids: list[int], rationale: str,
           message: str | None, actor: User, expected_version: int | None) -> Decision:
    """Record (or correct) the committee's decision on one answer.

    `expected_version` is the version of the decision the admin saw (None: they saw none). A decision recorded
    or changed meanwhile by someone else is refused as stale rather than overwritten."""
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        raise LookupError(meeting_id)
    application = lock_row(Application, application_id)
    if application is None or application.cycle_id != meeting.cycle_id:
        raise LookupError(application_id)
    errors = []
    if outcome not in OUTCOME_STATE:
        errors.append(FieldError("outcome", _("Choisissez la décision : retenue, liste d'attente ou non retenue.")))
    targets = set(db.session.scalars(select(ApplicationNeed.need_id)
                                     .where(ApplicationNeed.application_id == application.id)))
    chosen = set(need_ids)
    if outcome == "selected" and not chosen:
        errors.append(FieldError("needs", _("Une solution retenue l'est pour au moins un des besoins qu'elle vise.")))
    if chosen - targets:
        errors.append(FieldError("needs", _("Une solution n'est retenue que pour des besoins qu'elle vise.")))
    if outcome != "selected" and chosen:
        errors.append(FieldError("needs", _("Seule une solution retenue est associée à des besoins.")))
    if not (rationale or "").strip():
        errors.append(FieldError("rationale", _("La motivation de la décision est obligatoire.")))
    ctx = _context(meeting, application, rationale)
    blockers = [r for r in flow.decision_refusals(ctx) if r.code != "rationale_required"]
    if application.status not in DECIDABLE_STATES:
        blockers.insert(0, Refusal("illegal_move", {"state": application.status}))
    if blockers:
        errors.extend(FieldError(None, refusal_message(r)) for r in blockers)
    if errors:
        raise Invalid(errors)

    existing = decision_of(application.id)
    if existing is not None:
        db.session.refresh(existing, with_for_update=True)
    if (existing is None) != (expected_version is None) or (
            existing is not None and existing.version != expected_version):
        raise Refused([Refusal("stale")])

    before_state = application.status
    target_state = OUTCOME_STATE[outcome]
    if before_state != target_state:
        try:
            application.status = flow.ApplicationFlow(before_state, ctx).fire(OUTCOME_TRIGGER[outcome])
        except MoveRefused as exc:
            raise Invalid([FieldError(None, refusal_message(r)) for r in exc.refusals]) from None
        application.updated_at = clock.now()
    now = clock.now()
    before = _snapshot(existing) if existing else None
    if existing is None:
        decision = Decision(cycle_id=application.cycle_id, application_id=application.id, meeting_id=meeting.id,
                            outcome=outcome, rationale=rationale.strip(), message_to_company=(message or "").strip()
                            or None, decided_at=now, decided_by_id=actor.id)
        decision.needs = [DecisionNeed(need_id=n) for n in sorted(chosen)]
        db.session.add(decision)
    else:
        decision = existing
        decision.meeting_id, decision.outcome, decision.rationale = meeting.id, outcome, rationale.strip()
        decision.message_to_company = (message or "").strip() or None
        decision.decided_at, decision.decided_by_id = now, actor.id
        keep = {dn.need_id: dn for dn in decision.needs}
        decision.needs = [keep.get(n) or DecisionNeed(need_id=n) for n in sorted(chosen)]
    try:
        db.session.flush()
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        raise Refused([Refusal("stale")]) from None
    audit.record("decision.correct" if existing else "decision.record", decision, actor=actor, before=before,
                 after={**_snapshot(decision), "application_status": application.status,
                        "application_status_before": before_state})
    return decision


def _snapshot(decision: Decision) -> dict[str, Any]:
    return {"outcome": decision.outcome, "rationale": decision.rationale, "meeting_id": decision.meeting_id,
            "message_to_company": decision.message_to_company, "needs": sorted(dn.need_id for dn in decision.needs),
            "application_id": decision.application_id}


def decisions_of(meeting: Meeting) -> list[Decision]:
    return list(db.session.scalars(
        select(Decision).where(Decision.meeting_id == meeting.id)
        .options(selectinload(Decision.application).selectinload(Application.company).selectinload(Company.organization),
                 selectinload(Decision.needs).selectinload(DecisionNeed.need))
        .order_by(Decision.decided_at, Decision.id)))


def undecided_count(cycle: Cycle) -> int:
    """Eligible answers without a decision (a waiting list is a decision)."""
    return db.session.scalar(
        select(func.count(Application.id)).outerjoin(Decision, Decision.application_id == Application.id)
        .where(Application.cycle_id == cycle.id, Application.status == "eligible", Decision.id.is_(None))) or 0


def decision_count(cycle: Cycle) -> int:
    return db.session.scalar(select(func.count(Decision.id)).where(Decision.cycle_id == cycle.id)) or 0


def outcome_counts(cycle: Cycle) -> dict[str, int]:
    rows = db.session.execute(select(Decision.outcome, func.count()).where(Decision.cycle_id == cycle.id)
                              .group_by(Decision.outcome))
    return {outcome: count for outcome, count in rows}


def minutes_columns() -> list[Any]:
    from innovation_cycle.services.listings import Column

    return [
        Column(lazy_gettext("N°"), lambda d: d.application_id),
        Column(lazy_gettext("Solution"), lambda d: d.application.solution_name),
        Column(lazy_gettext("Entreprise"), lambda d: d.application.company.organization.name),
        Column(lazy_gettext("Décision"), lambda d: outcome_label(d.outcome)),
        Column(lazy_gettext("Retenue pour les besoins"), lambda d: " | ".join(
            sorted(dn.need.title for dn in d.needs))),
        Column(lazy_gettext("Motivation"), lambda d: d.rationale),
        Column(lazy_gettext("Message à l'entreprise"), lambda d: d.message_to_company),
        Column(lazy_gettext("Décidée le"), lambda d: clock.to_paris(d.decided_at).replace(tzinfo=None)),
    ]


def minutes_rows(meeting: Meeting) -> list[Decision]:
    return decisions_of(meeting)


# --- release ---------------------------------------------------------------------------------------------

NOT_AN_AWARD = lazy_gettext(
    "Être retenu n'est pas l'attribution d'un marché et n'oblige aucun acheteur à acheter : l'AMI est un "
    "sourcing (article R2111-1 du code de la commande publique).")


def release(cycle_id: int, actor: User) -> bool:
    """Release the cycle's decisions, once: one mail per company, one shortlist per buyer. Returns False when
    they had already been released (a second click sends nothing)."""
    cycle = lock_row(Cycle, cycle_id)
    if cycle is None:
        raise LookupError(cycle_id)
    settings = db.session.get(SelectionSettings, cycle.id, with_for_update=True, populate_existing=True)
    if settings is not None and settings.decisions_released_at is not None:
        return False
    if cycle.state != flow.DECISION_STAGE:
        raise Refused([Refusal("not_in_selection")])
    decisions = list(db.session.scalars(
        select(Decision).where(Decision.cycle_id == cycle.id)
        .options(selectinload(Decision.application).selectinload(Application.company)
                 .selectinload(Company.organization),
                 selectinload(Decision.needs).selectinload(DecisionNeed.need).selectinload(Need.organization))
        .order_by(Decision.application_id)))
    if not decisions:
        raise Refused([Refusal("nothing_to_release")])
    now = clock.now()
    if settings is None:
        settings = SelectionSettings(cycle_id=cycle.id)
        db.session.add(settings)
    settings.decisions_released_at = now
    for decision in decisions:
        decision.released_at = now
    _mail_companies(cycle, decisions)
    _mail_buyers(cycle, decisions)
    db.session.flush()
    audit.record("decision.release", cycle, actor=actor, after={
        "decisions": len(decisions), "selected": sum(d.outcome == "selected" for d in decisions)})
    return True


def _company_comments(application_ids: list[int]) -> dict[int, list[str]]:
    """The comments reviewers meant for the company, unsigned, from submitted reviews only."""
    found: dict[int, list[str]] = {}
    for app_id, comment in db.session.execute(
            select(Review.application_id, Review.company_comment)
            .where(Review.application_id.in_(application_ids), Review.status == "submitted",
                   Review.company_comment.is_not(None)).order_by(Review.application_id, Review.id)):
        if comment.strip():
            found.setdefault(app_id, []).append(comment.strip())
    return found


def _mail_companies(cycle: Cycle, decisions: list[Decision]) -> None:
    by_company: dict[int, list[Decision]] = {}
    for d in decisions:
        by_company.setdefault(d.application.company_id, []).append(d)
    comments = _company_comments([d.application_id for d in decisions])
    for company_id, items in by_company.items():
        company = items[0].application.company
        authors = [d.application.author for d in items if d.application.author is not None]
        reps = representatives(company)
        recipient = authors[0] if authors else (reps[0] if reps else None)
        if recipient is None:
            continue
        copies = sorted({u.email for u in reps} - {recipient.email})
        mail.queue(recipient.email, _("Décisions du comité de pilotage — AMI %(year)s", year=cycle.year),
                   "selection_decision", key=f"selection-release:{cycle.id}:company:{company_id}",
                   person=recipient, company=company, cycle=cycle, items=items, comments=comments,
                   outcome_label=outcome_label, not_an_award=str(NOT_AN_AWARD), copies=copies,
                   link=url_for("applications.index", _external=True))


def _mail_buyers(cycle: Cycle, decisions: list[Decision]) -> None:
    """Each buyer of a need with selected solutions gets the shortlist of their organization's needs."""
    per_org: dict[int, dict[int, tuple[Need, list[Decision]]]] = {}
    for d in decisions:
        if d.outcome != "selected":
            continue
        for dn in d.needs:
            need = dn.need
            per_org.setdefault(need.organization_id, {}).setdefault(need.id, (need, []))[1].append(d)
    if not per_org:
        return
    company_org_ids = {d.application.company.organization_id for d in decisions if d.outcome == "selected"}
    contacts: dict[int, list[User]] = {}
    for user in db.session.scalars(select(User).where(User.organization_id.in_(company_org_ids),
                                                      User.active.is_(True)).order_by(User.name, User.id)):
        if user.has_role(Role.COMPANY):
            contacts.setdefault(user.organization_id, []).append(user)
    buyers = db.session.scalars(select(User).where(User.organization_id.in_(per_org), User.active.is_(True))
                                .order_by(User.id))
    for buyer in buyers:
        if not buyer.has_role(Role.BUYER):
            continue
        needs = sorted(per_org[buyer.organization_id].values(), key=lambda item: item[0].title)
        mail.queue(buyer.email, _("Solutions retenues pour vos besoins — AMI %(year)s", year=cycle.year),
                   "selection_shortlist", key=f"selection-release:{cycle.id}:buyer:{buyer.id}", person=buyer,
                   cycle=cycle, needs=needs, contacts=contacts, not_an_award=str(NOT_AN_AWARD))


def released_decision_for(application: Application) -> Decision | None:
    """What the company may see of the committee's decision: only once released."""
    decision = decision_of(application.id)
    return decision if decision is not None and decision.released_at is not None else None


# --- the cycle's guard -----------------------------------------------------------------------------------


def _undecided_blocker(cycle: Cycle) -> list[Refusal]:
    count = undecided_count(cycle)
    if not count:
        return []
    return [Refusal("selection_undecided", {"count": count, "message": ngettext(
        "%(num)d réponse éligible n'a pas encore de décision du comité. Pour passer outre, forcez le "
        "changement en donnant une raison.",
        "%(num)d réponses éligibles n'ont pas encore de décision du comité. Pour passer outre, forcez le "
        "changement en donnant une raison.", count)})]


def _release_blocker(cycle: Cycle) -> list[Refusal]:
    """Recorded decisions must reach the companies before the cycle moves on (a cycle without any decision,
    e.g. without eligible answers, has nothing to release)."""
    if released(cycle) or not decision_count(cycle):
        return []
    return [Refusal("selection_not_released", {"message": _(
        "Les décisions du comité n'ont pas été communiquées aux entreprises et aux acheteurs : communiquez-les "
        "avant de quitter la sélection (ceci ne se force pas).")})]


cycles.register_exit_condition("selection", _undecided_blocker, forceable=True)
cycles.register_exit_condition("selection", _release_blocker, forceable=False)


# --- dashboard tasks ---------------------------------------------------------------------------------------


def _admin_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Any]:
    if not user.has_role(Role.ADMIN) or cycle is None or cycle.state != flow.DECISION_STAGE:
        return []
    window = cycle.window("selection")
    deadline = window.closes_at if window else None
    tasks = []
    for meeting in db.session.scalars(select(Meeting).where(Meeting.cycle_id == cycle.id,
                                                            Meeting.status != "closed").order_by(Meeting.scheduled_at)):
        tasks.append(Task(_("Tenir la séance « %(title)s » du comité de pilotage (%(when)s)", title=meeting.title,
                            when=formatting.when(meeting.scheduled_at)), meeting.scheduled_at,
                          url_for("selection.meeting", meeting_id=meeting.id)))
    left = undecided_count(cycle)
    if left:
        tasks.append(Task(ngettext("%(num)d réponse éligible sans décision du comité",
                                   "%(num)d réponses éligibles sans décision du comité", left), deadline,
                          url_for("selection.ranking", cycle_id=cycle.id)))
    if not released(cycle) and decision_count(cycle):
        tasks.append(Task(_("Communiquer les décisions du comité aux entreprises et aux acheteurs"), deadline,
                          url_for("selection.release_page", cycle_id=cycle.id)))
    return tasks


if _admin_tasks not in TASK_SOURCES:
    TASK_SOURCES.append(_admin_tasks)
