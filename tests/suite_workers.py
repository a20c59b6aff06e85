"""What lets the suite run on several processes (pytest-xdist) and start applications cheaply.

Imported by tests/conftest.py before it reads TEST_DATABASE_URL, so that every module sees the worker's own
resources: each worker truncates its database after every test and empties its Redis database, and two workers
sharing one would wipe each other's records mid-test.
"""

from __future__ import annotations

import os
import re

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/5"


def worker_index() -> int | None:
    """0, 1, … in a pytest-xdist worker ("gw0", "gw1"…, set before conftest is imported); None without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    match = re.fullmatch(r"gw(\d+)", worker)
    return int(match.group(1)) if match else None


def isolate_worker() -> None:
    """Point TEST_DATABASE_URL and TEST_REDIS_URL at this worker's own database (created when missing) and
    Redis database number. Without xdist nothing changes: one process uses the URLs it was given."""
    index = worker_index()
    if index is None:
        return
    database_url = os.environ.get("TEST_DATABASE_URL")
    if database_url:
        from innovation_cycle.config import normalise_database_url

        url = make_url(normalise_database_url(database_url))
        name = f"{url.database}_gw{index}"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
                if found.scalar() is None:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        os.environ["TEST_DATABASE_URL"] = url.set(database=name).render_as_string(hide_password=False)
    redis_url = make_url(os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL))
    number = (int(redis_url.database or 0) + index) % 16  # Redis has 16 databases by default
    os.environ["TEST_REDIS_URL"] = redis_url.set(database=str(number)).render_as_string(hide_password=False)


def memoize_url_builders() -> None:
    """Compile each URL rule's builder once per process instead of once per application.

    Every test builds its own application, and werkzeug compiles two Python functions (through `ast` and
    `compile`) for each of the ~150 rules every time: 0.33 s of the 0.35 s that create_app costs, about ten
    minutes of CPU over the two passes of the suite. The compiled function depends only on the rule's parsed
    parts, its defaults and the flag; converters are read from the rule it is bound to when it runs, so one
    function serves every application. If werkzeug changes these internals the memo steps aside.
    """
    from werkzeug.routing.rules import Rule

    original = Rule._compile_builder
    if getattr(original, "_memoized", False):
        return
    cache: dict = {}

    def compile_builder(self, append_unknown: bool = True):
        try:
            key = (self.rule, tuple(self._trace), tuple(sorted((self.defaults or {}).items())), append_unknown)
            hash(key)
        except (AttributeError, TypeError):  # internals changed, or unhashable defaults: no memo
            return original(self, append_unknown)
        builder = cache.get(key)
        if builder is None:
            builder = cache[key] = original(self, append_unknown)
        return builder

    compile_builder._memoized = True  # type: ignore[attr-defined]
    Rule._compile_builder = compile_builder  # type: ignore[method-assign]
