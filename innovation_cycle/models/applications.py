"""Companies' answers to the AMI (applications), and the needs each one targets."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.base import Base, DescNullsLast, UTCDateTime
from innovation_cycle.models.companies import Company
from innovation_cycle.models.cycles import Cycle
from innovation_cycle.models.needs import Need
from workflows.application import STATES as APPLICATION_STATES

if TYPE_CHECKING:
    from innovation_cycle.models.attachments import Attachment

INNOVATION_KINDS = ("product", "process", "marketing", "organisation")
MARKET_STATUSES = ("prototype", "pilot", "on_sale")


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Written only through workflows.application.
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    # Optimistic lock: two submissions at once (double click, two tabs) make one move, one email.
    version: Mapped[int] = mapped_column(Integer, default=1)

    solution_name: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(String(600))  # public if selected
    description: Mapped[str | None] = mapped_column(Text)
    innovation_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    novelty: Mapped[str | None] = mapped_column(Text)  # what is new compared with what exists
    evidence: Mapped[str | None] = mapped_column(Text)  # patents, labels, prizes, grants, references
    trl: Mapped[int | None] = mapped_column(Integer)  # 1–9; NULL = not answered yet, or not applicable
    # Said explicitly, so a draft's blank TRL is not mistaken for "not applicable" (non-technological).
    trl_not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)
    market_status: Mapped[str | None] = mapped_column(String(16))
    public_references: Mapped[str | None] = mapped_column(Text)
    pricing_model: Mapped[str | None] = mapped_column(Text)
    indicative_price: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(Text)
    intellectual_property: Mapped[str | None] = mapped_column(Text)
    hosting_security: Mapped[str | None] = mapped_column(Text)
    accessibility: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(Text)  # environmental and social
    sworn_statement: Mapped[bool] = mapped_column(Boolean, default=False)
    data_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # Issue 8: data_consent is consent to the processing of the answer's data; naming the company on the
    # public results page is a separate choice the company makes (unnamed, it is counted, not named).
    named_in_results: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    eligibility_reason: Mapped[str | None] = mapped_column(Text)
    # The new-answer form's one-time token: a double-clicked or replayed POST finds the answer it created.
    client_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship()
    company: Mapped[Company] = relationship()
    author: Mapped[User | None] = relationship()
    targets: Mapped[list[ApplicationNeed]] = relationship(
        back_populates="application", cascade="all, delete-orphan")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="Attachment.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(repr(s) for s in APPLICATION_STATES) + ")",
                        name="status_known"),
        CheckConstraint("trl IS NULL OR (trl BETWEEN 1 AND 9)", name="trl_range"),
        CheckConstraint("NOT (trl_not_applicable AND trl IS NOT NULL)", name="trl_or_not_applicable"),
        CheckConstraint("market_status IS NULL OR market_status IN ('prototype', 'pilot', 'on_sale')",
                        name="market_status_known"),
        # With the id: the ranking's scans of a cycle's ranked answers are index-only (issue 11, d7b2e4f6a8c1).
        Index("ix_applications_cycle_status", "cycle_id", "status", "id"),
        # A page's answer counts (needs listing, AMI) join the answers of fifty needs by id to check their
        # state: read from this narrow index rather than from the wide rows (issue 11).
        Index("ix_applications_id_status", "id", "status"),
        # The answers listing's default order (newest first) read from the index, not sorted (issue 11; on
        # PostgreSQL the migration c11e0a5f3b21 makes it NULLS LAST, as the listing sorts).
        Index("ix_applications_cycle_submitted", "cycle_id", DescNullsLast(submitted_at), id.desc()),
    )

    @property
    def organization_id(self) -> int:
        """The company's organization: the policy's organization scoping applies to answers as it is."""
        return self.company.organization_id


class ApplicationNeed(Base):
    """An answer targets one or several accepted needs, with a sentence on the fit for each."""

    __tablename__ = "application_needs"

    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"),
                                                primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), primary_key=True, index=True)
    fit: Mapped[str] = mapped_column(Text)

    application: Mapped[Application] = relationship(back_populates="targets")
    need: Mapped[Need] = relationship()
