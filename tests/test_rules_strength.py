"""Issue 9, item 12: behaviour tests that kill the mutants of the rules that the other tests let live.

mutmut (scripts/mutation.sh) mutated workflows/ and innovation_cycle/authz.py; each test here names the rule a
surviving mutant broke without any test noticing. The first is the one found by hand: the answer-view policy
granting any committee member, not only the members of that cycle's committee.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from innovation_cycle.authz import POLICY, Rule, can, has_role, is_admin, same_organization
from innovation_cycle.extensions import db
from innovation_cycle.models import Application, CommitteeMember, Company, OrganizationKind, Role
from workflows import application as application_flow
from workflows import cycle as cycle_flow
from workflows import need as need_flow
from workflows.base import Flow, MoveRefused, Refusal
from workflows.cycle import CycleFlow, MoveContext

NOW = datetime(2017, 4, 10, 8, tzinfo=UTC)


@pytest.fixture
def two_cycles(make):
    """Two cycles, each with its own committee member, and a submitted answer to the second one."""
    first = make.cycle(make.convention(2017), 2017, state="selection")
    second = make.cycle(make.convention(2020), 2020, state="selection")
    first_member = make.user(Role.COMMITTEE_MEMBER)
    second_member = make.user(Role.COMMITTEE_MEMBER)
    first.committee.append(CommitteeMember(user_id=first_member.id))
    second.committee.append(CommitteeMember(user_id=second_member.id))
    org = make.organization("Solutions SAS", OrganizationKind.COMPANY)
    author = make.user(Role.COMPANY, organization=org)
    company = Company(organization=org, created_at=second.created_at, updated_at=second.created_at)
    answer = Application(cycle=second, company=company, author=author, status="submitted", solution_name="S",
                         created_at=second.created_at, updated_at=second.created_at, submitted_at=second.created_at)
    db.session.add_all([company, answer])
    db.session.commit()
    return first_member, second_member, answer


def test_only_that_cycles_committee_reads_a_submitted_answer(app, two_cycles):
    first_member, second_member, answer = two_cycles
    assert can(second_member, "application.view", answer)
    assert not can(first_member, "application.view", answer)  # a committee member, of another cycle
    answer.status = "draft"
    assert not can(second_member, "application.view", answer)


def test_only_that_cycles_committee_reads_its_listings(app, two_cycles):
    first_member, second_member, answer = two_cycles
    assert can(second_member, "listing.view", answer.cycle)
    assert not can(first_member, "listing.view", answer.cycle)


# --- the policy's building blocks ------------------------------------------------------------------------


def test_composed_rules_name_what_they_combine():
    """The names are what a failing matrix test and a debugger show: they must read as the rule is built."""
    assert has_role(Role.ADMIN, Role.PFRA_AGENT).name == "has_role(admin,pfra_agent)"
    assert (is_admin | same_organization).name == "(has_role(admin) | same_organization)"
    assert (is_admin & same_organization).name == "(has_role(admin) & same_organization)"
    assert (~is_admin).name == "~has_role(admin)"
    assert Rule(lambda u, t: True, "named").name == "named"
    assert POLICY["clock.move"].name == "(has_role(admin) & demo_mode)"


def test_composed_rules_decide_as_their_parts():
    yes, no = Rule(lambda u, t: True, "yes"), Rule(lambda u, t: False, "no")
    assert [(a | b)(None) for a, b in ((yes, no), (no, yes), (no, no))] == [True, True, False]
    assert [(a & b)(None) for a, b in ((yes, yes), (yes, no), (no, yes))] == [True, False, False]
    assert (~no)(None) is True and (~yes)(None) is False
    assert Rule(lambda u, t: "truthy", "truthy")(None) is True
    # Each part is asked about the same user and the same target.
    user_is_u, target_is_t = Rule(lambda u, t: u == "u", "user_is_u"), Rule(lambda u, t: t == "t", "target_is_t")
    assert (user_is_u & target_is_t)("u", "t") and (target_is_t & user_is_u)("u", "t")
    assert (no | user_is_u)("u", "t") and (no | target_is_t)("u", "t") and (target_is_t | no)("u", "t")
    assert (~user_is_u)("v", "t") and not (~target_is_t)("u", "t")
    assert (~user_is_u)("v", "x") and not (~user_is_u)("u", "x") and (~target_is_t)("u", "x")


def test_a_role_rule_lets_in_the_roles_it_names_only(app, make):
    from flask_login import AnonymousUserMixin

    staff = has_role(Role.ADMIN, Role.PFRA_AGENT)
    assert staff(make.user(Role.PFRA_AGENT)) and staff(make.user(Role.ADMIN))
    assert not staff(make.user(Role.BUYER)) and not staff(AnonymousUserMixin())


def test_requires_guards_a_view_as_its_action_says(app, make):
    """A view under `requires` answers only to those the policy lets in: anonymous → login, others → 403."""
    from flask_login import login_user
    from werkzeug.exceptions import HTTPException

    from innovation_cycle.authz import requires

    def audit_page(year):
        return f"journal {year}"

    guarded = requires("audit.view")(audit_page)
    assert guarded.required_action == "audit.view" and guarded.__name__ == "audit_page"  # the endpoint's name
    with app.test_request_context("/journal"):
        with pytest.raises(HTTPException) as refused:
            guarded(2017)
        assert refused.value.response.status_code == 302  # to the login page
    with app.test_request_context("/journal"):
        login_user(make.user(Role.BUYER))
        with pytest.raises(HTTPException) as refused:
            guarded(2017)
        assert refused.value.code == 403
    with app.test_request_context("/journal"):
        login_user(make.user(Role.ADMIN))
        assert guarded(year=2017) == "journal 2017"


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(LookupError, match="add it to authz.POLICY"):
        can(None, "no.such.action")


# --- the workflows' shared parts and their diagrams --------------------------------------------------------


def test_a_refused_move_says_every_reason():
    exc = MoveRefused([Refusal("window_open"), Refusal("reason_required")])
    assert str(exc) == "window_open, reason_required"
    assert [r.code for r in exc.refusals] == ["window_open", "reason_required"]


def test_a_machine_has_no_automatic_to_state_triggers():
    machine = CycleFlow("draft", MoveContext(now=NOW))
    assert not hasattr(machine, "to_closed")


class _Door(Flow):
    """A machine of two states, to try the shared machinery with rules that misbehave."""

    STATES = ("closed", "open")
    TRANSITIONS = [{"trigger": "open_it", "source": "closed", "dest": "open"}]


def test_a_move_the_rules_forgot_is_still_refused_as_illegal_not_a_crash():
    door = _Door("open", None, lambda state, trigger, ctx: [])  # rules that let everything through
    with pytest.raises(MoveRefused) as refused:
        door.fire("open_it")
    assert refused.value.refusals == [Refusal("illegal_move", {"state": "open", "trigger": "open_it"})]
    assert door.state == "open"


def test_rules_that_change_their_mind_before_the_move_refuse_it_whole():
    answers = iter([[], [Refusal("window_open")]])  # yes when asked, no when the machine asks again
    door = _Door("closed", None, lambda state, trigger, ctx: next(answers))
    with pytest.raises(MoveRefused) as refused:
        door.fire("open_it")
    assert [r.code for r in refused.value.refusals] == ["guard_failed"]
    assert door.state == "closed"


def test_the_machine_itself_refuses_what_the_rules_refuse():
    """Its triggers are guarded by the same rules, so code that bypasses `fire` cannot move it either."""
    ctx = MoveContext(now=NOW, window_closes_at=NOW + timedelta(days=3))
    machine = CycleFlow("needs_collection", ctx)
    assert machine.trigger("advance") is False and machine.state == "needs_collection"
    ctx.window_closes_at = NOW
    assert machine.trigger("advance") is True and machine.state == "ami_sourcing"


def test_the_change_callback_hears_the_move():
    heard = []
    ctx = MoveContext(now=NOW, window_closes_at=NOW - timedelta(minutes=1))
    CycleFlow("needs_collection", ctx, on_change=lambda *move: heard.append(move)).fire("advance")
    assert heard == [("needs_collection", "advance", "ami_sourcing")]


def test_a_move_is_recorded_as_forced_only_when_the_force_bypassed_something():
    open_window = MoveContext(now=NOW, window_closes_at=NOW + timedelta(days=3), forced=True, reason="comité")
    assert cycle_flow.was_forced("needs_collection", "advance", open_window)
    assert not cycle_flow.was_forced("draft", "open", open_window)
    assert not cycle_flow.was_forced("ami_sourcing", cycle_flow.STEP_BACK, open_window)
    unforced = MoveContext(now=NOW, window_closes_at=NOW + timedelta(days=3), forced=False, reason="comité")
    assert not cycle_flow.was_forced("needs_collection", "advance", unforced)


@pytest.mark.parametrize(("module", "first", "last"), [
    (m, *ends) for m, ends in ((cycle_flow, ("draft", "closed")), (application_flow, (None, None)),
                               (need_flow, (None, None))) if hasattr(m, "mermaid")])
def test_the_diagrams_are_mermaid_state_diagrams(module, first, last):
    plain = module.mermaid().splitlines()
    assert plain[0] == "stateDiagram-v2"
    assert not any("classDef" in line for line in plain)
    if first:
        assert f"    [*] --> {first}" in plain and f"    {last} --> [*]" in plain
    highlighted = module.mermaid(module.STATES[1]).splitlines()
    assert highlighted[-2:] == ["    classDef current fill:#000091,color:#fff", f"    class {module.STATES[1]} current"]


# --- attachments: whoever may see (or change) the record that owns the file ------------------------------


def _file_of(need=None, application=None, ami=None):
    """What the attachment rules read of an attachment: the record it belongs to."""
    from types import SimpleNamespace

    return SimpleNamespace(need=need, application=application, ami=ami)


def test_a_needs_attachment_follows_the_need(app, make):
    cycle = make.cycle(state="needs_collection")
    town = make.organization("Ville de Lille")
    buyer, stranger = make.user(Role.BUYER, organization=town), make.user(Role.BUYER, organization=make.organization())
    agent, admin = make.user(Role.PFRA_AGENT), make.user(Role.ADMIN)
    draft = _file_of(need=make.need(cycle, organization=town, status="draft"))
    assert can(buyer, "attachment.view", draft) and can(buyer, "attachment.delete", draft)
    assert not can(stranger, "attachment.view", draft) and not can(stranger, "attachment.delete", draft)
    assert not can(agent, "attachment.view", draft) and not can(admin, "attachment.view", draft)  # a draft is private
    submitted = _file_of(need=make.need(cycle, organization=town, status="submitted"))
    assert can(agent, "attachment.view", submitted) and can(admin, "attachment.view", submitted)
    assert not can(buyer, "attachment.delete", submitted)  # no longer editable
    assert not can(admin, "attachment.delete", submitted) and not can(agent, "attachment.delete", submitted)
    assert not can(buyer, "attachment.view", None) and not can(admin, "attachment.delete", None)


def test_an_answers_attachment_follows_the_answer(app, make, two_cycles):
    _first_member, second_member, answer = two_cycles
    answer.cycle.state = "ami_sourcing"
    author, admin = answer.author, make.user(Role.ADMIN)
    rival = make.user(Role.COMPANY, organization=make.organization("Rivale SAS", OrganizationKind.COMPANY))
    attached = _file_of(application=answer)
    assert can(author, "attachment.view", attached) and can(admin, "attachment.view", attached)
    assert can(second_member, "attachment.view", attached)
    assert not can(rival, "attachment.view", attached)
    assert not can(admin, "attachment.delete", attached) and not can(rival, "attachment.delete", attached)
    answer.status = "draft"  # the company's own draft, the AMI open: its files may be removed
    assert can(author, "attachment.delete", attached) and not can(admin, "attachment.view", attached)
    answer.cycle.state = "selection"  # after the deadline, nothing changes any more
    assert not can(author, "attachment.delete", attached)


def test_the_amis_rules_document_is_public_while_the_ami_is_open(app, make):
    from types import SimpleNamespace

    from flask_login import AnonymousUserMixin

    cycle = make.cycle(state="needs_collection")
    rules = _file_of(ami=SimpleNamespace(cycle=cycle))
    anonymous_user, agent, admin = AnonymousUserMixin(), make.user(Role.PFRA_AGENT), make.user(Role.ADMIN)
    assert not can(anonymous_user, "attachment.view", rules) and can(agent, "attachment.view", rules)
    cycle.state = "ami_sourcing"
    assert can(anonymous_user, "attachment.view", rules)
    assert can(admin, "attachment.delete", rules) and not can(agent, "attachment.delete", rules)
    assert not can(admin, "attachment.view", _file_of())  # a file that belongs to nothing is nobody's


# --- the company's own answer, the committee's reviews --------------------------------------------------


def test_the_company_submits_and_withdraws_its_answer_only_while_the_ami_is_open(app, make, two_cycles):
    _first_member, _second_member, answer = two_cycles
    author = answer.author
    rival = make.user(Role.COMPANY, organization=make.organization("Rivale SAS", OrganizationKind.COMPANY))
    answer.cycle.state, answer.status = "ami_sourcing", "draft"
    assert can(author, "application.submit", answer) and can(author, "application.withdraw", answer)
    assert not can(rival, "application.submit", answer) and not can(rival, "application.withdraw", answer)
    answer.status = "submitted"  # submitted: it may be withdrawn, not submitted again
    assert can(author, "application.withdraw", answer) and not can(author, "application.submit", answer)
    answer.cycle.state = "selection"  # the deadline has passed
    assert not can(author, "application.withdraw", answer) and not can(author, "application.edit", answer)


def test_a_member_reads_the_others_reviews_once_their_own_is_submitted(app, make, two_cycles):
    from innovation_cycle.models import Review

    _first_member, member, answer = two_cycles
    review = Review(cycle_id=answer.cycle_id, application_id=answer.id, reviewer_id=member.id, status="draft",
                    created_at=answer.created_at, updated_at=answer.created_at)
    db.session.add(review)
    db.session.commit()
    assert not can(member, "review.read_others", answer)
    review.status, review.submitted_at, review.recommendation = "submitted", answer.created_at, "select"
    db.session.commit()
    assert can(member, "review.read_others", answer)


# --- the census: who reads, changes and confirms a commitment --------------------------------------------


def test_who_reads_changes_and_confirms_a_commitment(app, make):
    from types import SimpleNamespace

    from flask_login import AnonymousUserMixin

    town, maker = make.organization("Ville de Lille"), make.organization("Solutions SAS", OrganizationKind.COMPANY)
    buyer, company = make.user(Role.BUYER, organization=town), make.user(Role.COMPANY, organization=maker)
    stranger = make.user(Role.BUYER, organization=make.organization("Ville d'Arras"))
    rival = make.user(Role.COMPANY, organization=make.organization("Rivale SAS", OrganizationKind.COMPANY))
    agent, ugap, admin = make.user(Role.PFRA_AGENT), make.user(Role.UGAP_AGENT), make.user(Role.ADMIN)
    member, lone_buyer, anonymous_user = make.user(Role.COMMITTEE_MEMBER), make.user(Role.BUYER), AnonymousUserMixin()
    people = {"buyer": buyer, "company": company, "stranger": stranger, "rival": rival, "agent": agent,
              "ugap": ugap, "admin": admin, "member": member, "lone_buyer": lone_buyer, "anonymous": anonymous_user}
    declared = SimpleNamespace(buyer_organization_id=town.id, company=SimpleNamespace(organization_id=maker.id),
                               channel="pfra_regional", declared_by_buyer=True, confirmed_at=None,
                               recorded_by_id=buyer.id)

    def who(action, target=None):
        return {name for name, user in people.items() if can(user, action, target)}

    assert who("commitment.list") == {"buyer", "company", "stranger", "rival", "agent", "ugap", "admin"}
    assert who("commitment.view", declared) == {"buyer", "company", "agent", "ugap", "admin"}
    assert who("commitment.record") == {"buyer", "stranger", "agent", "ugap", "admin"}
    assert who("commitment.edit", declared) == {"buyer", "agent", "admin"}
    assert who("commitment.confirm") == {"agent", "admin"}
    assert who("commitment.confirm", declared) == {"agent", "admin"}
    declared.recorded_by_id = agent.id  # never one's own record
    assert who("commitment.confirm", declared) == {"admin"}
    declared.confirmed_at = NOW  # confirmed once
    assert who("commitment.confirm", declared) == set()


def _state_and_agency(make, convention):
    """The prefecture as the convention's founding partner, EuraTechnologies as an associated member."""
    from innovation_cycle.models import ConventionMembership, Tier

    state_org, agency_org = make.organization("Préfecture de région"), make.organization("EuraTechnologies")
    db.session.add_all([ConventionMembership(convention=convention, organization=state_org,
                                             tier=Tier.FOUNDING_PARTNER),
                        ConventionMembership(convention=convention, organization=agency_org,
                                             tier=Tier.ASSOCIATED_MEMBER)])
    db.session.commit()
    return state_org, agency_org


