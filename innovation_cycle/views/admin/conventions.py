"""Conventions and their members (tier, committee). STUB: to be completed."""

from flask import render_template

from innovation_cycle.authz import requires
from innovation_cycle.views.admin import bp


@bp.get("/conventions")
@requires("convention.manage")
def conventions():
    return render_template("base.html")
