"""Issue 9, item 11: faults of the real parts. The tests start their own PostgreSQL cluster and Redis server,
stop them mid-test and start them again:

- PostgreSQL down: every page answers a French 503 with Retry-After (the error page needs no database), /sante
  stays 200 (liveness), /sante/pret answers 503 (readiness); when PostgreSQL is back, so is the site.
- Redis down (REDIS_URL set): signing in and the rate-limited forms keep working (the limiter counts in memory
  meanwhile), mails wait in the outbox as pending and leave once Redis is back.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSWORD, Factory, IsolatedClient
from sqlalchemy import create_engine, select

from innovation_cycle import create_app, tasks
from innovation_cycle.extensions import db
from innovation_cycle.models import Base, Notification, Role
from innovation_cycle.models.notifications import PENDING, SENT
from innovation_cycle.services import notifications


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a PostgreSQL cluster of the test's own ---------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class Cluster:
    """initdb'd in a temporary directory, on a free port; run as `postgres` when the tests run as root
    (PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path, root: Path):
        self.bindir, self.root, self.port = bindir, root, free_port()
        self.data = root / "data"
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if self.prefix:
            shutil.chown(self.root, "postgres")
        self.run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def start(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                 f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: cannot stop a database")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL cannot be started by the test")
    root = Path(tempfile.mkdtemp(prefix="ic-pg-"))
    instance = Cluster(bindir, root)
    try:
        instance.init()
        instance.start()
    except (subprocess.CalledProcessError, OSError, KeyError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster of the test's own: {exc}")
    try:
        yield instance
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            instance.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_with_postgresql_down_pages_answer_a_french_503_and_recover(cluster, clock, tmp_path):
    engine = create_engine(cluster.url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": cluster.url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}, "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False, "CLOCK": clock, "DEMO_MODE": False, "MAIL_SERVER": None, "REDIS_URL": None,
        "SERVER_NAME": "localhost", "UPLOAD_FOLDER": str(tmp_path / "uploads"),
    })
    app.test_client_class = IsolatedClient
    with app.app_context():
        Factory().user(Role.BUYER, email="acheteur@example.fr")
        credentials = {"email": "acheteur@example.fr", "password": PASSWORD}
        client = app.test_client()
        assert client.get("/").status_code == 200
        assert client.post("/compte/connexion", data=credentials).status_code == 302
        assert client.get("/sante/pret").status_code == 200
        db.session.remove()

        cluster.stop()
        for path in ("/", "/tableau-de-bord/", "/compte/connexion", "/ami"):
            down = client.get(path)
            assert down.status_code == 503, (path, down.get_data(as_text=True)[:500])
            page = down.get_data(as_text=True)
            assert "Service momentanément indisponible" in page and "Internal Server Error" not in page
            assert int(down.headers["Retry-After"]) > 0
        assert client.post("/compte/connexion", data=credentials).status_code == 503
        assert client.get("/sante").status_code == 200  # liveness: the process is alive
        ready = client.get("/sante/pret")
        assert ready.status_code == 503 and ready.get_json()["database"] == "indisponible"

        cluster.start()
        assert client.get("/").status_code == 200
        assert client.get("/tableau-de-bord/").status_code == 200  # the session survived
        assert client.get("/sante/pret").get_json() == {"status": "ok", "database": "ok", "redis": "absent"}
        db.session.remove()
        db.engine.dispose()


# --- a Redis server of the test's own ---------------------------------------------------------------------


class RedisServer:
    def __init__(self, binary: str, root: Path):
        self.binary, self.root, self.port = binary, root, free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: cannot stop a Redis")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_app(app_config, redis_server):
    app = create_app({**app_config, "REDIS_URL": redis_server.url, "RATELIMIT_ENABLED": True})
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        connection = app.extensions.get("redis")
        if connection is not None:
            connection.close()
        db.session.remove()
        db.engine.dispose()


def _work(app) -> None:
    from rq import SimpleWorker

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([tasks.queue(app)], connection=tasks.redis_connection(app)).work(
            burst=True, with_scheduler=False, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_with_redis_down_people_sign_in_and_mails_wait_until_it_is_back(redis_app, redis_server):
    assert redis_app.config["RATELIMIT_STORAGE_URI"] == redis_server.url
    user = Factory().user(Role.BUYER, email="acheteur@example.fr")
    client = redis_app.test_client()
    assert client.get("/sante/pret").get_json()["redis"] == "ok"

    redis_server.stop()
    wrong = client.post("/compte/connexion", data={"email": user.email, "password": "faux-mot-de-passe"})
    assert wrong.status_code == 422
    right = client.post("/compte/connexion", data={"email": user.email, "password": PASSWORD})
    assert right.status_code == 302
    client.post("/compte/deconnexion")
    reset = client.post("/compte/mot-de-passe-oublie", data={"email": user.email})
    assert reset.status_code == 302
    assert client.post("/liste-ami", data={"email": "veille@pme.fr"}).status_code == 200
    ready = client.get("/sante/pret")
    assert ready.status_code == 200 and ready.get_json()["redis"] == "indisponible"
    # The limits still hold, counted in memory meanwhile.
    statuses = [client.post("/compte/connexion", data={"email": user.email, "password": "faux"}).status_code
                for _ in range(12)]
    assert 429 in statuses and 500 not in statuses
    db.session.expire_all()
    rows = list(db.session.scalars(select(Notification).order_by(Notification.id)))
    assert len(rows) == 2 and {r.status for r in rows} == {PENDING}
    # A dispatcher pass while Redis is still down leaves them pending, without error.
    notifications.dispatch_due()
    db.session.expire_all()
    assert {r.status for r in db.session.scalars(select(Notification))} == {PENDING}

    redis_server.start()
    redis_app.extensions["redis"] = None
    notifications.dispatch_due()
    _work(redis_app)
    db.session.expire_all()
    rows = list(db.session.scalars(select(Notification).order_by(Notification.id)))
    assert [r.status for r in rows] == [SENT, SENT]
    assert client.post("/compte/connexion", data={"email": "autre@example.fr", "password": "x"}).status_code == 422
