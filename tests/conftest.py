"""Fixtures: a fresh database per test (SQLite file copy, or PostgreSQL truncation when TEST_DATABASE_URL is
set), a fixed clock, factories for records, a logged-in client helper and a real SMTP server on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from suite_workers import isolate_worker, memoize_url_builders

from innovation_cycle import create_app
from innovation_cycle.clock import FixedClock, paris_datetime
from innovation_cycle.config import normalise_database_url
from innovation_cycle.extensions import db as _db
from innovation_cycle.models import (
    Base,
    Convention,
    ConventionMembership,
    Cycle,
    Need,
    Organization,
    OrganizationKind,
    Role,
    Tier,
    User,
    UserRole,
)
from innovation_cycle.services import accounts as account_service
from innovation_cycle.services import cycles as cycle_service

isolate_worker()
memoize_url_builders()

PASSWORD = "Motdepasse-solide-2017"
PG_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    """Compile the .po catalogs when their .mo is missing or older: the .mo files are not in git, and the
    English pages must be testable on a fresh clone without running scripts/i18n.sh first."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent / "innovation_cycle" / "translations"
    for po in root.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        # Write then rename: another test session may be reading the catalog at the same moment.
        with tempfile.NamedTemporaryFile("wb", dir=mo.parent, suffix=".tmp", delete=False) as target:
            write_mo(target, catalog)
        os.replace(target.name, mo)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory) -> str:
    """Build the schema once per session: a template SQLite file, or the PostgreSQL schema."""
    if PG_URL:
        url = normalise_database_url(PG_URL)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        Base.metadata.create_all(engine)
        engine.dispose()
        return url
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return str(path)


