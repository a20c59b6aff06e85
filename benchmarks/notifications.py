"""Benchmark: 10,000 due reminders dispatched and delivered, with 1 and with 2 worker processes.

PostgreSQL + Redis + a local aiosmtpd sink (in this process). Not a test: it prints figures.

    .venv/bin/python benchmarks/notifications.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/notif_bench --redis-url redis://127.0.0.1:6379/6

The database and the Redis database given are emptied. For each worker count:

1. a cycle in its purchase census (closing in three days, reminder offset 7 days, so its round is due) and
   10,000 PFRA agents; the round is materialised by the service itself (`plan_reminders`: the audience query
   and 10,000 rows), timed on its own;
2. N processes of `flask --app wsgi worker` are started (each an RQ worker with its scheduler and the
   dispatch loop, every 0.5 s; a Redis lock lets one of them dispatch per interval);
3. every row's `due_at` is set to T0 (one second ahead); from then on the workers' dispatcher finds them
   due, enqueues the jobs (NOTIFY_BATCH_SIZE rows each, 100), the workers render, send over SMTP and mark each row sent;
4. the sink timestamps each mail; figures: messages per second from T0 to the last mail, and due -> delivered
   latency (receipt time - T0), median and 95th percentile; then the check that each of the 10,000 rows was
   received exactly once (by its X-Notification-Key and Message-ID) and is `sent` in the database;
5. the floor, measured in the same run right after: plain smtplib, as many clients as workers, one connection
   each, sending the same number of copies of one of the delivered mails (same bytes) to a fresh sink of the
   same kind; the ratio workers / floor is what the application's queue, database and rendering cost.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY_RE = re.compile(rb"^X-Notification-Key: (.+?)\r?$", re.M)
MSGID_RE = re.compile(rb"^Message-ID: (.+?)\r?$", re.M | re.I)


class Sink:
    """An SMTP server that only timestamps what it receives."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[float, bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        head = envelope.content[:4096]
        key = KEY_RE.search(head)
        msgid = MSGID_RE.search(head)
        with self.lock:
            self.received.append((now, key.group(1) if key else b"", msgid.group(1) if msgid else b""))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(args, smtp_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url, "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port), "DEMO_MODE": "0", "SECRET_KEY": "benchmark", "SERVER_NAME": "bench.local",
        "DISPATCH_INTERVAL_SECONDS": str(args.interval), "INNOVATION_CYCLE_ENV": "benchmark",
    })
    return env


