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


# --- Issue 9: single-line fields --------------------------------------------------------------------------


class SingleLine:
    """A one-line field (a name, a title, a subject, a code) holds no line break: a browser's text input never
    sends one, so it came from a crafted request, and it would reach mail subjects and headers (where Flask-Mail
    refuses the whole mail). Every StringField of the forms carries it (tests/test_single_line.py checks)."""

    field_flags: dict[str, Any] = {}

    def __call__(self, form: FlaskForm, field: Any) -> None:
        from flask_babel import lazy_gettext as _l
        from wtforms.validators import ValidationError

        value = field.data if isinstance(field.data, str) else ""
        if any(c in value for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
            raise ValidationError(_l("Ce champ tient sur une ligne : retirez les retours à la ligne."))


# --- Issue 9: hardening (WTForms' choices API) ---


def options(pairs: Any) -> list[Any]:
    """(value, label) pairs as WTForms `SelectChoice`s: tuple choices are deprecated and go in WTForms 3.4."""
    from wtforms import SelectChoice

    return [p if isinstance(p, SelectChoice) else SelectChoice(*p) for p in pairs]


class LinkedError(NamedTuple):
    """An error for the summary that links to a control the form does not own (e.g. a fit sentence)."""

    field_id: str
    label: str
    message: str