def test_the_founding_partners_people_approve_the_bilan(app, make):
    convention = make.convention(2017)
    cycle = make.cycle(convention, 2017, state="results_communication")
    state_org, agency_org = _state_and_agency(make, convention)
    partner, agency = make.user(Role.PFRA_AGENT, organization=state_org), make.user(Role.BUYER, organization=agency_org)
    outsider, lone = make.user(Role.BUYER, organization=make.organization()), make.user(Role.ADMIN)
    assert can(partner, "results.approve", cycle) and can(partner, "results.preview", cycle)
    assert not can(agency, "results.approve", cycle) and not can(outsider, "results.approve", cycle)
    assert can(outsider, "results.approve") and not can(lone, "results.approve")  # the route's guard: an organization


# --- needs: who sees, changes and qualifies a buyer's need -----------------------------------------------


def test_who_sees_changes_and_qualifies_a_need(app, make):
    from flask_login import AnonymousUserMixin

    cycle = make.cycle(state="needs_collection")
    town = make.organization("Ville de Lille")
    people = {
        "buyer": make.user(Role.BUYER, organization=town),
        "stranger": make.user(Role.BUYER, organization=make.organization("Ville d'Arras")),
        "lone_buyer": make.user(Role.BUYER),
        "agent": make.user(Role.PFRA_AGENT), "admin": make.user(Role.ADMIN), "ugap": make.user(Role.UGAP_AGENT),
        "company": make.user(Role.COMPANY, organization=make.organization("S SAS", OrganizationKind.COMPANY)),
        "member": make.user(Role.COMMITTEE_MEMBER), "anonymous": AnonymousUserMixin(),
    }
    need = make.need(cycle, organization=town, status="draft")

    def who(action, target=None):
        return {name for name, user in people.items() if can(user, action, target)}

    assert who("need.list") == {"buyer", "stranger", "lone_buyer", "agent", "admin", "ugap"}
    assert who("need.create") == {"buyer", "stranger"}  # a buyer of an organization
    assert who("need.view", need) == {"buyer"} and who("need.edit", need) == {"buyer"}
    assert who("need.qualify", need) == set() and who("need.qualify") == {"agent", "admin"}
    need.status = "returned"
    assert who("need.edit", need) == {"buyer"}
    need.status = "submitted"
    assert who("need.view", need) == {"buyer", "agent", "admin"} and who("need.edit", need) == set()
    assert who("need.qualify", need) == {"agent", "admin"} and who("need.submit", need) == {"buyer"}
    need.status = "accepted"  # UGAP reads the accepted needs from the selection stage on
    assert "ugap" not in who("need.view", need)
    cycle.state = "selection"
    assert who("need.view", need) == {"buyer", "agent", "admin", "ugap"}
    need.status = "rejected"
    assert "ugap" not in who("need.view", need)


