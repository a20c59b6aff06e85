"""RQ: the jobs that send notification rows, the worker, and the periodic dispatch that runs beside it.

Jobs are enqueued after the commit that made their rows `queued` (never before: a worker could look for a
row that does not exist yet). A job carries only row ids; the row is the truth, so a job that runs twice, or
a second job for the same row, sends nothing the second time (see services.delivery).

`flask --app wsgi worker` runs an RQ worker with its scheduler (retries with intervals need it) and a thread
that runs the dispatcher every DISPATCH_INTERVAL_SECONDS; with several workers, a short Redis lock lets one
of them dispatch per interval. Plain `rq worker --with-scheduler notifications` also runs the jobs (each job
then builds the app from the environment), but without the periodic dispatch: run
`flask --app wsgi dispatch` from cron beside it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Sequence

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.job import Job

log = logging.getLogger(__name__)
DISPATCH_LOCK = "innovation_cycle:dispatch-lock"
_worker_app: Flask | None = None


class TemporaryFailure(Exception):
    """Raised by a job when some of its mails should be tried again: RQ retries it after its interval."""


def init_app(app: Flask) -> None:
    app.extensions["redis"] = None


def redis_connection(app: Flask | None = None) -> Redis:
    app = app or current_app._get_current_object()
    connection = app.extensions.get("redis")
    if connection is None:
        connection = Redis.from_url(app.config["REDIS_URL"], health_check_interval=30)
        app.extensions["redis"] = connection
    return connection


def queue(app: Flask | None = None) -> Queue:
    app = app or current_app._get_current_object()
    return Queue(app.config["NOTIFY_QUEUE"], connection=redis_connection(app))


def enqueue(ids: Sequence[int]) -> list[Job]:
    """One job per batch of rows, with RQ's retries (exponential intervals from the configuration)."""
    config = current_app.config
    q = queue()
    size = config["NOTIFY_BATCH_SIZE"]
    retries = max(config["NOTIFY_MAX_ATTEMPTS"] - 1, 1)
    jobs = [Queue.prepare_data(send_notifications, args=(list(ids[i:i + size]),),
                               retry=Retry(max=retries, interval=list(config["NOTIFY_RETRY_INTERVALS"])),
                               timeout=config["NOTIFY_JOB_TIMEOUT"], result_ttl=0,
                               failure_ttl=7 * 24 * 3600, description=f"notifications {ids[i]}…")
            for i in range(0, len(ids), size)]
    return q.enqueue_many(jobs)


def _app() -> Flask:
    """The application a job runs in: the worker's own (flask worker, tests), else one built once per process
    from the environment (plain `rq worker`)."""
    global _worker_app
    if has_app_context():
        return current_app._get_current_object()
    if _worker_app is None:
        from innovation_cycle import create_app

        _worker_app = create_app()
    return _worker_app


def send_notifications(ids: list[int]) -> int:
    """The job: send these rows (those still queued). Raises TemporaryFailure when some should be retried."""
    from innovation_cycle.services import delivery

    app = _app()
    with app.app_context():  # a session of its own, removed at the end
        outcome = delivery.deliver(ids)
    if outcome.retry:
        raise TemporaryFailure(f"{len(outcome.retry)} courriel(s) à renvoyer : {outcome.retry[:10]}")
    return len(outcome.sent)


# --- the periodic dispatch -------------------------------------------------------------------------------


def dispatch_once(app: Flask) -> str | None:
    """One dispatcher pass unless another process ran one within the interval (Redis lock)."""
    interval = float(app.config["DISPATCH_INTERVAL_SECONDS"])
    token = secrets.token_hex(8)
    if not redis_connection(app).set(DISPATCH_LOCK, token, nx=True, px=max(int(interval * 900), 100)):
        return None
    from innovation_cycle.services import notifications

    with app.app_context():
        return str(notifications.dispatch_due())


class DispatchLoop(threading.Thread):
    def __init__(self, app: Flask, interval: float):
        super().__init__(name="notification-dispatcher", daemon=True)
        self.app, self.interval = app, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                report = dispatch_once(self.app)
                if report:
                    log.info("dispatch: %s", report)
            except Exception:  # noqa: BLE001 - the loop must survive a database or Redis hiccup
                log.exception("dispatch pass failed")
            self.stopped.wait(max(self.interval - (time.monotonic() - started), 0.05))

    def stop(self) -> None:
        self.stopped.set()


def run_worker(app: Flask, *, burst: bool = False, dispatch: bool = True, interval: float | None = None) -> None:
    """The worker process: RQ (jobs run in this process: a job is a short SMTP conversation, a fork per job
    would cost more than the send) with its scheduler, and the dispatch loop beside it."""
    loop = None
    if dispatch:
        loop = DispatchLoop(app, interval or float(app.config["DISPATCH_INTERVAL_SECONDS"]))
        loop.start()
    try:
        worker = SimpleWorker([queue(app)], connection=redis_connection(app))
        worker.work(burst=burst, with_scheduler=True, logging_level=app.config.get("WORKER_LOG_LEVEL", "INFO"))
    finally:
        if loop:
            loop.stop()
            loop.join(timeout=30)
