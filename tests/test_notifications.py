"""Deadline notifications: who is reminded and when, announcements, event mails, digests, the calendar feed,
automatic moves, and delivery exactly once — against a real SMTP server on loopback, and for the queue mode a
real Redis (REDIS_URL for tests: TEST_REDIS_URL, default redis://127.0.0.1:6379/5, emptied per test) with an
RQ worker run here in burst mode.
"""

from __future__ import annotations

import html
import os
import re
import threading
import time
from datetime import date, timedelta

import pytest
from conftest import body_of
from sqlalchemy import select

from innovation_cycle import clock as app_clock
from innovation_cycle import tasks, transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AuditEvent,
    CommitteeMember,
    Cycle,
    MailingListSubscriber,
    Need,
    Notification,
    OrganizationKind,
    Role,
    User,
)
from innovation_cycle.services import cycles, delivery, notifications
from workflows.base import MoveRefused, Refusal

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")

# The 2017 cycle's default calendar: needs collection closes Friday 31 March 23:59, the census Saturday
# 30 September 23:59 (Paris).
NEEDS_CLOSE = paris_datetime(2017, 3, 31, 23, 59)
NEEDS_14 = paris_datetime(2017, 3, 17, 9)
NEEDS_7 = paris_datetime(2017, 3, 24, 9)
NEEDS_1 = paris_datetime(2017, 3, 30, 9)
CENSUS_DUE = paris_datetime(2017, 9, 29, 9)


def rows(**where) -> list[Notification]:
    query = select(Notification).order_by(Notification.id)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    db.session.expire_all()
    return list(db.session.scalars(query))


def received(smtp) -> list[str]:
    return sorted(m["To"] for m in smtp.messages)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True)).replace("\xa0", " ").replace("\u202f", " ")


def calendar_form(cycle: Cycle, **changes: str) -> dict[str, str]:
    form = {f"{s}_{e}": app_clock.to_paris(v).strftime("%Y-%m-%dT%H:%M")
            for s, (o, c) in cycles.windows_of(cycle).items() for e, v in (("opens_at", o), ("closes_at", c))}
    form["reminder_offsets"] = "14, 7, 1"
    form.update(changes)
    return form


# --- worlds ----------------------------------------------------------------------------------------------


@pytest.fixture
def needs_world(make):
    """A cycle collecting needs; who has work left: the buyers of Lille (a draft) and of the MEL (a need
    returned for changes); not Amiens (submitted), not Douai (no need), not an inactive buyer, not the PFRA."""
    cycle = make.cycle(make.convention(2017), 2017, state="needs_collection")
    lille, mel, amiens, douai = (make.organization(n) for n in ("Ville de Lille", "MEL", "Amiens", "Douai"))
    people = {
        "lille1": make.user(Role.BUYER, organization=lille, email="lea@lille.fr"),
        "lille2": make.user(Role.BUYER, organization=lille, email="marc@lille.fr", password=None),
        "lille_gone": make.user(Role.BUYER, organization=lille, email="parti@lille.fr", active=False, password=None),
        "mel": make.user(Role.BUYER, organization=mel, email="bruno@mel.fr", password=None),
        "amiens": make.user(Role.BUYER, organization=amiens, email="ana@amiens.fr", password=None),
        "douai": make.user(Role.BUYER, organization=douai, email="dan@douai.fr", password=None),
        "pfra": make.user(Role.PFRA_AGENT, organization=lille, email="nadia@pfra.fr", password=None),
    }
    make.need(cycle, lille, "draft")
    make.need(cycle, lille, "submitted")
    make.need(cycle, mel, "returned")
    make.need(cycle, amiens, "submitted")
    return cycle, people


@pytest.fixture
def census_world(make):
    """A cycle in the purchase census: every active PFRA and UGAP agent has work; buyers do not."""
    cycle = make.cycle(make.convention(2017), 2017, state="commitment_census")
    agents = [make.user(Role.PFRA_AGENT, email="pfra@etat.fr", password=None),
              make.user(Role.UGAP_AGENT, email="ugap@ugap.fr", password=None)]
    make.user(Role.BUYER, email="buyer@lille.fr", password=None)
    # Issue 8: the census's reminders go to the agents while a selected solution has no commitment.
    from census_factories import unreviewed_selected_answer

    unreviewed_selected_answer(make, cycle)
    return cycle, agents


# --- time ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("deadline", "offset", "expected"), [
    (NEEDS_CLOSE, 14, paris_datetime(2017, 3, 17, 9)),
    (NEEDS_CLOSE, 1, paris_datetime(2017, 3, 30, 9)),
    # Saturday 30 September: the 1-day reminder is Friday 29; the 7-day one, Saturday 23, moves to Friday 22.
    (paris_datetime(2017, 9, 30, 23, 59), 1, paris_datetime(2017, 9, 29, 9)),
    (paris_datetime(2017, 9, 30, 23, 59), 7, paris_datetime(2017, 9, 22, 9)),
    # Monday 3 April: the day before is a Sunday, so Friday 31 March.
    (paris_datetime(2017, 4, 3, 23, 59), 1, paris_datetime(2017, 3, 31, 9)),
    # Fête du Travail (Monday 1 May 2017) then a weekend: Friday 28 April.
    (paris_datetime(2017, 5, 2, 18, 0), 1, paris_datetime(2017, 4, 28, 9)),
    # Fête nationale (Friday 14 July 2017): Thursday 13.
    (paris_datetime(2017, 7, 15, 12, 0), 1, paris_datetime(2017, 7, 13, 9)),
    # Lundi de Pâques (17 April 2017), then the weekend: Friday 14 April (Good Friday is a public holiday
    # only in Alsace-Moselle).
    (paris_datetime(2017, 4, 18, 23, 59), 1, paris_datetime(2017, 4, 14, 9)),
])
def test_reminders_fall_on_the_working_day_before_weekends_and_french_holidays(app, deadline, offset, expected):
    assert notifications.reminder_due_at(deadline, offset) == expected


def test_holidays_come_from_the_maintained_library(app):
    assert not notifications.is_working_day(date(2017, 11, 1))  # Toussaint
    assert not notifications.is_working_day(date(2017, 5, 25))  # Ascension
    assert notifications.is_working_day(date(2017, 5, 24))


