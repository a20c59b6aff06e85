"""The one authorization policy: `can(user, action, target)`.

Views ask it through `requires`/`ensure`, templates through the `can` global, so a button is hidden exactly
when its view would refuse. Rules are composable predicates (pretalx's idea, without Django): role and state
together make a permission.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from typing import Any, TypeVar

from flask import abort, current_app
from flask_login import current_user

from innovation_cycle.models import Role

Predicate = Callable[[Any, Any], bool]
# Issue 7: from this stage on, the eligible answers (and accepted needs) are read beyond the committee.
SELECTION_ONWARD = ("selection", "commitment_census", "results_communication", "closed")
REVIEWED_STATUSES = ("eligible", "selected", "not_selected")
F = TypeVar("F", bound=Callable[..., Any])


class Rule:
    """A named predicate on (user, target); `&`, `|` and `~` compose rules into new ones.

    The composed rules call module-level functions (`_both`, `_either`, `_negation`) bound with `partial`
    rather than closures: what decides is then code that runs at each request, not a lambda frozen when the
    module was imported (mutation testing, issue 9, can only try changes to code that runs per request)."""

    def __init__(self, fn: Predicate, name: str):
        self.fn = fn
        self.name = name  # what a failing matrix test and a debugger show; decides nothing

    def __call__(self, user: Any, target: Any = None) -> bool:
        return bool(self.fn(user, target))

    def __and__(self, other: Rule) -> Rule:
        return Rule(partial(_both, self, other), f"({self.name} & {other.name})")

    def __or__(self, other: Rule) -> Rule:
        return Rule(partial(_either, self, other), f"({self.name} | {other.name})")

    def __invert__(self) -> Rule:
        return Rule(partial(_negation, self), f"~{self.name}")


def _both(first: Rule, second: Rule, user: Any, target: Any) -> bool:
    return first(user, target) and second(user, target)


def _either(first: Rule, second: Rule, user: Any, target: Any) -> bool:
    return first(user, target) or second(user, target)


def _negation(rule: Rule, user: Any, target: Any) -> bool:
    return not rule(user, target)


def _authenticated(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False))


anyone = Rule(lambda u, t: True, "anyone")
anonymous = Rule(lambda u, t: not _authenticated(u), "anonymous")
authenticated = Rule(lambda u, t: _authenticated(u), "authenticated")


def _has_role(roles: tuple[Role, ...], user: Any, target: Any) -> bool:
    return _authenticated(user) and user.has_role(*roles)


def has_role(*roles: Role) -> Rule:
    return Rule(partial(_has_role, roles), "has_role(" + ",".join(roles) + ")")


def _same_organization(user: Any, target: Any) -> bool:
    """The target belongs to the user's organization (the target is the organization, or points to it)."""
    if not _authenticated(user) or target is None or user.organization_id is None:
        return False
    from innovation_cycle.models import Organization

    org_id = target.id if isinstance(target, Organization) else getattr(target, "organization_id", None)
    return org_id == user.organization_id


is_admin = has_role(Role.ADMIN)
same_organization = Rule(_same_organization, "same_organization")
demo_mode = Rule(lambda u, t: bool(current_app.config.get("DEMO_MODE")), "demo_mode")

POLICY: dict[str, Rule] = {
    # Public pages.
    "public.view": anyone,
    "account.login": anyone,
    "account.signup": anonymous,
    # Every logged-in user.
    "dashboard.view": authenticated,
    "account.logout": authenticated,
    # Organization scoping: a buyer sees its own organization's private records only.
    "organization.view": is_admin | same_organization,
    # The observatory's secretariat.
    "admin.access": is_admin,
    "convention.manage": is_admin,
    "organization.manage": is_admin,
    "user.manage": is_admin,
    "cycle.view": is_admin,
    "cycle.manage": is_admin,
    "cycle.move": is_admin,
    "audit.view": is_admin,
    "outbox.view": is_admin,
    "clock.move": is_admin & demo_mode,
    # Accounts: pages reached from an emailed link (the token is the credential), and "Mon compte".
    "account.reset_password": anyone,
    "account.accept_invitation": anyone,
    "account.confirm_email": anyone,
    "account.resend_confirmation": anyone,
    "account.profile": authenticated,
}


