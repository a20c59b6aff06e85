"""The browser walk's fixtures: Debian's Chromium driven by Playwright, the application served by a real
werkzeug server on a free port over the test database (SQLite or PostgreSQL, like every other test), the demo
clock on, mail delivered to a loopback SMTP server, axe-core injected into every page visited.

Both themes: every page a walk visits is also loaded, by the same person (same cookies), from a twin server —
the same database, the other theme (STATE_BRANDING flipped) — and checked there too (pages.Person.check_page).
The cycle walk acts on the State theme in the SQLite pass and on the neutral one in the PostgreSQL pass, so the
README's test command clicks through both, while each pass checks every page in both.

Every item under tests/browser is marked `browser` (select with `-m browser`, leave out with `-m "not browser"`).
Without Chromium or axe-core the walk is skipped with the reason, except when BROWSER_REQUIRED=1 (CI), where
a missing browser is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from innovation_cycle import clock as app_clock
from innovation_cycle import create_app
from innovation_cycle.clock import SystemClock
from innovation_cycle.extensions import db

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS") or ROOT / "test-artifacts")
# The theme the cycle walk clicks through: the State's on SQLite, the neutral one on PostgreSQL (the other one is
# checked page by page on the twin server in both passes).
WALK_THEME = "neutral" if os.environ.get("TEST_DATABASE_URL") else "dsfr"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing() -> str | None:
    """Why the walk cannot run here, or None."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium found at /usr/bin/chromium (apt-get install chromium, or set CHROMIUM_PATH)"
    if not AXE.is_file():
        return "axe-core is not installed (npm ci, or ./scripts/setup.sh dev)"
    return None


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_failed = report.failed
    return report


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("BROWSER_REQUIRED") == "1":
            pytest.fail(f"Browser walk cannot run: {reason}.")
        pytest.skip(f"Browser walk skipped: {reason}.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return _free_port()


@pytest.fixture(params=["dsfr"])
def theme(request) -> str:
    """The State-branded theme by default; tests that also walk the neutral theme parametrize it indirectly."""
    return request.param


@pytest.fixture
def app_config(database_url, tmp_path, free_port, smtp_server, theme) -> dict:
    """The test configuration of tests/conftest.py, changed where a real browser needs the real thing: CSRF
    on, the system clock with the demo offset, mail to the loopback SMTP server, the host the browser uses."""
    _handler, smtp_port = smtp_server
    return {
        "TESTING": False,
        "SECRET_KEY": "browser-test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
        "CLOCK": SystemClock(),
        "DEMO_MODE": True,
        "STATE_BRANDING": theme == "dsfr",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_SUPPRESS_SEND": False,
        "REDIS_URL": None,
        "SERVER_NAME": f"127.0.0.1:{free_port}",
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
    }


@pytest.fixture
def mailbox(smtp_server):
    """The messages the loopback SMTP server received."""
    return smtp_server[0]


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


def _serve(app, port: int) -> Iterator[str]:
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def live_server(app, free_port) -> Iterator[str]:
    """The application on http://127.0.0.1:<port>, one thread per request, stopped before the database is
    emptied."""
    try:
        yield from _serve(app, free_port)
    finally:
        db.session.remove()


@pytest.fixture
def twin_server(app_config, live_server) -> Iterator[str]:
    """The same application and database in the other theme, on another port. Browsers share cookies across
    the ports of one host, so a person signed in on one is signed in on the other: the walk reloads each page
    it reaches there and checks it in that theme too."""
    port = _free_port()
    twin = create_app({**app_config, "STATE_BRANDING": not app_config["STATE_BRANDING"],
                       "SERVER_NAME": f"127.0.0.1:{port}", "CLOCK": SystemClock()})
    yield from _serve(twin, port)


@pytest.fixture
def demo_clock(app):
    """Set the demo clock from the test (the walk itself moves it through /admin/horloge)."""

    def set_to(at):
        app_clock.simulate(at)
        db.session.commit()

    return set_to


@pytest.fixture
def walk(request, browser, live_server, axe_source, app):
    """Opens one browser context per person; on failure keeps each open page's screenshot and HTML."""
    from browser.pages import Walk

    # BROWSER_ONE_THEME=1: a quicker local run, without the other theme's checks (CI never sets it).
    both = request.node.get_closest_marker("both_themes") and os.environ.get("BROWSER_ONE_THEME") != "1"
    twin = request.getfixturevalue("twin_server") if both else None
    the_walk = Walk(browser, live_server, axe_source, twin_url=twin)
    yield the_walk
    if getattr(request.node, "browser_failed", False):
        folder = ARTIFACTS / request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
        the_walk.keep_artifacts(folder)
    the_walk.close()
