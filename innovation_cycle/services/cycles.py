"""The yearly cycle: its calendar, its creation, and its moves through the workflow.

A move locks the cycle row (SELECT … FOR UPDATE on PostgreSQL) and checks the state the user saw, and the
row's version column turns any remaining race into a refusal: two moves at once never skip a stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from innovation_cycle import clock, formatting, signals
from innovation_cycle.extensions import db
from innovation_cycle.models import Convention, Cycle, StageWindow, User
from innovation_cycle.services import audit
from innovation_cycle.services.locking import lock_row
from workflows import cycle as flow
from workflows.base import MoveRefused, Refusal
from workflows.cycle import STAGES, MoveContext

STATE_LABELS = {
    "draft": lazy_gettext("Brouillon"),
    "needs_collection": lazy_gettext("Collecte des besoins"),
    "ami_sourcing": lazy_gettext("Sourcing par l'AMI"),
    "selection": lazy_gettext("Listing et sélection"),
    "commitment_census": lazy_gettext("Recensement des engagements d'achat"),
    "results_communication": lazy_gettext("Communication des résultats"),
    "closed": lazy_gettext("Clos"),
}
TRIGGER_LABELS = {
    flow.ADVANCE: lazy_gettext("Passer à l'étape suivante"),
    flow.STEP_BACK: lazy_gettext("Revenir à l'étape précédente"),
    flow.CLOSE: lazy_gettext("Clore le cycle"),
}
# Source document: needs Feb–Mar, AMI April, selection May–July, census Aug–Sep, results October.
DEFAULT_CALENDAR: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "needs_collection": ((2, 1), (3, 31)),
    "ami_sourcing": ((4, 1), (4, 30)),
    "selection": ((5, 1), (7, 31)),
    "commitment_census": ((8, 1), (9, 30)),
    "results_communication": ((10, 1), (10, 31)),
}

Windows = dict[str, tuple[datetime, datetime]]
# Exit conditions per stage, filled by later areas: each returns refusals for a cycle.
ExitCondition = Callable[[Cycle], list[Refusal]]
EXIT_CONDITIONS: dict[str, list[tuple[ExitCondition, bool]]] = {stage: [] for stage in STAGES}


def register_exit_condition(stage: str, condition: ExitCondition, *, forceable: bool = False) -> None:
    """Add a condition to leave `stage`; a forceable one can be bypassed by an admin with a reason."""
    EXIT_CONDITIONS[stage].append((condition, forceable))


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


def _when(value: datetime) -> str:
    return formatting.when(value)


def refusal_message(refusal: Refusal) -> str:
    """The French sentence for a workflow refusal."""
    p = refusal.params
    messages: dict[str, Callable[[], str]] = {
        "illegal_move": lambda: _("Ce changement d'étape n'est pas possible depuis l'étape « %(state)s ».",
                                  state=state_label(p["state"])),
        "window_open": lambda: _(
            "La période de l'étape en cours n'est pas terminée (clôture le %(date)s). Pour passer outre, "
            "forcez le changement en donnant une raison.", date=_when(p["closes_at"])),
        "force_needs_reason": lambda: _("Un changement forcé doit être motivé : indiquez une raison."),
        "step_back_needs_reason": lambda: _("Indiquez la raison du retour à l'étape précédente."),
        "calendar_missing": lambda: _("Le calendrier du cycle est incomplet : renseignez les cinq étapes."),
        "calendar_invalid": lambda: _("Le calendrier du cycle n'est pas valide : %(detail)s",
                                      detail=p.get("detail", "")),
        "stale": lambda: _("Le cycle a changé entre-temps (il est maintenant à l'étape « %(state)s »). "
                           "Rechargez la page et vérifiez avant de recommencer.", state=state_label(p["state"])),
        "guard_failed": lambda: _("Le changement d'étape a été refusé."),
    }
    make = messages.get(refusal.code)
    return make() if make else str(p.get("message", refusal.code))


# --- calendar ------------------------------------------------------------------------------------------


def proposed_calendar(year: int) -> Windows:
    """The source document's calendar for `year`, in Paris time: each stage closes at 23:59 on its last day."""
    return {
        stage: (clock.paris_datetime(year, om, od), clock.paris_datetime(year, cm, cd, 23, 59))
        for stage, ((om, od), (cm, cd)) in DEFAULT_CALENDAR.items()
    }