@pytest.fixture
def database_url(database_template, tmp_path) -> Iterator[str]:
    if PG_URL:
        yield database_template
        engine = create_engine(database_template)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        path = tmp_path / "test.sqlite"
        shutil.copyfile(database_template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def clock() -> FixedClock:
    """15 January 2017, 10:00 in Paris: before the first cycle's needs collection opens."""
    return FixedClock(paris_datetime(2017, 1, 15, 10, 0))


@pytest.fixture
def app_config(database_url, clock, tmp_path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "WTF_CSRF_ENABLED": False,
        # Tests log in many times from one address; tests/test_rate_limits.py turns the limiter on.
        "RATELIMIT_ENABLED": False,
        # scrypt at 1/32 of its cost: the suite hashes and checks thousands of passwords (90 ms each at full
        # cost); the hash stays a real scrypt hash, checked by the same code.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "CLOCK": clock,
        "DEMO_MODE": False,
        "MAIL_SERVER": None,
        # Embedded mode unless a test opts into Redis (tests/test_notifications.py), whatever the shell says.
        "REDIS_URL": None,
        "SERVER_NAME": "localhost",
        "INSTANCE_PATH_FOR_TESTS": str(tmp_path),
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
    }


class IsolatedClient(FlaskClient):
    """Requests reuse the test's app context (and so its `g`): forget per-request caches before each one,
    or one client's logged-in user would leak into the next client's request, and a language switch
    (Flask-Babel caches the locale in `g`) would not show on the next page."""

    def open(self, *args, **kwargs):
        for key in ("_login_user", "clock_offset", "_flask_babel"):
            g.pop(key, None)
        lazy = kwargs.get("buffered") is False  # a test that reads a streamed body chunk by chunk says so
        response = super().open(*args, **kwargs)
        if response.is_streamed and not lazy:
            # A streamed export keeps its request context until its body is read: read it now, so that it is
            # not popped later, in the middle of another request (tests that only look at the status).
            response.get_data()
        return response


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Factory:
    """Builders for records; each commits so the web client sees them."""

    counter: int = 0
    created: dict = field(default_factory=dict)

    def _n(self) -> int:
        self.counter += 1
        return self.counter

    def organization(self, name: str | None = None, kind: OrganizationKind = OrganizationKind.LOCAL_AUTHORITY,
                     **kw) -> Organization:
        org = Organization(name=name or f"Organisation {self._n()}", kind=kind, **kw)
        _db.session.add(org)
        _db.session.commit()
        return org

    def user(self, *roles: Role, email: str | None = None, organization: Organization | None = None,
             password: str | None = PASSWORD, active: bool = True, confirmed: bool = True, name: str | None = None
             ) -> User:
        n = self._n()
        user = User(email=email or f"user{n}@example.fr", name=name or f"Personne {n}",
                    organization=organization, active=active, created_at=paris_datetime(2017, 1, 1))
        if password:
            account_service.set_password(user, password)
        if confirmed:
            user.email_confirmed_at = paris_datetime(2017, 1, 1)
        user.role_rows = [UserRole(role=r) for r in roles]
        _db.session.add(user)
        _db.session.commit()
        return user

    def convention(self, start_year: int = 2017, **kw) -> Convention:
        conv = Convention(
            name=kw.pop("name", f"Convention État–UGAP {start_year}–{start_year + 2}"),
            region=kw.pop("region", "Hauts-de-France"),
            signed_on=kw.pop("signed_on", date(start_year, 1, 10)),
            starts_on=kw.pop("starts_on", date(start_year, 1, 1)),
            ends_on=kw.pop("ends_on", date(start_year + 2, 12, 31)),
            **kw,
        )
        _db.session.add(conv)
        _db.session.commit()
        return conv

    def membership(self, convention: Convention, organization: Organization,
                   tier: Tier = Tier.ASSOCIATED_MEMBER, on_committee: bool = False) -> ConventionMembership:
        m = ConventionMembership(convention=convention, organization=organization, tier=tier,
                                 on_committee=on_committee)
        _db.session.add(m)
        _db.session.commit()
        return m

    def cycle(self, convention: Convention | None = None, year: int = 2017, state: str = "draft") -> Cycle:
        convention = convention or self.convention(start_year=year)
        cycle = cycle_service.create_cycle(convention, year)
        # Tests may start a cycle in any state; in the product only workflows.cycle writes it.
        cycle.state = state
        _db.session.commit()
        return cycle

    def need(self, cycle: Cycle, organization: Organization | None = None, status: str = "draft",
             merged_into: Need | None = None, **kw) -> Need:
        """A buyer's need in any state (issue 3, area A). Tests may start it anywhere; in the product only
        workflows.need writes the status."""
        at = paris_datetime(2017, 2, 10)
        need = Need(cycle=cycle, organization=organization or self.organization(), status=status,
                    title=kw.pop("title", f"Besoin {self._n()}"),
                    problem=kw.pop("problem", "Réduire le temps d'attente des usagers à l'accueil."),
                    created_at=at, updated_at=at, merged_into=merged_into, **kw)
        if status != "draft":
            need.submitted_at = at
        _db.session.add(need)
        _db.session.commit()
        return need


@pytest.fixture
def make(app) -> Factory:
    return Factory()


@pytest.fixture
def login(client):
    """Log a user in through the real login form."""

    def do(user: User, password: str = PASSWORD):
        response = client.post("/compte/connexion", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return response

    return do


# --- a real SMTP server on loopback ---------------------------------------------------------------------


class _Collector:
    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.refuse = 0  # refuse that many messages before accepting

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 Temporary failure, try later"
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    handler = _Collector()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp(app, smtp_server):
    """Point the application's mail at the loopback SMTP server; returns the list of received messages."""
    handler, port = smtp_server
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USE_SSL=False)
    mail_ext = app.extensions["mail"]
    mail_ext.server, mail_ext.port = "127.0.0.1", port
    mail_ext.use_tls = mail_ext.use_ssl = False
    # Flask-Mail suppresses sending when app.testing (MAIL_SUPPRESS_SEND defaults to TESTING): undo it here.
    app.config["MAIL_SUPPRESS_SEND"] = False
    mail_ext.suppress = False
    return handler


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""
