"""Outgoing mail: written as outbox rows inside the request's transaction, delivered after the commit.

A mail is never sent for a change that was rolled back, and never lost for one that committed: the row is
the record. Without MAIL_SERVER (the embedded default) delivery prints to the console and the admin reads
the outbox page.
"""

from __future__ import annotations

import logging

from flask import current_app, render_template
from flask_mail import Message

from innovation_cycle import clock
from innovation_cycle.extensions import db, mail
from innovation_cycle.models import OutboxMessage

log = logging.getLogger(__name__)
PENDING_KEY = "outbox_pending_ids"


def queue(recipient: str, subject: str, template: str, **context) -> OutboxMessage:
    """Render `templates/emails/<template>.txt|.html` and add the outbox row to the current transaction."""
    context.setdefault("service_name", current_app.config["SERVICE_NAME"])
    message = OutboxMessage(
        recipient=recipient,
        subject=subject,
        body_text=render_template(f"emails/{template}.txt", **context),
        body_html=render_template(f"emails/{template}.html", **context),
        created_at=clock.now(),
    )
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(message.id)
    return message


def take_pending() -> list[int]:
    return db.session.info.pop(PENDING_KEY, [])


def deliver(ids: list[int]) -> None:
    """Send the given committed rows; a failure is kept on the row, never raised to the user's request."""
    for message in db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
        if message.sent_at is not None:
            continue
        try:
            if current_app.config.get("MAIL_SERVER"):
                mail.send(Message(subject=message.subject, recipients=[message.recipient],
                                  body=message.body_text, html=message.body_html))
                message.transport = "smtp"
            else:
                print(f"--- mail to {message.recipient}: {message.subject}\n{message.body_text}\n---", flush=True)
                message.transport = "console"
            message.sent_at = clock.now()
            message.last_error = None
        except Exception as exc:  # noqa: BLE001 - any transport failure is recorded for the admin
            log.exception("mail %s to %s failed", message.id, message.recipient)
            message.last_error = str(exc)[:2000]
    db.session.commit()