def test_only_the_latest_round_already_due_is_planned(app, needs_world, clock):
    cycle, _ = needs_world
    clock.set(paris_datetime(2017, 3, 1, 12))
    assert dict(notifications.reminder_plan(cycle, app_clock.now())) == {14: NEEDS_14, 7: NEEDS_7, 1: NEEDS_1}
    clock.set(paris_datetime(2017, 3, 27, 12))  # after the 7-day round: the 14-day one is overtaken
    assert notifications.reminder_plan(cycle, app_clock.now()) == [(1, NEEDS_1), (7, NEEDS_7)]
    clock.set(paris_datetime(2017, 4, 1, 0, 0))  # closed: nothing
    assert notifications.reminder_plan(cycle, app_clock.now()) == []


# --- who is reminded -------------------------------------------------------------------------------------


def test_reminders_go_to_exactly_the_people_with_work_left(app, needs_world, clock, smtp):
    cycle, people = needs_world
    clock.set(NEEDS_14)
    report = notifications.dispatch_due()
    assert report.reminders == 3 and report.handed_over == 3
    assert received(smtp) == ["bruno@mel.fr", "lea@lille.fr", "marc@lille.fr"]

    message = next(m for m in smtp.messages if m["To"] == "lea@lille.fr")
    text = body_of(message).replace("\xa0", " ").replace("\u202f", " ")
    assert "Rappel" in message["Subject"] and "Collecte des besoins" in message["Subject"]
    assert "vendredi 31 mars 2017 à 23:59" in text and "2 semaines" in text
    assert "http://localhost/besoins/" in text  # where the work is done
    row = rows(recipient="lea@lille.fr")[0]
    assert message["Message-ID"] == f"<notification-{row.id}@innovation-cycle.invalid>"
    assert message["X-Notification-Key"] == row.key
    assert row.status == "sent" and row.attempts == 1 and row.transport == "smtp"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "echeance.ics" and attachment.get_content_type() == "text/calendar"
    ics = attachment.get_content()
    ics = ics.decode() if isinstance(ics, bytes) else ics
    assert "DTEND:20170331T215900Z" in ics and "Collecte des besoins" in ics

    # A second pass in the same round sends nothing more.
    smtp.messages.clear()
    notifications.dispatch_due()
    assert smtp.messages == []

    # Lille submits its draft: at the 7-day round only the MEL is left.
    for need in db.session.scalars(select(Need).where(Need.status == "draft")):
        need.status = "submitted"
    db.session.commit()
    clock.set(NEEDS_7)
    notifications.dispatch_due()
    assert received(smtp) == ["bruno@mel.fr"]


def test_planned_reminders_follow_who_still_has_work_at_their_due_time(app, make, needs_world, clock, smtp):
    """Rounds written when the stage begins are refreshed when they fall due: who finished is cancelled,
    who started since is added."""
    cycle, people = needs_world
    clock.set(paris_datetime(2017, 2, 1, 8))
    assert notifications.plan_reminders(cycle) == 9  # three rounds, three people
    transaction.commit()
    planned = rows(kind="reminder")
    assert {r.due_at for r in planned} == {NEEDS_14, NEEDS_7, NEEDS_1} and {r.status for r in planned} == {"pending"}

    for need in db.session.scalars(select(Need).where(Need.status == "returned")):
        need.status = "submitted"  # the MEL resubmits
    db.session.commit()
    make.need(cycle, people["douai"].organization, "draft")  # Douai starts a need
    clock.set(NEEDS_14)
    notifications.dispatch_due()
    assert received(smtp) == ["dan@douai.fr", "lea@lille.fr", "marc@lille.fr"]
    assert [r.status for r in rows(recipient="bruno@mel.fr", reminder_offset=14)] == ["cancelled"]


def test_census_reminders_reach_purchase_agents_on_the_friday_before_a_saturday_deadline(app, census_world, clock,
                                                                                          smtp):
    clock.set(paris_datetime(2017, 9, 29, 8, 59))
    notifications.dispatch_due()
    # The 7-day round (Saturday 23, so Friday 22) is the latest one due; the dispatcher writes no later round.
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]
    assert {r.reminder_offset for r in rows(kind="reminder")} == {7}
    smtp.messages.clear()
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]


def test_a_changed_window_moves_the_pending_reminders(app, client, login, make, needs_world, clock):
    cycle, people = needs_world
    clock.set(paris_datetime(2017, 2, 1, 8))
    notifications.plan_reminders(cycle)
    transaction.commit()
    login(make.user(Role.ADMIN))
    # A week earlier: Friday 24 March at 18:00.
    response = client.post(f"/admin/cycles/{cycle.id}/calendrier",
                           data=calendar_form(cycle, needs_collection_closes_at="2017-03-24T18:00"))
    assert response.status_code == 302, page_text(response)[:3000]

    new_deadline = paris_datetime(2017, 3, 24, 18)
    pending = rows(kind="reminder", status="pending")
    assert len(pending) == 9 and {r.deadline for r in pending} == {new_deadline}
    assert {r.due_at for r in pending} == {paris_datetime(2017, 3, 10, 9), NEEDS_14, paris_datetime(2017, 3, 23, 9)}
    old = rows(kind="reminder", deadline=NEEDS_CLOSE)
    assert len(old) == 9 and {r.status for r in old} == {"cancelled"}