def build_world(app, count: int) -> tuple[int, float]:
    """The cycle and its agents (bulk insert), then the reminder round through the service."""
    from sqlalchemy import insert

    from innovation_cycle import clock, transaction
    from innovation_cycle.extensions import db
    from innovation_cycle.models import (
        Application,
        Base,
        Company,
        Convention,
        Cycle,
        Decision,
        Meeting,
        Organization,
        OrganizationKind,
        Role,
        StageWindow,
        User,
        UserRole,
    )
    from innovation_cycle.models.accounts import new_calendar_token, new_security_stamp
    from innovation_cycle.services import notifications
    from workflows.cycle import STAGES

    with app.app_context():
        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
        now = clock.now()
        convention = Convention(name="Convention de mesure", region="Hauts-de-France",
                                signed_on=date(now.year - 1, 1, 1), starts_on=date(now.year - 1, 1, 1),
                                ends_on=date(now.year + 1, 12, 31))
        cycle = Cycle(convention=convention, year=now.year, state="commitment_census", created_at=now,
                      reminder_offsets="7")
        closes = now + timedelta(days=3)
        spans = {"needs_collection": (-300, -250), "ami_sourcing": (-240, -200), "selection": (-190, -100),
                 "commitment_census": (-90, None), "results_communication": (4, 30)}
        for position, stage in enumerate(STAGES):
            start, end = spans[stage]
            cycle.windows.append(StageWindow(stage=stage, position=position, opens_at=now + timedelta(days=start),
                                             closes_at=closes if end is None else now + timedelta(days=end)))
        db.session.add_all([convention, cycle])
        db.session.commit()
        # The census reminds the agents while a selected solution has no commitment yet: one such solution.
        org = Organization(name="Entreprise mesurée", kind=OrganizationKind.COMPANY, siret="73282932000074",
                           siren="732829320", department="59")
        company = Company(organization=org, computed_size="micro", created_at=now, updated_at=now)
        meeting = Meeting(cycle_id=cycle.id, title="Comité", scheduled_at=now - timedelta(days=100),
                          status="closed", created_at=now - timedelta(days=110))
        db.session.add_all([org, company, meeting])
        db.session.flush()
        application = Application(cycle=cycle, company=company, status="selected", solution_name="Solution retenue",
                                  summary="Une solution", market_status="on_sale", created_at=now, updated_at=now,
                                  submitted_at=now)
        db.session.add(application)
        db.session.flush()
        db.session.add(Decision(cycle_id=cycle.id, application_id=application.id, meeting_id=meeting.id,
                                outcome="selected", rationale="Décision du comité", decided_at=now, released_at=now))
        db.session.commit()
        users = [{"email": f"agent{i:05d}@pfra.bench", "name": f"Agent {i}", "active": True, "created_at": now,
                  "email_confirmed_at": now, "security_stamp": new_security_stamp(),
                  "calendar_token": new_calendar_token(), "announcements_opt_in": True, "digest": "immediate"}
                 for i in range(count)]
        db.session.execute(insert(User), users)
        ids = db.session.scalars(db.select(User.id)).all()
        db.session.execute(insert(UserRole), [{"user_id": i, "role": Role.PFRA_AGENT} for i in ids])
        db.session.commit()
        started = time.perf_counter()
        written = notifications.plan_reminders(db.session.get(Cycle, cycle.id))
        transaction.commit()
        elapsed = time.perf_counter() - started
        assert written == count, written
        # Not due yet: the timed phase makes them due.
        db.session.execute(db.text("UPDATE notifications SET due_at = :later"),
                           {"later": datetime.now(UTC) + timedelta(days=1)})
        db.session.commit()
        return cycle.id, elapsed


