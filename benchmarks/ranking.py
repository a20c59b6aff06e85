"""Benchmark: the selection stage's ranking on PostgreSQL. Not a test: it prints figures.

    .venv/bin/python benchmarks/ranking.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/ranking_bench \\
        [--pretalx-dir /work/scratch/pretalx]

The database given is emptied. Two cycles are built with bulk SQL (generate_series): one of 2,000 eligible
answers and one of 20,000, each answer reviewed by 3 committee members on a grid of 6 weighted criteria.

(a) The ranking page of the 2,000-answer cycle (50 lines a page), served by gunicorn (one sync worker, as
    pretalx below), requested over HTTP as a logged-in admin: median of the requests' times, and the number
    of SQL statements the page sends (counted in-process on the same page). With `--pretalx-dir` (a scratch
    pretalx install seeded with /work/shared/bench/pretalx-peer/seed.py at N=2000 and 6 score categories, on
    PostgreSQL), pretalx's review dashboard is served the same way and timed in the same run.
(b) The ranking of the 20,000-answer cycle (360,000 scores): the service call that computes every answer's
    figures, orders them and returns the first page, in-process; median of the runs. The scores are inserted
    by bulk SQL, so each review's stored weighted score is computed once after them, as the application's
    flush would (models.reviews.refresh_weighted_scores): the ranking reads those 60,000 figures.

Without `--pretalx-dir`, pretalx is skipped and its figure printed as "n/a".

The last two lines are the figures, in this form:
    ranking page 2000x3: ours <X> ms, pretalx <Y> ms
    ranking 20000x3x6: <Z> s
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "Motdepasse-banc-2017"
REVIEWERS = 3
CRITERIA = 6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_cycle(app, convention_id: int, year: int, answers: int, admin_id: int) -> int:
    """A cycle in selection with `answers` eligible answers × REVIEWERS submitted reviews × CRITERIA scores."""
    from sqlalchemy import text

    from innovation_cycle.clock import paris_datetime
    from innovation_cycle.extensions import db
    from innovation_cycle.models import (
        CommitteeMember,
        Convention,
        Need,
        Organization,
        OrganizationKind,
        Role,
        User,
        UserRole,
    )
    from innovation_cycle.models.reviews import Criterion, SelectionSettings, refresh_weighted_scores
    from innovation_cycle.services import accounts, cycles

    with app.app_context():
        convention = db.session.get(Convention, convention_id)
        cycle = cycles.create_cycle(convention, year)
        cycle.state = "selection"
        buyer = Organization(name=f"Acheteur {year}", kind=OrganizationKind.LOCAL_AUTHORITY, department="59")
        db.session.add(buyer)
        now = paris_datetime(year, 6, 1)
        for i in range(10):
            db.session.add(Need(cycle=cycle, organization=buyer, status="accepted", title=f"Besoin {year}-{i}",
                                problem="p", created_at=now, updated_at=now, submitted_at=now))
        for i in range(REVIEWERS):
            user = User(email=f"membre{i}-{year}@bench.fr", name=f"Membre {i}", active=True, created_at=now,
                        email_confirmed_at=now)
            accounts.set_password(user, PASSWORD)
            user.role_rows = [UserRole(role=Role.COMMITTEE_MEMBER)]
            db.session.add(user)
            db.session.flush()
            cycle.committee.append(CommitteeMember(user_id=user.id))
        for i in range(CRITERIA):
            db.session.add(Criterion(cycle_id=cycle.id, position=i, label=f"Critère {i + 1}", weight=1.0 + i % 3))
        db.session.add(SelectionSettings(cycle_id=cycle.id, reviewers_per_answer=REVIEWERS))
        db.session.commit()
        params = {"cycle": cycle.id, "n": answers, "year": year, "now": now}
        statements = [
            """INSERT INTO organizations (name, kind, department)
               SELECT 'Entreprise ' || :year || '-' || g, 'company', CASE WHEN g % 2 = 0 THEN '59' ELSE '62' END
               FROM generate_series(1, :n) g""",
            """INSERT INTO companies (organization_id, computed_size, young_innovative_company, created_at, updated_at)
               SELECT o.id, CASE WHEN o.id % 3 = 0 THEN 'micro' ELSE 'pme' END, false, :now, :now
               FROM organizations o WHERE o.name LIKE 'Entreprise ' || :year || '-%'""",
            """INSERT INTO applications (cycle_id, company_id, status, version, solution_name, innovation_kinds,
                   trl_not_applicable, sworn_statement, data_consent, created_at, updated_at, submitted_at)
               SELECT :cycle, c.id, 'eligible', 1, 'Solution ' || o.name, '[]', false, true, true, :now, :now, :now
               FROM companies c JOIN organizations o ON o.id = c.organization_id
               WHERE o.name LIKE 'Entreprise ' || :year || '-%'""",
            """INSERT INTO application_needs (application_id, need_id, fit)
               SELECT a.id, (SELECT n.id FROM needs n WHERE n.cycle_id = :cycle ORDER BY n.id
                             OFFSET a.id % 10 LIMIT 1), 'ok'
               FROM applications a WHERE a.cycle_id = :cycle""",
            """INSERT INTO review_assignments (cycle_id, application_id, user_id, status, created_at)
               SELECT :cycle, a.id, m.user_id, 'confirmed', :now
               FROM applications a CROSS JOIN committee_members m WHERE a.cycle_id = :cycle AND m.cycle_id = :cycle""",
            """INSERT INTO reviews (cycle_id, application_id, reviewer_id, status, recommendation, version,
                   created_at, updated_at, submitted_at)
               SELECT :cycle, a.id, m.user_id, 'submitted', 'discuss', 1, :now, :now, :now
               FROM applications a CROSS JOIN committee_members m WHERE a.cycle_id = :cycle AND m.cycle_id = :cycle""",
            """INSERT INTO review_scores (review_id, criterion_id, value)
               SELECT r.id, c.id, floor(random() * 5)::int
               FROM reviews r JOIN criteria c ON c.cycle_id = r.cycle_id WHERE r.cycle_id = :cycle""",
        ]
        for statement in statements:
            db.session.execute(text(statement), params)
        # Bulk SQL bypasses the flush that stores each review's weighted score: store them as the app would.
        refresh_weighted_scores(db.session.connection(), cycle_ids=[cycle.id])
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        return cycle.id


def build(app, database_url: str) -> tuple[int, int]:
    from innovation_cycle.clock import paris_datetime
    from innovation_cycle.extensions import db
    from innovation_cycle.models import Base, Convention, Role, User, UserRole
    from innovation_cycle.services import accounts

    with app.app_context():
        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
        from datetime import date

        convention = Convention(name="Convention banc", region="Hauts-de-France", signed_on=date(2017, 1, 10),
                                starts_on=date(2017, 1, 1), ends_on=date(2019, 12, 31))
        now = paris_datetime(2017, 1, 2)
        admin = User(email="admin@bench.fr", name="Admin", active=True, created_at=now, email_confirmed_at=now)
        accounts.set_password(admin, PASSWORD)
        admin.role_rows = [UserRole(role=Role.ADMIN)]
        db.session.add_all([convention, admin])
        db.session.commit()
        convention_id, admin_id = convention.id, admin.id
    started = time.perf_counter()
    small = build_cycle(app, convention_id, 2017, 2000, admin_id)
    large = build_cycle(app, convention_id, 2018, 20000, admin_id)
    print(f"built 2,000 and 20,000 answers x {REVIEWERS} reviews x {CRITERIA} criteria in "
          f"{time.perf_counter() - started:.1f} s")
    return small, large


def count_page_queries(app, cycle_id: int) -> int:
    from sqlalchemy import event

    from innovation_cycle.extensions import db

    client = app.test_client()
    with app.app_context():
        client.post("/compte/connexion", data={"email": "admin@bench.fr", "password": PASSWORD})
        statements: list[str] = []

        def before(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        response = client.get(f"/selection/cycles/{cycle_id}/classement")
        event.remove(db.engine, "before_cursor_execute", before)
        assert response.status_code == 200, response.status_code
    return len(statements)


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def timed_ours(base: str, path: str, n: int) -> float:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/compte/connexion").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    data = {"email": "admin@bench.fr", "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    opener.open(urllib.request.Request(base + "/compte/connexion", data=urllib.parse.urlencode(data).encode()))
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = opener.open(base + path)
        body = response.read()
        times.append(time.perf_counter() - started)
        assert response.status == 200 and b"Rang" in body, response.status
    return statistics.median(times)


def run_ours(database_url: str, cycle_id: int, n: int) -> float:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, INNOVATION_CYCLE_ENV="benchmark", SECRET_KEY="benchmark",
               DEMO_MODE="0", RATELIMIT_ENABLED="0")
    env.pop("SERVER_NAME", None)
    command = [str(ROOT / ".venv/bin/gunicorn"), "-w", "1", "--timeout", "600", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    server = subprocess.Popen(command,
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/")
        timed_ours(base, f"/selection/cycles/{cycle_id}/classement", 1)  # warm up
        return timed_ours(base, f"/selection/cycles/{cycle_id}/classement", n)
    finally:
        server.terminate()
        server.wait(timeout=20)


def run_pretalx(pretalx_dir: Path, n: int) -> float | None:
    """pretalx's review dashboard, served by gunicorn (one sync worker) on its own PostgreSQL database."""
    env = dict(os.environ, PRETALX_CONFIG_FILE=str(pretalx_dir / "pretalx.cfg"))
    gunicorn = pretalx_dir / "venv/bin/gunicorn"
    served = [str(gunicorn), "-w", "1", "--timeout", "600", "-b", "127.0.0.1:8345", "pretalx.wsgi"]
    command = (served if gunicorn.exists()
               else [str(pretalx_dir / "venv/bin/python"), "-m", "pretalx", "runserver", "--insecure", "--noreload",
                     "127.0.0.1:8345"])
    server = subprocess.Popen(command, cwd=pretalx_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("http://127.0.0.1:8345/orga/login/", 120)
        script = pretalx_dir / "timed_get.py"
        if not script.exists():
            script = Path("/work/shared/bench/pretalx-peer/timed_get.py")
        subprocess.run([sys.executable, str(script), "/orga/event/ami/reviews/", "1"], check=True,
                       capture_output=True)  # warm up
        out = subprocess.run([sys.executable, str(script), "/orga/event/ami/reviews/", str(n)], check=True,
                             capture_output=True, text=True).stdout
        print(out.strip())
        found = re.search(r"median ([0-9.]+) ms", out)
        return float(found.group(1)) / 1000 if found else None
    finally:
        server.terminate()
        server.wait(timeout=20)


def time_large(app, cycle_id: int, runs: int) -> float:
    from innovation_cycle.extensions import db
    from innovation_cycle.models import Cycle, User
    from innovation_cycle.services import ranking

    with app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        admin = db.session.scalar(db.select(User).where(User.email == "admin@bench.fr"))
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            page = ranking.rank(cycle, ranking.RankingFilters(), admin, page=1, per_page=50)
            times.append(time.perf_counter() - started)
        assert page.total == 20000 and len(page.lines) == 50
        normalized = []
        for _ in range(runs):
            started = time.perf_counter()
            ranking.rank(cycle, ranking.RankingFilters(normalized=True), admin, page=1, per_page=50)
            normalized.append(time.perf_counter() - started)
        print(f"ranking 20,000 answers, normalized by reviewer: median {statistics.median(normalized):.3f} s")
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pretalx-dir", type=Path)
    parser.add_argument("--requests", type=int, default=7)
    args = parser.parse_args()
    from innovation_cycle import create_app
    from innovation_cycle.config import normalise_database_url

    args.database_url = normalise_database_url(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "SECRET_KEY": "benchmark",
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "REDIS_URL": None, "MAIL_SERVER": None,
                      "DEMO_MODE": False, "SERVER_NAME": None})
    small, large = build(app, args.database_url)
    queries = count_page_queries(app, small)
    print(f"ranking page 2000x3: {queries} SQL statements")
    ours = run_ours(args.database_url, small, args.requests)
    pretalx = run_pretalx(args.pretalx_dir, args.requests) if args.pretalx_dir else None
    large_time = time_large(app, large, 5)
    if pretalx:
        print(f"ratio ours / pretalx: {ours / pretalx:.1%}")
    pretalx_text = f"{pretalx * 1000:.0f}" if pretalx else "n/a"
    print(f"ranking page 2000x3: ours {ours * 1000:.0f} ms, pretalx {pretalx_text} ms")
    print(f"ranking 20000x3x6: {large_time:.3f} s")


if __name__ == "__main__":
    main()