def test_reminder_offsets_are_chosen_per_cycle_on_the_calendar_form(app, client, login, make, needs_world, clock):
    cycle, _ = needs_world
    login(make.user(Role.ADMIN))
    page = page_text(client.get(f"/admin/cycles/{cycle.id}/calendrier"))
    assert 'value="14, 7, 1"' in page and "Rappels avant chaque clôture" in page
    url = f"/admin/cycles/{cycle.id}/calendrier"
    refused = client.post(url, data=calendar_form(cycle, reminder_offsets="7, demain"))
    assert refused.status_code == 422 and "Indiquez des nombres entiers de jours" in page_text(refused)
    refused = client.post(url, data=calendar_form(cycle, reminder_offsets="120"))
    assert refused.status_code == 422 and "entre 1 et 90 jours" in page_text(refused)

    clock.set(paris_datetime(2017, 2, 1, 8))
    assert client.post(url, data=calendar_form(cycle, reminder_offsets="3; 10")).status_code == 302
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).reminder_offsets == "10,3"
    # Tuesday 28 March (3 days before) and Tuesday 21 March (10 days before).
    assert {r.due_at for r in rows(kind="reminder", status="pending")} == {
        paris_datetime(2017, 3, 28, 9), paris_datetime(2017, 3, 21, 9)}
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "cycle.calendar")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.before["reminder_offsets"] == "14,7,1" and event.after["reminder_offsets"] == "10,3"
    # No offsets, no reminders.
    assert client.post(url, data=calendar_form(cycle, reminder_offsets="")).status_code == 302
    assert rows(kind="reminder", status="pending") == []


def test_no_reminder_leaves_after_its_deadline(app, census_world, clock, smtp):
    """The dispatcher was down through the last round: once the window has closed, its rows are dropped."""
    cycle, _ = census_world
    clock.set(CENSUS_DUE)
    notifications.refresh_due_rounds(app_clock.now())
    assert len(rows(status="pending")) == 2
    clock.set(paris_datetime(2017, 10, 1, 0, 0))
    notifications.dispatch_due()
    assert smtp.messages == [] and {r.status for r in rows(kind="reminder")} == {"cancelled"}


def test_moving_the_cycle_cancels_the_old_stages_reminders(app, make, needs_world, clock):
    cycle, _ = needs_world
    clock.set(paris_datetime(2017, 2, 1, 8))
    notifications.plan_reminders(cycle)
    transaction.commit()
    cycles.move(cycle.id, "step_back", expected_state="needs_collection", actor=make.user(Role.ADMIN, password=None),
                reason="Erreur")
    transaction.commit()
    assert {r.status for r in rows(kind="reminder")} == {"cancelled"}


def test_a_stale_reminder_is_cancelled_at_send_time(app, census_world, clock, make):
    cycle, _ = census_world
    clock.set(CENSUS_DUE)
    notifications.refresh_due_rounds(app_clock.now())
    ids = delivery.pick_due(app_clock.now(), 10)
    cycles.move(cycle.id, "step_back", expected_state="commitment_census", actor=make.user(Role.ADMIN, password=None),
                reason="Prolonger la sélection")
    transaction.commit()
    outcome = delivery.deliver(ids)
    assert outcome.cancelled == ids and outcome.sent == []
    with pytest.raises(MoveRefused):
        cycles.move(cycle.id, "advance", expected_state="commitment_census", actor=None)
    transaction.rollback()


def test_reminders_from_the_rounds_stencil_say_exactly_what_rendering_each_one_says(app, make, census_world, clock,
                                                                                    monkeypatch):
    """Issue 11: a worker renders a round's reminder once and fills in each person's name and feed link. What
    comes out is what rendering the templates for each person gives: names that HTML must escape or that look
    like format strings, no feed link, a token that is not URL-safe, another locale; and a stencil that would
    differ from its rendering (a template that transforms the name) is not used."""
    from innovation_cycle.services import mail

    people = [("Zoé <b>O'Neil</b> & \"Cie\"", None, "default"), ("%(name)s {{ user.email }} 100 %", None, "default"),
              ("Ana", "fr", None), ("Léo", "en", "a b/é?"), ("Ines", "en", None), ("Jules & <Jim>", "fr", None)]
    for n, (name, locale, token) in enumerate(people):
        user = make.user(Role.PFRA_AGENT, email=f"agent{n}@etat.fr", password=None)
        user.name, user.locale = name, locale
        if token != "default":
            user.calendar_token = token
    db.session.commit()
    clock.set(CENSUS_DUE)
    notifications.refresh_due_rounds(app_clock.now())
    transaction.commit()
    columns = [c.name for c in Notification.__table__.columns]
    due = [{c: getattr(r, c) for c in columns} for r in rows(kind="reminder")]
    assert len(due) == 8

    renders = []
    real_render = mail.render

    def counted(template, **context):
        renders.append(template)
        return real_render(template, **context)

    monkeypatch.setattr(mail, "render", counted)

    def rendered() -> list[dict]:
        renderer = notifications.Renderer()
        with renderer:
            batch = [delivery.Outgoing(**values) for values in due]
            renderer.preload(batch)
            assert all(renderer.prepare(row) is None for row in batch)
        return [renderer.rendered[values["id"]] for values in due]

    stencilled = rendered()
    # Four stencils (the default locale and English, with and without a feed link), each rendered once with its
    # markers and once in full for its first person; the four others (the census's UGAP agent, Zoé, the format
    # string, Jules) are only filled in.
    assert len(renders) == 2 * 4
    renders.clear()
    with monkeypatch.context() as patch:
        patch.setattr(notifications.Renderer, "_stencil", staticmethod(lambda *args: None))
        one_by_one = rendered()
    assert len(renders) == len(due)
    assert stencilled == one_by_one
    by_email = {r["recipient"]: r for r in stencilled}
    assert "Zoé &lt;b&gt;O&#39;Neil&lt;/b&gt; &amp; &#34;Cie&#34;" in by_email["agent0@etat.fr"]["body_html"]
    assert "Zoé <b>O'Neil</b> & \"Cie\"" in by_email["agent0@etat.fr"]["body_text"]
    assert "%(name)s {{ user.email }} 100 %" in by_email["agent1@etat.fr"]["body_text"]
    assert "Jules &amp; &lt;Jim&gt;" in by_email["agent5@etat.fr"]["body_html"]
    assert "/calendrier/" not in by_email["agent2@etat.fr"]["body_text"]
    assert notifications.external_url("notifications.calendar_feed", token="a b/é?") in \
        by_email["agent3@etat.fr"]["body_text"]
    token = db.session.scalar(select(User.calendar_token).where(User.email == "pfra@etat.fr"))
    feed = notifications.external_url("notifications.calendar_feed", token=token)
    assert feed in by_email["pfra@etat.fr"]["body_text"]

    # A template that reads more of the person than the stencil fills in, or transforms what it fills in:
    # rendered mail by mail, with the same result.
    with pytest.raises(mail.StencilUnfit):
        _ = mail.StandIn(name="x").email
    with monkeypatch.context() as patch:
        patch.setattr(mail.Stencil, "fill", lambda self, values: ("autre", "chose"))
        assert rendered() == one_by_one


