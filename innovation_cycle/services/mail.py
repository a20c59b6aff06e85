"""Outgoing mail: rendering from templates/emails/, and the transport (SMTP through Flask-Mail, or the console).

A mail is a `Notification` row written inside the request's transaction and delivered after the commit
(`innovation_cycle.transaction.commit` hands it to `services.delivery`): never sent for a change that was
rolled back, never lost for one that committed. Without MAIL_SERVER (the embedded default) delivery prints
to the console and the admin reads the outbox page.
"""

from __future__ import annotations

import base64
import contextlib
import email.charset
import functools
import logging
import secrets
import smtplib
import time
from collections.abc import Callable
from email.header import Header
from email.utils import formatdate, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_mail import Connection, sanitize_address

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
        self._from_header: str | None = None
        self._envelope_from = ""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.connection is not None and self.connection.host is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.connection.host.quit()
        self.connection = None

    def send(self, row: Notification, ready: Callable[[], None] | None = None) -> str:
        """Send the mail of `row`; `ready` is called once the envelope is accepted and before the message
        itself leaves (the caller waits there for the previous mail's `sent` mark, see services.delivery)."""
        if not current_app.config.get("MAIL_SERVER"):
            if ready:
                ready()
            print(f"--- mail to {row.recipient}: {row.subject}\n{row.body_text}\n---", flush=True)
            return "console"
        wire = wire_bytes(row, self._sender())
        if self.state.suppress:  # MAIL_SUPPRESS_SEND (tests without an SMTP server)
            if ready:
                ready()
            return "smtp"
        try:
            if self.connection is None:
                self.connection = _TimedConnection(self.state)
                self.connection.host = self.connection.configure_host()
            _send_split(self.connection.host, self._envelope_from, sanitize_address(row.recipient), wire, ready)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.connection = None  # reconnect for the next mail
            raise
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the server closes the connection
                self.connection = None
            raise
        return "smtp"

    def _sender(self) -> str:
        """The From header and the envelope sender, computed once per batch rather than once per mail."""
        if self._from_header is None:
            sender = self.state.default_sender
            self._from_header = sanitize_address(sender)
            self._envelope_from = sanitize_address(parseaddr(sender)[1] if isinstance(sender, str) else sender[1])
        return self._from_header


def _send_split(host: smtplib.SMTP, sender: str, recipient: str, wire: bytes,
                ready: Callable[[], None] | None) -> None:
    """smtplib's `sendmail` for one recipient, split between the envelope (MAIL FROM, RCPT TO) and the message
    (DATA), with the same answers to refusals (the same exceptions, a RSET or, on 421, the connection closed)."""
    host.ehlo_or_helo_if_needed()
    options = [f"size={len(wire)}"] if host.does_esmtp and host.has_extn("size") else []
    code, answer = host.mail(sender, options)
    if code != 250:
        _abandon(host, code)
        raise smtplib.SMTPSenderRefused(code, answer, sender)
    code, answer = host.rcpt(recipient)
    if code not in (250, 251):
        _abandon(host, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, answer)})
    if ready is not None:
        try:
            ready()
        except BaseException:
            host._rset()  # the envelope is dropped: this mail has not left
            raise
    code, answer = host.data(wire)
    if code != 250:
        _abandon(host, code)
        raise smtplib.SMTPDataError(code, answer)


def _abandon(host: smtplib.SMTP, code: int) -> None:
    """After a refusal: 421 means the server is closing the connection; anything else, RSET and go on."""
    if code == 421:
        host.close()
    else:
        host._rset()


# --- the wire format ---------------------------------------------------------------------------------------
# Built by hand rather than through Flask-Mail's Message and the email package's generator: that generator
# re-folds and re-encodes every header of every mail (two thirds of a worker's time in a reminder round, far
# more than the SMTP conversation). The result is the same structure Flask-Mail writes — multipart/mixed
# holding a multipart/alternative (text, HTML) and the attachments — with base64 bodies and RFC 2047 subjects.

_B64 = email.charset.Charset("utf-8")
_B64.header_encoding = email.charset.BASE64


@functools.lru_cache(maxsize=256)
def _header_text(value: str) -> str:
    """A header value as ASCII: itself when it is, else RFC 2047 encoded words (cached: a round's mails share
    their subjects)."""
    value = " ".join(value.split())  # no line breaks in a header, ever (header injection)
    if value.isascii():
        return value
    return Header(value, _B64).encode(maxlinelen=76)


def _b64_body(content: bytes) -> bytes:
    return base64.encodebytes(content).replace(b"\n", b"\r\n")


def _part(content_type: str, content: bytes, extra: str = "") -> bytes:
    return (f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n"
            f"{extra}\r\n").encode("ascii") + _b64_body(content)


def wire_bytes(row: Notification, from_header: str) -> bytes:
    """The mail of `row` as it goes on the wire (CRLF line ends)."""
    boundary = f"==============={secrets.token_hex(12)}=="
    inner = f"==============={secrets.token_hex(12)}=="
    headers = (f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\nMIME-Version: 1.0\r\n"
               f"Subject: {_header_text(row.subject or '')}\r\nFrom: {from_header}\r\n"
               f"To: {sanitize_address(row.recipient)}\r\nDate: {formatdate(time.time(), localtime=True)}\r\n"
               f"Message-ID: {message_id(row)}\r\nX-Notification-Key: {_header_text(row.key)}\r\n\r\n")
    parts = [_part('text/plain; charset="utf-8"', (row.body_text or "").encode("utf-8"))]
    if row.body_html:
        parts.append(_part('text/html; charset="utf-8"', row.body_html.encode("utf-8")))
    alternative = (f"Content-Type: multipart/alternative; boundary=\"{inner}\"\r\nMIME-Version: 1.0\r\n\r\n"
                   .encode("ascii") + b"".join(f"--{inner}\r\n".encode("ascii") + p + b"\r\n" for p in parts)
                   + f"--{inner}--\r\n".encode("ascii"))
    children = [alternative]
    if row.ics:
        children.append(_part("text/calendar; charset=utf-8; method=PUBLISH", row.ics.encode("utf-8"),
                              'Content-Disposition: attachment; filename="echeance.ics"\r\n'))
    return (headers.encode("ascii") + b"".join(f"--{boundary}\r\n".encode("ascii") + c + b"\r\n" for c in children)
            + f"--{boundary}--\r\n".encode("ascii"))
