"""Issue 8's test input: a cycle in its census stage with the selection stage's output (decisions and their
needs) built directly from the models, and one user per census role."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    Company,
    Decision,
    DecisionNeed,
    Meeting,
    Need,
    OrganizationKind,
    Role,
    Tier,
)
from innovation_cycle.services import procedures

SIRETS = ["73282932000074", "55208131766522", "40483304800022", "35600000000048", "44306184100047"]


@dataclass
class World:
    cycle: Any
    convention: Any
    users: dict[str, Any] = field(default_factory=dict)
    orgs: dict[str, Any] = field(default_factory=dict)
    companies: list[Any] = field(default_factory=list)
    selected: list[Any] = field(default_factory=list)
    not_selected: Any = None
    needs: list[Any] = field(default_factory=list)
    meeting: Any = None


def answer(make, cycle, company, outcome: str | None, meeting, needs=(), *, name: str = "", market_status="on_sale",
           named: bool = False) -> Application:
    at = paris_datetime(cycle.year, 4, 10)
    status = {"selected": "selected", "not_selected": "not_selected", None: "eligible"}.get(outcome, "eligible")
    application = Application(cycle=cycle, company=company, status=status,
                              solution_name=name or f"Solution {make._n()}", summary="Une solution",
                              market_status=market_status, created_at=at, updated_at=at, submitted_at=at,
                              named_in_results=named)
    db.session.add(application)
    db.session.flush()
    if outcome:
        decision = Decision(cycle_id=cycle.id, application_id=application.id, meeting_id=meeting.id,
                            outcome=outcome, rationale="Décision du comité", decided_at=at, released_at=at)
        decision.needs = [DecisionNeed(need_id=n.id) for n in needs] if outcome == "selected" else []
        db.session.add(decision)
    db.session.commit()
    return application


def company(make, name: str, siret: str, size: str = "micro", department: str = "59") -> Company:
    org = make.organization(name, OrganizationKind.COMPANY, siret=siret, siren=siret[:9], department=department)
    at = paris_datetime(2017, 1, 1)
    c = Company(organization=org, computed_size=size, created_at=at, updated_at=at, headcount=Decimal(5))
    db.session.add(c)
    db.session.commit()
    return c


def census_world(make, *, year: int = 2017, state: str = "commitment_census", convention=None,
                 companies: list[Company] | None = None) -> World:
    convention = convention or make.convention(year)
    cycle = make.cycle(convention, year, state=state)
    procedures.seed_thresholds()
    orgs = {
        "pfra": make.organization("PFRA Hauts-de-France", OrganizationKind.PFRA),
        "state": make.organization("Préfecture du Nord", OrganizationKind.STATE_SERVICE, department="59"),
        "ugap": make.organization("UGAP", OrganizationKind.UGAP),
        "region": make.organization("Métropole de Lille", OrganizationKind.LOCAL_AUTHORITY, department="59"),
        "client": make.organization("CHU de Bordeaux", OrganizationKind.HOSPITAL, department="33"),
    }
    make.membership(convention, orgs["pfra"], Tier.FOUNDING_PARTNER)
    make.membership(convention, orgs["ugap"], Tier.FOUNDING_PARTNER)
    make.membership(convention, orgs["region"], Tier.ASSOCIATED_MEMBER)
    users = {
        "admin": make.user(Role.ADMIN),
        "pfra": make.user(Role.PFRA_AGENT, organization=orgs["pfra"]),
        "pfra2": make.user(Role.PFRA_AGENT, organization=orgs["pfra"]),
        "ugap": make.user(Role.UGAP_AGENT, organization=orgs["ugap"]),
        "buyer": make.user(Role.BUYER, organization=orgs["region"]),
        "other_buyer": make.user(Role.BUYER, organization=orgs["state"]),
    }
    at = paris_datetime(year, 2, 10)
    needs = []
    for org, title in ((orgs["region"], "Accueil des usagers"), (orgs["state"], "Gestion des courriers")):
        need = Need(cycle=cycle, organization=org, status="accepted", title=title, problem="Problème",
                    created_at=at, updated_at=at, submitted_at=at)
        db.session.add(need)
        needs.append(need)
    db.session.commit()
    meeting = Meeting(cycle_id=cycle.id, title="Comité", scheduled_at=paris_datetime(year, 7, 1), status="closed",
                      created_at=at)
    db.session.add(meeting)
    db.session.commit()
    companies = companies or [company(make, "Alpha SAS", SIRETS[0], "micro"),
                              company(make, "Beta SA", SIRETS[1], "pme", "62"),
                              company(make, "Gamma", SIRETS[2], "ge", "75")]
    users["company"] = make.user(Role.COMPANY, organization=companies[0].organization)
    users["other_company"] = make.user(Role.COMPANY, organization=companies[2].organization)
    selected = [answer(make, cycle, companies[0], "selected", meeting, [needs[0]], name="Borne d'accueil", named=True),
                answer(make, cycle, companies[1], "selected", meeting, [needs[1]], name="Tri intelligent")]
    not_selected = answer(make, cycle, companies[2], "not_selected", meeting, name="Écarté")
    return World(cycle=cycle, convention=convention, users=users, orgs=orgs, companies=companies,
                 selected=selected, not_selected=not_selected, needs=needs, meeting=meeting)


def unreviewed_selected_answer(make, cycle) -> Application:
    """A selected solution that no commitment mentions yet: the census's reminders have someone to remind."""
    meeting = Meeting(cycle_id=cycle.id, title="Comité", scheduled_at=paris_datetime(cycle.year, 7, 1),
                      status="closed", created_at=paris_datetime(cycle.year, 6, 1))
    db.session.add(meeting)
    db.session.commit()
    supplier = company(make, "Delta SAS", SIRETS[4])
    return answer(make, cycle, supplier, "selected", meeting, name="Solution à examiner")