def test_plain_addresses_skip_the_parser_and_come_out_as_flask_mail_writes_them():
    from flask_mail import sanitize_address

    from innovation_cycle.services import mail

    for address in ["agent00001@pfra.bench", "jean.dupont+cycle@ville-lille.fr", "a_b-c@x.co.uk",
                    "Léa <lea@lille.fr>", "lea@lillé.fr", "élise@lille.fr", '"a b"@x.fr', "a..b@x.fr", ".a@x.fr",
                    "a@x", "<a@x.fr>", "a@-x.fr"]:
        try:
            expected = sanitize_address(address)
        except UnicodeError as exc:  # a non-ASCII local part cannot go on the wire: the same refusal
            expected = type(exc)
        try:
            got = mail.address(address)
        except UnicodeError as exc:
            got = type(exc)
        assert got == expected, address


# --- delivery: embedded mode -----------------------------------------------------------------------------


def test_embedded_mode_sends_without_redis_after_a_request(app, client, needs_world, clock, smtp):
    assert app.config["REDIS_URL"] is None
    app.config["EMBEDDED_DISPATCH"] = True
    clock.set(NEEDS_14)
    client.get("/").close()  # the dispatcher runs once the response has gone
    assert received(smtp) == ["bruno@mel.fr", "lea@lille.fr", "marc@lille.fr"]
    client.get("/").close()  # throttled: no second pass within the interval
    assert len(smtp.messages) == 3


def test_the_dispatch_command_runs_one_pass(app, needs_world, clock):
    clock.set(NEEDS_14)
    result = app.test_cli_runner().invoke(args=["dispatch"])
    assert result.exit_code == 0, result.output
    assert "handed_over=3" in result.output
    assert {r.transport for r in rows(kind="reminder")} == {"console"}  # no MAIL_SERVER: the console


def test_the_worker_command_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output


def test_embedded_mode_retries_a_refused_mail_at_its_next_due_time(app, census_world, clock, smtp):
    app.config["NOTIFY_RETRY_INTERVALS"] = [60]
    smtp.refuse = 1
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    assert len(smtp.messages) == 1
    [waiting] = rows(status="pending")
    assert waiting.attempts == 1 and "451" in waiting.last_error
    notifications.dispatch_due()  # not yet due again
    assert len(smtp.messages) == 1
    clock.advance(seconds=61)
    notifications.dispatch_due()
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]
    assert {r.status for r in rows(kind="reminder")} == {"sent"}


# --- delivery: Redis and RQ ------------------------------------------------------------------------------


@pytest.fixture
def redis_conn():
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown

    conn = Redis.from_url(REDIS_TEST_URL)
    try:
        conn.ping()
    except RedisDown:
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL} (start it, or set TEST_REDIS_URL)")
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def queued(app, redis_conn):
    """Queue mode: REDIS_URL set, retries without waiting (the intervals' scheduling has a test of its own)."""
    app.config.update(REDIS_URL=REDIS_TEST_URL, NOTIFY_RETRY_INTERVALS=[0], NOTIFY_MAX_ATTEMPTS=4)
    app.extensions["redis"] = None
    yield redis_conn
    connection = app.extensions.get("redis")
    if connection is not None:
        connection.close()


def work(app) -> None:
    """Run an RQ worker here until the queue is empty (burst), with its scheduler; then give pytest its
    signal handlers back (the worker installs its own)."""
    import signal

    from rq import SimpleWorker

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([tasks.queue(app)], connection=tasks.redis_connection(app)).work(
            burst=True, with_scheduler=True, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_with_redis_the_dispatcher_enqueues_and_a_worker_sends_once(app, queued, census_world, clock, smtp):
    clock.set(CENSUS_DUE)
    report = notifications.dispatch_due()
    assert report.handed_over == 2 and smtp.messages == []
    assert {r.status for r in rows(kind="reminder")} == {"queued"}
    assert tasks.queue(app).count == 1  # one job carries the batch
    work(app)
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]
    assert {(r.status, r.attempts) for r in rows(kind="reminder")} == {("sent", 1)}


def test_a_job_run_twice_sends_once(app, queued, census_world, clock, smtp):
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    ids = [r.id for r in rows(kind="reminder")]
    tasks.enqueue(ids)  # the same rows a second time (a re-enqueued job, a duplicate in Redis)
    assert tasks.queue(app).count == 2
    work(app)
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]
    assert tasks.send_notifications(ids) == 0  # and once more by hand: nothing left to send
    assert len(smtp.messages) == 2
    assert {r.attempts for r in rows(kind="reminder")} == {1}


def test_jobs_racing_for_the_same_rows_send_each_once(app, queued, census_world, clock, smtp):
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    ids = [r.id for r in rows(kind="reminder")]
    start = threading.Barrier(3)
    results, errors = [], []

    def run() -> None:
        with app.app_context():
            try:
                start.wait()
                results.append(tasks.send_notifications(ids))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and sum(results) == 2
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]


def test_a_refusing_then_accepting_smtp_server_ends_with_one_mail_after_retries(app, queued, census_world, clock,
                                                                                 smtp):
    cycle, agents = census_world
    agents[1].active = False  # one recipient, so that both refusals hit its mail
    db.session.commit()
    smtp.refuse = 2  # "451 Temporary failure" twice
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    work(app)
    assert received(smtp) == ["pfra@etat.fr"]
    [row] = rows(kind="reminder")
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)


def test_retries_wait_for_their_interval_with_the_scheduler(app, queued, census_world, clock, smtp):
    from rq.registry import ScheduledJobRegistry

    app.config["NOTIFY_RETRY_INTERVALS"] = [1]
    smtp.refuse = 1
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    work(app)
    assert len(smtp.messages) == 1  # the other one waits for its retry, scheduled in one second
    assert ScheduledJobRegistry(queue=tasks.queue(app)).count == 1
    deadline = time.monotonic() + 10
    while len(smtp.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        work(app)  # the scheduler enqueues the retry once it is due
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]
    assert ScheduledJobRegistry(queue=tasks.queue(app)).count == 0


