"""STUB: to be completed."""

from flask import render_template

from innovation_cycle.authz import requires
from innovation_cycle.views.admin import bp


@bp.get("/organisations")
@requires("organization.manage")
def organizations():
    return render_template("base.html")
