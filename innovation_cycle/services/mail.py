"""Outgoing mail: rendering from templates/emails/, and the transport (SMTP through Flask-Mail, or the console).

A mail is a `Notification` row written inside the request's transaction and delivered after the commit
(`innovation_cycle.transaction.commit` hands it to `services.delivery`): never sent for a change that was
rolled back, never lost for one that committed. Without MAIL_SERVER (the embedded default) delivery prints
to the console and the admin reads the outbox page.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from email import policy as email_policy
from typing import Any

from flask import current_app, render_template
from flask_mail import Connection, Message

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import Notification, User
from innovation_cycle.models.notifications import ACCOUNT, QUEUED, new_mail_key

log = logging.getLogger(__name__)


def render(template: str, **context: Any) -> tuple[str, str]:
    """The text and HTML bodies of `templates/emails/<template>.txt|.html`."""
    context.setdefault("service_name", current_app.config["SERVICE_NAME"])
    return (render_template(f"emails/{template}.txt", **context),
            render_template(f"emails/{template}.html", **context))


def queue(recipient: str, subject: str, template: str, *, kind: str = ACCOUNT, key: str | None = None,
          **context: Any) -> Notification:
    """Render the mail and add its row to the current transaction; it leaves right after the commit.

    For mails about one's own account or record (reset, invitation, confirmation, a join request): they are
    never digested nor held. The row is written `queued` with a lease, so that if the process dies between
    the commit and the send, the dispatcher takes it back when the lease runs out."""
    from innovation_cycle.services import delivery

    text, html = render(template, **context)
    user = context.get("user")
    now = clock.now()
    message = Notification(
        key=key or new_mail_key(), kind=kind, recipient=recipient, subject=str(subject)[:255],
        user_id=user.id if isinstance(user, User) and user.id else None,
        body_text=text, body_html=html, created_at=now, due_at=now, status=QUEUED, queued_at=now,
        lease_until=delivery.lease_now() + delivery.queue_lease(),
    )
    db.session.add(message)
    db.session.flush()
    delivery.send_after_commit([message.id])
    return message


# --- transport -------------------------------------------------------------------------------------------


def message_id(row: Notification) -> str:
    """A Message-ID derived from the row: a rare duplicate (see services.delivery) carries the same id, so
    mail clients that deduplicate on it show one mail."""
    domain = current_app.config.get("MAIL_MESSAGE_ID_DOMAIN") or "innovation-cycle.invalid"
    return f"<notification-{row.id}@{domain}>"


# policy.SMTP (Flask-Mail's choice) re-parses every header through the header registry when the message is
# written out; compat32 with CRLF line ends writes an equivalent message (our headers are ASCII or already
# RFC 2047-encoded) at a third of the cost, which matters when a round is thousands of mails.
_WIRE_POLICY = email_policy.compat32.clone(linesep="\r\n")


class _Message(Message):
    def _message(self):  # noqa: ANN202 - Flask-Mail's signature
        message = super()._message()
        message.policy = _WIRE_POLICY
        return message


def build_message(row: Notification) -> Message:
    message = _Message(subject=row.subject, recipients=[row.recipient], body=row.body_text or "",
                      html=row.body_html, extra_headers={"X-Notification-Key": row.key})
    message.msgId = message_id(row)
    if row.ics:
        message.attach("echeance.ics", "text/calendar; charset=utf-8; method=PUBLISH", row.ics.encode("utf-8"))
    return message


class _TimedConnection(Connection):
    """Flask-Mail's connection with a socket timeout: a mail server that hangs must not hold a worker."""

    def configure_host(self) -> smtplib.SMTP:
        state = self.mail
        timeout = current_app.config.get("MAIL_TIMEOUT", 30)
        host = (smtplib.SMTP_SSL(state.server, state.port, timeout=timeout) if state.use_ssl
                else smtplib.SMTP(state.server, state.port, timeout=timeout))
        host.set_debuglevel(int(state.debug))
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host


class Transport:
    """One SMTP connection for a batch of mails (opened on the first send, reopened after an error), or the
    console when no mail server is configured. `send` returns the transport's name or raises."""

    def __init__(self) -> None:
        self.connection: _TimedConnection | None = None
        self.state = current_app.extensions["mail"]

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.connection is not None and self.connection.host is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.connection.host.quit()
        self.connection = None

    def send(self, row: Notification) -> str:
        if not current_app.config.get("MAIL_SERVER"):
            print(f"--- mail to {row.recipient}: {row.subject}\n{row.body_text}\n---", flush=True)
            return "console"
        message = build_message(row)
        if self.state.suppress:  # MAIL_SUPPRESS_SEND (tests without an SMTP server)
            return "smtp"
        try:
            if self.connection is None:
                self.connection = _TimedConnection(self.state)
                self.connection.host = self.connection.configure_host()
            self.connection.send(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.connection = None  # reconnect for the next mail
            raise
        return "smtp"
