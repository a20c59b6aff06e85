"""STUB: to be completed."""

from flask import render_template

from innovation_cycle.authz import requires
from innovation_cycle.views.admin import bp


@bp.get("/horloge")
@requires("clock.move")
def clock():
    return render_template("base.html")