def test_an_admin_screens_a_submitted_answer_during_the_ami_and_the_selection(app, make, two_cycles):
    _first_member, member, answer = two_cycles
    admin = make.user(Role.ADMIN)
    assert can(admin, "application.screen") and not can(member, "application.screen")
    for status, cycle_state, allowed in (("submitted", "ami_sourcing", True), ("eligible", "selection", True),
                                         ("ineligible", "selection", True), ("draft", "ami_sourcing", False),
                                         ("withdrawn", "selection", False), ("submitted", "commitment_census", False)):
        answer.status, answer.cycle.state = status, cycle_state
        assert can(admin, "application.screen", answer) is allowed, (status, cycle_state)


def test_the_selection_stage_opens_to_the_founding_partners_people(app, make):
    convention = make.convention(2017)
    state_org, agency_org = _state_and_agency(make, convention)
    assert can(make.user(Role.BUYER, organization=state_org), "selection.access")
    assert not can(make.user(Role.BUYER, organization=agency_org), "selection.access")
    assert not can(make.user(Role.BUYER), "selection.access")  # no organization
    assert can(make.user(Role.COMMITTEE_MEMBER), "selection.access")  # the route's guard; the view asks again


# --- the selection stage's building blocks, asked directly -----------------------------------------------
# The matrix asks them only inside compositions (`reviewed_answer & selection_reached & …`), where another part
# already refuses; asked alone, each one must refuse on its own.