@dataclass
class CalendarError:
    field: str | None  # "<stage>_opens_at" / "<stage>_closes_at" / "year" / None
    message: str


def validate_calendar(convention: Convention, year: int, windows: Windows) -> list[CalendarError]:
    errors: list[CalendarError] = []
    if year not in convention.years:
        errors.append(CalendarError("year", _(
            "L'année %(year)s est hors des trois années de la convention (%(first)s à %(last)s).",
            year=year, first=convention.years[0], last=convention.years[-1])))
    previous: tuple[str, datetime] | None = None
    for stage in STAGES:
        if stage not in windows:
            errors.append(CalendarError(f"{stage}_opens_at", _("Renseignez les dates de l'étape « %(stage)s ».",
                                                                  stage=state_label(stage))))
            continue
        opens_at, closes_at = windows[stage]
        if closes_at <= opens_at:
            errors.append(CalendarError(f"{stage}_closes_at", _(
                "« %(stage)s » : la clôture doit être postérieure à l'ouverture.", stage=state_label(stage))))
        if previous and opens_at < previous[1]:
            errors.append(CalendarError(f"{stage}_opens_at", _(
                "« %(stage)s » ne peut pas ouvrir avant la clôture de « %(previous)s » (%(date)s) : "
                "les étapes se suivent sans se chevaucher.",
                stage=state_label(stage), previous=state_label(previous[0]), date=_when(previous[1]))))
        for field, value in ((f"{stage}_opens_at", opens_at), (f"{stage}_closes_at", closes_at)):
            day = clock.to_paris(value).date()
            if not convention.starts_on <= day <= convention.ends_on:
                errors.append(CalendarError(field, _(
                    "« %(stage)s » : la date %(date)s est hors de la période de la convention "
                    "(du %(start)s au %(end)s).", stage=state_label(stage), date=_when(value),
                    start=convention.starts_on.strftime("%d/%m/%Y"), end=convention.ends_on.strftime("%d/%m/%Y"))))
        previous = (stage, closes_at)
    if not errors and clock.to_paris(windows[STAGES[0]][0]).year != year:
        errors.append(CalendarError(f"{STAGES[0]}_opens_at", _(
            "La collecte des besoins doit ouvrir pendant l'année du cycle (%(year)s).", year=year)))
    return errors


