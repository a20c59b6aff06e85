"""Who hears what, and when: reminders before a stage closes, announcements when one opens, event mails,
daily digests, automatic stage moves, and the periodic dispatcher that ties them together.

The database is the source of truth (one row per reminder and recipient, `models.notifications`); the rows
travel through `services.delivery`. Reminders are computed from the calendar:

- a cycle in a stage has, for that stage's closing time D and each offset N of `cycle.reminder_offsets`, a
  round of reminders due at 09:00 (Paris) N days before D, moved to the working day before when that day is
  a weekend or a French public holiday;
- a round is written when the cycle enters the stage or its calendar changes (for the audience of that
  moment), and refreshed when it falls due: who has finished is cancelled, who has started since is added;
- a round whose time passed before the cycle got there is skipped, except the latest one (someone who
  enters a stage three days before it closes gets the 7-day reminder now, not also the 14-day one);
- the key names the deadline: a changed closing time makes new rounds and cancels the pending ones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import holidays
from flask import current_app, has_request_context
from flask_babel import force_locale, format_timedelta
from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, or_, select, update

from innovation_cycle import clock, formatting, signals
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    CommitteeMember,
    Cycle,
    MailingListSubscriber,
    Notification,
    Role,
    StageWindow,
    User,
)
from innovation_cycle.models.notifications import (
    ALERT,
    ANNOUNCEMENT,
    CANCELLED,
    DIGEST,
    EVENT,
    PENDING,
    REMINDER,
    SENT,
)
from innovation_cycle.services import delivery, ics, mail

# Re-exported: `notifications.register_audience` keeps working for the areas that call it.
from innovation_cycle.services.reminders import (
    AUDIENCES,
    REMINDER_TEXTS,
    WORK_ENDPOINTS,
    Audience,
    register_audience,
)
from innovation_cycle.services.reminders import active_users as _active
from innovation_cycle.services.reminders import having_role as _having_role
from innovation_cycle.services.reminders import ordered as _ordered
from workflows.cycle import STAGES

log = logging.getLogger(__name__)

# --- what each stage asks of whom: each area registers it (services.reminders) ---------------------------

__all__ = ["AUDIENCES", "Audience", "REMINDER_TEXTS", "WORK_ENDPOINTS", "register_audience"]


def _endpoint(candidates: Iterable[str]) -> str:
    return next((e for e in candidates if e in current_app.view_functions), "dashboard.index")


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for a mail, built from the configured public address (PUBLIC_URL, or SERVER_NAME and
    PREFERRED_URL_SCHEME), never from the request: a forged Host header must not put a reset link to
    another site into someone's mailbox. The one way links in mails are built, from a request or a worker."""
    base = urlsplit(public_base_url())
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path.rstrip("/") or "/",
                                       url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


def public_base_url() -> str:
    """The site's public address, e.g. https://cycle.example.fr (production requires it: config.check)."""
    config = current_app.config
    if config.get("PUBLIC_URL"):
        return config["PUBLIC_URL"]
    if config.get("SERVER_NAME"):
        return f"{config.get('PREFERRED_URL_SCHEME', 'http')}://{config['SERVER_NAME']}"
    return "http://127.0.0.1:5000"


def stage_label(stage: str) -> str:
    from innovation_cycle.services.cycles import state_label

    return state_label(stage)