def test_after_the_last_attempt_the_row_is_failed_and_the_admin_retries_it(app, queued, client, login, make,
                                                                            census_world, clock, smtp):
    smtp.refuse = 100
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    work(app)
    failed = rows(status="failed")
    assert len(failed) == 2 and {r.attempts for r in failed} == {4} and "451" in failed[0].last_error
    assert smtp.messages == []

    admin = make.user(Role.ADMIN)
    login(admin)
    listing = page_text(client.get("/admin/courriels?status=failed"))
    assert "pfra@etat.fr" in listing and "451 Temporary failure" in listing
    detail = page_text(client.get(f"/admin/courriels/{failed[0].id}"))
    assert "Renvoyer ce courriel" in detail
    smtp.refuse = 0
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/admin/courriels/{failed[0].id}/renvoyer").status_code == 400  # no CSRF token
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/admin/courriels/{failed[0].id}")
                      .get_data(as_text=True)).group(1)
    response = client.post(f"/admin/courriels/{failed[0].id}/renvoyer", data={"csrf_token": token})
    assert response.status_code == 302
    work(app)
    assert received(smtp) == ["pfra@etat.fr"]
    [retried] = rows(id=failed[0].id)
    assert (retried.status, retried.attempts) == ("sent", 1)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "notification.retry"))
    assert event.actor_id == admin.id and event.before["status"] == "failed" and event.before["attempts"] == 4
    # A row that did not fail cannot be retried.
    response = client.post(f"/admin/courriels/{failed[0].id}/renvoyer", data={"csrf_token": token},
                           follow_redirects=True)
    assert "Seul un courriel en échec peut être renvoyé." in page_text(response)


def test_redis_emptied_between_enqueue_and_send_still_sends_every_mail_once(app, queued, census_world, clock,
                                                                            smtp):
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    queued.flushdb()  # Redis loses its jobs
    work(app)
    assert smtp.messages == []
    notifications.dispatch_due()  # within the lease: the rows still belong to their (lost) job
    work(app)
    assert smtp.messages == []
    clock.advance(seconds=app.config["NOTIFY_QUEUE_LEASE"] + 1)
    report = notifications.dispatch_due()
    assert report.recovered == 2 and report.handed_over == 2
    work(app)
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]
    notifications.dispatch_due()
    work(app)
    assert len(smtp.messages) == 2


def test_a_worker_killed_mid_send_is_taken_back_after_its_lease(app, queued, census_world, clock, smtp):
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    queued.flushdb()
    ids = [r.id for r in rows(kind="reminder")]
    assert delivery.claim(ids, app_clock.now()) == ids  # claimed, then the worker died before sending
    clock.advance(seconds=app.config["NOTIFY_SEND_LEASE"] - 1)
    assert notifications.dispatch_due().recovered == 0  # it may still be talking to the SMTP server
    clock.advance(seconds=2)
    assert notifications.dispatch_due().recovered == 2
    work(app)
    assert received(smtp) == ["pfra@etat.fr", "ugap@ugap.fr"]
    assert {(r.status, r.attempts) for r in rows(kind="reminder")} == {("sent", 2)}


class Killed(BaseException):
    """The worker process dies (SIGKILL): nothing after this point runs, not even an `except Exception`."""


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_at_most_the_mail_in_flight(app, queued, make,
                                                                                       census_world, clock, smtp,
                                                                                       monkeypatch):
    """One job carries the batch on one connection: a worker that dies right after the server accepted the
    second mail, before its `sent` mark, leaves the first one marked (its mark is committed before the next
    mail's message leaves), the second one `sending` (the documented window: sent again after the lease,
    with the same Message-ID) and the third one, never attempted, `sending` too: sent once after the lease."""
    from innovation_cycle.services import mail

    make.user(Role.PFRA_AGENT, email="pfra2@etat.fr", password=None)
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    assert tasks.queue(app).count == 1  # one job, three mails
    ids = [r.id for r in rows(kind="reminder")]
    assert len(ids) == 3
    original, sends = mail.Transport.send, []

    def dying_send(self, row, ready=None):
        used = original(self, row, ready)
        sends.append(row.id)
        if len(sends) == 2:
            raise Killed  # after the SMTP server accepted the second mail, before its mark
        return used

    monkeypatch.setattr(mail.Transport, "send", dying_send)
    with pytest.raises(Killed):
        tasks.send_notifications(ids)
    monkeypatch.setattr(mail.Transport, "send", original)
    queued.flushdb()  # the job died with its worker
    states = {r.id: r.status for r in rows(kind="reminder")}
    assert [states[i] for i in ids] == ["sent", "sending", "sending"]
    assert len(smtp.messages) == 2

    clock.advance(seconds=app.config["NOTIFY_SEND_LEASE"] + 1)
    assert notifications.dispatch_due().recovered == 2
    work(app)
    assert {r.status for r in rows(kind="reminder")} == {"sent"}
    by_id = {}
    for message in smtp.messages:
        by_id.setdefault(message["Message-ID"], []).append(message["To"])
    counts = sorted(len(v) for v in by_id.values())
    assert len(by_id) == 3 and counts == [1, 1, 2]  # no loss; one repeat, the mail in flight, same Message-ID
    [repeated] = [k for k, v in by_id.items() if len(v) == 2]
    assert repeated.startswith(f"<notification-{ids[1]}@")


