"""The selection stage's reviewing: the cycle's evaluation grid, conflicts of interest, who reviews what,
the reviews with one score per criterion, and the buyers' interest in the answers to their own needs.

Shaped after Indico's abstracts (one review per answer and reviewer, one rating per review and criterion)
and pretalx's weighted score categories. The committee's decisions live apart, in `models.decisions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import chain
from typing import Any

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
    cast,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

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
    # The review's weighted score on the grid (sum of weight × value over the scored criteria of the cycle,
    # over the sum of their weights; NULL while nothing is scored). Derived from the scores and the grid's
    # weights, and kept true by `keep_weighted_scores` below in the flush that changes either, so the ranking
    # aggregates 3 rows per answer instead of 18 (see services/ranking.py).
    weighted_score: Mapped[float | None] = mapped_column(Float)
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
        # The ranking reads a cycle's submitted reviews in (answer, score) order for the median: this index
        # gives that order without a sort (and, vacuumed, without touching the table).
        Index("ix_reviews_cycle_status_application", "cycle_id", "status", "application_id", "weighted_score"),
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


# --- the stored weighted score ---------------------------------------------------------------------------


def weighted_score_sql(review_id: ColumnElement[Any], cycle_id: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQL: the weighted score of a review (its id and cycle as columns of the outer statement). The one
    formula: the migration's backfill and every refresh use it, so stored and recomputed values are equal to
    the last bit."""
    return (select(cast(func.sum(Criterion.weight * Score.value) / func.sum(Criterion.weight), Float))
            .select_from(Score)
            .join(Criterion, Criterion.id == Score.criterion_id)
            .where(Score.review_id == review_id, Criterion.cycle_id == cycle_id, Score.value.is_not(None))
            .scalar_subquery())


def refresh_weighted_scores(connection: Connection, *, review_ids: Iterable[int] = (),
                            cycle_ids: Iterable[int] = ()) -> None:
    """Recompute the stored weighted score of these reviews and of every review of these cycles (a weight
    changed or a criterion went), in the caller's transaction. Bulk loaders (the benchmark) call it once."""
    reviews = Review.__table__
    review_ids, cycle_ids = sorted(set(review_ids)), sorted(set(cycle_ids))
    formula = weighted_score_sql(reviews.c.id, reviews.c.cycle_id)
    for start in range(0, len(review_ids), 500):  # bounded IN lists
        connection.execute(update(reviews).where(reviews.c.id.in_(review_ids[start:start + 500]))
                           .values(weighted_score=formula))
    if cycle_ids:
        connection.execute(update(reviews).where(reviews.c.cycle_id.in_(cycle_ids)).values(weighted_score=formula))


_PENDING = "innovation_cycle.weighted_scores"


@event.listens_for(Session, "after_flush")
def _note_weighted_scores(session: Session, _context: Any) -> None:
    """Whatever writes scores or the grid (the review form, a grid edit, the demo, a test building records by
    hand), the flush that writes them notes which stored scores went stale: the reviews whose scores changed,
    the cycles whose weights changed or lost a criterion. `new`/`dirty`/`deleted` and the attributes' history
    still show the flushed changes here."""
    review_ids: set[int] = set()
    cycle_ids: set[int] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Score) and obj.review_id is not None:
            review_ids.add(obj.review_id)
        elif isinstance(obj, Criterion) and obj.cycle_id is not None and (
                obj in session.deleted or inspect(obj).attrs.weight.history.has_changes()):
            cycle_ids.add(obj.cycle_id)
    if review_ids or cycle_ids:
        pending = session.info.setdefault(_PENDING, (set(), set()))
        pending[0].update(review_ids)
        pending[1].update(cycle_ids)


@event.listens_for(Session, "after_flush_postexec")
def keep_weighted_scores(session: Session, _context: Any) -> None:
    """Recompute the stale stored scores in the same transaction as the change, and expire them on the
    reviews the session holds so they read the new value."""
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    review_ids, cycle_ids = pending
    refresh_weighted_scores(session.connection(), review_ids=review_ids, cycle_ids=cycle_ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Review) and (cycle_ids or inspect(obj).identity[0] in review_ids):
            session.expire(obj, ["weighted_score"])


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
    # Two buyers of the organization may answer for the same need: the form carries the version it showed, and
    # the UPDATE checks it (SQLite has no row lock), so a stale form is refused instead of overwriting.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    application: Mapped[Application] = relationship()
    need: Mapped[Need] = relationship()
    organization: Mapped[Organization] = relationship()
    user: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("application_id", "need_id"),
        CheckConstraint("level IN ('meet', 'test', 'none')", name="level_known"),
    )


__all__ = ["ASSIGNMENT_STATES", "Assignment", "BuyerInterest", "CONFLICT_SOURCES", "CommitteeMember", "Conflict",
           "Criterion", "INTEREST_LEVELS", "RECOMMENDATIONS", "REVIEW_STATES", "Review", "Score",
           "SelectionSettings", "committee_member_themes", "refresh_weighted_scores", "weighted_score_sql"]
