"""Issue 7's test input, shared by tests/test_reviews.py and tests/test_selection.py: the partners of the
convention with their tier, a cycle's committee, companies and their eligible answers, reviews with their
scores, built directly from the models (the services under test are not used to build their own input)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    CommitteeMember,
    Company,
    Convention,
    Cycle,
    Need,
    Organization,
    OrganizationKind,
    Tier,
    User,
)
from innovation_cycle.models.reviews import Criterion, Review, Score

ANSWERED_AT = paris_datetime(2017, 4, 20)




def partner(make, convention: Convention, name: str, kind: OrganizationKind, tier: Tier, *,
            on_committee: bool, **org: object) -> Organization:
    """An organization member of the convention, with its tier and whether it sits on the committee."""
    organization = make.organization(name, kind, **org)
    make.membership(convention, organization, tier, on_committee=on_committee)
    return organization


def seat(cycle: Cycle, users: Iterable[User]) -> None:
    """Put these users on the cycle's committee."""
    cycle.committee.extend(CommitteeMember(user_id=user.id) for user in users)


def company(make, name: str, *, siren: str | None = None, size: str | None = None,
            department: str | None = None, at: datetime = ANSWERED_AT) -> Company:
    """A company (its organization and its record), flushed."""
    extra = {"department": department} if department else {}
    organization = make.organization(name, OrganizationKind.COMPANY, siren=siren, **extra)
    record = Company(organization=organization, computed_size=size, created_at=at, updated_at=at)
    db.session.add(record)
    db.session.flush()
    return record


def eligible_answer(cycle: Cycle, company: Company, needs: Sequence[Need], name: str, *, author: User | None = None,
                    fit: str = "ok", at: datetime = ANSWERED_AT) -> Application:
    """An eligible answer of `company` targeting `needs`, added to the session."""
    application = Application(cycle=cycle, company=company, author=author, status="eligible", solution_name=name,
                              created_at=at, updated_at=at, submitted_at=at)
    application.targets = [ApplicationNeed(need_id=need.id, fit=fit) for need in needs]
    db.session.add(application)
    return application


def review(cycle: Cycle, application: Application, member: User, criteria: Sequence[Criterion],
           values: Sequence[int | None], *, submitted: bool = True, recommendation: str = "select",
           at: datetime = ANSWERED_AT, **fields: object) -> Review:
    """A member's review of an answer, one score per criterion (in the grid's order), added to the session."""
    row = Review(cycle_id=cycle.id, application_id=application.id, reviewer_id=member.id, created_at=at,
                 updated_at=at, status="submitted" if submitted else "draft",
                 recommendation=recommendation if submitted else None, submitted_at=at if submitted else None,
                 **fields)
    row.scores = [Score(criterion_id=criterion.id, value=value)
                  for criterion, value in zip(criteria, values, strict=True)]
    db.session.add(row)
    return row
