"""What every template may use: the policy, the clock, labels and Paris-time formatting."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from flask import Flask, current_app, render_template, request, url_for
from flask_babel import format_datetime, get_locale
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from markupsafe import Markup, escape

from innovation_cycle import authz, clock, formatting
from innovation_cycle.diagram import cycle_svg, transition_rows
from innovation_cycle.services.accounts import role_label
from innovation_cycle.services.cycles import STATE_LABELS, TRIGGER_LABELS, state_label
from innovation_cycle.services.page_cache import FragmentCache
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


class url_for_ids:  # noqa: N801 (used like a function)
    """`url_for` for many rows of one endpoint: the URL is built once, with a stand-in id, then each row's id
    is put in its place (werkzeug's builder costs as much as the rest of a listing's row)."""

    STAND_IN = "2147483647"  # the largest id (params.MAX_ID): what the rule's converter accepts

    def __init__(self, endpoint: str, key: str, **values: Any) -> None:
        self.head, _, self.tail = url_for(endpoint, **values, **{key: int(self.STAND_IN)}).partition(self.STAND_IN)

    def __call__(self, row_id: int) -> str:
        return f"{self.head}{int(row_id)}{self.tail}"

    def __repr__(self) -> str:  # what a kept row's key holds of it (rows_html)
        return f"url_for_ids({self.head!r}, {self.tail!r})"


def rows_html(template: str, rows: Iterable[Any], per_row: Callable[[Any], dict[str, Any]] | None = None,
              values: Callable[[Any], tuple] = tuple, **context: Any) -> Markup:
    """A listing's rows, each rendered once per distinct row and kept (Rails' collection caching): a row costs
    Jinja a dozen calls, yet a page shows the same rows to every reader until one of them changes.

    `template` renders one row from `row` (a plain row of the listing's query), `extra` (what `per_row` gives
    for it: its collections, its counts, whether it is linked) and `context` (links, labels: the same for the
    page). `values` gives the row's values for the key (a plain row's own, by default). The key is all of that
    and the language, so a changed row, count, link or label is a new entry;
    the template must read nothing else (no `current_user`, no `request`)."""
    page_key = (template, str(get_locale()), tuple(sorted((name, repr(value)) for name, value in context.items())))
    cache = current_app.extensions.setdefault("rows_html", FragmentCache(size=20_000, ttl=3600))
    compiled = current_app.jinja_env.get_template(template)
    parts = []
    for row in rows:
        extra = per_row(row) if per_row else {}
        key = (page_key, values(row), tuple(sorted(extra.items())))
        parts.append(cache.get_or_set(key, lambda row=row, extra=extra: compiled.render(
            row=row, extra=extra, **context)))
    return Markup("".join(parts))


def form_html(template: str, form: FlaskForm, **context: Any) -> Markup:
    """A form's HTML, rendered once per distinct form and kept: a listing's filter form (a dozen fields, a
    hundred options) costs WTForms and the field macros as much as the rest of the page, yet only a few
    versions of it exist. The key is everything the partial reads — each field's data, choices, errors and
    labels, the extra context, the language — so any change (a new theme, a refused value) is a new entry."""
    key = (template, str(get_locale()), _fingerprint(form),
           tuple(sorted((name, str(value)) for name, value in context.items())))
    cache = current_app.extensions.setdefault("form_html", FragmentCache(size=512, ttl=3600))
    return cache.get_or_set(key, lambda: Markup(render_template(template, form=form, **context)))


def _fingerprint(form: FlaskForm) -> tuple:
    fields = []
    for field in form:
        choices = getattr(field, "choices", None)
        fields.append((field.name, field.type, repr(field.data), str(field.label.text), str(field.description),
                       tuple(str(error) for error in field.errors),
                       tuple((choice.value, str(choice.label)) for choice in choices) if choices else ()))
    return tuple(fields), tuple(str(error) for error in form.form_errors)


_TOKEN_STAND_IN = "csrf-7c1e5b0a-stand-in"
_PATH_STAND_IN = "/path-7c1e5b0a-stand-in"


def header_html() -> Markup:
    """The page header, rendered once per language, person (name and roles) and endpoint, and kept: its
    twenty-odd links and policy questions cost a signed-in page as much as a short listing's rows.

    What changes from one request to the next is put in afterwards: the forms' CSRF token and the current
    path (the language switch comes back to it). `_header.html` must show nothing else that varies, or it
    joins the key here (tests/test_layout_cache.py checks the header against a fresh rendering)."""
    user = current_user
    person = ((user.id, user.name, tuple(sorted(user.roles))) if getattr(user, "is_authenticated", False)
              else None)
    key = (str(get_locale()), request.endpoint, person, current_app.config["STATE_BRANDING"],
           current_app.config["SERVICE_NAME"])
    cache = current_app.extensions.setdefault("header_html", FragmentCache(size=1024, ttl=3600))
    kept = cache.get_or_set(key, lambda: render_template(
        "_header.html", csrf_token=lambda: _TOKEN_STAND_IN, next_path=_PATH_STAND_IN))
    return Markup(kept.replace(_TOKEN_STAND_IN, generate_csrf())
                  .replace(_PATH_STAND_IN, str(escape(request.path))))


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
        url_for_ids=url_for_ids,
        rows_html=rows_html,
        header_html=header_html,
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
