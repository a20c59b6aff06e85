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
import itertools
import logging
import re
import secrets
import smtplib
import time
from collections.abc import Callable, Mapping, Sequence
from email.header import Header
from email.utils import formatdate, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_mail import Connection, sanitize_address
from markupsafe import escape

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


class StencilUnfit(Exception):
    """The template asked a stencil's stand-in for something the stencil does not fill in (see `Stencil`)."""


class StandIn:
    """What a template sees of a recipient while its stencil is rendered: the fields the stencil fills in, as
    markers. Anything else raises StencilUnfit (not AttributeError, which Jinja would turn into an empty value):
    a template that reads more of the person than the stencil knows is rendered mail by mail instead."""

    def __init__(self, **fields: str) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:
        raise StencilUnfit(name)


class Stencil:
    """The two bodies of a mail rendered once for a whole batch of recipients, with a marker where each one's
    own values go (a name, a link): filling it in is a string join, where rendering both templates costs about
    two milliseconds a mail, two thirds of a worker's time in a reminder round.

    The text body gets the values as they are, the HTML body escaped, as Jinja's autoescape would write them.
    A caller checks the first mail it fills against a real rendering (`matches`) and renders directly when they
    differ (a template that transforms a value, `|upper` say): a stencil never changes what a mail says."""

    def __init__(self, template: str, fields: Sequence[str], context: Callable[[Mapping[str, str]], dict[str, Any]]):
        token = secrets.token_hex(8)
        self._fields = {f"stencil{token}x{n}x": name for n, name in enumerate(fields)}
        markers = {name: marker for marker, name in self._fields.items()}
        split = re.compile("(" + "|".join(self._fields) + ")")
        text, html = render(template, **context(markers))
        # Even positions are literal text, odd ones a field's name.
        self._text = [part if n % 2 == 0 else self._fields[part] for n, part in enumerate(split.split(text))]
        self._html = [part if n % 2 == 0 else self._fields[part] for n, part in enumerate(split.split(html))]

    def fill(self, values: Mapping[str, Any]) -> tuple[str, str]:
        plain = {name: str(value) for name, value in values.items()}
        escaped = {name: str(escape(value)) for name, value in values.items()}
        return ("".join([part if n % 2 == 0 else plain[part] for n, part in enumerate(self._text)]),
                "".join([part if n % 2 == 0 else escaped[part] for n, part in enumerate(self._html)]))


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
        """Send the mail of `row`; `ready` is called once the server waits for the message (envelope accepted,
        DATA answered) and before the message itself leaves (the caller waits there for the previous mail's
        `sent` mark, see services.delivery)."""
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
            _send_split(self.connection.host, self._envelope_from, address(row.recipient), wire, ready)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.connection = None  # reconnect for the next mail
            raise
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the server closes the connection
                self.connection = None
            raise
        except BaseException:
            if self.connection is not None and self.connection.host.sock is None:
                self.connection = None  # a mail abandoned during its DATA closed the connection
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
    """smtplib's `sendmail` for one recipient, with a pause before the message itself: MAIL FROM, RCPT TO and
    DATA, then `ready()`, then the message and its final dot. The same answers to refusals (the same
    exceptions, a RSET or, on 421, the connection closed).

    The pause comes as late as it can: the server accepts a mail only at the final dot, so everything before
    it (three round trips) overlaps the previous mail's `sent` mark, which `ready` waits for. If `ready`
    raises once the server waits for the message, only closing the connection abandons the mail unsent (an
    SMTP server never delivers a message whose final dot did not arrive)."""
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
    host.putcmd("data")
    code, answer = host.getreply()
    if code != 354:
        _abandon(host, code)
        raise smtplib.SMTPDataError(code, answer)
    if ready is not None:
        try:
            ready()
        except BaseException:
            host.close()  # the server waits for the message: dropping the connection abandons this mail unsent
            raise
    # What smtplib's `data` sends after the 354: lines starting with a dot doubled, a CRLF, the final dot.
    message = _LEADING_DOT.sub(b"..", wire)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    host.send(message + b".\r\n")
    code, answer = host.getreply()
    if code != 250:
        _abandon(host, code)
        raise smtplib.SMTPDataError(code, answer)


_LEADING_DOT = re.compile(rb"(?m)^\.")


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


# A plain address (no display name, nothing to quote or encode): flask_mail.sanitize_address gives it back as
# it is, after parsing it with the email package (a fifth of a millisecond, twice a mail).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def address(addr: str) -> str:
    """flask_mail.sanitize_address, with a shortcut for the plain addresses nearly every mail goes to."""
    if _PLAIN_ADDRESS.fullmatch(addr):
        return addr
    return sanitize_address(addr)


# MIME boundaries: unique within a mail and absent from its parts (base64 bodies have no run of "="), so a
# process-wide random prefix and a counter do (one urandom call per process rather than two per mail).
_BOUNDARY_PREFIX = secrets.token_hex(8)
_boundaries = itertools.count()


def _boundary() -> str:
    return f"==============={_BOUNDARY_PREFIX}{next(_boundaries) & 0xFFFFFFFF:08x}=="


@functools.lru_cache(maxsize=4)
def _date_header(second: int) -> str:
    """The Date header of the mails sent within one second."""
    return formatdate(second, localtime=True)


@functools.lru_cache(maxsize=64)
def _attachment_part(ics: str) -> bytes:
    """The calendar attachment as a MIME part (cached: a round's mails carry the same one)."""
    return _part("text/calendar; charset=utf-8; method=PUBLISH", ics.encode("utf-8"),
                 'Content-Disposition: attachment; filename="echeance.ics"\r\n')


def wire_bytes(row: Notification, from_header: str) -> bytes:
    """The mail of `row` as it goes on the wire (CRLF line ends)."""
    boundary = _boundary()
    inner = _boundary()
    headers = (f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\nMIME-Version: 1.0\r\n"
               f"Subject: {_header_text(row.subject or '')}\r\nFrom: {from_header}\r\n"
               f"To: {address(row.recipient)}\r\nDate: {_date_header(int(time.time()))}\r\n"
               f"Message-ID: {message_id(row)}\r\nX-Notification-Key: {_header_text(row.key)}\r\n\r\n")
    parts = [_part('text/plain; charset="utf-8"', (row.body_text or "").encode("utf-8"))]
    if row.body_html:
        parts.append(_part('text/html; charset="utf-8"', row.body_html.encode("utf-8")))
    alternative = (f"Content-Type: multipart/alternative; boundary=\"{inner}\"\r\nMIME-Version: 1.0\r\n\r\n"
                   .encode("ascii") + b"".join(f"--{inner}\r\n".encode("ascii") + p + b"\r\n" for p in parts)
                   + f"--{inner}--\r\n".encode("ascii"))
    children = [alternative]
    if row.ics:
        children.append(_attachment_part(row.ics))
    return (headers.encode("ascii") + b"".join(f"--{boundary}\r\n".encode("ascii") + c + b"\r\n" for c in children)
            + f"--{boundary}--\r\n".encode("ascii"))