# --- Issue 3, area C: the AMI, listings and exports, attachments ------------------------------------------


def _listing_reader(user: Any, target: Any) -> bool:
    """Admins, PFRA agents, and committee members (of that cycle, when the target names one)."""
    if not _authenticated(user):
        return False
    if user.has_role(Role.ADMIN, Role.PFRA_AGENT):
        return True
    if not user.has_role(Role.COMMITTEE_MEMBER):
        return False
    from innovation_cycle.models import Cycle

    cycle = target if isinstance(target, Cycle) else getattr(target, "cycle", None)
    return cycle is None or any(m.user_id == user.id for m in cycle.committee)


def _attachment_check(need_action: str, application_action: str, ami_rule: Rule, user: Any,
                      attachment: Any) -> bool:
    """An attachment is seen (or removed) by whoever may see (or edit) the record that owns it: the owner
    area's rule decides (every action named here is in POLICY; `can` says so at once otherwise)."""
    if attachment is None:
        return False
    if attachment.need is not None:
        return can(user, need_action, attachment.need)
    if attachment.application is not None:
        return can(user, application_action, attachment.application)
    return attachment.ami is not None and ami_rule(user, attachment.ami)


def _ami_published(user: Any, ami: Any) -> bool:
    from innovation_cycle.services import ami as ami_service

    return ami is not None and ami_service.is_open(ami.cycle)


listing_reader = Rule(_listing_reader, "listing_reader")
ami_open = Rule(_ami_published, "ami_open")

POLICY.update({
    "ami.view": anyone,  # the public page; it says itself whether the AMI is open
    "ami.manage": is_admin,
    "listing.view": listing_reader,
    "listing.export": listing_reader,
    # The answers listing shows its reader only answers they may open (no drafts; a member's conflicts left
    # out by the query), so its links are decided once per page with this, not with `application.view` per
    # row (which reads each answer's committee, targets and conflicts). A test holds the two together.
    "listing.open_answers": listing_reader,
    # The needs listing shows no draft, and the secretariat and the PFRA open every need but drafts: their
    # pages decide the links once; other readers' rows are asked `need.view` one by one. A test holds it.
    "listing.open_needs": has_role(Role.ADMIN, Role.PFRA_AGENT),
    "storage.view": is_admin,
    # The public may read the AMI's rules document while the AMI is open; the staff always.
    "attachment.view": Rule(partial(_attachment_check, "need.view", "application.view", ami_open | listing_reader),
                            "attachment.view"),
    "attachment.delete": Rule(partial(_attachment_check, "need.edit", "application.edit", is_admin),
                              "attachment.delete"),
})


# --- Issue 3, area A: innovation needs ------------------------------------------------------------------


def _need_visible(user: Any, need: Any) -> bool:
    """Drafts stay private to the buyer's organization; PFRA agents and admins see a need once submitted.
    Without a target (the route's guard), the roles that have a needs page pass."""
    if not _authenticated(user):
        return False
    if need is None:
        return user.has_role(Role.BUYER, Role.PFRA_AGENT, Role.ADMIN, Role.UGAP_AGENT)
    if user.has_role(Role.BUYER) and _same_organization(user, need):
        return True
    if user.has_role(Role.UGAP_AGENT) and need.status == "accepted" and need.cycle.state in SELECTION_ONWARD:
        return True  # issue 7: from the selection stage, UGAP reads the accepted needs
    return need.status != "draft" and user.has_role(Role.PFRA_AGENT, Role.ADMIN)


def _own_need(user: Any, need: Any) -> bool:
    """A buyer acts on its organization's needs only (the state is checked by the workflow, which says why)."""
    if not (_authenticated(user) and user.has_role(Role.BUYER) and user.organization_id is not None):
        return False
    return need is None or _same_organization(user, need)


def _need_editable(user: Any, need: Any) -> bool:
    from workflows.need import EDITABLE

    return _own_need(user, need) and (need is None or need.status in EDITABLE)


