"""Who still has work in each stage: one small registry the notification engine asks.

Each area registers its own audience (needs: buyers with drafts; the AMI: companies with draft answers;
reviews: members with reviews left; the census will add its own), with what the reminder says and where the
work is done. Adding a stage touches its own area only; this module imports no area.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import select

from innovation_cycle.extensions import db
from innovation_cycle.models import Cycle, Role, User, UserRole
from workflows.cycle import STAGES

Audience = Callable[[Cycle], list[User]]

AUDIENCES: dict[str, Audience] = {}
# What the reminder says, and where the work is done (the first endpoint that exists; the dashboard else).
REMINDER_TEXTS: dict[str, Any] = {
    "results_communication": lazy_gettext("La période de communication des résultats se termine bientôt."),
}
WORK_ENDPOINTS: dict[str, tuple[str, ...]] = {}


def register_audience(stage: str, audience: Audience, *, text: Any = None,
                      endpoints: Iterable[str] | None = None) -> None:
    """Let an area say who still has work in `stage` (replaces the current audience), and optionally what the
    reminder says and the pages where the work is done."""
    if stage not in STAGES:
        raise ValueError(stage)
    AUDIENCES[stage] = audience
    if text is not None:
        REMINDER_TEXTS[stage] = text
    if endpoints is not None:
        WORK_ENDPOINTS[stage] = tuple(endpoints)


def audience_for(stage: str) -> Audience | None:
    return AUDIENCES.get(stage)


# Helpers for the areas' audiences.


def active_users() -> Any:
    return select(User).where(User.active.is_(True))


def having_role(*roles: Role) -> Any:
    return User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(roles)))


def ordered(query: Any) -> list[User]:
    return list(db.session.scalars(query.order_by(User.id)))


def purchase_agents(cycle: Cycle) -> list[User]:
    """PFRA and UGAP agents record the purchase commitments (provisional: the census area registers its own)."""
    return ordered(active_users().where(having_role(Role.PFRA_AGENT, Role.UGAP_AGENT)))


register_audience("commitment_census", purchase_agents, text=lazy_gettext(
    "Le recensement des engagements d'achat se termine bientôt. Enregistrez les engagements dont vous avez "
    "connaissance avant la clôture."), endpoints=("commitments.index",))
