"""What every template may use: the policy, the clock, labels and Paris-time formatting."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app
from flask_babel import format_datetime
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import pass_context

from innovation_cycle import authz, clock, formatting
from innovation_cycle.diagram import cycle_svg, transition_rows
from innovation_cycle.services.accounts import role_label
from innovation_cycle.services.cycles import STATE_LABELS, TRIGGER_LABELS, state_label
from workflows.cycle import STAGES, STATES

# DSFR badge colour per cycle state.
STATE_BADGES = {
    "draft": "fr-badge--new",
    "needs_collection": "fr-badge--info",
    "ami_sourcing": "fr-badge--info",
    "selection": "fr-badge--info",
    "commitment_census": "fr-badge--info",
    "results_communication": "fr-badge--warning",
    "closed": "fr-badge--success",
}


def paris(value: datetime | None, fmt: str | None = None) -> str:
    """Stored UTC, shown in Europe/Paris (Flask-Babel's BABEL_DEFAULT_TIMEZONE); `fmt` for a pattern without
    words to translate (e.g. "d MMM y HH:mm:ss"), `"long"` for the weekday form."""
    if fmt is None or value is None:
        return formatting.when(value)
    if fmt == "long":
        return formatting.when(value, weekday=True)
    return format_datetime(value, fmt)


def paris_date(value: datetime | None) -> str:
    return formatting.day(value)


@pass_context
def page_has_errors(context) -> bool:
    """RGAA 11.10: a refused form says so in the page title. True when a form of the page holds errors, or the
    view passed refusals (`loose_errors`, the login page's `refusal`)."""
    for name, value in context.items():
        if isinstance(value, FlaskForm) and any(f.errors for f in value):
            return True
        if name in ("loose_errors", "refusal") and value:
            return True
    return False


def init_app(app: Flask) -> None:
    app.jinja_env.filters["paris"] = paris
    app.jinja_env.filters["paris_date"] = paris_date
    app.jinja_env.globals.update(
        STAGES=STAGES,
        STATES=STATES,
        STATE_LABELS=STATE_LABELS,
        STATE_BADGES=STATE_BADGES,
        TRIGGER_LABELS=TRIGGER_LABELS,
        state_label=state_label,
        role_label=role_label,
        cycle_svg=cycle_svg,
        transition_rows=transition_rows,
        page_has_errors=page_has_errors,
    )

    @app.context_processor
    def inject() -> dict:
        return {
            "can": lambda action, target=None: authz.can(current_user, action, target),
            "now": clock.now,
            "clock_simulated": clock.is_simulated,
            "state_branding": current_app.config["STATE_BRANDING"],
            "service_name": current_app.config["SERVICE_NAME"],
            "operator_name": current_app.config["OPERATOR_NAME"],
            "languages": current_app.config["LANGUAGES"],
        }