def wait_for_workers(redis_url: str, count: int, timeout: float = 60) -> None:
    from redis import Redis
    from rq import Worker

    conn = Redis.from_url(redis_url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(Worker.all(connection=conn)) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError("workers did not start")


def run(args, workers: int) -> dict:
    from aiosmtpd.controller import Controller
    from redis import Redis
    from sqlalchemy import create_engine, text

    from innovation_cycle import create_app

    Redis.from_url(args.redis_url).flushdb()
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = environment(args, port)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT", "DEMO_MODE",
                                           "SECRET_KEY", "SERVER_NAME")})
    app = create_app({"REDIS_URL": args.redis_url})
    cycle_id, plan_seconds = build_world(app, args.count)

    logs = Path(args.log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for n in range(workers):
        log = (logs / f"worker-{workers}-{n}.log").open("w")
        processes.append(subprocess.Popen(
            [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "worker", "--interval", str(args.interval),
             "--log-level", "WARNING"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        wait_for_workers(args.redis_url, workers)
        engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        t0 = datetime.now(UTC) + timedelta(seconds=1)
        with engine.begin() as conn:
            conn.execute(text("UPDATE notifications SET due_at = :t0"), {"t0": t0})
        t0_epoch = t0.timestamp()
        deadline = time.time() + args.timeout
        while time.time() < deadline:
            with sink.lock:
                got = len(sink.received)
            if got >= args.count:
                break
            time.sleep(0.25)
        time.sleep(1.0)  # anything arriving late would be a duplicate: give it a chance to show
        with engine.begin() as conn:
            statuses = dict(conn.execute(text("SELECT status, count(*) FROM notifications GROUP BY status")).all())
            keys = set(conn.execute(text("SELECT key FROM notifications")).scalars())
        engine.dispose()
        sample = sample_message(app)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        controller.stop()

    with sink.lock:
        received = list(sink.received)
    by_key = Counter(k.decode() for _, k, _ in received)
    by_msgid = Counter(m for _, _, m in received)
    latencies = sorted(t - t0_epoch for t, _, _ in received)
    last = max(t for t, _, _ in received) if received else t0_epoch
    result = {
        "workers": workers,
        "materialise_s": plan_seconds,
        "received": len(received),
        "distinct_keys": len(by_key),
        "duplicates": sum(c - 1 for c in by_key.values() if c > 1),
        "distinct_message_ids": len(by_msgid),
        "missing": len(keys - set(by_key)),
        "statuses": statuses,
        "elapsed_s": last - t0_epoch,
        "rate": len(received) / (last - t0_epoch) if received else 0.0,
        "first_s": latencies[0] if latencies else float("nan"),
        # From the first mail to the last: the workers' pace, without the dispatcher's first pass.
        "steady_rate": (len(received) - 1) / (last - t0_epoch - latencies[0]) if len(received) > 1 else 0.0,
        "median_s": statistics.median(latencies) if latencies else float("nan"),
        "p95_s": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
    }
    result["sample"] = sample
    result["exactly_once"] = (result["received"] == args.count == result["distinct_keys"]
                              == result["distinct_message_ids"] and result["missing"] == 0
                              and statuses.get("sent") == args.count)
    return result


def sample_message(app) -> bytes:
    """One delivered mail, as the wire carries it (the floor sends copies of it)."""
    from innovation_cycle.extensions import db
    from innovation_cycle.models import Notification
    from innovation_cycle.services import mail

    with app.app_context():
        row = db.session.scalars(db.select(Notification).where(Notification.status == "sent").limit(1)).one()
        return mail.wire_bytes(row, mail.sanitize_address(app.extensions["mail"].default_sender))


def smtp_floor(count: int, clients: int, sample: bytes) -> dict:
    """Raw SMTP: `clients` threads, one smtplib connection each, `count` copies of `sample` in all."""
    import smtplib

    from aiosmtpd.controller import Controller

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    shares = [count // clients + (1 if n < count % clients else 0) for n in range(clients)]

    def client(share: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for _ in range(share):
                smtp.sendmail("ne-pas-repondre@bench.local", ["agent@pfra.bench"], sample)

    try:
        started = time.time()
        threads = [threading.Thread(target=client, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with sink.lock:
            received = list(sink.received)
    finally:
        controller.stop()
    last = max(t for t, _, _ in received) if received else started
    return {"received": len(received), "elapsed_s": last - started,
            "rate": len(received) / (last - started) if received else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/notif_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--interval", type=float, default=0.5, help="dispatch interval in the workers (s)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--log-dir", default=str(ROOT / "instance" / "benchmark-logs"))
    args = parser.parse_args()

    print(f"{args.count} due reminders, PostgreSQL {args.database_url.rsplit('/', 1)[-1]}, Redis {args.redis_url}, "
          f"{os.cpu_count()} CPUs")
    results = []
    for workers in args.workers:
        result = run(args, workers)
        results.append(result)
        print(f"\n== {workers} worker(s)")
        print(f"  round materialised (audience + rows): {result['materialise_s']:.2f} s")
        print(f"  delivered: {result['received']} in {result['elapsed_s']:.2f} s -> {result['rate']:.0f} msg/s")
        print(f"  due -> delivered latency: first {result['first_s']:.2f} s, median {result['median_s']:.2f} s, "
              f"p95 {result['p95_s']:.2f} s; from the first mail to the last: {result['steady_rate']:.0f} msg/s")
        print(f"  exactly once: {result['exactly_once']} (distinct keys {result['distinct_keys']}, distinct "
              f"Message-IDs {result['distinct_message_ids']}, duplicates {result['duplicates']}, missing "
              f"{result['missing']}, rows {result['statuses']})")
        floor = smtp_floor(args.count, workers, result["sample"])
        result["floor_rate"] = floor["rate"]
        print(f"  raw-SMTP floor ({workers} smtplib client(s), one connection each, same mail, same sink): "
              f"{floor['received']} in {floor['elapsed_s']:.2f} s -> {floor['rate']:.0f} msg/s")
        print(f"  ratio to the floor: {result['rate'] / floor['rate']:.0%}" if floor["rate"] else "  no floor")
    if not all(r["exactly_once"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
