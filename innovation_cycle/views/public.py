"""Pages anyone may read: the current cycle, the accessibility statement, the language switch."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for

from innovation_cycle.authz import requires
from innovation_cycle.services import cycles
from innovation_cycle.urls import safe_next

bp = Blueprint("public", __name__)
DSFR_ICO = "dsfr/favicon/favicon.ico"


@bp.get("/")
@requires("public.view")
def home():
    cycle = cycles.current_cycle()
    return render_template("public/home.html", cycle=cycle)


@bp.get("/accessibilite")
@requires("public.view")
def accessibility():
    return render_template("public/accessibility.html")


@bp.post("/langue")
@requires("public.view")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")) or url_for("public.home"))


@bp.get("/favicon.ico")
@requires("public.view")
def favicon():
    """Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says: answer with the theme's icon
    rather than a 404 in every console."""
    if current_app.config["STATE_BRANDING"] and (Path(current_app.static_folder) / DSFR_ICO).is_file():
        return redirect(url_for("static", filename=DSFR_ICO), 301)
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/sante")
@requires("public.view")
def health():
    """For load balancers: answers without touching the database."""
    return {"status": "ok"}


# --- Issue 9: hardening (readiness) ---


@bp.get("/sante/pret")
@requires("public.view")
def ready():
    """Readiness, for load balancers (/sante stays liveness): 503 when the database does not answer, so that
    no one is sent to an instance that can only show an error. Redis is checked and reported; without it the
    site still works (mails wait in the outbox, the rate limits count in memory), so it does not make the
    instance unready."""
    import contextlib

    from sqlalchemy import text

    from innovation_cycle.extensions import db

    checks = {"database": "ok", "redis": "absent"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = "indisponible"
    finally:
        with contextlib.suppress(Exception):
            db.session.rollback()
    if current_app.config.get("REDIS_URL"):
        from innovation_cycle import tasks

        try:
            tasks.redis_connection().ping()
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            checks["redis"] = "indisponible"
    ready = checks["database"] == "ok"
    response = jsonify(status="ok" if ready else "indisponible", **checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    if not ready:
        response.headers["Retry-After"] = str(int(current_app.config.get("UNAVAILABLE_RETRY_AFTER", 30)))
    return response
