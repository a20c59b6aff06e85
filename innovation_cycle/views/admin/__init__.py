"""The observatory secretariat's pages: conventions, organizations, users, cycles, audit, outbox, clock, and the
procurement reference data (thresholds, the PFRA's purchases per year)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from innovation_cycle.views.admin import (  # noqa: E402,F401  (routes register on import)
    audit,
    clock,
    conventions,
    cycles,
    organizations,
    outbox,
    procurement,
    users,
)