def _qualifier(user: Any, need: Any) -> bool:
    return (_authenticated(user) and user.has_role(Role.PFRA_AGENT, Role.ADMIN)
            and (need is None or need.status != "draft"))


POLICY.update({
    "need.list": Rule(_need_visible, "need_list"),
    "need.view": Rule(_need_visible, "need_visible"),
    "need.create": Rule(_own_need, "own_need"),
    "need.edit": Rule(_need_editable, "need_editable"),
    "need.submit": Rule(_own_need, "own_need"),
    "need.delete": Rule(_own_need, "own_need"),
    "need.qualify": Rule(_qualifier, "need_qualifier"),
    "theme.manage": is_admin,
})


# --- Issue 3, area B: companies and their answers to the AMI --------------------------------------------


is_company = has_role(Role.COMPANY)


def _represents(user: Any, target: Any) -> bool:
    """A company representative of the target's organization (a Company, an Application, a join request)."""
    if not (_authenticated(user) and user.has_role(Role.COMPANY)) or target is None:
        return False
    org_id = getattr(target, "organization_id", None)
    if org_id is None and getattr(target, "company", None) is not None:
        org_id = target.company.organization_id
    return org_id is not None and org_id == user.organization_id


def _application_staff(user: Any, application: Any) -> bool:
    """Admins, PFRA agents and the cycle's committee read submitted answers; drafts stay the company's."""
    if not _authenticated(user) or application is None or application.status == "draft":
        return False
    if user.has_role(Role.ADMIN, Role.PFRA_AGENT):
        return True
    return user.has_role(Role.COMMITTEE_MEMBER) and any(m.user_id == user.id for m in application.cycle.committee)


def _application_allows(name: str, user: Any, application: Any) -> bool:
    """The answer's state allows the company's change `name` now ("edit", or a trigger of its machine)."""
    from innovation_cycle.services import applications

    if application is None:
        return False
    if name == "edit":
        return applications.can_edit(application)
    return applications.can_fire(application, name)


def _screenable(user: Any, application: Any) -> bool:
    if application is None:
        return True  # the work queue and the form's route: the answer's state is checked by the service
    from innovation_cycle.services import applications

    return (applications.can_fire(application, "declare_eligible")
            or applications.can_fire(application, "declare_ineligible"))


represents = Rule(_represents, "represents")
application_staff = Rule(_application_staff, "application_staff")

POLICY.update({
    # The representative's own company: registering it, its page, joining one already registered.
    "company.home": is_company,
    "company.register": is_company,
    "company.join": is_company,
    "company.view": is_admin | represents,
    "company.edit": is_admin | represents,
    "company.join_decide": is_admin | represents,
    # Answers: a company sees only its own; the staff see them once submitted.
    "application.list_own": is_company,
    "application.create": is_company,
    "application.access": is_company | has_role(Role.ADMIN, Role.PFRA_AGENT, Role.COMMITTEE_MEMBER),
    "application.view": represents | application_staff,
    # The company's own answer: its pages may explain why a change is refused (deadline passed)...
    "application.manage": represents,
    # ...while these say whether the change is possible now (buttons, attachments' removal).
    "application.edit": represents & Rule(partial(_application_allows, "edit"), "application_editable"),
    "application.submit": represents & Rule(partial(_application_allows, "submit"), "application_submittable"),
    "application.withdraw": represents & Rule(partial(_application_allows, "withdraw"), "application_withdrawable"),
    "application.screen": is_admin & Rule(_screenable, "application_screenable"),
})


# --- Issue 4: notifications ------------------------------------------------------------------------------

POLICY.update({
    # The personal iCalendar feed: the secret token in the URL is the credential.
    "calendar.feed": anyone,
    "notifications.preferences": authenticated,
    # The AMI mailing list: subscribing, and the emailed confirmation and unsubscribe links.
    "mailing_list.subscribe": anyone,
    "outbox.retry": is_admin,
    "outbox.dispatch": is_admin,
})


# --- Issue 7: the selection stage — reviews, conflicts, partner tiers (items 2, 4, 5, 12) ----------------

# SELECTION_ONWARD and REVIEWED_STATUSES are defined at the top of the module (the needs rule uses them too).


