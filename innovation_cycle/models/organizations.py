"""Conventions, the organizations that take part in them, and at which tier."""

from __future__ import annotations

import enum
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, Date, Enum, ForeignKey, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.base import Base

if TYPE_CHECKING:
    from innovation_cycle.models.accounts import User
    from innovation_cycle.models.cycles import Cycle


class OrganizationKind(enum.StrEnum):
    STATE_SERVICE = "state_service"
    PFRA = "pfra"
    UGAP = "ugap"
    LOCAL_AUTHORITY = "local_authority"
    HOSPITAL = "hospital"
    PUBLIC_BODY = "public_body"
    DEVELOPMENT_AGENCY = "development_agency"
    COMPANY = "company"


class Tier(enum.StrEnum):
    FOUNDING_PARTNER = "founding_partner"
    ASSOCIATED_MEMBER = "associated_member"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so PostgreSQL and SQLite hold the same schema.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=32,
                values_callable=lambda e: [m.value for m in e])


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganizationKind] = mapped_column(_enum(OrganizationKind, "organization_kind"))
    siren: Mapped[str | None] = mapped_column(String(9), index=True)
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    department: Mapped[str | None] = mapped_column(String(3))

    memberships: Mapped[list[ConventionMembership]] = relationship(back_populates="organization")
    users: Mapped[list[User]] = relationship(back_populates="organization")

    __table_args__ = (
        CheckConstraint("siret IS NULL OR siren IS NULL OR substr(siret, 1, 9) = siren", name="siret_siren"),
    )

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"


class Convention(Base):
    __tablename__ = "conventions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(100))
    signed_on: Mapped[date] = mapped_column(Date)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    # The committee's quorum, as the convention defines it: by default a decision needs at least one
    # representative of each founding partner present, and this many members present in all.
    quorum_each_founding_partner: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    quorum_min_present: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    memberships: Mapped[list[ConventionMembership]] = relationship(
        back_populates="convention", cascade="all, delete-orphan"
    )
    cycles: Mapped[list[Cycle]] = relationship(back_populates="convention", order_by="Cycle.year")

    __table_args__ = (CheckConstraint("ends_on > starts_on", name="dates_ordered"),)

    @property
    def years(self) -> list[int]:
        """The calendar years in which the convention may run a cycle (three at most)."""
        return list(range(self.starts_on.year, self.ends_on.year + 1))[:3]


class ConventionMembership(Base):
    __tablename__ = "convention_memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    convention_id: Mapped[int] = mapped_column(ForeignKey("conventions.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    tier: Mapped[Tier] = mapped_column(_enum(Tier, "membership_tier"))
    on_committee: Mapped[bool] = mapped_column(Boolean, default=False)

    convention: Mapped[Convention] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(back_populates="memberships")

    __table_args__ = (UniqueConstraint("convention_id", "organization_id"),)
