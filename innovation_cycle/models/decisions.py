"""The steering committee's meetings (séances du comité de pilotage) and the decisions they record.

A decision is kept apart from the reviews (Indico's judgment beside its reviews): one per answer, taken in a
quorate meeting, with a required rationale, and for a selected answer the needs it is selected for (and so
those needs' buyers). Decisions stay hidden from companies until the admin releases them in one batch.

This is the selection stage's output and the census stage's input: the shortlist of a need is
`DecisionNeed` rows whose decision is `selected` and released.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.applications import Application
from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.cycles import Cycle
from innovation_cycle.models.needs import Need
from innovation_cycle.models.organizations import Organization

OUTCOMES = ("selected", "waiting_list", "not_selected")
MEETING_STATES = ("scheduled", "open", "closed")


class Meeting(Base):
    """A committee meeting: scheduled by the admin, opened once attendance is recorded, closed after the
    agenda has been walked."""

    __tablename__ = "committee_meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    location: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    notes: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship()
    attendance: Mapped[list[Attendance]] = relationship(back_populates="meeting", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'open', 'closed')", name="status_known"),
    )


class Attendance(Base):
    """Who attended a meeting, and for which organization (the quorum counts organizations)."""

    __tablename__ = "meeting_attendance"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("committee_meetings.id", ondelete="CASCADE"),
                                            primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    present: Mapped[bool] = mapped_column(Boolean, default=True)

    meeting: Mapped[Meeting] = relationship(back_populates="attendance")
    user: Mapped[User] = relationship()
    organization: Mapped[Organization | None] = relationship()


class Decision(Base):
    """The committee's decision on one answer. Moves the answer's machine (eligible → selected |
    not_selected; a waiting list keeps it eligible) in the same transaction as its audit row."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), unique=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("committee_meetings.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    # What the company reads with the decision (besides the reviewers' comments meant for it).
    message_to_company: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    application: Mapped[Application] = relationship()
    meeting: Mapped[Meeting] = relationship()
    decided_by: Mapped[User | None] = relationship()
    needs: Mapped[list[DecisionNeed]] = relationship(back_populates="decision", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("outcome IN ('selected', 'waiting_list', 'not_selected')", name="outcome_known"),
        CheckConstraint("length(rationale) > 0", name="rationale_required"),
    )


class DecisionNeed(Base):
    """A selected answer is selected for one or more of the needs it targets (and so for their buyers)."""

    __tablename__ = "decision_needs"

    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), primary_key=True, index=True)

    decision: Mapped[Decision] = relationship(back_populates="needs")
    need: Mapped[Need] = relationship()
