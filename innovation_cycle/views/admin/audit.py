"""STUB: to be completed."""

from flask import render_template

from innovation_cycle.authz import requires
from innovation_cycle.views.admin import bp


@bp.get("/journal")
@requires("audit.view")
def audit():
    return render_template("base.html")
