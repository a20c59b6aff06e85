"""Installation-wide settings. (The mail outbox grew into `models.notifications.Notification`.)"""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from innovation_cycle.models.base import Base
from innovation_cycle.models.notifications import OutboxMessage

__all__ = ["OutboxMessage", "Setting"]


class Setting(Base):
    """Installation-wide values changed at run time (the demo clock's offset)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
