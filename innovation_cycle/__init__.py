"""innovation-cycle: the workflow engine of the State–UGAP convention's yearly cycle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from innovation_cycle import config as config_module
from innovation_cycle.clock import SystemClock
from innovation_cycle.extensions import babel, csrf, db, limiter, login_manager, mail, migrate
from innovation_cycle.params import parse_id

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(config_module.DEFAULTS)
    app.config.update(config_module.from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
    config_module.check(app.config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    app.extensions["clock"] = app.config.pop("CLOCK", None) or SystemClock()
    from innovation_cycle import input_guards  # issue 9: bounded <int:…> ids, no NUL (before the blueprints)

    input_guards.init_app(app)

    _no_parallel_query(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    _init_limiter(app)
    _init_proxies(app)
    from innovation_cycle.services import delivery

    delivery.init_app(app)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=str(Path(__file__).parent / "translations"))
    _init_login(app)

    from innovation_cycle import cli, templating, views

    templating.init_app(app)
    views.init_app(app)
    cli.init_app(app)
    _init_errors(app)
    _init_security_headers(app)
    return app


# --- Issue 9: hardening (proxies, rate-limit storage, unavailable database) ---


def _init_proxies(app: Flask) -> None:
    """Behind PROXY_COUNT reverse proxies, take the client's address and scheme from their X-Forwarded-*
    headers (only that many hops are trusted, so a client cannot forge its address); without proxies the
    headers are ignored, and the rate limits key on the socket's peer."""
    count = int(app.config.get("PROXY_COUNT") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def _init_limiter(app: Flask) -> None:
    """Counts live in RATELIMIT_STORAGE_URI (default REDIS_URL, else memory). When that Redis is down the
    limiter counts in memory meanwhile instead of answering 500 — nobody could sign in otherwise."""
    storage = app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    if not storage.startswith("memory://"):
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 2, "socket_timeout": 2})
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)


def _no_parallel_query(app: Flask) -> None:
    """PostgreSQL without parallel workers for this application's sessions: its queries read a page's rows
    through indexes, and starting two workers cost more than they saved (a theme filter's count on the
    national dataset: 22 ms with a parallel scan of a whole index, 4.6 ms without). Set at connection, no
    extra round trip; the server's setting stays for other clients (reports, maintenance)."""
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args["options"] = (connect_args.get("options", "") + " -c max_parallel_workers_per_gather=0").strip()
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


# Endpoints that must answer without the database (no user loading for the locale).
NO_DATABASE_ENDPOINTS = {"public.health", "public.ready", "static"}


def _select_locale() -> str:
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI, jobs: French
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if request.endpoint in NO_DATABASE_ENDPOINTS:  # Issue 9: liveness answers even when the database is down
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    # French first: the interface speaks French unless the person asked for English.
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _init_login(app: Flask) -> None:
    from flask_babel import lazy_gettext
    from sqlalchemy.orm import joinedload

    from innovation_cycle.models import User

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = lazy_gettext("Connectez-vous pour accéder à cette page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        user_id, _, stamp = session_id.partition(".")
        if (parsed := parse_id(user_id)) is None:
            return None
        # Its roles in the same query: every signed-in page asks the policy about them.
        user = db.session.get(User, parsed, options=[joinedload(User.role_rows)])
        if user is None or not user.active or user.security_stamp != stamp:
            return None
        return user


def _init_errors(app: Flask) -> None:
    def page(status: int, title: str, message: str):
        return render_template("errors/error.html", status=status, title=title, message=message), status

    from flask_babel import gettext as _

    @app.errorhandler(403)
    def forbidden(_e):
        return page(403, _("Accès refusé"), _("Votre rôle ne vous permet pas d'accéder à cette page."))

    @app.errorhandler(404)
    def not_found(_e):
        return page(404, _("Page introuvable"), _("La page ou l'élément demandé n'existe pas."))

    @app.errorhandler(405)
    def not_allowed(_e):
        return page(405, _("Méthode non autorisée"), _("Cette adresse ne s'utilise pas ainsi."))

    @app.errorhandler(413)
    def too_large(_e):
        return page(413, _("Fichier trop volumineux"), _("Le fichier envoyé dépasse la taille autorisée."))

    @app.errorhandler(429)
    def too_many(_e):
        # The real wait, from the limit's reset time: the same figure as the Retry-After header.
        import time

        from flask_babel import format_timedelta

        current = limiter.current_limit
        seconds = max(int(current.reset_at - time.time()), 1) if current is not None else 60
        wait = format_timedelta(seconds, granularity="minute" if seconds >= 60 else "second", threshold=1.0)
        return page(429, _("Trop de tentatives"),
                    _("Trop de tentatives en peu de temps. Patientez %(wait)s avant de recommencer.", wait=wait))

    @app.errorhandler(CSRFError)
    def csrf_error(_e):
        return page(400, _("Formulaire expiré"),
                    _("Le jeton de sécurité du formulaire est absent ou expiré. Rechargez la page et recommencez."))

    from sqlalchemy import exc as sa_exc

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.TimeoutError)
    def database_unavailable(_e):
        """The database is unreachable: a French 503 that touches nothing that needs it (no user loading,
        no simulated clock, no header menus), with Retry-After for browsers and load balancers."""
        import contextlib

        from flask_login import AnonymousUserMixin

        app.logger.exception("database unavailable")
        g._login_user = AnonymousUserMixin()  # the user loader would query the database again
        with contextlib.suppress(Exception):
            db.session.rollback()
        with contextlib.suppress(Exception):
            db.session.remove()
        retry_after = int(app.config.get("UNAVAILABLE_RETRY_AFTER", 30))
        response = app.make_response((render_template("errors/unavailable.html", retry_after=retry_after), 503))
        response.headers["Retry-After"] = str(retry_after)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(500)
    def server_error(_e):
        db.session.rollback()
        return page(500, _("Erreur du service"), _("Une erreur inattendue est survenue. Réessayez plus tard."))


def _init_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "font-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        # --- Issue 9: hardening ---
        # Pages shown to a signed-in person stay out of shared and back-button caches (read from the session,
        # not the user: no query, and it holds when the database is down).
        if "_user_id" in session and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        if app.config.get("ENV_NAME") == "production":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    @app.before_request
    def remember_locale():
        g.locale = str(get_locale())
        g.path = request.path
