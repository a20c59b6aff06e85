"""The migrations, not only create_all, must give the database its own guarantees: e-mail addresses unique
whatever their case, and an append-only audit trail (CI also runs `flask db check` on PostgreSQL)."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from innovation_cycle import create_app

# SQLite's batch mode reflects `users` and cannot reflect the expression index; the migration restores it.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")


@pytest.fixture
def migrated(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade()
    engine = create_engine(url)
    yield app, engine
    engine.dispose()


def test_upgrade_keeps_the_case_insensitive_email_index_and_the_audit_triggers(migrated):
    _app, engine = migrated
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (email, name, active, security_stamp, created_at, digest, "
                          "announcements_opt_in) VALUES ('Anne@Example.fr', 'Anne', 1, 's', '2017-01-01', "
                          "'immediate', 1)"))
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("INSERT INTO users (email, name, active, security_stamp, created_at, digest, "
                          "announcements_opt_in) VALUES ('anne@example.FR', 'Anne bis', 1, 't', '2017-01-01', "
                          "'immediate', 1)"))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (at, actor_label, action, object_type) "
                          "VALUES ('2017-01-01', 'système', 'x', 'y')"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'z'"))


def test_downgrade_to_empty_and_back(migrated):
    app, engine = migrated
    with app.app_context():
        downgrade(revision="base")
        upgrade()
    with engine.connect() as conn:
        names = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    assert "uq_users_email_lower" in names
