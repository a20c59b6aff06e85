"""Benchmark: the answers and needs exports of one cycle of 5,000 answers, CSV and XLSX, first byte and whole.

Not a test: it prints figures. PostgreSQL; the application runs in this process (the test client, the same
code and the same streamed response as under gunicorn), signed in as the benchmark's administrator.

    # once (the database is created if needed, emptied and filled with bulk INSERTs: ~30 s)
    .venv/bin/python benchmarks/exports.py seed --database-url postgresql://postgres@127.0.0.1/bench_exports
    # then, as often as wanted (the database is only read, apart from the exports' audit rows)
    .venv/bin/python benchmarks/exports.py run --database-url postgresql://postgres@127.0.0.1/bench_exports

The dataset is the page benchmark's (`benchmarks/pages.py seed`) at the size of the national dataset's open
cycle: one cycle in its AMI, 1,000 accepted needs, 5,000 answers targeting one or two of them. `run` times
`--rounds` downloads of each export (after one warm-up), in a shuffled order, and prints the median and the
best of the time to the first body byte and to the last, the median CPU time of this process (the
application's own work, less sensitive than the wall clock to a loaded machine), and the file size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SPEC = {"conventions": 1, "cycles": 1, "needs": 1_000, "answers": 5_000, "open_needs": 1_000,
        "open_answers": 5_000, "buyers": 300, "companies": 3_000, "themes": 10}

EXPORTS = [
    ("CSV answers", "/suivi/reponses/export?format=csv"),
    ("XLSX answers", "/suivi/reponses/export?format=xlsx"),
    ("CSV needs", "/suivi/besoins/export?format=csv"),
    ("XLSX needs", "/suivi/besoins/export?format=xlsx"),
]


def seed(url: str) -> None:
    import pages

    pages.SIZES["exports"] = SPEC
    pages.seed(url, "exports")


def download(client, path: str) -> tuple[float, float, int, float]:
    """Seconds to the first byte of the body, to the last, the size, and the CPU seconds this process spent
    (the application's own work, whatever the neighbours' load; PostgreSQL's is not counted)."""
    cpu = time.process_time()
    started = time.perf_counter()
    response = client.get(path, buffered=False)
    assert response.status_code == 200, (path, response.status_code)
    chunks = iter(response.response)
    size = 0
    first = None
    for chunk in chunks:
        if chunk and first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    whole = time.perf_counter() - started
    response.close()
    return first or whole, whole, size, time.process_time() - cpu


def run(url: str, rounds: int, only: str | None) -> None:
    os.environ.update({"DATABASE_URL": url, "DEMO_MODE": "0", "SECRET_KEY": "benchmark"})
    from pages import ADMIN_EMAIL, ADMIN_PASSWORD

    from innovation_cycle import create_app

    app = create_app({"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    response = client.post("/compte/connexion", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 302, "sign-in failed: seed the database first"
    exports = [(label, path) for label, path in EXPORTS if not only or only.lower() in label.lower()]
    times: dict[str, list[tuple[float, float, int, float]]] = {label: [] for label, _ in exports}
    for _label, path in exports:
        download(client, path)  # warm-up
    order = [e for _ in range(rounds) for e in exports]
    random.Random(5).shuffle(order)
    for label, path in order:
        times[label].append(download(client, path))
    with app.app_context():
        from innovation_cycle.extensions import db

        answers = db.session.execute(db.text("SELECT count(*) FROM applications WHERE status <> 'draft'")).scalar()
    print(f"{answers} answers, {rounds} rounds, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'export':<14} {'first byte (median/best)':>26} {'whole (median/best)':>22} {'CPU (median)':>13} "
          f"{'size':>10}")
    for label, values in times.items():
        first = [v[0] for v in values]
        whole = [v[1] for v in values]
        print(f"{label:<14} {statistics.median(first) * 1000:>13.0f} / {min(first) * 1000:>4.0f} ms "
              f"{statistics.median(whole) * 1000:>10.0f} / {min(whole) * 1000:>5.0f} ms "
              f"{statistics.median(v[3] for v in values) * 1000:>10.0f} ms "
              f"{values[0][2] / 1024:>8.0f} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    seed_parser = sub.add_parser("seed")
    seed_parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_exports")
    run_parser = sub.add_parser("run")
    run_parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_exports")
    run_parser.add_argument("--rounds", type=int, default=5)
    run_parser.add_argument("--only", help="only the exports whose label contains this (e.g. xlsx)")
    args = parser.parse_args()
    if args.command == "seed":
        seed(args.database_url)
    else:
        run(args.database_url, args.rounds, args.only)


if __name__ == "__main__":
    main()