def test_each_mark_is_committed_before_the_next_mail_leaves(app, queued, make, census_world, clock, smtp,
                                                            monkeypatch):
    """The marks overlap the next mail's envelope, never its message: when a mail's DATA is about to leave,
    every mail the server accepted before it is `sent` in the database, as another process sees it."""
    from sqlalchemy import create_engine

    from innovation_cycle.services import mail

    for n in range(3):
        make.user(Role.PFRA_AGENT, email=f"agent{n}@etat.fr", password=None)
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    ids = [r.id for r in rows(kind="reminder")]
    observer = create_engine(db.engine.url)
    accepted, unmarked_seen = [], []
    original = mail._send_split

    def watched(host, sender, recipient, wire, ready):
        def check():
            if ready:
                ready()
            if accepted:
                with observer.connect() as conn:
                    sent = set(conn.execute(select(Notification.id).where(
                        Notification.id.in_(accepted), Notification.status == "sent")).scalars())
                unmarked_seen.append(sorted(set(accepted) - sent))
        original(host, sender, recipient, wire, check)
        accepted.append(int(re.search(rb"notification-(\d+)@", wire).group(1)))

    monkeypatch.setattr(mail, "_send_split", watched)
    assert tasks.send_notifications(ids) == 5
    observer.dispose()
    assert sorted(accepted) == ids and len(unmarked_seen) == 4
    assert unmarked_seen == [[]] * 4
    assert {r.status for r in rows(kind="reminder")} == {"sent"}


def test_a_mail_abandoned_while_the_server_waits_for_its_message_never_arrives(app, queued, make, census_world,
                                                                               clock, smtp, monkeypatch):
    """The wait for the previous mark comes after DATA's 354 (issue 11: one more round trip overlapped): a
    failed mark there drops the connection, and the server, which had the envelope but not the final dot,
    delivers nothing. The batch stops; its rows left `sending` come back after the send lease, each sent once
    more at most (the one whose mark failed is the documented window)."""
    for n in range(2):
        make.user(Role.PFRA_AGENT, email=f"agent{n}@etat.fr", password=None)
    clock.set(CENSUS_DUE)
    notifications.dispatch_due()
    ids = [r.id for r in rows(kind="reminder")]
    assert len(ids) == 4
    original, marks = delivery._finish, []

    def failing_mark(conn, row_id, **values):
        marks.append(row_id)
        if values.get("status") == "sent":
            raise RuntimeError("la base ne répond plus")
        return original(conn, row_id, **values)

    monkeypatch.setattr(delivery, "_finish", failing_mark)
    with pytest.raises(Exception, match="la base ne répond plus"):
        tasks.send_notifications(ids)
    monkeypatch.setattr(delivery, "_finish", original)
    assert len(smtp.messages) == 1 and marks == [ids[0]]  # the second mail's message never left
    assert [r.status for r in rows(kind="reminder")] == ["sending"] * 4

    # The connection dropped mid-DATA is not reused; the server is fine and the next batch goes through.
    from innovation_cycle.services import mail

    with app.test_request_context(), mail.Transport() as transport:
        row = rows(id=ids[1])[0]
        row.body_text, row.body_html = "Bonjour", None

        def refuse() -> None:
            raise RuntimeError("pas maintenant")

        with pytest.raises(RuntimeError):
            transport.send(row, refuse)
        assert transport.connection is None
        db.session.rollback()
    assert len(smtp.messages) == 1
    clock.advance(seconds=app.config["NOTIFY_SEND_LEASE"] + 1)
    assert notifications.dispatch_due().recovered == 4
    work(app)
    assert {r.status for r in rows(kind="reminder")} == {"sent"}
    assert sorted(m["To"] for m in smtp.messages) == sorted(["pfra@etat.fr", "pfra@etat.fr", "ugap@ugap.fr",
                                                               "agent0@etat.fr", "agent1@etat.fr"])


def test_account_mails_go_through_the_queue_after_the_commit(app, queued, client, make, smtp):
    make.user(Role.BUYER, email="lea@lille.fr", password=None)
    client.post("/compte/mot-de-passe-oublie", data={"email": "lea@lille.fr"})
    [row] = rows(kind="account")
    assert row.status == "queued" and smtp.messages == []
    work(app)
    assert received(smtp) == ["lea@lille.fr"]


# --- automatic moves -------------------------------------------------------------------------------------


def test_an_automatic_move_at_a_windows_end(app, census_world, clock):
    cycle, agents = census_world
    cycle.auto_advance = True
    db.session.commit()
    clock.set(paris_datetime(2017, 9, 30, 23, 58))
    assert notifications.dispatch_due().moved == []
    clock.set(paris_datetime(2017, 9, 30, 23, 59))
    assert notifications.dispatch_due().moved == [(cycle.id, "results_communication")]
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "results_communication"
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "cycle.advance"))
    assert event.actor_id is None and event.actor_label == "système"
    assert (event.before, event.after) == ({"state": "commitment_census"},
                                           {"state": "results_communication", "forced": False})
    # Issue 8: entering the stage announces nothing; publishing the bilan does (tests/test_results.py).
    assert rows(kind="announcement") == []
    assert notifications.dispatch_due().moved == []  # results_communication's window is still open


def test_without_auto_advance_the_cycle_waits_for_an_admin(app, census_world, clock):
    cycle, _ = census_world
    clock.set(paris_datetime(2017, 10, 2, 9))
    assert notifications.dispatch_due().moved == []
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "commitment_census"


def test_a_refused_automatic_move_mails_the_admins_why_once(app, census_world, make, clock, smtp, monkeypatch):
    cycle, _ = census_world
    cycle.auto_advance = True
    db.session.commit()
    admins = [make.user(Role.ADMIN, email="camille@orcp.fr", password=None),
              make.user(Role.ADMIN, email="paul@orcp.fr", password=None)]
    make.user(Role.ADMIN, email="retired@orcp.fr", active=False, password=None)
    blocker = Refusal("test_blocker", {"message": "Deux engagements attendent la confirmation de l'UGAP."})
    monkeypatch.setitem(cycles.EXIT_CONDITIONS, "commitment_census", [(lambda c: [blocker], False)])
    clock.set(paris_datetime(2017, 10, 1, 0, 5))
    assert notifications.dispatch_due().moved == []
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "commitment_census"
    assert received(smtp) == [a.email for a in admins]
    text = body_of(smtp.messages[0])
    assert "Deux engagements attendent la confirmation de l'UGAP." in text
    assert f"http://localhost/admin/cycles/{cycle.id}" in text
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "cycle.advance")) is None
    clock.advance(minutes=5)
    notifications.dispatch_due()
    assert len(smtp.messages) == 2  # once per cycle, stage and closing time


