"""Each person's dashboard: what they have to do, by which deadline."""

from flask import Blueprint, render_template
from flask_login import current_user

from innovation_cycle.authz import requires
from innovation_cycle.services import cycles, dashboard

bp = Blueprint("dashboard", __name__, url_prefix="/tableau-de-bord")


@bp.get("/")
@requires("dashboard.view")
def index():
    cycle = cycles.current_cycle()  # read once, for the tasks and for the page
    return render_template("dashboard/index.html", tasks=dashboard.tasks_for(current_user, cycle), cycle=cycle)
