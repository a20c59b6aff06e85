"""The selection stage's reviewing: the cycle's evaluation grid, conflicts of interest, who reviews what,
the reviews with one score per criterion, and the buyers' interest in the answers to their own needs.

Shaped after Indico's abstracts (one review per answer and reviewer, one rating per review and criterion)
and pretalx's weighted score categories. The committee's decisions live apart, in `models.decisions`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.applications import Application
from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.companies import Company
from innovation_cycle.models.cycles import CommitteeMember, Cycle
from innovation_cycle.models.needs import Need
from innovation_cycle.models.organizations import Organization

RECOMMENDATIONS = ("select", "discuss", "reject")
REVIEW_STATES = ("draft", "submitted")
CONFLICT_SOURCES = ("declared", "same_organization", "same_siren")
INTEREST_LEVELS = ("meet", "test", "none")
ASSIGNMENT_STATES = ("proposed", "confirmed")


class SelectionSettings(Base):
    """A cycle's selection stage settings: how many reviewers per answer, when reviews close, the spread that
    flags a disagreement, and when the grid was locked and the decisions released. One row per cycle."""

    __tablename__ = "selection_settings"

    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True)
    reviewers_per_answer: Mapped[int] = mapped_column(Integer, default=3)
    # Inside the selection window; reviews may be changed until then.
    reviews_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Answers whose reviewers' weighted scores spread (max - min, on the 0–scale_max scale) at or above this
    # are flagged for discussion.
    disagreement_threshold: Mapped[float] = mapped_column(Float, default=1.5)
    assignments_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decisions_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship()

    __table_args__ = (
        CheckConstraint("reviewers_per_answer BETWEEN 1 AND 20", name="reviewers_range"),
        CheckConstraint("disagreement_threshold >= 0", name="threshold_positive"),
    )


class Criterion(Base):
    """One line of the cycle's evaluation grid: a label, a help text, a weight and a scale whose levels are
    worded (default 0–4)."""

    __tablename__ = "criteria"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(200))
    help_text: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    scale_min: Mapped[int] = mapped_column(Integer, default=0)
    scale_max: Mapped[int] = mapped_column(Integer, default=4)
    # One short wording per level, from scale_min to scale_max.
    level_labels: Mapped[list[str]] = mapped_column(JSON, default=list)

    cycle: Mapped[Cycle] = relationship()

    __table_args__ = (
        UniqueConstraint("cycle_id", "label"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("scale_max > scale_min", name="scale_ordered"),
    )


committee_member_themes = Table(
    "committee_member_themes",
    Base.metadata,
    Column("committee_member_id", ForeignKey("committee_members.id", ondelete="CASCADE"), primary_key=True),
    Column("theme_id", ForeignKey("themes.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Conflict(Base):
    """A committee member may not review, nor see anything about, a company's answers: declared by the
    member (with a reason) or added by the application (same organization, same SIREN)."""

    __tablename__ = "conflicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    source: Mapped[str] = mapped_column(String(20), default="declared")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship()
    user: Mapped[User] = relationship()
    company: Mapped[Company] = relationship()

    __table_args__ = (
        UniqueConstraint("cycle_id", "user_id", "company_id"),
        CheckConstraint("source IN (" + ", ".join(repr(s) for s in CONFLICT_SOURCES) + ")", name="source_known"),
        CheckConstraint("source <> 'declared' OR reason IS NOT NULL", name="declared_has_reason"),
    )


class Assignment(Base):
    """A committee member is asked to review an answer: proposed by the solver, edited and confirmed by
    the admin."""

    __tablename__ = "review_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    application: Mapped[Application] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("application_id", "user_id"),
        CheckConstraint("status IN ('proposed', 'confirmed')", name="status_known"),
    )


class Review(Base):
    """One member's review of one answer. A draft saves; a submitted review may be changed until reviews
    close, each version audited."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    recommendation: Mapped[str | None] = mapped_column(String(16))
    committee_comment: Mapped[str | None] = mapped_column(Text)  # for the committee only
    company_comment: Mapped[str | None] = mapped_column(Text)  # may be sent to the company, unsigned
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    application: Mapped[Application] = relationship()
    reviewer: Mapped[User] = relationship()
    scores: Mapped[list[Score]] = relationship(back_populates="review", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id"),
        CheckConstraint("status IN ('draft', 'submitted')", name="status_known"),
        CheckConstraint("recommendation IS NULL OR recommendation IN ('select', 'discuss', 'reject')",
                        name="recommendation_known"),
        CheckConstraint("status = 'draft' OR (submitted_at IS NOT NULL AND recommendation IS NOT NULL)",
                        name="submitted_is_complete"),
        Index("ix_reviews_application_status", "application_id", "status"),
    )


class Score(Base):
    """A review's score and comment on one criterion. A criterion added after a review was written is simply
    missing from it (no row)."""

    __tablename__ = "review_scores"

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id", ondelete="CASCADE"), primary_key=True,
                                              index=True)
    value: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)

    review: Mapped[Review] = relationship(back_populates="scores")
    criterion: Mapped[Criterion] = relationship()


class BuyerInterest(Base):
    """A buyer's interest in an answer that targets one of its organization's needs; shown beside the
    committee's scores, never mixed into them."""

    __tablename__ = "buyer_interests"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    level: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    application: Mapped[Application] = relationship()
    need: Mapped[Need] = relationship()
    organization: Mapped[Organization] = relationship()
    user: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("application_id", "need_id"),
        CheckConstraint("level IN ('meet', 'test', 'none')", name="level_known"),
    )


__all__ = ["ASSIGNMENT_STATES", "Assignment", "BuyerInterest", "CONFLICT_SOURCES", "CommitteeMember", "Conflict",
           "Criterion", "INTEREST_LEVELS", "RECOMMENDATIONS", "REVIEW_STATES", "Review", "Score",
           "SelectionSettings", "committee_member_themes"]