class CalendarInvalid(Exception):
    def __init__(self, errors: list[CalendarError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def windows_of(cycle: Cycle) -> Windows:
    return {w.stage: (w.opens_at, w.closes_at) for w in cycle.windows}


def _windows_snapshot(windows: Windows) -> dict[str, list[str]]:
    return {s: [o.isoformat(), c.isoformat()] for s, (o, c) in windows.items()}


def _set_windows(cycle: Cycle, windows: Windows) -> None:
    existing = {w.stage: w for w in cycle.windows}
    for position, stage in enumerate(STAGES):
        opens_at, closes_at = windows[stage]
        window = existing.get(stage)
        if window is None:
            cycle.windows.append(StageWindow(stage=stage, position=position, opens_at=opens_at, closes_at=closes_at))
        else:
            window.opens_at, window.closes_at = opens_at, closes_at


def create_cycle(convention: Convention, year: int, windows: Windows | None = None,
                 auto_advance: bool = False, reminder_offsets: str | None = None) -> Cycle:
    windows = windows or proposed_calendar(year)
    errors = validate_calendar(convention, year, windows)
    if db.session.scalar(select(Cycle.id).where(Cycle.convention_id == convention.id, Cycle.year == year)):
        errors.insert(0, CalendarError("year", _("La convention a déjà un cycle pour l'année %(year)s.", year=year)))
    if errors:
        raise CalendarInvalid(errors)
    cycle = Cycle(convention=convention, year=year, state="draft", auto_advance=auto_advance,
                  created_at=clock.now())
    if reminder_offsets is not None:
        cycle.reminder_offsets = reminder_offsets
    _set_windows(cycle, windows)
    db.session.add(cycle)
    db.session.flush()
    audit.record("cycle.create", cycle, after={"year": year, "convention_id": convention.id,
                                               "windows": _windows_snapshot(windows)})
    return cycle


def update_calendar(cycle: Cycle, windows: Windows, *, auto_advance: bool | None = None,
                    reason: str | None = None, reminder_offsets: str | None = None) -> None:
    errors = validate_calendar(cycle.convention, cycle.year, windows)
    if errors:
        raise CalendarInvalid(errors)
    before = {"windows": _windows_snapshot(windows_of(cycle)), "auto_advance": cycle.auto_advance,
              "reminder_offsets": cycle.reminder_offsets}
    _set_windows(cycle, windows)
    if auto_advance is not None:
        cycle.auto_advance = auto_advance
    if reminder_offsets is not None:
        cycle.reminder_offsets = reminder_offsets
    audit.record("cycle.calendar", cycle, before=before, reason=reason,
                 after={"windows": _windows_snapshot(windows), "auto_advance": cycle.auto_advance,
                        "reminder_offsets": cycle.reminder_offsets})
    # Pending reminders follow the new closing times (issue 4): notifications listens.
    signals.calendar_changed.send(cycle)


def _shift_year(value: datetime, years: int) -> datetime:
    local = clock.to_paris(value)
    try:
        moved = local.replace(year=local.year + years)
    except ValueError:  # 29 February
        moved = local.replace(year=local.year + years, day=28)
    return clock.paris_datetime(moved.year, moved.month, moved.day, moved.hour, moved.minute)


def prepare_next(cycle: Cycle) -> Cycle:
    """Copy a cycle's settings (calendar shifted by a year, automatic moves, committee) into next year."""
    windows = {s: (_shift_year(o, 1), _shift_year(c, 1)) for s, (o, c) in windows_of(cycle).items()}
    nxt = create_cycle(cycle.convention, cycle.year + 1, windows, auto_advance=cycle.auto_advance,
                       reminder_offsets=cycle.reminder_offsets)
    from innovation_cycle.models import CommitteeMember

    for member in cycle.committee:
        nxt.committee.append(CommitteeMember(user_id=member.user_id))
    db.session.flush()
    # Areas copy what they own (the selection grid and settings, issue 7).
    signals.next_cycle_prepared.send(cycle, nxt=nxt)
    audit.record("cycle.prepare_next", nxt, before={"from_cycle": cycle.id},
                 after={"year": nxt.year, "committee": [m.user_id for m in cycle.committee]})
    return nxt


# --- moves ---------------------------------------------------------------------------------------------


def _context(cycle: Cycle, now: datetime, forced: bool, reason: str, trigger: str | None = None) -> MoveContext:
    ctx = MoveContext(now=now, forced=forced, reason=reason or "")
    if cycle.state in STAGES:
        window = cycle.window(cycle.state)
        ctx.window_closes_at = window.closes_at if window else None
        # Exit conditions guard leaving forward; a step back ignores them (and need not query for them).
        for condition, forceable in ([] if trigger == flow.STEP_BACK else EXIT_CONDITIONS[cycle.state]):
            (ctx.forceable_blockers if forceable else ctx.exit_blockers).extend(condition(cycle))
    if cycle.state == "draft":
        windows = windows_of(cycle)
        if len(windows) != len(STAGES):
            ctx.calendar_problems.append(Refusal("calendar_missing"))
        else:
            for error in validate_calendar(cycle.convention, cycle.year, windows):
                ctx.calendar_problems.append(Refusal("calendar_invalid", {"detail": error.message}))
    return ctx


def available_moves(cycle: Cycle) -> list[str]:
    return flow.triggers_from(cycle.state)


def move_refusals(cycle: Cycle, trigger: str, *, forced: bool = False, reason: str = "") -> list[Refusal]:
    """Why `trigger` would be refused now (for the page to explain before the admin presses)."""
    return flow.refusals(cycle.state, trigger, _context(cycle, clock.now(), forced, reason, trigger))


def move(cycle_id: int, trigger: str, *, expected_state: str, actor: User | None, forced: bool = False,
         reason: str = "") -> Cycle:
    """Fire `trigger` on the cycle, as the user who saw it in `expected_state` (or the system: actor None).

    Raises MoveRefused with French-ready refusals; the caller rolls back."""
    cycle = lock_row(Cycle, cycle_id)
    if cycle is None:
        raise LookupError(cycle_id)
    if cycle.state != expected_state:
        raise MoveRefused([Refusal("stale", {"state": cycle.state})])
    before_state = cycle.state
    ctx = _context(cycle, clock.now(), forced, reason, trigger)
    machine = flow.CycleFlow(before_state, ctx)
    new_state = machine.fire(trigger)
    cycle.state = new_state
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        current = db.session.get(Cycle, cycle_id)
        raise MoveRefused([Refusal("stale", {"state": current.state if current else before_state})]) from None
    audit.record(
        f"cycle.{trigger}",
        cycle,
        before={"state": before_state},
        after={"state": new_state, "forced": flow.was_forced(before_state, trigger, ctx)},
        reason=reason or None,
        actor=actor,
    )
    # The new stage's reminders and the announcements of a stage that opens, in the move's transaction:
    # services.notifications listens (this module does not import it, so the two do not import each other).
    signals.cycle_moved.send(cycle, before=before_state, trigger=trigger)
    return cycle


def current_cycle() -> Cycle | None:
    """The cycle the home page shows: the latest one under way, else the latest one."""
    running = db.session.scalar(
        select(Cycle).where(Cycle.state.not_in(["draft", "closed"])).order_by(Cycle.year.desc()).limit(1)
    )
    return running or db.session.scalar(select(Cycle).order_by(Cycle.year.desc(), Cycle.id.desc()).limit(1))


# --- Issue 7, item 12: the committee is drawn from the members marked "on the committee" -------------------


class CommitteeRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def committee_eligible(cycle: Cycle, user: User) -> bool:
    """The person belongs to an organization that is a member of the cycle's convention marked as sitting on
    the steering committee (the convention: the founding partners and the associated members who volunteer)."""
    from innovation_cycle.models import ConventionMembership

    return user.organization_id is not None and bool(db.session.scalar(select(ConventionMembership.id).where(
        ConventionMembership.convention_id == cycle.convention_id,
        ConventionMembership.organization_id == user.organization_id,
        ConventionMembership.on_committee.is_(True))))


def add_committee_member(cycle: Cycle, user: User) -> None:
    """Add a person to the cycle's committee (audited); the reviews area then records their automatic
    conflicts of interest."""
    from innovation_cycle.models import CommitteeMember, Role

    if not user.has_role(Role.COMMITTEE_MEMBER):
        raise CommitteeRefused(_("Cette personne n'a pas le rôle de membre du comité de pilotage."))
    if not committee_eligible(cycle, user):
        raise CommitteeRefused(_(
            "%(name)s n'appartient à aucune organisation membre de la convention siégeant au comité de pilotage. "
            "Marquez d'abord son organisation « au comité » dans la convention.", name=user.name))
    if any(m.user_id == user.id for m in cycle.committee):
        raise CommitteeRefused(_("Cette personne fait déjà partie du comité de ce cycle."))
    cycle.committee.append(CommitteeMember(user_id=user.id))
    db.session.flush()
    audit.record("cycle.committee_add", cycle, after={"user_id": user.id})
    signals.committee_member_added.send(cycle, user_id=user.id)
