"""What each person has to do, and by which deadline: computed from roles, the cycle's stage and its dates.

Later areas (needs, answers, reviews, commitments) add tasks about their own records through `TASK_SOURCES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import CommitteeMember, Cycle, Role, User
from innovation_cycle.services import cycles
from workflows.cycle import STAGES


@dataclass
class Task:
    title: str
    deadline: datetime | None = None
    url: str | None = None
    detail: str | None = None
    urgent: bool = False


TaskSource = Callable[[User, Cycle | None, datetime], list[Task]]
TASK_SOURCES: list[TaskSource] = []


def _deadline(cycle: Cycle, stage: str) -> datetime | None:
    window = cycle.window(stage)
    return window.closes_at if window else None


def _stage_url(role: Role, stage: str) -> str:
    """Where a role's stage task is done (the public page of the current cycle for a stage with no page of its
    own for that role: it states the stage and its calendar)."""
    endpoints = {
        (Role.BUYER, "needs_collection"): ("needs.index", {}),
        (Role.PFRA_AGENT, "needs_collection"): ("needs.index", {"status": "submitted"}),
        (Role.COMPANY, "ami_sourcing"): ("applications.index", {}),
        (Role.COMMITTEE_MEMBER, "selection"): ("reviews.index", {}),
        (Role.BUYER, "commitment_census"): ("commitments.index", {}),
        (Role.PFRA_AGENT, "commitment_census"): ("commitments.index", {}),
        (Role.UGAP_AGENT, "commitment_census"): ("commitments.index", {}),
    }
    endpoint, args = endpoints.get((role, stage), ("public.home", {}))
    return url_for(endpoint, **args)


def _answered(user: User, cycle: Cycle) -> bool:
    """The company of this representative has an answer submitted in the cycle (its AMI task is done)."""
    from innovation_cycle.models import Application, Company

    return db.session.scalar(
        select(Application.id).join(Company, Company.id == Application.company_id)
        .where(Application.cycle_id == cycle.id, Company.organization_id == user.organization_id,
               Application.status != "draft", Application.status != "withdrawn").limit(1)) is not None


def _stage_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Task]:
    if cycle is None or cycle.state not in STAGES:
        return []
    stage = cycle.state
    deadline = _deadline(cycle, stage)
    if deadline is not None and deadline <= now:
        return []  # the window is over: nothing left to do in it, whatever the admin has not moved yet
    tasks: list[Task] = []
    by_role: dict[Role, dict[str, str]] = {
        Role.BUYER: {"needs_collection": _("Déposer les besoins d'innovation de votre organisation"),
                     "commitment_census": _("Indiquer vos intentions d'achat pour les solutions retenues")},
        Role.PFRA_AGENT: {"needs_collection": _("Qualifier les besoins déposés par les acheteurs"),
                          "commitment_census": _("Recenser les engagements d'achat de l'État et régionaux")},
        Role.UGAP_AGENT: {"commitment_census": _("Recenser les engagements des clients nationaux de l'UGAP "
                                                 "et choisir la procédure d'achat")},
        Role.COMPANY: {"ami_sourcing": _("Répondre à l'appel à manifestation d'intérêt (AMI)")},
    }
    for role, stages in by_role.items():
        if user.has_role(role) and stage in stages:
            if role == Role.COMPANY and user.organization_id is not None and _answered(user, cycle):
                continue
            tasks.append(Task(stages[stage], deadline, _stage_url(role, stage)))
    if user.has_role(Role.COMMITTEE_MEMBER) and stage == "selection":
        on_committee = db.session.scalar(select(CommitteeMember.id).where(
            CommitteeMember.cycle_id == cycle.id, CommitteeMember.user_id == user.id))
        if on_committee:
            tasks.append(Task(_("Évaluer les solutions candidates et participer à la sélection"), deadline,
                              _stage_url(Role.COMMITTEE_MEMBER, stage)))
    return tasks


def _admin_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Task]:
    if not user.has_role(Role.ADMIN):
        return []
    tasks: list[Task] = []
    for c in db.session.scalars(select(Cycle).where(Cycle.state != "closed").order_by(Cycle.year)):
        url = url_for("admin.cycle", cycle_id=c.id)
        if c.state == "draft":
            first = c.window(STAGES[0])
            tasks.append(Task(_("Cycle %(year)s : vérifier le calendrier et ouvrir la collecte des besoins",
                                year=c.year), first.opens_at if first else None, url))
            continue
        window = c.window(c.state) if c.state in STAGES else None
        if window and window.closes_at <= now:
            tasks.append(Task(_("Cycle %(year)s : la période « %(stage)s » est close, passez à l'étape suivante",
                                year=c.year, stage=cycles.state_label(c.state)), window.closes_at, url, urgent=True))
        elif window:
            tasks.append(Task(_("Cycle %(year)s : suivre l'étape « %(stage)s »", year=c.year,
                                stage=cycles.state_label(c.state)), window.closes_at, url))
    return tasks


TASK_SOURCES.extend([_admin_tasks, _stage_tasks])


def tasks_for(user: User, cycle: Cycle | None = None) -> list[Task]:
    """`user`'s tasks, soonest deadline first; `cycle` is the current cycle when the caller has it already."""
    now = clock.now()
    cycle = cycle or cycles.current_cycle()
    tasks = [t for source in TASK_SOURCES for t in source(user, cycle, now)]
    for t in tasks:
        t.urgent = t.urgent or bool(t.deadline and 0 <= (t.deadline - now).total_seconds() < 7 * 86400)
    far = clock.paris_datetime(9999, 1, 1)
    return sorted(tasks, key=lambda t: t.deadline or far)
