"""Benchmark: every listing and public page against a bare Flask floor, on a medium and a national dataset.

Not a test: it prints a table. PostgreSQL, gunicorn -w 2 for both applications, on this machine.

    # once: build the datasets (M: one convention, its open cycle with 200 accepted needs and 2,000 answers and
    # the decided cycle before it, as large, reviewed, with commitments and a published bilan, ~10 s; L: 13
    # conventions x 3 cycles, 50,000 needs, 200,000 answers, the open cycle 1,000 accepted needs and 5,000
    # answers, ~1-2 min), under nice: the machine is shared
    nice -n 10 .venv/bin/python benchmarks/pages.py seed --size M --database-url postgresql://postgres@127.0.0.1/bench_pages_m
    nice -n 10 .venv/bin/python benchmarks/pages.py seed --size L --database-url postgresql://postgres@127.0.0.1/bench_pages_l
    # then, as often as wanted (the databases are only read):
    .venv/bin/python benchmarks/pages.py run --m-url postgresql://postgres@127.0.0.1/bench_pages_m \\
        --l-url postgresql://postgres@127.0.0.1/bench_pages_l [--app-dir /path/to/another/checkout] [--rounds 15]

`seed` creates the database if needed, upgrades it with the migrations of the checkout it runs from, and
fills it with INSERT … SELECT generate_series statements run by PostgreSQL itself (no row crosses the wire;
the constraints and indexes of the migrations stay in place), not ORM objects or Python rows. `run` starts
our application (`wsgi:app` of --app-dir, default this checkout) and the floor (`benchmarks/floor_app.py`: one
indexed query for 50 rows, a count, a minimal Jinja table) with gunicorn -w 2 each, signs in as the
benchmark's administrator, warms both up, then times `--rounds` rounds, each one every page of ours and the
floor in a shuffled order (interleaved: a noisy neighbour slows both alike). It prints, per page and dataset:
median, p90, ratio of the medians to the floor's, L/M, and the SQL queries the page runs (counted in-process
with the test client, the same code). Exports are timed to their first byte and to their last. Then a
throughput test of /ami against the floor: `--load-seconds` of 8 keep-alive connections each.

Pages of later stages are added to PAGES (a path with {cycle}, {theme}, {need} placeholders; public or not).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_EMAIL = "admin@banc-essai.fr"
ADMIN_PASSWORD = "banc-d-essai-2026"

# (label, path, signed in). Placeholders: {cycle} the open cycle, {theme} one of its themes, {need} an accepted
# need of it with answers, {decided} and {decided_year} the cycle before it, reviewed, decided and published.
PAGES: list[tuple[str, str, bool]] = [
    ("/ (home)", "/", False),
    ("/accessibilite", "/accessibilite", False),
    ("/ami (public)", "/ami", False),
    ("/ami?theme", "/ami?theme={theme}", False),
    ("/ami?q", "/ami?q=capteur", False),
    ("/ami signed in", "/ami", True),
    ("/suivi/besoins", "/suivi/besoins", True),
    ("/suivi/besoins filtered", "/suivi/besoins?q=besoin&theme={theme}", True),
    ("/suivi/reponses", "/suivi/reponses", True),
    ("/suivi/reponses text+theme", "/suivi/reponses?q=solution&theme={theme}", True),
    ("/suivi/reponses need", "/suivi/reponses?need={need}", True),
    ("/reponses/examen", "/reponses/examen", True),
    ("/tableau-de-bord/", "/tableau-de-bord/", True),
    ("/besoins/ (admin)", "/besoins/", True),
    ("/admin/utilisateurs", "/admin/utilisateurs", True),
    ("/admin/organisations", "/admin/organisations", True),
    ("/admin/journal", "/admin/journal", True),
    # The decided cycle ({decided}, of year {decided_year}): selection, census and results pages.
    ("/selection ranking", "/selection/cycles/{decided}/classement", True),
    ("/engagements", "/engagements/?cycle_id={decided}", True),
    ("/resultats/<year> (public)", "/resultats/{decided_year}", False),
    ("/resultats bilan (admin)", "/resultats/cycle/{decided}/bilan", True),
]
EXPORTS: list[tuple[str, str]] = [
    ("CSV export (answers)", "/suivi/reponses/export?format=csv"),
    ("XLSX export (answers)", "/suivi/reponses/export?format=xlsx"),
    ("CSV export (needs)", "/suivi/besoins/export?format=csv"),
]
FLOOR_PATH = "/floor?cycle={cycle}"

SIZES = {
    # conventions, cycles per convention, needs in all, answers in all, accepted needs and answers of the open cycle
    # M: one convention, its open cycle (200 accepted needs, 2,000 answers) and the decided one before it (as
    # many rows: the ranking, commitments and results pages read it).
    "M": {"conventions": 1, "cycles": 2, "needs": 400, "answers": 4_000, "open_needs": 200, "open_answers": 2_000,
          "buyers": 60, "companies": 800, "themes": 8},
    "L": {"conventions": 13, "cycles": 3, "needs": 50_000, "answers": 200_000, "open_needs": 1_000,
          "open_answers": 5_000, "buyers": 1_500, "companies": 40_000, "themes": 10},
}


# --- seed ------------------------------------------------------------------------------------------------


def _engine_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)


def _ensure_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(_engine_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).scalar():
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def seed(url: str, size: str) -> None:
    """Build a dataset with bulk inserts. Deterministic (seeded random), so M and L runs are comparable."""
    _ensure_database(url)
    env = dict(os.environ, DATABASE_URL=url, DEMO_MODE="0", SECRET_KEY="benchmark")
    subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    os.environ.update({"DATABASE_URL": url, "DEMO_MODE": "0", "SECRET_KEY": "benchmark"})
    from sqlalchemy import insert, text

    from innovation_cycle import create_app
    from innovation_cycle.extensions import db
    from innovation_cycle.models import (
        AmiCall,
        CommitteeMember,
        Convention,
        Cycle,
        OrganizationKind,
        Role,
        StageWindow,
        Theme,
        User,
        UserRole,
    )
    from innovation_cycle.models.reviews import Criterion, SelectionSettings
    from innovation_cycle.services import accounts
    from innovation_cycle.services import ami as ami_service
    from workflows.cycle import STAGES

    spec = SIZES[size]
    app = create_app()
    started = time.perf_counter()
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables if t.name != "alembic_version"]
        db.session.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        db.session.commit()
        now = datetime.now(UTC).replace(microsecond=0)
        words = ["capteur", "énergie", "mobilité", "données", "santé", "bâtiment", "eau", "déchets", "éclairage",
                 "accueil", "numérique", "vélo", "chaleur", "qualité", "air", "école", "hôpital", "route",
                 "transport", "lumière", "bruit"]

        # Everything bulky is written by INSERT … SELECT generate_series in the database (no row crosses the
        # wire): 200,000 answers in seconds, where executemany of Python rows took 25 minutes and did not end.
        # Identities restart at 1 (TRUNCATE … RESTART IDENTITY), so buyers are organizations 1..B, companies'
        # organizations B+1..B+C and companies 1..C. Texts are slices of 997 phrases built once.
        kinds = [k.value for k in OrganizationKind if k != OrganizationKind.COMPANY]
        params = {"words": words, "kinds": kinds, "buyers": spec["buyers"], "companies": spec["companies"],
                  "now": now, "sizes": ["micro", "pme", "eti"]}

        def run(statement: str, **extra) -> None:
            db.session.execute(text(statement), {**params, **extra})

        # A plain (unlogged) table, not a temporary one: a commit may hand the session another pooled
        # connection (the results cache writes its generation token on one of its own after each commit).
        run("DROP TABLE IF EXISTS bench_phrases")
        run("""CREATE UNLOGGED TABLE bench_phrases AS
               SELECT i, ARRAY(SELECT (CAST(:words AS text[]))[1 + ((i * 31 + k * 17 + k * k) % 21)]
                               FROM generate_series(1, 80) k) AS a
               FROM generate_series(0, 996) i""")
        run("""INSERT INTO organizations (name, kind, department)
               SELECT 'Acheteur ' || g || ' ' || array_to_string(p.a[1:2], ' '),
                      (CAST(:kinds AS text[]))[1 + g % cardinality(CAST(:kinds AS text[]))],
                      (ARRAY['59', '62', '80', '60', '02'])[1 + g % 5]
               FROM generate_series(0, :buyers - 1) g JOIN bench_phrases p ON p.i = g % 997
               ORDER BY g""")
        run("""INSERT INTO organizations (name, kind, siret, siren, department)
               SELECT 'Entreprise ' || g || ' ' || array_to_string(p.a[3:4], ' '), 'company',
                      (g + 100000000)::text || lpad((g % 100000)::text, 5, '0'), (g + 100000000)::text,
                      (ARRAY['59', '62', '80', '60', '02', '75', '69'])[1 + g % 7]
               FROM generate_series(0, :companies - 1) g JOIN bench_phrases p ON p.i = g % 997
               ORDER BY g""")
        run("""INSERT INTO companies (organization_id, computed_size, declared_size, young_innovative_company,
                                      created_at, updated_at)
               SELECT :buyers + 1 + g, (CAST(:sizes AS text[]))[1 + g % 3], (CAST(:sizes AS text[]))[1 + g % 3],
                      g % 5 = 0, :now, :now
               FROM generate_series(0, :companies - 1) g ORDER BY g""")

        # Conventions and cycles: the last cycle of the last convention is open (AMI under way), the others closed.
        year0 = now.year - spec["cycles"] + 1
        cycles: list[int] = []
        for c in range(spec["conventions"]):
            convention = Convention(name=f"Convention {c + 1}", region=f"Région {c + 1}",
                                    signed_on=date(year0 - 1, 1, 1), starts_on=date(year0, 1, 1),
                                    ends_on=date(year0 + spec["cycles"], 12, 31))
            db.session.add(convention)
            db.session.flush()
            for k in range(spec["cycles"]):
                is_open = c == spec["conventions"] - 1 and k == spec["cycles"] - 1
                cycle = Cycle(convention_id=convention.id, year=year0 + k,
                              state="ami_sourcing" if is_open else "closed", created_at=now)
                db.session.add(cycle)
                db.session.flush()
                base = now - timedelta(days=30) if is_open else now - timedelta(days=365 * (spec["cycles"] - k))
                spans = [(-60, -31), (-30, 20), (21, 60), (61, 120), (121, 180)]
                db.session.add_all(StageWindow(cycle_id=cycle.id, stage=stage, position=p,
                                               opens_at=base + timedelta(days=spans[p][0] + 30),
                                               closes_at=base + timedelta(days=spans[p][1] + 30))
                                   for p, stage in enumerate(STAGES))
                cycles.append(cycle.id)
        open_cycle = cycles[-1]
        db.session.commit()
        texts = ami_service.default_texts(db.session.get(Cycle, open_cycle))
        db.session.add(AmiCall(cycle_id=open_cycle, created_at=now, updated_at=now, **texts))
        db.session.execute(insert(Theme), [{"cycle_id": c, "name": f"Thème {t + 1} {words[t]}", "position": t}
                                           for c in cycles for t in range(spec["themes"])])

        # Needs: the open cycle holds `open_needs` accepted ones; the rest is spread over the closed cycles, the
        # state turning with each pass over them (so that every cycle gets accepted needs).
        others = [c for c in cycles if c != open_cycle]
        params.update({"open": open_cycle, "others": others or [open_cycle], "k": max(len(others), 1),
                       "open_needs": spec["open_needs"] if others else spec["needs"], "needs": spec["needs"],
                       "open_answers": spec["open_answers"] if others else spec["answers"],
                       "answers": spec["answers"], "themes": spec["themes"]})
        run("""INSERT INTO needs (cycle_id, organization_id, status, title, problem, context, expected_outcomes,
                   constraint_security, estimated_value, procurement_category, cpv_codes, open_to_experimentation,
                   non_technological_welcome, confidential, contact_name, contact_email, created_at, updated_at,
                   submitted_at, qualified_at, version)
               SELECT CASE WHEN g < :open_needs THEN :open
                           ELSE (CAST(:others AS int[]))[1 + (g - :open_needs) % :k] END,
                      1 + g % :buyers,
                      CASE WHEN g < :open_needs THEN 'accepted'
                           ELSE (ARRAY['accepted', 'rejected', 'accepted', 'returned'])
                                [1 + ((g - :open_needs) / :k) % 4]
                      END,
                      'Besoin ' || g || ' : ' || array_to_string(p.a[5:8], ' '), array_to_string(p.a[1:60], ' '),
                      array_to_string(p.a[20:50], ' '), array_to_string(p.a[40:60], ' '),
                      CASE WHEN g % 3 = 0 THEN array_to_string(p.a[10:18], ' ') END, 10000 + (g % 50) * 5000,
                      (ARRAY['goods', 'services', 'works'])[1 + g % 3],
                      CAST(CASE WHEN g % 2 = 1 THEN '["48000000"]' ELSE '[]' END AS json), g % 2 = 0, g % 3 <> 0,
                      g % 10 = 0, 'Contact ' || g, 'contact' || g || '@acheteur.bench',
                      t.at, t.at, t.at, t.at, 1
               FROM generate_series(0, :needs - 1) g JOIN bench_phrases p ON p.i = g % 997
               CROSS JOIN LATERAL (SELECT CAST(:now AS timestamptz) - interval '40 days' - g * interval '1 minute'
                                   AS at) t
               ORDER BY g""")
        run("""WITH n AS (SELECT id, cycle_id, row_number() OVER (PARTITION BY cycle_id ORDER BY id) - 1 AS r
                          FROM needs),
                    t AS (SELECT id, cycle_id, row_number() OVER (PARTITION BY cycle_id ORDER BY id) - 1 AS r
                          FROM themes)
               INSERT INTO need_themes (need_id, theme_id)
               SELECT n.id, t.id FROM n JOIN t ON t.cycle_id = n.cycle_id AND t.r = n.r % :themes
               UNION
               SELECT n.id, t.id FROM n JOIN t ON t.cycle_id = n.cycle_id AND t.r = (n.r + 3) % :themes
               WHERE n.r % 7 = 0""")

        # Answers: `open_answers` in the open cycle, the rest over the closed ones; one or two targets each.
        run("""INSERT INTO applications (cycle_id, company_id, status, version, solution_name, summary, description,
                   innovation_kinds, trl, trl_not_applicable, market_status, indicative_price, sworn_statement,
                   data_consent, eligibility_reason, created_at, updated_at, submitted_at)
               SELECT CASE WHEN g < :open_answers THEN :open
                           ELSE (CAST(:others AS int[]))[1 + (g - :open_answers) % :k] END,
                      1 + (g * 13) % :companies, s.status, 1,
                      'Solution ' || g || ' ' || array_to_string(p.a[7:8], ' '), array_to_string(p.a[1:25], ' '),
                      array_to_string(p.a, ' '),
                      CAST(CASE WHEN g % 2 = 1 THEN '["product"]' ELSE '["process"]' END AS json),
                      CASE WHEN g % 10 <> 0 THEN g % 9 + 1 END, g % 10 = 0,
                      (ARRAY['prototype', 'pilot', 'on_sale'])[1 + g % 3], 'sur devis', true, true,
                      CASE WHEN s.status = 'ineligible' THEN 'Hors cible' END, t.at, t.at, t.at
               FROM generate_series(0, :answers - 1) g JOIN bench_phrases p ON p.i = g % 997
               CROSS JOIN LATERAL (SELECT (ARRAY['submitted', 'submitted', 'eligible', 'ineligible',
                                                 'withdrawn'])[1 + g % 5] AS status) s
               CROSS JOIN LATERAL (SELECT CAST(:now AS timestamptz) - interval '20 days' - g * interval '7 seconds'
                                   AS at) t
               ORDER BY g""")
        run("""WITH acc AS (SELECT id, cycle_id, row_number() OVER (PARTITION BY cycle_id ORDER BY id) - 1 AS r,
                                   count(*) OVER (PARTITION BY cycle_id) AS c
                            FROM needs WHERE status = 'accepted'),
                    cnt AS (SELECT DISTINCT cycle_id, c FROM acc)
               INSERT INTO application_needs (application_id, need_id, fit)
               SELECT a.id, acc.id, 'Adapté' FROM applications a JOIN cnt ON cnt.cycle_id = a.cycle_id
                   JOIN acc ON acc.cycle_id = a.cycle_id AND acc.r = a.id % cnt.c
               UNION
               SELECT a.id, acc.id, 'Adapté' FROM applications a JOIN cnt ON cnt.cycle_id = a.cycle_id
                   JOIN acc ON acc.cycle_id = a.cycle_id AND acc.r = (a.id * 7 + 3) % cnt.c
               WHERE a.id % 2 = 1""")
        db.session.commit()

        # The decided cycle (the open one's predecessor in the same convention): a committee of 3 reviewed its
        # eligible answers on 6 criteria, a quarter were selected and another quarter not, each selected answer
        # has a commitment, and its bilan is published: the ranking, commitments and results pages read it.
        # (Not for a one-cycle dataset, the exports benchmark's.)
        if len(cycles) > 1:
            decided = cycles[-2]
            members = []
            for i in range(3):
                member = User(email=f"membre{i}@banc-essai.fr", name=f"Membre {i}", active=True, created_at=now,
                              email_confirmed_at=now)
                db.session.add(member)
                members.append(member)
            db.session.flush()
            db.session.execute(insert(UserRole), [{"user_id": m.id, "role": Role.COMMITTEE_MEMBER} for m in members])
            db.session.execute(insert(CommitteeMember), [{"cycle_id": decided, "user_id": m.id} for m in members])
            db.session.add(SelectionSettings(cycle_id=decided, reviewers_per_answer=3))
            db.session.execute(insert(Criterion), [{"cycle_id": decided, "position": i, "label": f"Critère {i + 1}",
                                                    "weight": 1.0 + i % 3, "scale_min": 0, "scale_max": 4,
                                                    "level_labels": []} for i in range(6)])
            params["decided"] = decided
            for statement in (
                """UPDATE applications SET status = CASE WHEN id % 4 = 0 THEN 'selected' ELSE 'not_selected' END
                   WHERE cycle_id = :decided AND status = 'eligible' AND id % 4 IN (0, 1)""",
                """INSERT INTO review_assignments (cycle_id, application_id, user_id, status, created_at)
                   SELECT :decided, a.id, m.user_id, 'confirmed', :now FROM applications a
                   CROSS JOIN committee_members m WHERE a.cycle_id = :decided AND m.cycle_id = :decided
                   AND a.status IN ('eligible', 'selected', 'not_selected')""",
                """INSERT INTO reviews (cycle_id, application_id, reviewer_id, status, recommendation, version,
                       created_at, updated_at, submitted_at)
                   SELECT :decided, a.id, m.user_id, 'submitted',
                          (ARRAY['select', 'discuss', 'reject'])[1 + (a.id + m.user_id) % 3], 1, :now, :now, :now
                   FROM applications a CROSS JOIN committee_members m WHERE a.cycle_id = :decided
                   AND m.cycle_id = :decided AND a.status IN ('eligible', 'selected', 'not_selected')""",
                """INSERT INTO review_scores (review_id, criterion_id, value)
                   SELECT r.id, c.id, (r.id * 7 + c.id * 3) % 5
                   FROM reviews r JOIN criteria c ON c.cycle_id = r.cycle_id WHERE r.cycle_id = :decided""",
                """INSERT INTO commitments (cycle_id, application_id, company_id, need_id, buyer_organization_id,
                       channel, status, version, amount_excl_vat, procedure, declared_by_buyer, confirmed_at,
                       created_at, updated_at, first_committed_at, abandon_reason)
                   SELECT :decided, a.id, a.company_id, t.need_id, n.organization_id, 'pfra_regional',
                          (ARRAY['interest', 'experimentation_planned', 'purchase_commitment', 'procedure_launched',
                                 'contracted', 'abandoned'])[1 + a.id % 6], 1, 10000 + (a.id % 40) * 2500, 'adapted',
                          false, :now, :now, :now, :now, CASE WHEN a.id % 6 = 5 THEN 'Budget' END
                   FROM applications a
                   JOIN LATERAL (SELECT min(need_id) AS need_id FROM application_needs WHERE application_id = a.id) t
                       ON true
                   JOIN needs n ON n.id = t.need_id
                   WHERE a.cycle_id = :decided AND a.status = 'selected'""",
                """UPDATE applications SET named_in_results = (id % 3 <> 0)
                   WHERE cycle_id = :decided AND status = 'selected'""",
                """INSERT INTO results_reports (cycle_id, editorial, published_at, version, updated_at)
                   VALUES (:decided, 'Bilan du cycle.', :now, 1, :now)""",
            ):
                run(statement)
        db.session.commit()

        admin = User(email=ADMIN_EMAIL, name="Banc d'essai", active=True, created_at=now, email_confirmed_at=now)
        db.session.add(admin)
        run("DROP TABLE bench_phrases")
        accounts.set_password(admin, ADMIN_PASSWORD)
        db.session.flush()
        db.session.execute(insert(UserRole), [{"user_id": admin.id, "role": Role.ADMIN}])
        db.session.commit()
        # VACUUM as autovacuum would have by then: the visibility map lets counts read indexes alone.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        counts = {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("cycles", "needs", "need_themes", "applications", "application_needs", "organizations",
                            "reviews", "review_scores", "commitments")}
    print(f"dataset {size} in {url.rsplit('/', 1)[-1]}: {counts} in {time.perf_counter() - started:.0f} s")


# --- servers ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": url, "DEMO_MODE": "0", "SECRET_KEY": "benchmark", "EMBEDDED_DISPATCH": "0",
                "INNOVATION_CYCLE_ENV": "benchmark", "RATELIMIT_ENABLED": "0"})
    env.pop("REDIS_URL", None)
    env.pop("SERVER_NAME", None)
    return env


def start_server(app_dir: Path, module: str, url: str, port: int, log: Path) -> subprocess.Popen:
    env = server_env(url)
    env["PYTHONPATH"] = str(app_dir)
    process = subprocess.Popen(
        # A long timeout: on a shared machine a slow page (the "before" of an unpaginated one) must be timed,
        # not killed.
        [str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(app_dir),
         "--timeout", "300", "--log-level", "warning", module],
        cwd=app_dir, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{module} did not start, see {log}")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


class Client:
    """A keep-alive HTTP client with its own cookies (one for the anonymous, one for the signed-in admin)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: str | None = None, first_byte: bool = False):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        ttfb = None
        if first_byte:
            response.read(1)
            ttfb = time.perf_counter() - started
        data = response.read()
        elapsed = time.perf_counter() - started
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, data, elapsed, ttfb

    def login(self) -> None:
        _s, page, _e, _t = self.request("GET", "/compte/connexion")
        token = re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        token = token or re.search(rb'value="([^"]+)"[^>]*name="csrf_token"', page)
        body = urlencode({"csrf_token": token.group(1).decode(), "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        status, _d, _e, _t = self.request("POST", "/compte/connexion", body)
        if status not in (302, 303):
            raise RuntimeError(f"login failed: {status}")


# --- measuring -------------------------------------------------------------------------------------------


def context(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(_engine_url(url))
    with engine.connect() as conn:
        cycle = conn.execute(text("SELECT id FROM cycles WHERE state = 'ami_sourcing' ORDER BY id DESC")).scalar()
        theme = conn.execute(text("SELECT id FROM themes WHERE cycle_id = :c ORDER BY position LIMIT 1"),
                             {"c": cycle}).scalar()
        need = conn.execute(text("SELECT need_id FROM application_needs an JOIN needs n ON n.id = an.need_id "
                                 "WHERE n.cycle_id = :c GROUP BY need_id ORDER BY count(*) DESC LIMIT 1"),
                            {"c": cycle}).scalar()
        decided, decided_year = conn.execute(text(
            "SELECT c.id, c.year FROM results_reports r JOIN cycles c ON c.id = r.cycle_id "
            "WHERE r.published_at IS NOT NULL ORDER BY c.id DESC LIMIT 1")).one()
    engine.dispose()
    return {"cycle": cycle, "theme": theme, "need": need, "decided": decided, "decided_year": decided_year}


def count_queries(app_dir: Path, url: str, paths: list[tuple[str, str, bool]]) -> dict[str, int]:
    """SQL statements per page, counted in-process with the test client of `app_dir`'s code."""
    script = r'''
import json, sys
from sqlalchemy import event
from innovation_cycle import create_app
from innovation_cycle.extensions import db
app = create_app({"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
pages, email, password = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
counts = {}
statements = []
with app.app_context():  # the engine only: each request below has its own context (and its own `g`)
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
anonymous, admin = app.test_client(), app.test_client()
admin.post("/compte/connexion", data={"email": email, "password": password})
for label, path, signed in pages:
    client = admin if signed else anonymous
    client.get(path)  # warm (caches of the code under test count as they would in production)
    statements.clear()
    response = client.get(path)
    counts[label] = len(statements) if response.status_code == 200 else -response.status_code
print(json.dumps(counts))
'''
    env = server_env(url)
    env["PYTHONPATH"] = str(app_dir)
    out = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", script, json.dumps(paths), ADMIN_EMAIL, ADMIN_PASSWORD],
                         cwd=app_dir, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(args, url: str, name: str) -> dict:
    app_dir = Path(args.app_dir).resolve()
    ctx = context(url)
    pages = [(label, path.format(**ctx), signed) for label, path, signed in PAGES]
    logs = ROOT / "instance" / "benchmark-logs"
    logs.mkdir(parents=True, exist_ok=True)
    ours_port, floor_port = free_port(), free_port()
    ours = start_server(app_dir, "wsgi:app", url, ours_port, logs / f"pages-ours-{name}.log")
    floor = start_server(ROOT / "benchmarks", "floor_app:app", url, floor_port, logs / f"pages-floor-{name}.log")
    try:
        anonymous, admin, floor_client = Client(ours_port), Client(ours_port), Client(floor_port)
        admin.login()
        floor_path = FLOOR_PATH.format(**ctx)
        targets = [(label, admin if signed else anonymous, path) for label, path, signed in pages]
        targets.append(("floor", floor_client, floor_path))
        sizes: dict[str, int] = {}
        for _ in range(2):  # warm-up: both workers of each server, caches filled
            for label, client, path in targets:
                status, data, _e, _t = client.request("GET", path)
                if status != 200:
                    print(f"  ! {label} {path}: HTTP {status}", file=sys.stderr)
                sizes[label] = len(data)
        times: dict[str, list[float]] = {label: [] for label, _c, _p in targets}
        for _round in range(args.rounds):
            order = targets[:]
            random.shuffle(order)
            for label, client, path in order:
                _s, _d, elapsed, _t = client.request("GET", path)
                times[label].append(elapsed)
        exports: dict[str, dict[str, float]] = {}
        for label, path in EXPORTS:
            firsts, totals = [], []
            for _ in range(args.export_rounds):
                _s, data, elapsed, ttfb = admin.request("GET", path, first_byte=True)
                firsts.append(ttfb or elapsed)
                totals.append(elapsed)
                sizes[label] = len(data)
            exports[label] = {"first": statistics.median(firsts), "total": statistics.median(totals)}
        load = throughput(args, ours_port, floor_port, "/ami", floor_path) if args.load_seconds else {}
    finally:
        stop(ours)
        stop(floor)
    queries = count_queries(app_dir, url, pages)
    result = {"times": times, "sizes": sizes, "exports": exports, "queries": queries, "load": load}
    return result


def throughput(args, ours_port: int, floor_port: int, ours_path: str, floor_path: str) -> dict[str, Any]:
    """Requests per second with 8 keep-alive connections for `load_seconds`, ours then the floor, twice
    alternated. With wrk (2 threads) when installed (`apt-get install wrk`): a Python client would take a good
    part of this 2-core machine's CPU from the servers it measures."""
    wrk = shutil.which("wrk")

    def with_wrk(port: int, path: str) -> float:
        out = subprocess.run([wrk, "-t2", "-c8", f"-d{max(int(args.load_seconds), 1)}s",
                              f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if errors:
            print(f"  ! {path}: {errors.group(1)} non-2xx responses under load", file=sys.stderr)
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def with_threads(port: int, path: str) -> float:
        done = [0] * 8
        stop_at = time.perf_counter() + args.load_seconds

        def worker(n: int) -> None:
            client = Client(port)
            while time.perf_counter() < stop_at:
                client.request("GET", path)
                done[n] += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(done) / (time.perf_counter() - started)

    hammer = with_wrk if wrk else with_threads
    rates = [hammer(ours_port, ours_path), hammer(floor_port, floor_path)]
    rates += [hammer(ours_port, ours_path), hammer(floor_port, floor_path)]
    return {"ours": (rates[0] + rates[2]) / 2, "floor": (rates[1] + rates[3]) / 2, "tool": "wrk" if wrk else "threads"}


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def report(results: dict[str, dict]) -> None:
    names = list(results)
    print()
    head = "| page |"
    for name in names:
        head += f" {name} median | {name} p90 | {name} / floor |"
    if len(names) == 2:
        # L/M of the times, and of the ratios to the floor (the same run's noise divided out: on a shared
        # machine the floor itself may move between the two datasets' runs).
        head += " L/M | L/M (÷ floor) |"
    head += " SQL queries |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    labels = [label for label, _p, _s in PAGES] + ["floor"]
    for label in labels:
        line = f"| {label} |"
        medians, relative = [], []
        for name in names:
            values = results[name]["times"].get(label, [])
            floor = statistics.median(results[name]["times"]["floor"])
            median = statistics.median(values) if values else float("nan")
            medians.append(median)
            relative.append(median / floor)
            line += f" {median * 1000:.1f} ms | {p90(values) * 1000:.1f} ms | {median / floor:.1f}× |"
        if len(names) == 2:
            line += f" {medians[1] / medians[0]:.2f} | {relative[1] / relative[0]:.2f} |"
        line += " " + " / ".join(str(results[n]["queries"].get(label, "")) for n in names) + " |"
        print(line)
    for label, _path in EXPORTS:
        line = f"| {label}: first byte / whole |"
        values = []
        for name in names:
            e = results[name]["exports"][label]
            values.append(e["total"])
            size = results[name]["sizes"][label] / 1e6
            line += f" {e['first'] * 1000:.0f} ms | {e['total'] * 1000:.0f} ms | {size:.2f} MB |"
        if len(names) == 2:
            line += f" {values[1] / values[0]:.2f} | |"
        print(line + " |")
    for name in names:
        load = results[name]["load"]
        if load:
            print(f"\n{name}: /ami throughput {load['ours']:.0f} req/s, floor {load['floor']:.0f} req/s "
                  f"-> {load['ours'] / load['floor']:.0%} (8 keep-alive connections, {load['tool']}, {name})")
        sizes = results[name]["sizes"]
        print(f"{name}: page sizes " + ", ".join(f"{k} {v / 1024:.0f} KB" for k, v in sizes.items()
                                                  if not k.startswith(("CSV", "XLSX"))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    seed_parser = sub.add_parser("seed", help="build a dataset (M or L) in a PostgreSQL database")
    seed_parser.add_argument("--size", choices=sorted(SIZES), required=True)
    seed_parser.add_argument("--database-url", required=True)
    run_parser = sub.add_parser("run", help="time every page against the floor on the datasets given")
    run_parser.add_argument("--m-url", default="postgresql://postgres@127.0.0.1:5432/bench_pages_m")
    run_parser.add_argument("--l-url", default="postgresql://postgres@127.0.0.1:5432/bench_pages_l")
    run_parser.add_argument("--only", choices=["M", "L"], help="one dataset only")
    run_parser.add_argument("--app-dir", default=str(ROOT), help="the checkout whose wsgi:app is measured")
    run_parser.add_argument("--rounds", type=int, default=15)
    run_parser.add_argument("--export-rounds", type=int, default=3)
    run_parser.add_argument("--load-seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.command == "seed":
        seed(args.database_url, args.size)
        return
    datasets = [(n, u) for n, u in (("M", args.m_url), ("L", args.l_url)) if not args.only or args.only == n]
    print(f"pages of {args.app_dir}, {args.rounds} interleaved rounds, gunicorn -w 2, {os.cpu_count()} CPUs")
    results = {name: measure(args, url, name) for name, url in datasets}
    report(results)


if __name__ == "__main__":
    main()