def test_an_admin_and_the_dispatcher_at_once_move_the_cycle_once(app, census_world, make, clock):
    cycle, _ = census_world
    cycle.auto_advance = True
    db.session.commit()
    admin = make.user(Role.ADMIN, password=None)
    clock.set(paris_datetime(2017, 10, 1, 9))
    # The admin's move is done, not committed: its transaction holds the row.
    cycles.move(cycle.id, "advance", expected_state="commitment_census", actor=admin)
    outcome: dict = {}

    def dispatcher() -> None:
        with app.app_context():
            try:
                outcome["report"] = notifications.dispatch_due()
            finally:
                db.session.remove()

    other = threading.Thread(target=dispatcher)
    other.start()
    time.sleep(0.5)
    if db.engine.dialect.name == "postgresql":
        assert other.is_alive(), "the dispatcher's move must wait for the admin's lock"
    transaction.commit()
    other.join(timeout=30)
    assert not other.is_alive()
    assert outcome["report"].moved == []
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "results_communication"
    moves = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "cycle.advance")).all()
    assert [(m.actor_id, m.after["state"]) for m in moves] == [(admin.id, "results_communication")]


def test_two_dispatchers_at_once_move_the_cycle_once(app, census_world, clock):
    cycle, _ = census_world
    cycle.auto_advance = True
    db.session.commit()
    clock.set(paris_datetime(2017, 10, 1, 9))
    start = threading.Barrier(2)
    reports, errors = [], []

    def dispatcher() -> None:
        with app.app_context():
            try:
                start.wait()
                reports.append(notifications.dispatch_due())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(len(r.moved) for r in reports) == [0, 1]
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).state == "results_communication"
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "cycle.advance")).all()) == 1
    # Issue 8: entering the results stage announces nothing (publishing the bilan does).
    assert rows(kind="announcement") == []


# --- announcements and digests ---------------------------------------------------------------------------


@pytest.fixture
def companies_world(make):
    cycle = make.cycle(make.convention(2017), 2017, state="ami_sourcing")
    org = make.organization("Lumière Data", OrganizationKind.COMPANY)
    people = {
        "now": make.user(Role.COMPANY, organization=org, email="karim@lumiere.fr"),
        "daily": make.user(Role.COMPANY, organization=org, email="ines@lumiere.fr", password=None),
        "off": make.user(Role.COMPANY, organization=org, email="off@lumiere.fr", password=None),
        "unconfirmed": make.user(Role.COMPANY, organization=org, email="new@lumiere.fr", confirmed=False,
                                 password=None),
        "buyer": make.user(Role.BUYER, email="lea@lille.fr", password=None),
    }
    people["daily"].digest = "daily"
    people["off"].announcements_opt_in = False
    at = paris_datetime(2017, 1, 2)
    db.session.add_all([
        MailingListSubscriber(email="veille@startup.fr", created_at=at, confirmed_at=at),
        MailingListSubscriber(email="pas-confirme@startup.fr", created_at=at),
        MailingListSubscriber(email="KARIM@lumiere.fr", created_at=at, confirmed_at=at),  # already a user
    ])
    db.session.commit()
    return cycle, people


def test_the_ami_opening_reaches_companies_and_subscribers_except_who_opted_out(app, companies_world, clock,
                                                                               smtp):
    cycle, people = companies_world
    clock.set(paris_datetime(2017, 3, 31, 23, 59))
    assert notifications.announce_ami_open(cycle) == 3
    transaction.commit()
    notifications.dispatch_due()
    assert smtp.messages == []  # due when the AMI opens, 1 April 00:00
    clock.set(paris_datetime(2017, 4, 1, 0, 1))
    notifications.dispatch_due()
    assert received(smtp) == ["karim@lumiere.fr", "veille@startup.fr"]
    subscriber_mail = next(m for m in smtp.messages if m["To"] == "veille@startup.fr")
    assert "http://localhost/liste-ami/desinscription/" in body_of(subscriber_mail)
    company_mail = next(m for m in smtp.messages if m["To"] == "karim@lumiere.fr")
    assert "http://localhost/compte/notifications" in body_of(company_mail)
    assert "30 avril 2017" in body_of(company_mail)

    # The daily digest leaves at 08:00 (Paris) with the announcement inside.
    smtp.messages.clear()
    clock.set(paris_datetime(2017, 4, 1, 8, 0))
    assert notifications.dispatch_due().digests == 1
    assert received(smtp) == ["ines@lumiere.fr"]
    assert "L'appel à manifestation d'intérêt 2017 est ouvert" in body_of(smtp.messages[0])
    held = rows(recipient="ines@lumiere.fr", kind="announcement")[0]
    assert (held.status, held.transport) == ("sent", "digest") and held.digest_id is not None
    # Writing the announcement again (a second move into the stage) changes nothing.
    notifications.announce_ami_open(cycle)
    transaction.commit()
    assert len(rows(kind="announcement")) == 3


def test_an_announcement_to_an_account_closed_since_is_not_sent(app, companies_world, clock, smtp):
    cycle, people = companies_world
    clock.set(paris_datetime(2017, 4, 1, 0, 1))
    notifications.announce_ami_open(cycle)
    transaction.commit()
    people["now"].active = False
    db.session.commit()
    notifications.dispatch_due()
    assert received(smtp) == ["veille@startup.fr"]
    [closed] = rows(recipient="karim@lumiere.fr")
    assert (closed.status, closed.last_error) == ("cancelled", "Le compte du destinataire n'est plus actif.")


def test_preferences_turn_announcements_off(app, client, login, companies_world, clock):
    cycle, people = companies_world
    user = people["now"]
    login(user)
    page = page_text(client.get("/compte/notifications"))
    assert "Recevoir les annonces" in page and "ne se désactivent pas" in page
    assert "http://localhost/calendrier/" in page
    assert "/compte/notifications" in page_text(client.get("/compte/"))  # linked from "Mon compte"
    clock.set(paris_datetime(2017, 3, 31, 12))
    notifications.announce_ami_open(cycle)
    transaction.commit()
    response = client.post("/compte/notifications", data={"digest": "daily"})  # the box unticked
    assert response.status_code == 302
    db.session.expire_all()
    me = db.session.get(User, user.id)
    assert (me.announcements_opt_in, me.digest) == (False, "daily")
    assert rows(recipient="karim@lumiere.fr", kind="announcement")[0].status == "cancelled"
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.notification_preferences"))
    assert event.after == {"announcements_opt_in": False, "digest": "daily"}
    refused = client.post("/compte/notifications", data={"digest": "hourly", "announcements": "y"})
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, user.id).announcements_opt_in is False


