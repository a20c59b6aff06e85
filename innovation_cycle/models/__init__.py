"""Every record of the application; importing this module registers them all on the metadata."""

from innovation_cycle.models.accounts import Role, User, UserRole
from innovation_cycle.models.ami import AmiCall
from innovation_cycle.models.applications import Application, ApplicationNeed
from innovation_cycle.models.attachments import Attachment
from innovation_cycle.models.audit import AuditEvent
from innovation_cycle.models.base import Base, UTCDateTime
from innovation_cycle.models.commitments import (  # issue 8
    CensusSettings,
    Commitment,
    NeedCarryOver,
    ProcedureThreshold,
    PurchaseBaseline,
    ResultsApproval,
    ResultsReport,
)
from innovation_cycle.models.companies import Company, CompanyJoinRequest
from innovation_cycle.models.cycles import CommitteeMember, Cycle, StageWindow
from innovation_cycle.models.decisions import Attendance, Decision, DecisionNeed, Meeting
from innovation_cycle.models.needs import Need, Theme, need_themes
from innovation_cycle.models.notifications import MailingListSubscriber, Notification
from innovation_cycle.models.organizations import (
    Convention,
    ConventionMembership,
    Organization,
    OrganizationKind,
    Tier,
)
from innovation_cycle.models.outbox import OutboxMessage, Setting
from innovation_cycle.models.reviews import (
    Assignment,
    BuyerInterest,
    Conflict,
    Criterion,
    Review,
    Score,
    SelectionSettings,
    committee_member_themes,
)

__all__ = [
    "AmiCall", "Application", "ApplicationNeed", "Attachment", "Company", "CompanyJoinRequest", "Need", "Theme",
    "need_themes",
    "MailingListSubscriber", "Notification",
    "AuditEvent", "Base", "CommitteeMember", "Convention", "ConventionMembership", "Cycle", "Organization",
    "OrganizationKind", "OutboxMessage", "Role", "Setting", "StageWindow", "Tier", "User", "UserRole",
    "UTCDateTime",
    # Issue 7: the selection stage.
    "Assignment", "Attendance", "BuyerInterest", "Conflict", "Criterion", "Decision", "DecisionNeed", "Meeting",
    "Review", "Score", "SelectionSettings", "committee_member_themes",
    # Issue 8: the census and the results.
    "CensusSettings", "Commitment", "NeedCarryOver", "ProcedureThreshold", "PurchaseBaseline", "ResultsApproval",
    "ResultsReport",
]