def _cycle_of(target: Any) -> Any:
    from innovation_cycle.models import Cycle

    return target if isinstance(target, Cycle) else getattr(target, "cycle", None)


def _membership(user: Any, cycle: Any) -> Any:
    """The user's organization's membership of the cycle's convention (None: not a member)."""
    if not _authenticated(user) or cycle is None or user.organization_id is None:
        return None
    from innovation_cycle.extensions import db
    from innovation_cycle.models import ConventionMembership
    from innovation_cycle.services.reviews import request_cache

    cache_key = ("membership", user.organization_id, cycle.convention_id)
    cache = request_cache()
    if cache_key not in cache:
        cache[cache_key] = db.session.scalar(db.select(ConventionMembership).where(
            ConventionMembership.convention_id == cycle.convention_id,
            ConventionMembership.organization_id == user.organization_id))
    return cache[cache_key]


def _founding_partner_of_cycle(user: Any, target: Any) -> bool:
    """The user belongs to a founding partner (the State, UGAP) of the target's cycle's convention."""
    from innovation_cycle.models import Tier

    membership = _membership(user, _cycle_of(target))
    return membership is not None and membership.tier == Tier.FOUNDING_PARTNER


def _development_agency_of_cycle(user: Any, target: Any) -> bool:
    """An associated development agency (EuraTechnologies…): aggregate figures only, never companies' files."""
    from innovation_cycle.models import OrganizationKind, Tier

    membership = _membership(user, _cycle_of(target))
    return (membership is not None and membership.tier == Tier.ASSOCIATED_MEMBER
            and membership.organization.kind == OrganizationKind.DEVELOPMENT_AGENCY)


def _convention_member_of_cycle(user: Any, target: Any) -> bool:
    return _membership(user, _cycle_of(target)) is not None


def _committee_of_cycle(user: Any, target: Any) -> bool:
    """On the committee of the target's cycle (a Cycle, or a record with a `cycle`)."""
    cycle = _cycle_of(target)
    if not (_authenticated(user) and user.has_role(Role.COMMITTEE_MEMBER)) or cycle is None:
        return False
    return any(m.user_id == user.id for m in cycle.committee)


def _selection_reached(user: Any, target: Any) -> bool:
    cycle = _cycle_of(target)
    return cycle is not None and cycle.state in SELECTION_ONWARD


def _conflicted(user: Any, application: Any) -> bool:
    from innovation_cycle.services import reviews

    return application is not None and reviews.is_conflicted(user, application)


def _targets_own_need(user: Any, application: Any) -> bool:
    if not _authenticated(user) or application is None or user.organization_id is None:
        return False
    return any(t.need.organization_id == user.organization_id for t in application.targets)


def _reviewed_answer(user: Any, application: Any) -> bool:
    return application is not None and application.status in REVIEWED_STATUSES


def _assigned(user: Any, application: Any) -> bool:
    from innovation_cycle.services import reviews

    return reviews.is_assigned(user, application)


def _submitted_own(user: Any, application: Any) -> bool:
    from innovation_cycle.services import reviews

    return reviews.has_submitted(user, application)


founding_partner_of_cycle = Rule(_founding_partner_of_cycle, "founding_partner_of_cycle")
development_agency_of_cycle = Rule(_development_agency_of_cycle, "development_agency_of_cycle")
convention_member_of_cycle = Rule(_convention_member_of_cycle, "convention_member_of_cycle")
committee_of_cycle = Rule(_committee_of_cycle, "committee_of_cycle")
selection_reached = Rule(_selection_reached, "selection_reached")
conflicted = Rule(_conflicted, "conflicted")
targets_own_need = Rule(_targets_own_need, "targets_own_need")
reviewed_answer = Rule(_reviewed_answer, "reviewed_answer")
assigned_reviewer = Rule(_assigned, "assigned_reviewer")
submitted_own_review = Rule(_submitted_own, "submitted_own_review")

