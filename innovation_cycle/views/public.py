"""Pages anyone may read: the current cycle, the accessibility statement, the language switch."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from innovation_cycle.authz import requires
from innovation_cycle.services import cycles
from innovation_cycle.urls import safe_next

bp = Blueprint("public", __name__)


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


@bp.get("/sante")
@requires("public.view")
def health():
    """For load balancers: answers without touching the database."""
    return {"status": "ok"}
