"""The purchase-commitment census (stage 4) and the cycle's results (stage 5): issue 8.

A commitment follows one selected solution (an answer and its company) to a purchase by one buyer
organization. In the UGAP channel the buyer's contract is with UGAP, which buys from the company: the row
keeps both UGAP and its client, and the company stays the underlying supplier, so the bilan can count SMEs.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from innovation_cycle.models.accounts import User
from innovation_cycle.models.applications import Application
from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.companies import Company
from innovation_cycle.models.cycles import Cycle
from innovation_cycle.models.needs import Need
from innovation_cycle.models.organizations import Organization
from workflows.commitment import STATES as COMMITMENT_STATES

CHANNELS = ("pfra_internal", "pfra_regional", "ugap_national")
PROCEDURES = ("ugap", "innovative_no_competition", "innovation_partnership", "adapted", "formal", "other")
THRESHOLD_KINDS = ("innovative_no_competition", "eu_supplies_central", "eu_supplies_other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Commitment(Base):
    __tablename__ = "commitments"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    # The underlying supplier, whatever the channel (copied from the answer so the bilan joins once).
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id"), index=True)
    # Who buys: the State service, the regional buyer, or UGAP's client.
    buyer_organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # UGAP itself, in the UGAP channel only.
    ugap_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    channel: Mapped[str] = mapped_column(String(16))
    # Written only through workflows.commitment.
    status: Mapped[str] = mapped_column(String(32), default="interest", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    amount_excl_vat: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    quantity: Mapped[int | None] = mapped_column(Integer)
    expected_on: Mapped[date | None] = mapped_column(Date)
    procedure: Mapped[str | None] = mapped_column(String(32))
    # The advice the application gave when the procedure was chosen, and why the recorder chose otherwise.
    advised_procedure: Mapped[str | None] = mapped_column(String(32))
    procedure_note: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    abandon_reason: Mapped[str | None] = mapped_column(Text)

    # A buyer's own declaration waits for a PFRA agent's confirmation; the others are confirmed as recorded.
    declared_by_buyer: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # The contract's essential data (DECP), once notified.
    contract_identifier: Mapped[str | None] = mapped_column(String(64))
    contract_notified_on: Mapped[date | None] = mapped_column(Date)
    contract_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    contract_duration_months: Mapped[int | None] = mapped_column(Integer)
    contract_cpv: Mapped[str | None] = mapped_column(String(12))
    contract_place: Mapped[str | None] = mapped_column(String(120))
    contract_procedure: Mapped[str | None] = mapped_column(String(32))
    holder_siret: Mapped[str | None] = mapped_column(String(14))

    # The "did the purchase happen?" mail to the recorder, sent once after the expected date.
    follow_up_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship()
    application: Mapped[Application] = relationship()
    company: Mapped[Company] = relationship()
    need: Mapped[Need | None] = relationship()
    buyer: Mapped[Organization] = relationship(foreign_keys=[buyer_organization_id])
    ugap: Mapped[Organization | None] = relationship(foreign_keys=[ugap_organization_id])
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint(_in("status", COMMITMENT_STATES), name="status_known"),
        CheckConstraint(_in("channel", CHANNELS), name="channel_known"),
        CheckConstraint("procedure IS NULL OR " + _in("procedure", PROCEDURES), name="procedure_known"),
        CheckConstraint("amount_excl_vat IS NULL OR amount_excl_vat >= 0", name="amount_positive"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity_positive"),
        CheckConstraint("channel != 'ugap_national' OR ugap_organization_id IS NOT NULL", name="ugap_recorded"),
        CheckConstraint("status != 'abandoned' OR abandon_reason IS NOT NULL", name="abandon_reason_required"),
        Index("ix_commitments_cycle_status", "cycle_id", "status"),
    )

    @property
    def organization_id(self) -> int:
        """The buyer's organization: the policy's organization scoping applies to commitments as it is."""
        return self.buyer_organization_id

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class ProcedureThreshold(Base):
    """A procurement threshold in force between two dates, with the text that sets it (DESIGN §6: data rows,
    never constants; the advice applies the row in force at the purchase's expected date)."""

    __tablename__ = "procedure_thresholds"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # inclusive; NULL: still in force
    legal_source: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_in("kind", THRESHOLD_KINDS), name="kind_known"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="dates_ordered"),
        UniqueConstraint("kind", "valid_from"),
    )


class CensusSettings(Base):
    """Per cycle: when the UGAP phase of the census starts (the PFRA phase is the stage's start until then),
    and how many days after an expected date the recorder is asked whether the purchase happened."""

    __tablename__ = "census_settings"

    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True)
    ugap_phase_opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    follow_up_delay_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")

    cycle: Mapped[Cycle] = relationship()

    __table_args__ = (CheckConstraint("follow_up_delay_days >= 0", name="delay_positive"),)


class PurchaseBaseline(Base):
    """The PFRA's purchases for a year (the 2% objective's denominator), entered by the admin with its source."""

    __tablename__ = "purchase_baselines"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)


class ResultsReport(Base):
    """The cycle's bilan: the admin's editorial text, the founders' approvals, then publication."""

    __tablename__ = "results_reports"

    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True)
    editorial: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    cycle: Mapped[Cycle] = relationship()
    approvals: Mapped[list[ResultsApproval]] = relationship(back_populates="report", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class ResultsApproval(Base):
    """One founding partner's approval of the current draft (an edit of the text clears them)."""

    __tablename__ = "results_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("results_reports.cycle_id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime())

    report: Mapped[ResultsReport] = relationship(back_populates="approvals")
    organization: Mapped[Organization] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "organization_id"),)


class NeedCarryOver(Base):
    """An accepted need that found no buyer's commitment, carried by its buyer into a later needs collection:
    the new need records where it came from (kept here, beside the census, rather than on the need)."""

    __tablename__ = "need_carry_overs"

    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True)
    source_need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), unique=True)
    carried_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    carried_at: Mapped[datetime] = mapped_column(UTCDateTime())

    need: Mapped[Need] = relationship(foreign_keys=[need_id])
    source: Mapped[Need] = relationship(foreign_keys=[source_need_id])

