"""Public buyers' innovation needs, and the per-cycle themes that group them in the AMI."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.base import Base, DescNullsLast, UTCDateTime
from innovation_cycle.models.cycles import Cycle
from innovation_cycle.models.organizations import Organization
from workflows.need import STATES as NEED_STATES

if TYPE_CHECKING:
    from innovation_cycle.models.attachments import Attachment

PROCUREMENT_CATEGORIES = ("goods", "services", "works")


class Theme(Base):
    """A per-cycle list the admin maintains; needs are grouped by theme on the public AMI page."""

    __tablename__ = "themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(default=0)

    cycle: Mapped[Cycle] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "name"),)


need_themes = Table(
    "need_themes",
    Base.metadata,
    Column("need_id", ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True),
    Column("theme_id", ForeignKey("themes.id", ondelete="CASCADE"), primary_key=True),
    # The theme filters and the public page's sections go from a theme to its needs (issue 11).
    Index("ix_need_themes_theme_id", "theme_id"),
)


class Need(Base):
    __tablename__ = "needs"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Written only through workflows.need.
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)

    title: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text)  # the functional need, not a product
    context: Mapped[str | None] = mapped_column(Text)
    expected_outcomes: Mapped[str | None] = mapped_column(Text)
    constraint_data_protection: Mapped[str | None] = mapped_column(Text)
    constraint_security: Mapped[str | None] = mapped_column(Text)
    constraint_hosting: Mapped[str | None] = mapped_column(Text)
    constraint_accessibility: Mapped[str | None] = mapped_column(Text)
    constraint_interoperability: Mapped[str | None] = mapped_column(Text)
    environmental_social: Mapped[str | None] = mapped_column(Text)
    estimated_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # EUR excl. VAT
    procurement_category: Mapped[str | None] = mapped_column(String(16))
    cpv_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    purchase_horizon: Mapped[str | None] = mapped_column(String(32))
    expected_consultation_on: Mapped[date | None] = mapped_column(Date)
    scope: Mapped[str | None] = mapped_column(Text)  # sites, users, quantities
    open_to_experimentation: Mapped[bool] = mapped_column(Boolean, default=False)
    non_technological_welcome: Mapped[bool] = mapped_column(Boolean, default=True)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)  # buyer's name hidden in the AMI
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))

    # What the PFRA agent or admin said when returning or rejecting it; the buyer sees it.
    qualification_comment: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id"))
    # The creation form's one-time token: a double-clicked "create" makes one need, not two.
    creation_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Issue 9: the optimistic check every record with a machine carries. SQLite ignores the row lock, so two
    # qualifications at once both read "submitted"; the version turns the second UPDATE into a refusal.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    cycle: Mapped[Cycle] = relationship()
    organization: Mapped[Organization] = relationship()
    author: Mapped[User | None] = relationship()
    themes: Mapped[list[Theme]] = relationship(secondary=need_themes, order_by="Theme.position")
    merged_into: Mapped[Need | None] = relationship(remote_side="Need.id")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="need", cascade="all, delete-orphan", order_by="Attachment.id")

    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(repr(s) for s in NEED_STATES) + ")", name="status_known"),
        CheckConstraint("procurement_category IS NULL OR procurement_category IN ('goods', 'services', 'works')",
                        name="category_known"),
        CheckConstraint("estimated_value IS NULL OR estimated_value >= 0", name="value_positive"),
        CheckConstraint("(status = 'merged') = (merged_into_id IS NOT NULL)", name="merged_points_somewhere"),
        Index("ix_needs_cycle_status", "cycle_id", "status"),
        # The listing's default order, newest first, read from the index (issue 11; on PostgreSQL the migration
        # makes it NULLS LAST, as the listing sorts).
        Index("ix_needs_cycle_submitted", "cycle_id", DescNullsLast(submitted_at), id.desc()),
        # The needs page's order, last changed first, across cycles (the staff see every cycle's needs).
        Index("ix_needs_updated", updated_at.desc(), id.desc()),
    )

    @property
    def public_buyer_name(self) -> str | None:
        """None when the buyer asked for confidentiality: the AMI then says « un acheteur public de la région »."""
        return None if self.confidential else self.organization.name
