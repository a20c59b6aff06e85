"""Configuration: embedded defaults, environment for real deployments, and a production instance that refuses
to start with the public default secret key."""

from __future__ import annotations

import pytest

from innovation_cycle import create_app
from innovation_cycle.config import DEFAULT_SECRET_KEY, ConfigurationError


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "SECRET_KEY", "INNOVATION_CYCLE_ENV", "DEMO_MODE", "MAIL_SERVER", "STATE_BRANDING",
                 "SESSION_COOKIE_SECURE", "REDIS_URL", "PUBLIC_URL", "SERVER_NAME", "TRUSTED_HOSTS", "PROXY_COUNT",
                 "RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    return monkeypatch


def test_embedded_default_is_sqlite_under_instance_with_console_mail(env, tmp_path):
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'innovation_cycle.sqlite'}"
    assert app.config["MAIL_SERVER"] is None
    assert app.config["DEMO_MODE"] is True
    assert app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY


def test_production_refuses_the_default_secret_key(env):
    env.setenv("INNOVATION_CYCLE_ENV", "production")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_demo_mode(env):
    env.setenv("INNOVATION_CYCLE_ENV", "production")
    env.setenv("SECRET_KEY", "a-long-random-production-key")
    env.setenv("DEMO_MODE", "1")
    with pytest.raises(ConfigurationError, match="DEMO_MODE"):
        create_app()


def test_production_reads_the_environment_and_secures_cookies(env):
    env.setenv("INNOVATION_CYCLE_ENV", "production")
    env.setenv("SECRET_KEY", "a-long-random-production-key")
    env.setenv("DATABASE_URL", "postgres://app@db.internal:5432/innovation")
    env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setenv("MAIL_SERVER", "smtp.internal")
    env.setenv("MAIL_PORT", "587")
    env.setenv("MAIL_USE_TLS", "true")
    env.setenv("PUBLIC_URL", "https://cycle.example.fr/")
    env.setenv("TRUSTED_HOSTS", "cycle.example.fr")
    env.setenv("PROXY_COUNT", "1")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://app@db.internal:5432/innovation"
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    mail = (app.config["MAIL_SERVER"], app.config["MAIL_PORT"], app.config["MAIL_USE_TLS"])
    assert mail == ("smtp.internal", 587, True)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["DEMO_MODE"] is False


def test_security_headers_on_every_page(client):
    response = client.get("/accessibilite")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- Issue 9: hardening (production settings) ---------------------------------------------------------


def _production(env) -> None:
    env.setenv("INNOVATION_CYCLE_ENV", "production")
    env.setenv("SECRET_KEY", "a-long-random-production-key")
    env.setenv("PUBLIC_URL", "https://cycle.example.fr")
    env.setenv("TRUSTED_HOSTS", "cycle.example.fr, www.cycle.example.fr")
    env.setenv("PROXY_COUNT", "1")
    env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("missing, message", [
    ("PUBLIC_URL", "PUBLIC_URL"), ("TRUSTED_HOSTS", "TRUSTED_HOSTS"), ("PROXY_COUNT", "PROXY_COUNT"),
    ("REDIS_URL", "RATELIMIT_STORAGE_URI"),
])
def test_production_refuses_to_start_without_its_public_address_hosts_proxies_and_limit_storage(env, missing,
                                                                                                  message):
    _production(env)
    env.delenv(missing)
    with pytest.raises(ConfigurationError, match=message):
        create_app()


def test_production_reads_hosts_proxies_and_the_limiter_from_the_environment(env):
    _production(env)
    env.delenv("REDIS_URL")
    env.setenv("RATELIMIT_STORAGE_URI", "redis://10.0.0.5:6379/3")
    env.setenv("RATELIMIT_ENABLED", "0")
    app = create_app()
    assert app.config["PUBLIC_URL"] == "https://cycle.example.fr"
    assert app.config["TRUSTED_HOSTS"] == ["cycle.example.fr", "www.cycle.example.fr"]
    assert app.config["PROXY_COUNT"] == 1
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://10.0.0.5:6379/3"
    assert app.config["RATELIMIT_ENABLED"] is False
    assert app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    # A request for another host is refused (Flask's TRUSTED_HOSTS), and production sends HSTS.
    client = app.test_client()
    assert client.get("/sante", headers={"Host": "evil.example"}).status_code == 400
    answer = client.get("/sante", base_url="https://cycle.example.fr")
    assert answer.status_code == 200
    assert "max-age=" in answer.headers["Strict-Transport-Security"]


def test_rate_limit_enabled_from_the_environment_in_development(env):
    env.setenv("RATELIMIT_ENABLED", "false")
    assert create_app().config["RATELIMIT_ENABLED"] is False


def test_passwords_are_hashed_with_scrypt_at_full_cost_outside_the_test_settings(env, monkeypatch):
    """The suite lowers scrypt's cost for speed (PASSWORD_HASH_METHOD); the application itself, and the
    environment, cannot: a real deployment always hashes at werkzeug's default cost."""
    from innovation_cycle.models import User
    from innovation_cycle.services import accounts

    monkeypatch.setenv("PASSWORD_HASH_METHOD", "scrypt:2:1:1")
    app = create_app()
    with app.app_context():
        user = User(email="anne@example.fr", name="Anne")
        accounts.set_password(user, "Motdepasse-solide-2017")
        assert user.password_hash.startswith("scrypt:32768:8:1$")
        assert accounts.check_password(user, "Motdepasse-solide-2017")
