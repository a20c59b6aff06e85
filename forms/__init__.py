"""WTForms classes (through Flask-WTF, so every form carries a CSRF token), one module per area."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

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


class LinkedError(NamedTuple):
    """An error for the summary that links to a control the form does not own (e.g. a fit sentence)."""

    field_id: str
    label: str
    message: str