def _person(organization_id=None, user_id=None, roles=()):
    """A logged-in person the predicates can ask about (role, organization, id), without a row."""
    from types import SimpleNamespace

    return SimpleNamespace(is_authenticated=True, id=user_id, organization_id=organization_id,
                           has_role=lambda *asked: any(r in roles for r in asked))


def test_same_organization_needs_an_organization_on_both_sides(app, make):
    from types import SimpleNamespace

    from flask_login import AnonymousUserMixin

    org = make.organization("Mairie de Lille")
    assert same_organization(make.user(Role.BUYER, organization=org), org)
    assert not same_organization(AnonymousUserMixin(), org)
    # Two records with no organization are not « the same organization ».
    assert not same_organization(_person(organization_id=None), SimpleNamespace(organization_id=None))
    # A record tied to no organization at all belongs to nobody's (and does not crash the check).
    assert not same_organization(_person(organization_id=org.id), SimpleNamespace())


def test_committee_of_cycle_needs_both_the_role_and_the_seat(app, two_cycles):
    from flask_login import AnonymousUserMixin

    from innovation_cycle.authz import committee_of_cycle

    first_member, second_member, answer = two_cycles
    assert committee_of_cycle(second_member, answer) and not committee_of_cycle(first_member, answer)
    assert not committee_of_cycle(AnonymousUserMixin(), answer)
    # Still seated on the committee, but the committee-member role was withdrawn: no longer a member.
    assert not committee_of_cycle(_person(user_id=second_member.id, roles=()), answer)
    assert committee_of_cycle(_person(user_id=second_member.id, roles=(Role.COMMITTEE_MEMBER,)), answer)


