"""Issue 9, item 8: line breaks stay out of one-line fields, and a mail that can never leave ends `failed`.

A name typed with a line break reached mail subjects; Flask-Mail then refused the mail at every attempt. Now the
forms refuse it (one validator on every StringField), and the delivery tells a permanent refusal (a bad header,
an SMTP 5xx) from a temporary one: the row fails at once, with its reason, instead of waiting to be retried.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField

import forms as forms_package
from forms import SingleLine
from innovation_cycle import clock as app_clock
from innovation_cycle.extensions import db
from innovation_cycle.models import Notification, User
from innovation_cycle.models.notifications import FAILED, PENDING, QUEUED, SENT
from innovation_cycle.services import delivery


def _string_fields():
    for info in pkgutil.iter_modules(forms_package.__path__):
        module = importlib.import_module(f"forms.{info.name}")
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FlaskForm) and cls.__module__ == module.__name__:
                for name in dir(cls):
                    unbound = getattr(cls, name)
                    if getattr(unbound, "_formfield", False) and issubclass(unbound.field_class, StringField) \
                            and unbound.field_class.__name__ in {"StringField", "SearchField"}:
                        yield cls, name, unbound


def test_every_one_line_field_refuses_line_breaks():
    fields = list(_string_fields())
    assert len(fields) > 20
    missing = [f"{cls.__name__}.{name}" for cls, name, unbound in fields
               if not any(isinstance(v, SingleLine) for v in unbound.kwargs.get("validators") or [])]
    assert missing == []


@pytest.mark.parametrize("name", ["Jean\nDupont", "Jean\r\nBcc: x@evil.example", "Jean\u2028Dupont"])
def test_sign_up_refuses_a_name_with_a_line_break(client, name):
    response = client.post("/compte/inscription", data={
        "name": name, "email": "jean@example.fr", "password": "Motdepasse-solide-2017",
        "password_confirm": "Motdepasse-solide-2017", "organization_kind": "company", "company_name": "Jean SAS",
        "accept_terms": "y"})
    assert response.status_code in (200, 422)
    assert "retirez les retours à la ligne" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "jean@example.fr")) is None


# --- delivery ------------------------------------------------------------------------------------------


def _row(subject: str = "Bonjour", recipient: str = "someone@example.fr") -> Notification:
    now = app_clock.now()
    row = Notification(recipient=recipient, subject=subject, body_text="Corps", created_at=now, due_at=now,
                       status=QUEUED, queued_at=now, lease_until=delivery.lease_now() + delivery.queue_lease())
    db.session.add(row)
    db.session.commit()
    return row


def _reloaded(row: Notification) -> Notification:
    db.session.expire_all()
    return db.session.get(Notification, row.id)


def test_a_subject_with_a_line_break_leaves_on_one_line_and_injects_nothing(app, smtp):
    """A line break that reached a subject anyway (a record written before the forms refused them) cannot
    smuggle a header in: the mail builder (services/mail.wire_bytes) writes the subject on one line, and the
    mail leaves instead of waiting forever."""
    row = _row(subject="Jean\nBcc: victime@example.fr\r\nDupont demande à rejoindre votre entreprise")
    outcome = delivery.deliver([row.id])
    row = _reloaded(row)
    assert outcome.failed == [] and row.status == SENT and row.attempts == 1
    [message] = smtp.messages
    assert message["Bcc"] is None
    assert str(message["Subject"]) == "Jean Bcc: victime@example.fr Dupont demande à rejoindre votre entreprise"


def test_a_permanent_smtp_refusal_fails_at_once(app, smtp):
    async def refuse(server, session, envelope):
        return "554 5.6.0 Message refused"

    smtp.handle_DATA = refuse
    row = _row()
    delivery.deliver([row.id])
    row = _reloaded(row)
    assert row.status == FAILED and row.attempts == 1 and row.last_error.startswith("554")


def test_a_refused_recipient_fails_at_once(app, smtp):
    async def no_such_mailbox(server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such mailbox"

    smtp.handle_RCPT = no_such_mailbox
    row = _row(recipient="nobody@example.fr")
    delivery.deliver([row.id])
    row = _reloaded(row)
    assert row.status == FAILED and row.attempts == 1 and "550" in row.last_error


def test_a_temporary_refusal_is_still_retried(app, smtp):
    smtp.refuse = 1  # "451 Temporary failure"
    row = _row()
    delivery.deliver([row.id])
    row = _reloaded(row)
    assert row.status == PENDING and row.attempts == 1 and "451" in row.last_error
