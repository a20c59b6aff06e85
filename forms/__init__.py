"""WTForms classes (through Flask-WTF, so every form carries a CSRF token), one module per area."""

from __future__ import annotations

from typing import Any, Protocol

from flask_wtf import FlaskForm


class FieldError(Protocol):
    field: str | None
    message: str


def put_errors(form: FlaskForm, errors: list[Any]) -> list[str]:
    """Put each service refusal (an object with `field` and `message`) next to its field; return the messages
    that belong to no field, for the form's error summary."""
    loose = []
    for error in errors:
        if error.field and error.field in form:
            form[error.field].errors = [*form[error.field].errors, error.message]
        else:
            loose.append(error.message)
    return loose


# --- Issue 9: hardening (WTForms' choices API) ---


def options(pairs: Any) -> list[Any]:
    """(value, label) pairs as WTForms `SelectChoice`s: tuple choices are deprecated and go in WTForms 3.4."""
    from wtforms import SelectChoice

    return [p if isinstance(p, SelectChoice) else SelectChoice(*p) for p in pairs]
