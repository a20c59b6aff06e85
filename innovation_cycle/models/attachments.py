"""Files attached to a need, an answer or an AMI: stored outside the static folder under a generated name,
served only through the authorization policy."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.base import Base, UTCDateTime

if TYPE_CHECKING:
    from innovation_cycle.models.ami import AmiCall
    from innovation_cycle.models.applications import Application
    from innovation_cycle.models.needs import Need


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Exactly one owner.
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"),
                                                       index=True)
    ami_id: Mapped[int | None] = mapped_column(ForeignKey("ami_calls.id", ondelete="CASCADE"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    need: Mapped[Need | None] = relationship(back_populates="attachments")
    application: Mapped[Application | None] = relationship(back_populates="attachments")
    ami: Mapped[AmiCall | None] = relationship(back_populates="attachments")
    uploaded_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN need_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN application_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN ami_id IS NULL THEN 0 ELSE 1 END) = 1", name="one_owner"),
        CheckConstraint("size > 0", name="size_positive"),
    )