# Who reads an eligible answer from the selection stage on, besides the committee: UGAP and PFRA agents,
# the founding partners' people, and the buyers whose organization's need it targets — never an associated
# development agency (aggregates only), never a conflicted person.
eligible_answer_reader = (
    reviewed_answer & selection_reached & ~conflicted & ~development_agency_of_cycle
    & (has_role(Role.UGAP_AGENT, Role.PFRA_AGENT) | founding_partner_of_cycle
       | (has_role(Role.BUYER) & targets_own_need)))
# The ranking's readers (issue 7, item 6 joins its rule to these): admins, the cycle's committee, and the
# founding partners' people from the selection stage on.
ranking_reader = is_admin | committee_of_cycle | (founding_partner_of_cycle & selection_reached)

POLICY.update({
    # A conflicted committee member reads nothing of the company's answers (the views answer 404).
    "application.view": represents | (application_staff & ~conflicted) | eligible_answer_reader,
    "application.access": is_company | has_role(Role.ADMIN, Role.PFRA_AGENT, Role.UGAP_AGENT,
                                                Role.COMMITTEE_MEMBER, Role.BUYER),
    # The admin's grid, settings, conflicts and assignments.
    "grid.manage": is_admin,
    "assignment.manage": is_admin,
    "conflict.view": is_admin,
    # The member's and the buyer's pages (the list, the review form, the interest form).
    "review.index": has_role(Role.COMMITTEE_MEMBER, Role.BUYER),
    "review.member": has_role(Role.COMMITTEE_MEMBER),
    "review.page": has_role(Role.ADMIN, Role.COMMITTEE_MEMBER, Role.BUYER),
    "review.write": committee_of_cycle & assigned_reviewer & ~conflicted,
    # Others' reviews: after one's own is submitted (admins always); never for the company.
    "review.read_others": is_admin | (committee_of_cycle & ~conflicted & submitted_own_review),
    "conflict.declare": committee_of_cycle,
    "interest.give": has_role(Role.BUYER) & reviewed_answer & targets_own_need & ~conflicted,
    "interest.view": is_admin | (committee_of_cycle & ~conflicted) | (has_role(Role.BUYER) & targets_own_need),
    # Associated development agencies (and every convention member) see the cycle's aggregate figures.
    "selection.figures": is_admin | (convention_member_of_cycle & selection_reached),
    "selection.figures_access": authenticated,
})


# --- Issue 7, items 6-10: ranking, committee meetings, decisions, release ---------------------------------


def _on_cycle_committee(user: Any, target: Any) -> bool:
    """A committee member of the target's cycle (`committee_of_cycle`); without a target, any committee member
    (the route's guard; the view then asks again with the cycle)."""
    if target is None:
        return _authenticated(user) and user.has_role(Role.COMMITTEE_MEMBER)
    return _committee_of_cycle(user, target)


on_cycle_committee = Rule(_on_cycle_committee, "on_cycle_committee")


def _founding_partner_somewhere(user: Any, target: Any) -> bool:
    """The route's guard for the ranking: the user's organization is a founding partner of some convention
    (the view then asks `ranking.view` of the cycle, where the tier and the stage are checked)."""
    if not _authenticated(user) or user.organization_id is None:
        return False
    from sqlalchemy import select

    from innovation_cycle.extensions import db
    from innovation_cycle.models import ConventionMembership, Tier

    return db.session.scalar(select(ConventionMembership.id).where(
        ConventionMembership.organization_id == user.organization_id,
        ConventionMembership.tier == Tier.FOUNDING_PARTNER).limit(1)) is not None


founding_partner_somewhere = Rule(_founding_partner_somewhere, "founding_partner_somewhere")

POLICY.update({
    # The stage's entry page, and the ranking of a cycle (a committee member never sees the lines of the
    # companies they are conflicted with: services.ranking filters them in SQL).
    # Founding partners' people read the ranking from the selection stage on (issue 7, item 12).
    "selection.access": is_admin | on_cycle_committee | founding_partner_somewhere,
    "ranking.view": ranking_reader | on_cycle_committee,
    "ranking.export": ranking_reader | on_cycle_committee,
    # The committee's secretariat: meetings, attendance, decisions, minutes, release.
    "meeting.manage": is_admin,
    "decision.record": is_admin,
    "decision.release": is_admin,
})