# --- time ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _french_holidays(year: int) -> holidays.HolidayBase:
    return holidays.France(years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _french_holidays(day.year)


def reminder_due_at(deadline: datetime, offset_days: int) -> datetime:
    """09:00 in Paris `offset_days` before the deadline's day, on the working day before if that one is not."""
    day = clock.to_paris(deadline).date() - timedelta(days=offset_days)
    while not is_working_day(day):
        day -= timedelta(days=1)
    due = clock.paris_datetime(day.year, day.month, day.day, current_app.config["REMINDER_HOUR"])
    return min(due, deadline - timedelta(hours=1))


def next_digest_at(after: datetime) -> datetime:
    local = clock.to_paris(after).date()
    for day in (local, local + timedelta(days=1)):
        at = clock.paris_datetime(day.year, day.month, day.day, current_app.config["DIGEST_HOUR"])
        if at >= after:
            return at
    raise AssertionError("unreachable")  # pragma: no cover


def _stamp(value: datetime) -> str:
    return clock.to_paris(value).strftime("%Y%m%d%H%M")


# --- reminders -----------------------------------------------------------------------------------------


def reminder_plan(cycle: Cycle, now: datetime) -> list[tuple[int, datetime]]:
    """The rounds (offset, due time) of the current stage that should exist now; the latest past round last."""
    if cycle.state not in STAGES:
        return []
    window = cycle.window(cycle.state)
    if window is None or now >= window.closes_at:
        return []
    rounds: dict[datetime, int] = {}
    for offset in cycle.offsets:  # largest first: a smaller offset on the same day wins
        rounds[reminder_due_at(window.closes_at, offset)] = offset
    future = sorted((o, t) for t, o in rounds.items() if t > now)
    past = [(o, t) for t, o in rounds.items() if t <= now]
    latest = [max(past, key=lambda p: p[1])] if past else []
    return future + latest


def reminder_key(cycle_id: int, stage: str, deadline: datetime, offset: int, user_id: int) -> str:
    return f"reminder:{cycle_id}:{stage}:{_stamp(deadline)}:{offset}:{user_id}"


def _reminder_subject(stage: str, deadline: datetime) -> str:
    return _("Rappel : « %(stage)s » se termine le %(date)s", stage=stage_label(stage),
             date=formatting.when(deadline, weekday=True))


def _sync_round(cycle: Cycle, stage: str, deadline: datetime, offset: int, due: datetime, users: list[User],
                now: datetime) -> int:
    """Make the round's rows match `users`: add the missing, cancel who has finished, bring back who
    started again. Only pending (or cancelled) rows change; queued and sent ones are past deciding."""
    rows = db.session.execute(select(Notification.key, Notification.user_id, Notification.status).where(
        Notification.kind == REMINDER, Notification.cycle_id == cycle.id, Notification.stage == stage,
        Notification.deadline == deadline, Notification.reminder_offset == offset)).all()
    existing = {user_id: (key, status) for key, user_id, status in rows}
    wanted = {u.id: u for u in users}
    subject = _reminder_subject(stage, deadline)
    new = [{"key": reminder_key(cycle.id, stage, deadline, offset, u.id), "kind": REMINDER, "user_id": u.id,
            "recipient": u.email, "cycle_id": cycle.id, "stage": stage, "deadline": deadline,
            "reminder_offset": offset, "subject": subject, "status": PENDING, "due_at": due, "created_at": now,
            "attempts": 0, "digest": False}
           for uid, u in wanted.items() if uid not in existing]
    delivery.insert_ignore(new)
    back = [key for uid, (key, status) in existing.items() if uid in wanted and status == CANCELLED]
    gone = [key for uid, (key, status) in existing.items() if uid not in wanted and status == PENDING]
    for keys, source, target, reason in ((back, CANCELLED, PENDING, None),
                                         (gone, PENDING, CANCELLED, "Plus rien à faire pour cette étape.")):
        for start in range(0, len(keys), 500):
            db.session.execute(update(Notification).where(
                Notification.key.in_(keys[start:start + 500]), Notification.status == source)
                .values(status=target, last_error=reason, due_at=due)
                .execution_options(synchronize_session=False))
    return len(new)


def _cancel_stale(cycle_ids: Sequence[int] | None = None) -> int:
    """Cancel pending reminders about a stage the cycle is no longer in, or a closing time that changed."""
    current = (select(StageWindow.id).join(Cycle, Cycle.id == StageWindow.cycle_id)
               .where(Cycle.id == Notification.cycle_id, Cycle.state == Notification.stage,
                      StageWindow.stage == Cycle.state, StageWindow.closes_at == Notification.deadline))
    query = (update(Notification)
             .where(Notification.kind == REMINDER, Notification.status == PENDING, ~exists(current))
             .values(status=CANCELLED, last_error="L'étape ou sa date de clôture a changé.")
             .execution_options(synchronize_session=False))
    if cycle_ids is not None:
        query = query.where(Notification.cycle_id.in_(list(cycle_ids)))
    return db.session.execute(query).rowcount


def _cancel_dropped_rounds(cycle: Cycle, offsets: list[int]) -> None:
    """Pending rows of rounds no longer planned (an offset removed, or an older round overtaken)."""
    db.session.execute(
        update(Notification).where(Notification.kind == REMINDER, Notification.status == PENDING,
                                   Notification.cycle_id == cycle.id, Notification.reminder_offset.not_in(offsets))
        .values(status=CANCELLED, last_error="Rappel remplacé par un rappel plus proche de la clôture.")
        .execution_options(synchronize_session=False))


def plan_reminders(cycle: Cycle, now: datetime | None = None) -> int:
    """Write every round of the cycle's current stage for today's audience (flushes; the caller commits).

    Called when the cycle moves and when its calendar changes."""
    now = now or clock.now()
    db.session.flush()
    _cancel_stale([cycle.id])
    plan = reminder_plan(cycle, now)
    _cancel_dropped_rounds(cycle, [o for o, _t in plan])
    audience_of = AUDIENCES.get(cycle.state)
    if not plan or audience_of is None:
        return 0
    users = audience_of(cycle)
    deadline = cycle.window(cycle.state).closes_at
    return sum(_sync_round(cycle, cycle.state, deadline, o, t, users, now) for o, t in plan)


def refresh_due_rounds(now: datetime) -> int:
    """The dispatcher's part: for each cycle under way, the round that falls due gets its audience refreshed
    (once: while it has due pending rows, or when it has none at all)."""
    _cancel_stale()
    db.session.commit()
    written = 0
    cycle_ids = list(db.session.scalars(select(Cycle.id).where(Cycle.state.in_(STAGES)).order_by(Cycle.id)))
    for cycle_id in cycle_ids:
        cycle = db.session.get(Cycle, cycle_id)
        plan = reminder_plan(cycle, now)
        _cancel_dropped_rounds(cycle, [o for o, _t in plan])  # a closed window plans nothing: all go
        past = [(o, t) for o, t in plan if t <= now]
        if not past or cycle.state not in AUDIENCES:
            db.session.commit()
            continue
        offset, due = past[-1]
        deadline = cycle.window(cycle.state).closes_at
        same_round = and_(Notification.kind == REMINDER, Notification.cycle_id == cycle.id,
                          Notification.stage == cycle.state, Notification.deadline == deadline,
                          Notification.reminder_offset == offset)
        due_pending = db.session.scalar(select(exists().where(same_round, Notification.status == PENDING)))
        any_row = due_pending or db.session.scalar(select(exists().where(same_round)))
        if due_pending or not any_row:
            written += _sync_round(cycle, cycle.state, deadline, offset, due, AUDIENCES[cycle.state](cycle), now)
        db.session.commit()
    return written


# --- announcements, events -----------------------------------------------------------------------------


def _people(users: Iterable[User]) -> list[User]:
    seen: dict[int, User] = {}
    for user in users:
        if user.active and user.id not in seen:
            seen[user.id] = user
    return list(seen.values())


def announce(topic: str, cycle: Cycle, users: Iterable[User], template: str, subject: str, *,
             due_at: datetime | None = None, subscribers: Iterable[MailingListSubscriber] = (),
             **context: Any) -> int:
    """A stage opens: one row per person who has not turned announcements off, due at `due_at` or, for those
    who chose the daily digest, at the next digest time; and one per confirmed mailing-list subscriber.

    Rendered now (the announcement says what is true when it is written). Flushes; the caller commits."""
    now = clock.now()
    due = max(due_at or now, now)
    rows, emails = [], set()
    for user in _people(users):
        emails.add(user.email.lower())
        if not user.announcements_opt_in:
            continue
        digest = user.digest == "daily"
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            text, html = mail.render(template, user=user, cycle=cycle, subscriber=None,
                                     preferences_url=external_url("notifications.preferences"), **context)
        rows.append({"key": f"announce:{topic}:{cycle.id}:u{user.id}", "kind": ANNOUNCEMENT, "user_id": user.id,
                     "recipient": user.email, "cycle_id": cycle.id, "subject": subject, "body_text": text,
                     "body_html": html, "status": PENDING, "digest": digest,
                     "due_at": next_digest_at(due) if digest else due, "created_at": now, "attempts": 0})
    for subscriber in subscribers:
        if subscriber.confirmed_at is None or subscriber.email.lower() in emails:
            continue
        emails.add(subscriber.email.lower())
        text, html = mail.render(template, user=None, cycle=cycle, subscriber=subscriber,
                                 unsubscribe_url=external_url("notifications.unsubscribe", token=subscriber.token),
                                 **context)
        rows.append({"key": f"announce:{topic}:{cycle.id}:s{subscriber.id}", "kind": ANNOUNCEMENT, "user_id": None,
                     "recipient": subscriber.email, "cycle_id": cycle.id, "subject": subject, "body_text": text,
                     "body_html": html, "status": PENDING, "digest": False, "due_at": due, "created_at": now,
                     "attempts": 0})
    delivery.insert_ignore(rows)
    return len(rows)


def registered_company_people() -> list[User]:
    """Confirmed company accounts (every registered company's people)."""
    return _ordered(_active().where(_having_role(Role.COMPANY), User.email_confirmed_at.is_not(None)))


def participants(cycle: Cycle) -> list[User]:
    """Everyone who took part in the cycle: buyers of organizations with a submitted need, people of companies
    that answered, the committee, PFRA and UGAP agents."""
    from innovation_cycle.models import Application, Company, Need

    buyer_orgs = select(Need.organization_id).where(Need.cycle_id == cycle.id, Need.status != "draft")
    company_orgs = (select(Company.organization_id).join(Application, Application.company_id == Company.id)
                    .where(Application.cycle_id == cycle.id, Application.status.not_in(("draft", "withdrawn"))))
    committee = select(CommitteeMember.user_id).where(CommitteeMember.cycle_id == cycle.id)
    return _ordered(_active().where(or_(
        and_(_having_role(Role.BUYER), User.organization_id.in_(buyer_orgs)),
        and_(_having_role(Role.COMPANY), User.organization_id.in_(company_orgs)),
        User.id.in_(committee),
        _having_role(Role.PFRA_AGENT, Role.UGAP_AGENT))))


def announce_ami_open(cycle: Cycle) -> int:
    window = cycle.window("ami_sourcing")
    subscribers = db.session.scalars(select(MailingListSubscriber).where(
        MailingListSubscriber.confirmed_at.is_not(None)).order_by(MailingListSubscriber.id))
    return announce("ami_open", cycle, registered_company_people(), "announcement_ami_open",
                    _("L'appel à manifestation d'intérêt %(year)s est ouvert", year=cycle.year),
                    due_at=window.opens_at if window else None, subscribers=subscribers,
                    window=window, link=external_url(_endpoint(("ami.public",))))


def announce_results(cycle: Cycle) -> int:
    window = cycle.window("results_communication")
    return announce("results", cycle, participants(cycle), "announcement_results",
                    _("Les résultats du cycle %(year)s sont publiés", year=cycle.year),
                    due_at=window.opens_at if window else None, window=window,
                    link=_results_link(cycle))


def _results_link(cycle: Cycle) -> str:
    """Issue 8: the cycle's public results page, /resultats/<year>."""
    endpoint = _endpoint(("results.public", "public.home"))
    return external_url(endpoint, **({"year": cycle.year} if endpoint == "results.public" else {}))


def notify_event(kind: str, obj: Any, users: Iterable[User], template: str = "event", *, subject: str,
                 occurrence: str | int | None = None, **context: Any) -> list[int]:
    """Mail people about a change to their own record (a need returned or accepted, an answer received,
    found eligible or not…), from inside the transaction that makes the change. Never digested, never turned
    off; sent right after the commit. Flushes; returns the ids of the rows written.

    The key is (kind, object, person): calling twice in one transaction writes one mail. A kind that can
    happen again to the same object (a need returned twice) passes `occurrence` (the audit row's id, a
    revision number) so that each time is a mail of its own."""
    now = clock.now()
    if getattr(obj, "id", None) is None:
        db.session.flush()
    object_ref = f"{obj.__tablename__}:{obj.id}"
    rows = []
    for user in _people(users):
        key = f"event:{kind}:{object_ref}:{user.id}" + (f":{occurrence}" if occurrence is not None else "")
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            text, html = mail.render(template, user=user, obj=obj, subject=str(subject), **context)
        rows.append({"key": key, "kind": EVENT, "user_id": user.id, "recipient": user.email,
                     "cycle_id": getattr(obj, "cycle_id", None), "subject": str(subject)[:255], "body_text": text,
                     "body_html": html, "digest": False, "created_at": now, "attempts": 0,
                     **delivery.immediate_fields(now)})
    ids = delivery.insert_ignore(rows, returning=True)
    delivery.send_after_commit(ids)
    return ids


# --- digests -------------------------------------------------------------------------------------------


def build_digests(now: datetime) -> int:
    """Bundle each person's due announcements into one mail; the announcements are `sent` by the digest."""
    due = db.session.scalars(select(Notification).where(
        Notification.digest.is_(True), Notification.status == PENDING, Notification.due_at <= now)
        .order_by(Notification.user_id, Notification.due_at, Notification.id)).all()
    by_user: dict[int | None, list[Notification]] = {}
    for row in due:
        by_user.setdefault(row.user_id, []).append(row)
    made = 0
    for user_id, items in by_user.items():
        user = db.session.get(User, user_id) if user_id else None
        if user is None:
            continue
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            subject = _("Votre récapitulatif du %(date)s (%(count)s annonces)",
                        date=formatting.day(now), count=len(items))
            text, html = mail.render("digest", user=user, items=items,
                                     preferences_url=external_url("notifications.preferences"))
        ids = delivery.insert_ignore([{
            "key": f"digest:{user.id}:{items[0].id}", "kind": DIGEST, "user_id": user.id, "recipient": user.email,
            "subject": subject, "body_text": text, "body_html": html, "status": PENDING, "digest": False,
            "due_at": now, "created_at": now, "attempts": 0}], returning=True)
        if ids:
            db.session.execute(update(Notification).where(
                Notification.id.in_([i.id for i in items]), Notification.status == PENDING)
                .values(status=SENT, sent_at=now, transport="digest", digest_id=ids[0])
                .execution_options(synchronize_session=False))
            made += 1
        db.session.commit()
    db.session.commit()
    return made


# --- hooks from services.cycles --------------------------------------------------------------------------


@signals.cycle_moved.connect
def _on_cycle_moved(cycle: Cycle, **kw: Any) -> None:
    cycle_moved(cycle, kw["before"], kw["trigger"])


@signals.calendar_changed.connect
def _on_calendar_changed(cycle: Cycle, **kw: Any) -> None:
    calendar_changed(cycle)


def cycle_moved(cycle: Cycle, before: str, trigger: str) -> None:
    """In the move's transaction: the new stage's reminders, and the announcements of a stage that opens."""
    plan_reminders(cycle)
    if trigger == "advance" and cycle.state == "ami_sourcing":
        announce_ami_open(cycle)
    # Issue 8: "results published" is announced when the admin publishes the bilan (services.results.publish),
    # not on entering the stage, when nothing is published yet.


def calendar_changed(cycle: Cycle) -> None:
    """In the calendar change's transaction: pending reminders follow the new closing times."""
    plan_reminders(cycle)


# --- automatic moves -----------------------------------------------------------------------------------


def _forward_trigger(state: str) -> str | None:
    from workflows import cycle as flow

    triggers = flow.triggers_from(state)
    return next((t for t in (flow.ADVANCE, flow.CLOSE) if t in triggers), None)


def auto_advance_due(now: datetime) -> list[tuple[int, str]]:
    """Fire the forward move of every cycle set to move by itself whose current window has closed, as the
    system. The cycle's lock and version make a second dispatcher (or an admin pressing at the same moment)
    fail with `stale`, so the cycle moves once. A refusal by a guard mails the admins once per deadline."""
    from innovation_cycle import transaction
    from innovation_cycle.services import cycles
    from workflows.base import MoveRefused

    candidates = db.session.execute(
        select(Cycle.id, Cycle.state, StageWindow.closes_at).join(
            StageWindow, and_(StageWindow.cycle_id == Cycle.id, StageWindow.stage == Cycle.state))
        .where(Cycle.auto_advance.is_(True), Cycle.state.in_(STAGES), StageWindow.closes_at <= now)
        .order_by(Cycle.id)).all()
    db.session.rollback()
    moved = []
    for cycle_id, state, closes_at in candidates:
        trigger = _forward_trigger(state)
        if trigger is None:
            continue
        try:
            cycle = cycles.move(cycle_id, trigger, expected_state=state, actor=None)
            transaction.commit()
            moved.append((cycle_id, cycle.state))
        except MoveRefused as exc:
            transaction.rollback()
            if any(r.code == "stale" for r in exc.refusals):
                continue
            cycle = db.session.get(Cycle, cycle_id)
            alert_move_refused(cycle, state, closes_at, [cycles.refusal_message(r) for r in exc.refusals])
            transaction.commit()
    return moved


def alert_move_refused(cycle: Cycle, state: str, closes_at: datetime, reasons: list[str]) -> list[int]:
    """Tell the admins why the cycle did not move by itself; once per cycle, stage and closing time."""
    now = clock.now()
    admins = _ordered(_active().where(_having_role(Role.ADMIN)))
    rows = []
    for admin in admins:
        subject = _("Le cycle %(year)s n'a pas pu passer à l'étape suivante", year=cycle.year)
        text, html = mail.render("auto_advance_refused", user=admin, cycle=cycle, stage=stage_label(state),
                                 closes_at=closes_at, reasons=reasons,
                                 link=external_url("admin.cycle", cycle_id=cycle.id))
        rows.append({"key": f"alert:auto_advance:{cycle.id}:{state}:{_stamp(closes_at)}:{admin.id}", "kind": ALERT,
                     "user_id": admin.id, "recipient": admin.email, "cycle_id": cycle.id, "stage": state,
                     "subject": subject, "body_text": text, "body_html": html, "digest": False, "created_at": now,
                     "attempts": 0, **delivery.immediate_fields(now)})
    ids = delivery.insert_ignore(rows, returning=True)
    delivery.send_after_commit(ids)
    return ids


# --- the periodic dispatcher ---------------------------------------------------------------------------


@dataclass
class DispatchReport:
    moved: list[tuple[int, str]] = field(default_factory=list)
    reminders: int = 0
    digests: int = 0
    recovered: int = 0
    handed_over: int = 0

    def __str__(self) -> str:
        return (f"moves={len(self.moved)} reminders_written={self.reminders} digests={self.digests} "
                f"recovered={self.recovered} handed_over={self.handed_over}")


def dispatch_due(now: datetime | None = None) -> DispatchReport:
    """One pass: automatic moves, reminder rounds that fall due, digests, lost rows, then every due row to
    the workers (or sent here in the embedded mode). Safe to run from several processes at once."""
    now = now or clock.now()
    report = DispatchReport()
    report.moved = auto_advance_due(now)
    report.reminders = refresh_due_rounds(now)
    report.digests = build_digests(now)
    # Issue 8: ask each recorder, once, whether a purchase happened after its expected date.
    from innovation_cycle.services import commitments

    commitments.ask_follow_ups(now)
    db.session.commit()
    report.recovered = delivery.recover()
    report.handed_over = delivery.dispatch_pending(now)
    return report


# --- rendering at send time ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _CycleInfo:
    id: int
    year: int
    state: str
    closes: dict[str, datetime]


@dataclass(frozen=True)
class _UserInfo:
    id: int
    email: str
    name: str
    locale: str | None
    active: bool
    calendar_token: str | None


# Rows checked again when they leave: a reminder must still stand, and nobody whose account was closed since
# gets an announcement. (Account and event mails go as written: they answer something that just happened.)
CHECKED_KINDS = (REMINDER, ANNOUNCEMENT, DIGEST)


class Renderer:
    """Renders reminders when they are sent (the text says how long is left), checking first that the
    reminder still stands: the cycle is still in that stage with that closing time, the person still active.

    Reads every cycle and person of a batch once, as plain values, so that the commit after each mail does
    not reload them."""

    def __init__(self) -> None:
        self.rendered: dict[int, dict[str, Any]] = {}
        self._cycles: dict[int, _CycleInfo | None] = {}
        self._users: dict[int, _UserInfo | None] = {}
        self._rounds: dict[tuple[int, str, datetime, str], dict[str, Any]] = {}
        # Per round and locale, with or without a feed link: the reminder's stencil, or None where it does not
        # reproduce the template (rendered mail by mail then).
        self._stencils: dict[tuple[Any, ...], mail.Stencil | None] = {}
        self._feed: tuple[str, str] | None = None
        self._request: Any = None

    def preload(self, rows: Sequence[Notification]) -> None:
        reminders = [r for r in rows if r.kind == REMINDER]
        cycle_ids = {r.cycle_id for r in reminders if r.cycle_id} - set(self._cycles)
        user_ids = {r.user_id for r in rows if r.user_id and r.kind in CHECKED_KINDS} - set(self._users)
        if cycle_ids:
            for cycle in db.session.scalars(select(Cycle).where(Cycle.id.in_(cycle_ids))):
                self._cycles[cycle.id] = _CycleInfo(cycle.id, cycle.year, cycle.state,
                                                    {w.stage: w.closes_at for w in cycle.windows})
        if user_ids:
            for values in db.session.execute(select(User.id, User.email, User.name, User.locale, User.active,
                                                    User.calendar_token).where(User.id.in_(user_ids))):
                self._users[values.id] = _UserInfo(*values)

    def prepare(self, row: Notification) -> str | None:
        """Fill the row's subject and bodies if they are rendered at send time; return why it no longer
        stands (the row is then cancelled), or None."""
        if row.kind not in CHECKED_KINDS:
            return None
        if row.kind != REMINDER:
            if row.user_id and row.user_id not in self._users:
                self.preload([row])
            user = self._users.get(row.user_id) if row.user_id else None
            if row.user_id and (user is None or not user.active):
                return "Le compte du destinataire n'est plus actif."
            return None
        if row.cycle_id not in self._cycles or row.user_id not in self._users:
            self.preload([row])
        cycle = self._cycles.get(row.cycle_id)
        user = self._users.get(row.user_id) if row.user_id else None
        if cycle is None or cycle.state != row.stage or cycle.closes.get(row.stage) != row.deadline:
            return "L'étape ou sa date de clôture a changé."
        if row.deadline is not None and row.deadline <= clock.now():
            return "L'échéance est passée."
        if user is None or not user.active:
            return "Le compte du destinataire n'est plus actif."
        if row.body_text is None:
            values = self._render_reminder(row, cycle, user)
            for name, value in values.items():
                setattr(row, name, value)
            self.rendered[row.id] = values
        return None

    def _render_reminder(self, row: Notification, cycle: _CycleInfo, user: _UserInfo) -> dict[str, Any]:
        if not has_request_context():  # a worker: templates need a request; one for the whole batch
            self._request = current_app.test_request_context(base_url=public_base_url())
            self._request.push()
        return self._reminder_values(row, cycle, user)

    def close(self) -> None:
        if self._request is not None:
            self._request.pop()
            self._request = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _round(self, cycle: _CycleInfo, stage: str, deadline: datetime, locale: str) -> dict[str, Any]:
        """What every reminder of a round says alike (computed once per batch: a round is thousands of mails)."""
        key = (cycle.id, stage, deadline, locale)
        if key not in self._rounds:
            link = external_url(_endpoint(WORK_ENDPOINTS.get(stage, ())))
            left = deadline - clock.now()
            self._rounds[key] = {
                "year": cycle.year, "stage": stage_label(stage), "deadline": deadline,
                "deadline_text": formatting.when(deadline, weekday=True),
                "time_left": (format_timedelta(left, granularity="hour", threshold=0.95)
                              if left.total_seconds() > 0 else None),
                "work": str(REMINDER_TEXTS.get(stage, "")), "link": link,
                "preferences_url": external_url("notifications.preferences"),
                "subject": _reminder_subject(stage, deadline)[:255],
                "ics": ics.calendar([ics.Deadline(cycle.id, cycle.year, stage, stage_label(stage), deadline, link)]),
            }
        return self._rounds[key]

    def _feed_url(self, token: str | None) -> str | None:
        """The person's calendar feed link. A token of URL-safe characters (every token the application makes)
        goes into the link as it is: the link is built once per batch around it rather than once a mail."""
        if not token:
            return None
        if not _URL_SAFE.fullmatch(token):
            return external_url("notifications.calendar_feed", token=token)
        if self._feed is None:
            marker = "feedtoken0123456789"
            head, _sep, tail = external_url("notifications.calendar_feed", token=marker).partition(marker)
            self._feed = (head, tail)
        return f"{self._feed[0]}{token}{self._feed[1]}"

    def _reminder_values(self, row: Notification, cycle: _CycleInfo, user: _UserInfo) -> dict[str, Any]:
        """The reminder of one person: its round's stencil filled with their name and feed link; the first mail
        of each stencil is also rendered in full and compared, and a stencil that differs is not used."""
        locale = user.locale or ""
        feed_url = self._feed_url(user.calendar_token)
        key = (cycle.id, row.stage, row.deadline, locale, feed_url is not None)
        personal = {"name": user.name, "feed_url": feed_url}
        stencil = self._stencils.get(key)
        if stencil is not None:
            text, html = stencil.fill(personal)
            shared = self._rounds[key[:4]]
        else:
            with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
                shared = self._round(cycle, row.stage, row.deadline, locale)
                text, html = mail.render("reminder", user=user, feed_url=feed_url, **shared)
                if key not in self._stencils:
                    self._stencils[key] = self._stencil(shared, feed_url is not None, personal, (text, html))
        return {"subject": shared["subject"], "body_text": text, "body_html": html, "ics": shared["ics"],
                "recipient": user.email}

    @staticmethod
    def _stencil(shared: dict[str, Any], with_feed: bool, personal: dict[str, Any],
                 rendered: tuple[str, str]) -> mail.Stencil | None:
        """The round's reminder as a stencil, if filling it in for this person gives what was just rendered."""
        def context(markers: Mapping[str, str]) -> dict[str, Any]:
            return {"user": mail.StandIn(name=markers["name"]),
                    "feed_url": markers["feed_url"] if with_feed else None, **shared}

        try:
            stencil = mail.Stencil("reminder", ("name", "feed_url"), context)
        except mail.StencilUnfit:
            return None
        if stencil.fill(personal) != rendered:
            log.info("the reminder's stencil differs from its rendering: rendered mail by mail")
            return None
        return stencil


_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


# --- the personal calendar feed --------------------------------------------------------------------------


# The stages whose closing concerns each role (admins: all of them; committee members: the cycles whose
# committee they sit on).
FEED_STAGES: dict[Role, tuple[str, ...]] = {
    Role.BUYER: ("needs_collection", "commitment_census"),
    Role.PFRA_AGENT: ("needs_collection", "commitment_census"),
    Role.UGAP_AGENT: ("commitment_census",),
    Role.COMPANY: ("ami_sourcing",),
    Role.ADMIN: STAGES,
}


def deadlines_for(user: User) -> list[ics.Deadline]:
    committee = set(db.session.scalars(select(CommitteeMember.cycle_id).where(CommitteeMember.user_id == user.id)))
    stages_by_role = set().union(*(FEED_STAGES.get(r, ()) for r in user.roles)) if user.roles else set()
    result = []
    for cycle in db.session.scalars(select(Cycle).where(Cycle.state != "closed").order_by(Cycle.year, Cycle.id)):
        stages = set(stages_by_role)
        if cycle.id in committee:
            stages.add("selection")
        for window in cycle.windows:
            if window.stage in stages:
                link = external_url(_endpoint(WORK_ENDPOINTS.get(window.stage, ())))
                result.append(ics.Deadline(cycle.id, cycle.year, window.stage, stage_label(window.stage),
                                           window.closes_at, link))
    return result


def calendar_feed(user: User) -> str:
    return ics.calendar(deadlines_for(user), name=_("Échéances — %(service)s",
                                                    service=current_app.config["SERVICE_NAME"]))


def user_by_calendar_token(token: str) -> User | None:
    if not token or len(token) > 64:
        return None
    user = db.session.scalar(select(User).where(User.calendar_token == token))
    return user if user is not None and user.active else None


# --- preferences, mailing list ---------------------------------------------------------------------------


def set_preferences(user: User, *, announcements: bool, digest: str) -> None:
    from innovation_cycle.services import audit

    before = {"announcements_opt_in": user.announcements_opt_in, "digest": user.digest}
    user.announcements_opt_in, user.digest = announcements, digest
    after = {"announcements_opt_in": announcements, "digest": digest}
    if before != after:
        audit.record("user.notification_preferences", user, before=before, after=after)
    if not announcements:  # what is still waiting will not be sent
        db.session.execute(update(Notification).where(
            Notification.user_id == user.id, Notification.kind == ANNOUNCEMENT, Notification.status == PENDING)
            .values(status=CANCELLED, last_error="Annonces désactivées par le destinataire.")
            .execution_options(synchronize_session=False))


def ensure_calendar_token(user: User) -> str:
    from innovation_cycle.models.accounts import new_calendar_token

    if not user.calendar_token:
        user.calendar_token = new_calendar_token()
        db.session.flush()
    return user.calendar_token


def reset_calendar_token(user: User) -> str:
    from innovation_cycle.models.accounts import new_calendar_token
    from innovation_cycle.services import audit

    user.calendar_token = new_calendar_token()
    audit.record("user.calendar_token_reset", user)
    db.session.flush()
    return user.calendar_token


def subscribe(email: str) -> MailingListSubscriber | None:
    """Add an unconfirmed subscriber and mail the confirmation link (again, if already waiting).

    Answers the same way whether or not the address is known, so that the form tells nobody who subscribed."""
    email = email.strip()
    subscriber = db.session.scalar(select(MailingListSubscriber).where(
        func.lower(MailingListSubscriber.email) == email.lower()))
    if subscriber is not None and subscriber.confirmed_at is not None:
        return subscriber
    now = clock.now()
    if subscriber is None:
        subscriber = MailingListSubscriber(email=email, created_at=now)
        db.session.add(subscriber)
        db.session.flush()
    elif _confirmation_sent_since(subscriber, now - CONFIRMATION_RESEND_AFTER):
        # Issue 9: at most one confirmation a day per address, whoever asks: the form is no mail bomb.
        return subscriber
    mail.queue(subscriber.email, _("Confirmez votre inscription à la liste de l'AMI"), "mailing_list_confirm",
               key=f"{CONFIRMATION_KEY}{subscriber.id}:{now.isoformat()}",
               link=external_url("notifications.subscribe_confirm", token=subscriber.token),
               unsubscribe_url=external_url("notifications.unsubscribe", token=subscriber.token))
    return subscriber


CONFIRMATION_KEY = "mailing-list-confirm:"
CONFIRMATION_RESEND_AFTER = timedelta(days=1)


def _confirmation_sent_since(subscriber: MailingListSubscriber, since: datetime) -> bool:
    """A confirmation mail was written for this subscriber since then (the outbox row's key names it)."""
    return db.session.scalar(select(exists().where(
        Notification.recipient == subscriber.email,
        Notification.key.startswith(f"{CONFIRMATION_KEY}{subscriber.id}:", autoescape=True),
        Notification.created_at >= since))) or False


def subscriber_by_token(token: str) -> MailingListSubscriber | None:
    if not token or len(token) > 64:
        return None
    return db.session.scalar(select(MailingListSubscriber).where(MailingListSubscriber.token == token))


def confirm_subscription(subscriber: MailingListSubscriber) -> None:
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = clock.now()


def unsubscribe(subscriber: MailingListSubscriber) -> None:
    """Forget the address, and what was still waiting for it."""
    db.session.execute(update(Notification).where(
        func.lower(Notification.recipient) == subscriber.email.lower(), Notification.user_id.is_(None),
        Notification.kind == ANNOUNCEMENT, Notification.status == PENDING)
        .values(status=CANCELLED, last_error="Désinscription de la liste.")
        .execution_options(synchronize_session=False))
    db.session.delete(subscriber)


# --- the admin's outbox ----------------------------------------------------------------------------------


def outbox_query(*, recipient: str | None = None, status: str | None = None, kind: str | None = None) -> Any:
    query = select(Notification).order_by(Notification.created_at.desc(), Notification.id.desc())
    if recipient and recipient.strip():
        query = query.where(Notification.recipient.icontains(recipient.strip(), autoescape=True))
    if status:
        query = query.where(Notification.status == status)
    if kind:
        query = query.where(Notification.kind == kind)
    return query


def preview(row: Notification) -> Notification:
    """A reminder not rendered yet, rendered for the admin's eyes only (nothing is stored)."""
    if row.kind == REMINDER and row.body_text is None:
        db.session.expunge(row)
        with Renderer() as renderer:
            renderer.prepare(row)
    return row