def test_the_selection_stage_and_the_screened_answer_are_read_not_assumed(app, two_cycles):
    from types import SimpleNamespace

    from innovation_cycle.authz import reviewed_answer, selection_reached

    _, member, answer = two_cycles
    assert selection_reached(member, answer)
    assert not selection_reached(member, SimpleNamespace(cycle=SimpleNamespace(state="ami_sourcing")))
    assert not selection_reached(member, None)
    assert not reviewed_answer(member, answer)  # submitted, not yet declared eligible
    answer.status = "eligible"
    assert reviewed_answer(member, answer) and not reviewed_answer(member, None)


def test_targets_own_need_compares_real_organizations(app):
    from types import SimpleNamespace

    from flask_login import AnonymousUserMixin

    from innovation_cycle.authz import targets_own_need

    answer = SimpleNamespace(targets=[SimpleNamespace(need=SimpleNamespace(organization_id=7))])
    assert targets_own_need(_person(organization_id=7), answer)
    assert not targets_own_need(_person(organization_id=8), answer)
    assert not targets_own_need(AnonymousUserMixin(), answer)
    # A person without an organization does not own a need that has none either.
    orphan = SimpleNamespace(targets=[SimpleNamespace(need=SimpleNamespace(organization_id=None))])
    assert not targets_own_need(_person(organization_id=None), orphan)


