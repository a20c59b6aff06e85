"""Companies that answer the AMI. The SIRET/SIREN, name and department live on the Organization (one place per
concept); the company's own facts live here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.organizations import Organization

SIZE_CATEGORIES = ("micro", "pme", "eti", "ge")


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    address: Mapped[str | None] = mapped_column(Text)  # head office
    postal_code: Mapped[str | None] = mapped_column(String(5))
    city: Mapped[str | None] = mapped_column(String(120))
    website: Mapped[str | None] = mapped_column(String(255))
    naf_code: Mapped[str | None] = mapped_column(String(6))  # NN.NNL
    created_on: Mapped[date | None] = mapped_column(Date)
    # Last closed financial year (décret 2008-1354, art. 3).
    fiscal_year: Mapped[int | None] = mapped_column(Integer)
    headcount: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))  # full-time equivalents
    turnover: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))  # EUR
    balance_sheet: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))  # EUR
    declared_size: Mapped[str | None] = mapped_column(String(8))
    # Computed from the figures above when they change; stored so listings can filter on it.
    computed_size: Mapped[str | None] = mapped_column(String(8), index=True)
    young_innovative_company: Mapped[bool] = mapped_column(Boolean, default=False)  # JEI
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()

    __table_args__ = (
        CheckConstraint("declared_size IS NULL OR declared_size IN ('micro', 'pme', 'eti', 'ge')",
                        name="declared_size_known"),
        CheckConstraint("computed_size IS NULL OR computed_size IN ('micro', 'pme', 'eti', 'ge')",
                        name="computed_size_known"),
    )


class CompanyJoinRequest(Base):
    """A second person of an already registered company asks to join it; a representative decides."""

    __tablename__ = "company_join_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    company: Mapped[Company] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status_known"),
        UniqueConstraint("company_id", "user_id"),
    )