def test_event_mails_leave_after_the_commit_once_and_never_after_a_rollback(app, needs_world, smtp):
    cycle, people = needs_world
    need = db.session.scalars(select(Need).where(Need.status == "returned")).first()
    for _ in range(2):  # the same event twice in one transaction is one mail
        notifications.notify_event("need_returned", need, [people["mel"]], subject="Votre besoin vous est renvoyé",
                                   message="Précisez le budget indicatif.", link="http://localhost/besoins/")
    assert smtp.messages == []
    transaction.commit()
    assert received(smtp) == ["bruno@mel.fr"]
    assert "Précisez le budget indicatif." in body_of(smtp.messages[0])
    notifications.notify_event("need_accepted", need, [people["mel"]], subject="Besoin accepté", message="Bravo")
    transaction.rollback()
    assert len(smtp.messages) == 1 and [r.key.split(":")[1] for r in rows(kind="event")] == ["need_returned"]
    # A kind that recurs says which occurrence it is.
    notifications.notify_event("need_returned", need, [people["mel"]], subject="Renvoyé encore", occurrence=2,
                               message="Encore une précision.")
    transaction.commit()
    assert len(smtp.messages) == 2


# --- the calendar feed, the mailing list -----------------------------------------------------------------


def test_each_person_has_a_secret_calendar_feed_of_their_deadlines(app, client, login, make, needs_world):
    cycle, people = needs_world
    buyer = people["lille1"]
    response = client.get(f"/calendrier/{buyer.calendar_token}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    feed = response.get_data(as_text=True)
    assert feed.count("BEGIN:VEVENT") == 2  # needs collection and purchase census
    assert "DTEND:20170331T215900Z" in feed and "DTEND:20170930T215900Z" in feed
    member = make.user(Role.COMMITTEE_MEMBER, password=None)
    cycle.committee.append(CommitteeMember(user_id=member.id))
    db.session.commit()
    member_feed = client.get(f"/calendrier/{member.calendar_token}.ics").get_data(as_text=True)
    assert member_feed.count("BEGIN:VEVENT") == 1 and "DTEND:20170731T215900Z" in member_feed
    assert client.get("/calendrier/nimportequoi.ics").status_code == 404

    old = buyer.calendar_token
    login(buyer)
    assert client.post("/compte/notifications/nouveau-lien-calendrier").status_code == 302
    assert client.get(f"/calendrier/{old}.ics").status_code == 404
    db.session.expire_all()
    assert client.get(f"/calendrier/{db.session.get(User, buyer.id).calendar_token}.ics").status_code == 200


def test_the_ami_mailing_list_is_double_opt_in_and_easy_to_leave(app, client, smtp):
    response = client.post("/liste-ami", data={"email": "veille@startup.fr"})
    assert response.status_code == 200 and "Vérifiez votre messagerie" in page_text(response)
    assert received(smtp) == ["veille@startup.fr"]
    link = re.search(r"http://localhost(/liste-ami/confirmer/\S+)", body_of(smtp.messages[0])).group(1)
    assert db.session.scalar(select(MailingListSubscriber)).confirmed_at is None
    assert "Confirmer mon inscription" in page_text(client.get(link))  # GET only shows a button
    db.session.expire_all()
    assert db.session.scalar(select(MailingListSubscriber)).confirmed_at is None
    assert client.post(link).status_code == 302
    db.session.expire_all()
    subscriber = db.session.scalar(select(MailingListSubscriber))
    assert subscriber.confirmed_at is not None
    # Subscribing again says the same thing and sends nothing more.
    client.post("/liste-ami", data={"email": "VEILLE@startup.fr"})
    assert len(smtp.messages) == 1
    bad = client.post("/liste-ami", data={"email": "pas une adresse"})
    assert bad.status_code == 422 and "Adresse électronique invalide" in page_text(bad)
    leave = f"/liste-ami/desinscription/{subscriber.token}"
    assert client.post(leave).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(MailingListSubscriber)) is None
    assert client.get(leave).status_code == 400


# --- the outbox page -------------------------------------------------------------------------------------


def test_the_outbox_previews_pending_reminders_and_dispatches_on_demand(app, client, login, make, needs_world,
                                                                        clock):
    cycle, _ = needs_world
    clock.set(paris_datetime(2017, 2, 1, 8))
    notifications.plan_reminders(cycle)
    transaction.commit()
    login(make.user(Role.ADMIN))
    listing = page_text(client.get("/admin/courriels?status=pending&kind=reminder"))
    assert "lea@lille.fr" in listing and "17 mars 2017 à 09:00" in listing
    row = rows(recipient="lea@lille.fr", reminder_offset=14)[0]
    detail = page_text(client.get(f"/admin/courriels/{row.id}"))
    assert "Aperçu" in detail and "vendredi 31 mars 2017 à 23:59" in detail and "BEGIN:VCALENDAR" in detail
    assert rows(recipient="lea@lille.fr", reminder_offset=14)[0].body_text is None  # nothing stored
    clock.set(NEEDS_14)
    response = client.post("/admin/courriels/traiter", follow_redirects=True)
    assert "3 courriel(s) remis à l'envoi" in page_text(response)
    assert {r.status for r in rows(kind="reminder", reminder_offset=14)} == {"sent"}


def test_status_counts_and_stuck_rows(app, census_world, clock):
    clock.set(CENSUS_DUE)
    notifications.refresh_due_rounds(app_clock.now())
    assert delivery.counts_by_status() == {"pending": 2}
    assert len(delivery.pick_due(app_clock.now(), 10)) == 2
    assert delivery.stuck(app_clock.now()) == 0
    assert delivery.stuck(app_clock.now() + timedelta(hours=1)) == 2
