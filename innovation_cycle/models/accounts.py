"""People who log in, and their roles."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, Enum, ForeignKey, Index, String, UniqueConstraint, func, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.organizations import Organization


class Role(enum.StrEnum):
    ADMIN = "admin"
    BUYER = "buyer"
    COMMITTEE_MEMBER = "committee_member"
    PFRA_AGENT = "pfra_agent"
    UGAP_AGENT = "ugap_agent"
    COMPANY = "company"


def new_security_stamp() -> str:
    return secrets.token_urlsafe(16)


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)


DIGEST_CHOICES = ("immediate", "daily")


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Changes whenever the password is set: every emailed token carries it, so a token works once.
    security_stamp: Mapped[str] = mapped_column(String(32), default=new_security_stamp)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locale: Mapped[str | None] = mapped_column(String(5))
    # Room for ProConnect (OpenID Connect federation of public agents).
    sso_subject: Mapped[str | None] = mapped_column(String(255))
    sso_issuer: Mapped[str | None] = mapped_column(String(255))
    # Notifications (issue 4): announcements can be turned off or bundled in a daily digest; mails about
    # one's own records and reminders of one's own work cannot. The calendar token is the secret of the
    # personal iCalendar feed's URL.
    announcements_opt_in: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    digest: Mapped[str] = mapped_column(String(16), default="immediate", server_default="immediate")
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True, default=new_calendar_token)

    organization: Mapped[Organization | None] = relationship(back_populates="users")
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        Index("uq_users_email_lower", func.lower(email), unique=True),
        UniqueConstraint("sso_issuer", "sso_subject"),
        CheckConstraint("digest IN ('immediate', 'daily')", name="digest_known"),
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.role_rows)

    def has_role(self, *roles: Role) -> bool:
        # The policy asks this a hundred times a page: read the rows once, build no set.
        return any(row.role in roles for row in self.role_rows)

    def get_id(self) -> str:
        """The session names the user *and* the stamp: a password change or reset ends every other session."""
        return f"{self.id}.{self.security_stamp}"

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="role", native_enum=False, create_constraint=True, length=32,
             values_callable=lambda e: [m.value for m in e]),
        primary_key=True,
    )

    user: Mapped[User] = relationship(back_populates="role_rows")