# --- Issue 8: the purchase-commitment census and the cycle's results -------------------------------------


def _commitment_reader(user: Any, commitment: Any) -> bool:
    """The census's people: agents and admins read every commitment; a buyer its organization's; a company
    those about its own solutions (read-only). Without a target (the list's route), those roles pass."""
    if not _authenticated(user):
        return False
    if user.has_role(Role.ADMIN, Role.PFRA_AGENT, Role.UGAP_AGENT):
        return True
    if commitment is None:
        return user.has_role(Role.BUYER, Role.COMPANY) and user.organization_id is not None
    if user.has_role(Role.BUYER) and commitment.buyer_organization_id == user.organization_id:
        return True
    return user.has_role(Role.COMPANY) and commitment.company.organization_id == user.organization_id


def _commitment_editor(user: Any, commitment: Any) -> bool:
    if not _authenticated(user):
        return False
    if commitment is None:
        return user.has_role(Role.ADMIN, Role.PFRA_AGENT, Role.UGAP_AGENT) or (
            user.has_role(Role.BUYER) and user.organization_id is not None)
    from innovation_cycle.services import commitments

    return commitments.may_edit(user, commitment)


def _commitment_confirmer(user: Any, commitment: Any) -> bool:
    """A PFRA agent (or an admin) confirms a buyer's declaration, never one they recorded themselves."""
    if not (_authenticated(user) and user.has_role(Role.PFRA_AGENT, Role.ADMIN)):
        return False
    return commitment is None or (commitment.confirmed_at is None and commitment.recorded_by_id != user.id)


def _founding_partner_user(user: Any, cycle: Any) -> bool:
    """A user of a founding partner (the State's, UGAP's) of the cycle's convention: the tier predicate of the
    selection stage; without a cycle (the route's guard), anyone of an organization, the view asking again."""
    if not (_authenticated(user) and user.organization_id):
        return False
    return True if cycle is None else _founding_partner_of_cycle(user, cycle)


POLICY.update({
    "commitment.list": Rule(_commitment_reader, "commitment_reader"),
    "commitment.view": Rule(_commitment_reader, "commitment_reader"),
    "commitment.record": Rule(_commitment_editor, "commitment_editor"),
    "commitment.edit": Rule(_commitment_editor, "commitment_editor"),
    "commitment.confirm": Rule(_commitment_confirmer, "commitment_confirmer"),
    "commitment.add_client": has_role(Role.UGAP_AGENT, Role.ADMIN),
    "census.settings": is_admin,
    # The secretariat's reference data: the procedure thresholds and the PFRA's purchases per year.
    "procedure_threshold.manage": is_admin,
    "purchase_baseline.manage": is_admin,
    "results.public": anyone,
    # The company chooses whether it is named on the public results page (its own answers only).
    "results.name_consent": Rule(lambda u, t: is_company(u, t) if t is None else represents(u, t),
                                 "company_representative"),
    # A buyer carries its organization's accepted need without commitment into the next collection.
    "need.carry_over": Rule(_own_need, "own_need"),
    "results.manage": is_admin,
    "results.approve": Rule(_founding_partner_user, "founding_partner_user"),
    "results.preview": is_admin | Rule(_founding_partner_user, "founding_partner_user"),
})


def can(user: Any, action: str, target: Any = None) -> bool:
    try:
        rule = POLICY[action]
    except KeyError:
        raise LookupError(f"unknown action {action!r}: add it to authz.POLICY") from None
    return rule(user, target)


def ensure(action: str, target: Any = None) -> None:
    """Stop the request unless the current user may do `action` on `target`: anonymous users are sent to
    the login page, others get the 403 page."""
    if can(current_user, action, target):
        return
    if not _authenticated(current_user):
        abort(current_app.login_manager.unauthorized())
    abort(403)


def requires(action: str) -> Callable[[F], F]:
    """Guard a view with a target-less action. Views with a target load it (404), then call `ensure`.

    The action is kept on the view so a test can prove that every route goes through this mechanism."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            ensure(action)
            return view(*args, **kwargs)

        wrapped.required_action = action  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator
