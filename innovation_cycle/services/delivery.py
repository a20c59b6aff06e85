"""How a notification row travels from `pending` to `sent`, exactly once.

    pending --(due: dispatcher picks it)--> queued --(a worker claims it)--> sending --(SMTP accepted)--> sent
                                               ^                              |
                                               +---- temporary failure -------+--> failed (last attempt)

Every step is a conditional UPDATE on the row (`... WHERE status = <the one expected>`), committed before the
next step begins. The claim (queued -> sending, attempts + 1) is the one that matters: two jobs for the same
row (a job that runs twice, the dispatcher re-enqueuing a row whose job Redis lost) race on that UPDATE and
only one of them wins; the loser finds the row `sending` or `sent` and does nothing.

A queued or sending row carries a lease. A row whose lease ran out was lost — Redis emptied, a worker killed
— and the dispatcher puts it back to pending (`recover`). The one case that can send a mail twice: a worker
that dies after the SMTP server accepted the mail and before the `sent` commit (a few milliseconds); its row
comes back after the send lease and is sent again, with the same Message-ID.

A job claims its whole batch at once (one UPDATE) and sends it on one SMTP connection, marking each mail
`sent` right after the server accepted it. The mark of one mail is written while the next one's envelope and
DATA command are sent, but the next one's message leaves only once that mark is committed (`_Marks`): a worker killed
mid-batch leaves the mails already accepted marked `sent` but the one in flight (the same one-mail window
as above), and the rest of its batch `sending`, never attempted: they come back after the send lease and
are sent once. Nothing is lost; a crash delays the rest of its batch by the send lease.

With REDIS_URL the rows go to RQ jobs (`innovation_cycle.tasks`), retried by RQ with backoff; without it
(the embedded default) they are sent in-process, right after the commit that wrote them or by the dispatcher,
and a failed attempt waits in `pending` until its next due time.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import smtplib
import threading
import time
import types
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, Dialect, Update, bindparam, func, select, update

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import Notification
from innovation_cycle.models.notifications import CANCELLED, FAILED, PENDING, QUEUED, SENDING, SENT

log = logging.getLogger(__name__)
AFTER_COMMIT_KEY = "notifications_after_commit"

DEFAULTS: dict[str, Any] = {
    "NOTIFY_QUEUE": "notifications",
    # Attempts per row before it is `failed` and shown to the admin with a Retry button.
    "NOTIFY_MAX_ATTEMPTS": 5,
    # Seconds between attempts (RQ Retry intervals; exponential backoff). Needs `--with-scheduler`.
    "NOTIFY_RETRY_INTERVALS": [30, 120, 600, 1800],
    # Seconds a queued row may wait for its job before the dispatcher takes it back (Redis lost it).
    "NOTIFY_QUEUE_LEASE": 15 * 60,
    # Seconds a claimed row may stay `sending` (the worker died mid-send); longer than the job timeout.
    "NOTIFY_SEND_LEASE": 10 * 60,
    "NOTIFY_JOB_TIMEOUT": 5 * 60,
    # Rows per job: one SMTP connection carries a batch.
    "NOTIFY_BATCH_SIZE": 100,
    # Rows the dispatcher hands over per transaction.
    "NOTIFY_DISPATCH_CHUNK": 500,
    "MAIL_TIMEOUT": 30,
    # Paris hour at which reminders are sent, and at which daily digests leave.
    "REMINDER_HOUR": 9,
    "DIGEST_HOUR": 8,
    # The periodic dispatch: every N seconds in the worker, at most every N seconds in the embedded mode.
    "DISPATCH_INTERVAL_SECONDS": 60,
    # Embedded mode (no REDIS_URL): dispatch in-process after a request, at most every interval.
    # None means "on unless REDIS_URL or TESTING".
    "EMBEDDED_DISPATCH": None,
}


def init_app(app: Flask) -> None:
    import os

    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    if os.environ.get("DISPATCH_INTERVAL_SECONDS"):
        app.config["DISPATCH_INTERVAL_SECONDS"] = float(os.environ["DISPATCH_INTERVAL_SECONDS"])
    if os.environ.get("EMBEDDED_DISPATCH") and app.config.get("EMBEDDED_DISPATCH") is None:
        app.config["EMBEDDED_DISPATCH"] = os.environ["EMBEDDED_DISPATCH"].strip().lower() in {"1", "true", "yes", "on"}
    from innovation_cycle import tasks

    tasks.init_app(app)
    app.extensions["embedded_dispatch"] = {"last": None, "lock": threading.Lock()}

    @app.after_request
    def embedded_dispatch(response):
        """Embedded mode: after a response has gone, run the dispatcher here (at most once an interval)."""
        if embedded_dispatch_enabled(app) and _claim_embedded_turn(app):
            response.call_on_close(lambda: _run_embedded_dispatch(app))
        return response


def embedded_dispatch_enabled(app: Flask) -> bool:
    setting = app.config.get("EMBEDDED_DISPATCH")
    if setting is None:
        return not app.config.get("REDIS_URL") and not app.testing
    return bool(setting)


def _claim_embedded_turn(app: Flask) -> bool:
    state = app.extensions["embedded_dispatch"]
    now = time.monotonic()
    with state["lock"]:
        if state["last"] is not None and now - state["last"] < float(app.config["DISPATCH_INTERVAL_SECONDS"]):
            return False
        state["last"] = now
        return True


def _run_embedded_dispatch(app: Flask) -> None:
    from innovation_cycle.services import notifications

    try:
        with app.app_context():
            report = notifications.dispatch_due()
            log.info("embedded dispatch: %s", report)
    except Exception:  # noqa: BLE001 - never break the web process; the next turn tries again
        log.exception("embedded dispatch failed")


# --- configuration helpers -------------------------------------------------------------------------------


def uses_queue() -> bool:
    return bool(current_app.config.get("REDIS_URL"))


def lease_now() -> datetime:
    """The time leases are measured in: the real time, even when the demo clock is moved (a lease is about a
    process being alive, not about the cycle's calendar); the test clock in tests."""
    current = clock.get_clock()
    return current.now() - current.offset()


def queue_lease() -> timedelta:
    return timedelta(seconds=current_app.config["NOTIFY_QUEUE_LEASE"])


def _send_lease() -> timedelta:
    return timedelta(seconds=current_app.config["NOTIFY_SEND_LEASE"])


def _retry_interval(attempts: int) -> int:
    """Seconds before attempt number `attempts + 1` (RQ picks the same value from the same list)."""
    intervals = list(current_app.config["NOTIFY_RETRY_INTERVALS"]) or [0]
    return int(intervals[min(attempts - 1, len(intervals) - 1)]) if attempts >= 1 else 0


def _chunks(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


# --- writing rows ----------------------------------------------------------------------------------------


def insert_ignore(rows: list[dict[str, Any]], *, returning: bool = False) -> list[int]:
    """INSERT the rows, skipping those whose key exists (ON CONFLICT DO NOTHING on both databases): the
    same reminder written twice — two dispatchers, a hook and a dispatcher — is one row. Returns the ids of
    the rows inserted when asked."""
    if not rows:
        return []
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the project runs on these two
        raise RuntimeError(f"unsupported database {dialect}")
    statement = insert(Notification.__table__).on_conflict_do_nothing(index_elements=["key"])
    if not returning:
        db.session.execute(statement, rows)
        return []
    ids = []
    for row in rows:  # RETURNING with executemany is not portable; immediate mails are few
        ids.extend(db.session.execute(statement.values(**row).returning(Notification.__table__.c.id)).scalars())
    return ids


def immediate_fields(now: datetime) -> dict[str, Any]:
    """The columns of a row that leaves right after the commit that writes it."""
    return {"status": QUEUED, "due_at": now, "queued_at": now, "lease_until": lease_now() + queue_lease()}


def send_after_commit(ids: Iterable[int]) -> None:
    """Have these rows sent (or enqueued) once the current transaction commits."""
    db.session.info.setdefault(AFTER_COMMIT_KEY, []).extend(ids)


def take_after_commit() -> list[int]:
    return db.session.info.pop(AFTER_COMMIT_KEY, [])


def hand_over(ids: Sequence[int]) -> bool:
    """Rows just committed as `queued`: enqueue their jobs, or send them here in the embedded mode.

    Never raises: rows that could not be handed over (Redis down) go back to pending, and False says so."""
    if not ids:
        return True
    try:
        if uses_queue():
            from innovation_cycle import tasks

            tasks.enqueue(ids)
        else:
            for chunk in _chunks(ids, current_app.config["NOTIFY_BATCH_SIZE"]):
                deliver(chunk)
    except Exception:  # noqa: BLE001 - the user's request must not fail
        log.exception("could not hand over notifications %s", list(ids)[:20])
        db.session.rollback()
        _back_to_pending(ids)
        return False
    return True


def _back_to_pending(ids: Sequence[int]) -> None:
    """Issue 9: Redis is down (or the embedded send broke before claiming): the rows wait in the outbox as
    pending, due now, and the next dispatcher pass hands them over once Redis is back. If even this fails
    (the database is down too), the queue lease brings them back later."""
    try:
        db.session.execute(
            update(Notification).where(Notification.id.in_(list(ids)), Notification.status == QUEUED)
            .values(status=PENDING, lease_until=None).execution_options(synchronize_session=False))
        db.session.commit()
    except Exception:  # noqa: BLE001
        log.exception("could not put notifications back to pending")
        db.session.rollback()


# --- the dispatcher's part -------------------------------------------------------------------------------


def recover() -> int:
    """Put back to pending the rows whose lease ran out (their job or worker was lost)."""
    max_attempts = current_app.config["NOTIFY_MAX_ATTEMPTS"]
    lost = (Notification.status.in_([QUEUED, SENDING]), Notification.lease_until < lease_now())
    # A row that kept killing its worker stops here.
    poisoned = db.session.execute(
        update(Notification).where(*lost, Notification.status == SENDING, Notification.attempts >= max_attempts)
        .values(status=FAILED, lease_until=None,
                last_error=func.coalesce(Notification.last_error, "Envoi interrompu à chaque tentative."))
        .execution_options(synchronize_session=False)).rowcount
    count = db.session.execute(
        update(Notification).where(*lost).values(status=PENDING, lease_until=None)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if count or poisoned:
        log.warning("recovered %s notifications past their lease (%s failed)", count, poisoned)
    return count


def pick_due(now: datetime, limit: int) -> list[int]:
    """Move up to `limit` due pending rows to queued, and return their ids (committed).

    One statement: the UPDATE takes its rows from a sub-select that skips rows another dispatcher holds
    (SKIP LOCKED on PostgreSQL), rather than reading the ids and sending them back as a list of 500
    parameters (which psycopg parses anew for every chunk)."""
    candidates = (select(Notification.id)
                  .where(Notification.status == PENDING, Notification.digest.is_(False), Notification.due_at <= now)
                  .order_by(Notification.due_at, Notification.id).limit(limit)
                  .with_for_update(skip_locked=True))
    picked = list(db.session.scalars(
        update(Notification).where(Notification.id.in_(candidates.scalar_subquery()),
                                   Notification.status == PENDING)
        .values(status=QUEUED, queued_at=now, lease_until=lease_now() + queue_lease())
        .returning(Notification.id).execution_options(synchronize_session=False)))
    db.session.commit()
    return sorted(picked)


def dispatch_pending(now: datetime) -> int:
    """Hand over every due pending row, a chunk per transaction."""
    total = 0
    chunk = current_app.config["NOTIFY_DISPATCH_CHUNK"]
    while True:
        ids = pick_due(now, chunk)
        if not ids:
            return total
        if not hand_over(ids):  # Redis is down: the rows wait as pending for the next pass
            return total
        total += len(ids)
        if len(ids) < chunk:
            return total


# --- the worker's part -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    sent: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # back to queued: RQ tries the job again
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # claimed by someone else, or already final


class Outgoing(types.SimpleNamespace):
    """A claimed row as plain values, read with Core: the batch only reads it and fills in its rendered parts,
    and an ORM object per mail (identity map, expunge) cost a tenth of a millisecond each for nothing. It has
    the columns of `Notification` as attributes, which is all the renderer and the transport read."""


def claim(ids: Sequence[int], now: datetime, conn: Connection | None = None) -> list[int]:
    """queued -> sending, one attempt more, a send lease from `now` (lease time); committed.

    Only one claimant gets a given row: two claimants' UPDATEs serialise on the rows, and the second finds
    them no longer `queued`."""
    table = Notification.__table__
    statement = (table.update().where(table.c.id.in_(list(ids)), table.c.status == QUEUED)
                 .values(status=SENDING, attempts=table.c.attempts + 1, lease_until=now + _send_lease())
                 .returning(table.c.id))
    if conn is None:
        with db.engine.begin() as own:
            return sorted(own.execute(statement).scalars())
    claimed = sorted(conn.execute(statement).scalars())
    conn.commit()
    return claimed


@functools.lru_cache(maxsize=32)
def _finish_statement(columns: tuple[str, ...]) -> Update:
    """The UPDATE that leaves `sending` with these columns set, built once per process: building and keying
    a new statement for each mail cost twice what executing it does."""
    table = Notification.__table__
    return (table.update().where(table.c.id == bindparam("finished_id"), table.c.status == SENDING)
            .values({name: bindparam(name, type_=table.c[name].type) for name in columns}))


@functools.lru_cache(maxsize=32)
def _finish_sql(columns: tuple[str, ...], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """`_finish_statement` compiled for the driver once per process: its SQL and its fixed parameters."""
    compiled = _finish_statement(columns).compile(dialect=dialect)
    fixed = {name: value for name, value in compiled.params.items()
             if name != "finished_id" and name not in columns}
    return str(compiled), fixed


def _finish(conn: Connection, row_id: int, **values: Any) -> bool:
    """Leave `sending` for a final or retry state; committed at once (the duplicate window is this commit).

    Core statements on one connection held for the batch: this runs once per mail, and the ORM's bookkeeping
    and a pool checkout per commit would cost as much as the SMTP conversation. On PostgreSQL in autocommit
    (the batch's connection) the compiled statement goes straight to the driver's cursor: measured on the
    marks thread, SQLAlchemy's execution path cost 0.5 ms of CPU a mail, the driver alone about a tenth of
    a millisecond; the statement and the result (its row count) are the same."""
    columns = tuple(sorted(values))
    if conn.dialect.name == "postgresql" and conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        for name, value in values.items():  # what UTCDateTime checks before binding (psycopg sends aware values)
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError(f"naive datetime given to a UTC column ({name})")
        sql, fixed = _finish_sql(columns, conn.dialect)
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.execute(sql, {**fixed, **values, "finished_id": row_id})
            return bool(cursor.rowcount)
    done = conn.execute(_finish_statement(columns), {"finished_id": row_id, **values}).rowcount
    conn.commit()
    return bool(done)


class _MarkFailed(Exception):
    """The `sent` mark of the previous mail could not be written: the batch stops (the job fails; its rows
    still `sending` come back after the send lease), as when the mark was written inline."""


class _Marks:
    """The per-mail marks of a batch, written on the batch's connection one at a time, in order.

    The mark of mail N (its `sent`) is written on a helper thread while mail N+1 is rendered and its envelope
    and DATA command are sent (MAIL FROM, RCPT TO, DATA: three round trips); mail N+1's message (what follows
    the server's 354) leaves only once mark N is committed. So at any
    moment at most one accepted mail lacks its committed mark — the same single-mail window as writing the
    mark inline — while the database round trip of each mark overlaps the next mail's SMTP round trips.
    SQLite (in-process, no round trip to hide; its connections belong to their thread) writes them inline."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.overlap = conn.dialect.name == "postgresql"
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[bool] | None = None

    def wait(self) -> None:
        """Block until the mark in flight is committed; raise _MarkFailed if it was not."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except Exception as exc:
                raise _MarkFailed(describe(exc)) from exc

    def now(self, row_id: int, **values: Any) -> bool:
        """Write a mark at once (failures, cancellations: rare, and the row's state decides what comes next)."""
        self.wait()
        return _finish(self.conn, row_id, **values)

    def soon(self, row_id: int, **values: Any) -> None:
        """Start writing a mark; the next `wait` (before the next mail's message leaves) makes sure of it."""
        self.wait()
        if not self.overlap:
            _finish(self.conn, row_id, **values)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notification-marks")
        self._pending = self._pool.submit(_finish, self.conn, row_id, **values)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def deliver(ids: Sequence[int]) -> Outcome:
    """Claim, render (reminders are rendered now), send and mark each row; one SMTP connection per call.

    Used by the RQ job and by the embedded mode. A temporary failure puts the row back to `queued` (queue
    mode: the job raises and RQ retries it after its interval) or to `pending` with a later due time
    (embedded mode: the dispatcher sends it then); the last attempt makes it `failed`.

    On PostgreSQL the batch's connection is in autocommit: the claim and each mark are one statement and one
    round trip, committed when it returns (no separate COMMIT), without waiting for the WAL flush
    (`_fast_commits`); each mark overlaps the next mail's envelope and DATA command (`_Marks`)."""
    from innovation_cycle.services import mail, notifications

    outcome = Outcome()
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        claimed = claim(ids, lease_now(), conn)
        outcome.skipped = sorted(set(ids) - set(claimed))
        if not claimed:
            return outcome
        table = Notification.__table__
        rows = [Outgoing(**values) for values in conn.execute(
            select(table).where(table.c.id.in_(claimed)).order_by(table.c.id)).mappings()]
        conn.commit()
        renderer = notifications.Renderer()
        renderer.preload(rows)
        db.session.rollback()  # no read transaction left open while talking to the mail server
        max_attempts = current_app.config["NOTIFY_MAX_ATTEMPTS"]
        queue_mode = uses_queue()
        marks = _Marks(conn)
        with renderer, mail.Transport() as transport, _fast_commits(conn):
            try:
                for row in rows:
                    try:
                        cancel_reason = renderer.prepare(row)
                        if cancel_reason:
                            marks.now(row.id, status=CANCELLED, lease_until=None, last_error=cancel_reason)
                            outcome.cancelled.append(row.id)
                            continue
                        used = transport.send(row, marks.wait)
                    except _MarkFailed:
                        raise
                    except Exception as exc:  # noqa: BLE001 - any failure is kept on the row for the admin
                        db.session.rollback()
                        marks.wait()
                        conn.rollback()
                        error = describe(exc)[:2000]
                        log.warning("notification %s to %s failed (attempt %s): %s", row.id, row.recipient,
                                    row.attempts, error)
                        if row.attempts >= max_attempts or is_permanent(exc):
                            marks.now(row.id, status=FAILED, lease_until=None, last_error=error)
                            outcome.failed.append(row.id)
                        elif queue_mode:
                            wait = timedelta(seconds=_retry_interval(row.attempts))
                            marks.now(row.id, status=QUEUED, lease_until=lease_now() + wait + queue_lease(),
                                      last_error=error)
                            outcome.retry.append(row.id)
                        else:
                            marks.now(row.id, status=PENDING, lease_until=None, last_error=error,
                                      due_at=clock.now() + timedelta(seconds=max(_retry_interval(row.attempts), 1)))
                            outcome.retry.append(row.id)
                        continue
                    values: dict[str, Any] = {"status": SENT, "sent_at": clock.now(), "transport": used,
                                              "lease_until": None, "last_error": None}
                    values.update(renderer.rendered.pop(row.id, {}))
                    marks.soon(row.id, **values)
                    outcome.sent.append(row.id)
            finally:
                marks.close()
        db.session.rollback()
    return outcome


# --- Issue 9: a mail that can never leave ends `failed` at once, with its reason ----------------------------


def is_permanent(exc: BaseException) -> bool:
    """A failure that no later attempt can cure: the message itself is refused. Flask-Mail refuses a header
    with a line break (BadHeaderError) before any connection; the SMTP server answers 5xx to the recipient or
    to the data. Connection errors, 4xx answers and the server's refusal of our own login or sender (our
    configuration, which an admin fixes) are temporary: the row is tried again."""
    from flask_mail import BadHeaderError

    if isinstance(exc, BadHeaderError | UnicodeError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= code < 600 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPSenderRefused):
        return False
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


@contextlib.contextmanager
def _fast_commits(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the batch's per-mail commits return without waiting for the WAL flush (one fsync per mail
    can cost more than the SMTP conversation). A mark is visible to every other process at its commit, so a
    killed worker still sends nothing twice; only a crash of the database server itself, within a fraction of
    a second of a commit, could forget a `sent` and, after the lease, send that mail again."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET synchronous_commit TO OFF")
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()  # a failed statement must not keep the RESET from running
        conn.exec_driver_sql("RESET synchronous_commit")
        conn.commit()


def describe(exc: BaseException) -> str:
    """The error as the admin reads it: "451 Temporary failure, try later (SMTPDataError)"."""
    from flask_mail import BadHeaderError

    if isinstance(exc, BadHeaderError):
        return "BadHeaderError: a header (subject, sender or recipient) holds a line break; the mail cannot leave"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{addr}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                         for addr, (code, msg) in exc.recipients.items()) + " (SMTPRecipientsRefused)"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


# --- the admin's part ------------------------------------------------------------------------------------


class NotRetryable(Exception):
    pass


def retry(row: Notification) -> None:
    """Send a failed row again, with a fresh set of attempts (flushes; the caller commits)."""
    if row.status != FAILED:
        raise NotRetryable(row.status)
    now = clock.now()
    db.session.execute(
        update(Notification).where(Notification.id == row.id, Notification.status == FAILED)
        .values(attempts=0, **immediate_fields(now)).execution_options(synchronize_session="fetch"))
    send_after_commit([row.id])


def counts_by_status() -> dict[str, int]:
    return dict(db.session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())


def stuck(at: datetime | None = None) -> int:
    """Rows past their lease (the dispatcher will take them back)."""
    return db.session.scalar(select(func.count()).where(
        Notification.status.in_([QUEUED, SENDING]), Notification.lease_until < (at or lease_now()))) or 0