def test_represents_and_application_staff_refuse_alone(app, make, two_cycles):
    from types import SimpleNamespace

    from flask_login import AnonymousUserMixin

    from innovation_cycle.authz import application_staff, represents

    _, member, answer = two_cycles
    assert represents(answer.author, answer)
    # Same organization as the answer, but not a company representative (a buyer of that organization).
    assert not represents(_person(organization_id=answer.company.organization_id), answer)
    assert not represents(_person(organization_id=7), SimpleNamespace(organization_id=7))
    assert not represents(AnonymousUserMixin(), answer)
    assert application_staff(member, answer)
    assert not application_staff(AnonymousUserMixin(), answer)
    assert not application_staff(make.user(Role.ADMIN), None)


def test_conflicted_and_on_cycle_committee_ask_about_that_person_and_that_answer(app, two_cycles):
    from innovation_cycle.authz import conflicted, on_cycle_committee
    from innovation_cycle.models import Conflict

    first_member, second_member, answer = two_cycles
    # With a cycle, only that cycle's committee; without one, the route's guard lets any member through.
    assert on_cycle_committee(second_member, answer.cycle) and on_cycle_committee(second_member, answer)
    assert not on_cycle_committee(first_member, answer.cycle)
    assert on_cycle_committee(first_member, None)
    assert not conflicted(second_member, answer)
    db.session.add(Conflict(cycle_id=answer.cycle_id, user_id=second_member.id, company_id=answer.company_id,
                            source="declared", reason="Ancien associé", created_at=NOW))
    db.session.commit()
    assert conflicted(second_member, answer)
    assert not conflicted(first_member, answer) and not conflicted(second_member, None)


