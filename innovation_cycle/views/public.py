"""Pages anyone may read: the current cycle, the accessibility statement, the language switch."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

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
