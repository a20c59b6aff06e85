"""The cycle's call for expressions of interest (AMI): written by the admin before the AMI stage opens."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.cycles import Cycle

if TYPE_CHECKING:
    from innovation_cycle.models.attachments import Attachment


class AmiCall(Base):
    __tablename__ = "ami_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    introduction: Mapped[str] = mapped_column(Text)
    eligibility: Mapped[str] = mapped_column(Text)  # innovative TPE/PME, and which others
    innovation_definition: Mapped[str] = mapped_column(Text)  # after art. L2172-3 CCP
    calendar_text: Mapped[str | None] = mapped_column(Text)
    evaluation_criteria: Mapped[str] = mapped_column(Text)  # shown to candidates
    legal_notice: Mapped[str] = mapped_column(Text)  # sourcing under art. R2111-1; not an award
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="ami", cascade="all, delete-orphan", order_by="Attachment.id")