def test_a_record_tied_to_no_company_is_nobodys_answer(app, make):
    from types import SimpleNamespace

    from innovation_cycle.authz import represents

    representative = make.user(Role.COMPANY, organization=make.organization("Solutions SAS", OrganizationKind.COMPANY))
    assert not represents(representative, SimpleNamespace())  # neither an organization nor a company: no crash


def test_convention_membership_is_asked_per_person_and_per_convention(app, make):
    """The membership is cached for the request: the cache must tell conventions (and people) apart."""
    from flask_login import AnonymousUserMixin

    from innovation_cycle.authz import convention_member_of_cycle, founding_partner_of_cycle
    from innovation_cycle.models import ConventionMembership, Tier

    member_cycle = make.cycle(make.convention(2017), 2017, state="selection")
    other_cycle = make.cycle(make.convention(2020), 2020, state="selection")
    state_org = make.organization("Préfecture de région")
    db.session.add(ConventionMembership(convention=member_cycle.convention, organization=state_org,
                                        tier=Tier.FOUNDING_PARTNER))
    db.session.commit()
    partner = make.user(Role.BUYER, organization=state_org)
    with app.test_request_context("/"):
        assert founding_partner_of_cycle(partner, member_cycle)
        assert not founding_partner_of_cycle(partner, other_cycle)
        assert not convention_member_of_cycle(partner, other_cycle)
    assert not convention_member_of_cycle(AnonymousUserMixin(), member_cycle)
    assert not convention_member_of_cycle(partner, None)
    assert not convention_member_of_cycle(make.user(Role.BUYER), member_cycle)  # no organization


def test_the_listings_reader_reads_the_cycle_of_a_record(app, two_cycles):
    """Asked about a record of a cycle (an answer, an AMI's file) rather than the cycle, the rule still reads
    that cycle's committee: a member of another cycle's committee is refused."""
    first_member, second_member, answer = two_cycles
    assert can(second_member, "listing.view", answer)
    assert not can(first_member, "listing.view", answer)


def test_something_that_is_not_a_user_is_not_logged_in(app):
    """No `is_authenticated` at all (no user loaded, a stray value): refused, not crashed, not let in."""
    from innovation_cycle.authz import authenticated

    assert not authenticated(None, None) and not authenticated(object(), None)
