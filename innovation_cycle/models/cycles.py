"""A convention's yearly cycle, its stage windows and its committee."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.organizations import Convention
from workflows.cycle import STAGES, STATES

DEFAULT_REMINDER_OFFSETS = "14,7,1"


def _states_check(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Cycle(Base):
    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(primary_key=True)
    convention_id: Mapped[int] = mapped_column(ForeignKey("conventions.id"))
    year: Mapped[int] = mapped_column(Integer)
    # Written only through workflows.cycle (services.cycles.move); never assign it elsewhere.
    state: Mapped[str] = mapped_column(String(32), default="draft")
    # Optimistic lock: a stale move (two admins, an admin and a job) fails instead of skipping a stage.
    version: Mapped[int] = mapped_column(Integer, default=1)
    auto_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days before each stage's closing time when those with work left are reminded, e.g. "14,7,1"
    # (issue 4); empty: no reminders.
    reminder_offsets: Mapped[str] = mapped_column(String(64), default=DEFAULT_REMINDER_OFFSETS,
                                                  server_default=DEFAULT_REMINDER_OFFSETS)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    convention: Mapped[Convention] = relationship(back_populates="cycles")
    windows: Mapped[list[StageWindow]] = relationship(
        back_populates="cycle", cascade="all, delete-orphan", lazy="selectin", order_by="StageWindow.position"
    )
    committee: Mapped[list[CommitteeMember]] = relationship(
        back_populates="cycle", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("convention_id", "year"),
        CheckConstraint(_states_check("state", STATES), name="state_known"),
    )

    @property
    def offsets(self) -> list[int]:
        """The reminder offsets in days, largest first."""
        values = (v.strip() for v in (self.reminder_offsets or "").split(","))
        return sorted({int(v) for v in values if v.isascii() and v.isdigit()}, reverse=True)

    def window(self, stage: str) -> StageWindow | None:
        return next((w for w in self.windows if w.stage == stage), None)

    def __repr__(self) -> str:
        return f"<Cycle {self.id} {self.year} {self.state}>"


class StageWindow(Base):
    """When a stage is open. A stage is open because of its dates, not because a job flipped a flag."""

    __tablename__ = "stage_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship(back_populates="windows")

    __table_args__ = (
        UniqueConstraint("cycle_id", "stage"),
        CheckConstraint(_states_check("stage", STAGES), name="stage_known"),
        CheckConstraint("closes_at > opens_at", name="window_ordered"),
    )

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at


class CommitteeMember(Base):
    __tablename__ = "committee_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    cycle: Mapped[Cycle] = relationship(back_populates="committee")
    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "user_id"),)
