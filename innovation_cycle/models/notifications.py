"""Notifications: one row per (event or reminder, recipient), the source of truth for every mail.

The row is written in the transaction that causes it (a move, a calendar change, an account mail) or computed
from the calendar by the dispatcher. Its unique `key` makes a second write of the same reminder a no-op; its
`status` is only moved forward by a conditional UPDATE (a claim), which is what keeps a job that runs twice
from sending twice.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from innovation_cycle.models.base import Base, UTCDateTime

PENDING, QUEUED, SENDING, SENT, FAILED, CANCELLED = "pending", "queued", "sending", "sent", "failed", "cancelled"
# pending: waits for its due time; queued: handed to a worker (RQ job or the in-process sender) until
# `lease_until`; sending: claimed by one worker, the SMTP conversation under way; sent/failed/cancelled: final
# (failed until an admin retries it).
STATUSES: tuple[str, ...] = (PENDING, QUEUED, SENDING, SENT, FAILED, CANCELLED)

ACCOUNT, EVENT, REMINDER, ANNOUNCEMENT, DIGEST, ALERT = (
    "account", "event", "reminder", "announcement", "digest", "alert")
# account: a mail about one's own account (reset, invitation, confirmation); event: a change to one's own
# record; reminder: work left before a stage closes; announcement: a stage opens (may be digested);
# digest: the daily bundle of announcements; alert: a message to the admins (an automatic move refused).
KINDS: tuple[str, ...] = (ACCOUNT, EVENT, REMINDER, ANNOUNCEMENT, DIGEST, ALERT)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def new_mail_key() -> str:
    return f"mail:{uuid.uuid4().hex}"


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, default=new_mail_key)
    kind: Mapped[str] = mapped_column(String(16), default=ACCOUNT)
    # NULL for a mailing-list subscriber without an account.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    # What a reminder is about: the cycle, the stage, its closing time and the offset in days.
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str | None] = mapped_column(String(32))
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminder_offset: Mapped[int | None] = mapped_column(Integer)

    # Reminders are rendered when they are sent (the text says how long is left); the rest when queued.
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    # An announcement held for the recipient's daily digest; `digest_id` is the digest mail that carried it.
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))

    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A queued or sending row whose lease has run out was lost (Redis emptied, worker killed): the
    # dispatcher puts it back to pending.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "smtp" when handed to a mail server, "console" when only printed, "digest" when carried by a digest.
    transport: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint(_in("kind", KINDS), name="kind_known"),
        CheckConstraint(f"status != '{SENT}' OR sent_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint(f"status NOT IN ('{QUEUED}', '{SENDING}') OR lease_until IS NOT NULL",
                        name="queued_has_lease"),
        Index("ix_notifications_status_due_at", "status", "due_at"),
        Index("ix_notifications_reminder", "cycle_id", "stage", "deadline", "reminder_offset"),
    )

    def __init__(self, **kwargs):
        # A mail written without a due time is due when written.
        kwargs.setdefault("due_at", kwargs.get("created_at"))
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.key} {self.status}>"


# The outbox of the foundation grew into this table; the old name still reads well where a mail is meant.
OutboxMessage = Notification


def new_subscriber_token() -> str:
    return secrets.token_urlsafe(24)


class MailingListSubscriber(Base):
    """Someone without an account who wants to hear when the AMI opens (double opt-in, one-click leave)."""

    __tablename__ = "mailing_list_subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    # Confirms the subscription and, later, unsubscribes: the link is the credential.
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_subscriber_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("uq_mailing_list_subscribers_email_lower", func.lower(email), unique=True),)
