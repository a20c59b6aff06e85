"""Configuration: embedded defaults for the demo, everything real from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SECRET_KEY = "dev-secret-key-change-me"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "oui"}


def _list(name: str) -> list[str] | None:
    values = [v.strip() for v in (os.environ.get(name) or "").split(",") if v.strip()]
    return values or None


def _ratelimit_settings() -> dict:
    """Flask-Limiter's settings as the README documents them; unset ones keep the defaults of create_app."""
    settings: dict = {}
    if os.environ.get("RATELIMIT_STORAGE_URI"):
        settings["RATELIMIT_STORAGE_URI"] = os.environ["RATELIMIT_STORAGE_URI"]
    if os.environ.get("RATELIMIT_ENABLED") is not None:
        settings["RATELIMIT_ENABLED"] = _bool("RATELIMIT_ENABLED", True)
    return settings


def normalise_database_url(url: str) -> str:
    """psycopg 3 is the driver; accept the common postgres:// and postgresql:// spellings."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{Path(instance_path) / 'innovation_cycle.sqlite'}"
    return normalise_database_url(url)


def from_environment(instance_path: str) -> dict:
    env = os.environ.get("INNOVATION_CYCLE_ENV", "development")
    mail_server = os.environ.get("MAIL_SERVER") or None
    return {
        "ENV_NAME": env,
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", "25")),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", False),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "ORCP Hauts-de-France <noreply@orcp.example>"),
        # Demo mode lets an admin move the clock forward; never on in production.
        "DEMO_MODE": _bool("DEMO_MODE", env != "production"),
        # DSFR is reserved to State services; other operators switch the State branding off.
        "STATE_BRANDING": _bool("STATE_BRANDING", True),
        "OPERATOR_NAME": os.environ.get("OPERATOR_NAME", "Préfecture de la région Hauts-de-France"),
        "SERVICE_NAME": os.environ.get("SERVICE_NAME", "Cycle innovation — ORCP Hauts-de-France"),
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env == "production"),
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env == "production"),
        "PREFERRED_URL_SCHEME": "https" if env == "production" else "http",
        "SERVER_NAME": os.environ.get("SERVER_NAME") or None,
        # --- Issue 9: hardening (links, proxies, rate limits) ---
        # The public address emailed links are built from (never the request's Host), e.g.
        # https://cycle.example.fr; SERVER_NAME with PREFERRED_URL_SCHEME is the alternative.
        "PUBLIC_URL": (os.environ.get("PUBLIC_URL") or "").rstrip("/") or None,
        # Host names requests may carry (Flask answers 400 to others); comma-separated.
        "TRUSTED_HOSTS": _list("TRUSTED_HOSTS"),
        # Reverse proxies in front of the application whose X-Forwarded-* headers are trusted (ProxyFix).
        # Production must say it (0 when clients connect directly): see check().
        "PROXY_COUNT": int(os.environ["PROXY_COUNT"]) if os.environ.get("PROXY_COUNT") else None,
        **_ratelimit_settings(),
        "CONTACT_EMAIL": os.environ.get("CONTACT_EMAIL") or None,
        # Attachments live outside the static folder, served only through the policy.
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER") or str(Path(instance_path) / "uploads"),
        # --- Issue 8, item 6: open data --- The OCID prefix the Open Contracting Partnership assigns to the
        # publisher ("ocds-" and 6 characters); the default is a placeholder for the demo, to replace before
        # publishing for real (a placeholder prefix makes the OCDS identifiers not globally unique).
        "OCDS_OCID_PREFIX": os.environ.get("OCDS_OCID_PREFIX") or "ocds-xxxxxx",
        "OCDS_PUBLISHER_NAME": os.environ.get("OCDS_PUBLISHER_NAME")
        or "Observatoire régional de la commande publique Hauts-de-France",
    }


DEFAULTS = {
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": 3600 * 8,
    "WTF_I18N_ENABLED": True,
    "BABEL_DEFAULT_LOCALE": "fr",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
    "LANGUAGES": {"fr": "Français", "en": "English"},
    "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
    # Token lifetimes, in seconds.
    "RESET_TOKEN_MAX_AGE": 3600,
    "INVITATION_TOKEN_MAX_AGE": 7 * 24 * 3600,
    "CONFIRMATION_TOKEN_MAX_AGE": 2 * 24 * 3600,
    "PAGE_SIZE": 50,
    # A moving window: ten failures within any 15 minutes, not within a clock-aligned quarter of an hour (a fixed
    # window lets twice the limit through across its boundary, and made the limits' tests depend on the time).
    "RATELIMIT_STRATEGY": "moving-window",
    # Issue 9: the password-reset form answers no sooner than this, real account or not (seconds).
    "RESET_RESPONSE_FLOOR_SECONDS": 0.5,
}


class ConfigurationError(RuntimeError):
    pass


def check(config: dict) -> None:
    """Refuse to start a production instance that would sign sessions with the public default key."""
    if config.get("ENV_NAME") == "production":
        if config.get("SECRET_KEY") in (None, "", DEFAULT_SECRET_KEY):
            raise ConfigurationError("SECRET_KEY must be set to a private random value in production.")
        if config.get("DEMO_MODE"):
            raise ConfigurationError("DEMO_MODE cannot be enabled in production.")
        # --- Issue 9: hardening ---
        if not (config.get("PUBLIC_URL") or config.get("SERVER_NAME")):
            raise ConfigurationError("PUBLIC_URL (or SERVER_NAME) must be set in production: emailed links are "
                                     "built from it, never from the request's Host header.")
        if not config.get("TRUSTED_HOSTS"):
            raise ConfigurationError("TRUSTED_HOSTS must list the host names the site answers to in production.")
        if config.get("PROXY_COUNT") is None:
            raise ConfigurationError("PROXY_COUNT must say how many reverse proxies stand in front of the application "
                                     "in production (0 if none): the rate limits key on the client's address.")
        if not (config.get("RATELIMIT_STORAGE_URI") or config.get("REDIS_URL")):
            raise ConfigurationError("RATELIMIT_STORAGE_URI (or REDIS_URL) must be set in production: limits counted "
                                     "in each process's memory do not hold across workers.")
