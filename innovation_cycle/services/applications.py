"""Companies' answers to the AMI (applications): drafting, submitting, withdrawing, and eligibility screening.

Rules that depend on time and state come from workflows.application (pure); this module gathers what they
need from the database and the clock, writes the row and its audit event, and queues the mails, flushing
only: the view commits once. A move locks the answer's row (SELECT … FOR UPDATE on PostgreSQL) and rechecks
its state, so a double click or two tabs submit once and send one email.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from innovation_cycle import clock, formatting
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AmiCall,
    Application,
    ApplicationNeed,
    Company,
    Cycle,
    Need,
    Organization,
    Role,
    User,
)
from innovation_cycle.services import audit, mail, notifications
from innovation_cycle.services.companies import company_of, representatives
from innovation_cycle.services.cycles import state_label as cycle_state_label
from innovation_cycle.services.dashboard import TASK_SOURCES, Task
from innovation_cycle.services.directory import FieldError, Invalid
from innovation_cycle.services.locking import lock_row
from workflows import application as flow
from workflows.application import MoveContext
from workflows.base import MoveRefused, Refusal

# --- labels ---------------------------------------------------------------------------------------------

STATE_LABELS: dict[str, Any] = {
    "draft": lazy_gettext("Brouillon"),
    "submitted": lazy_gettext("Soumise"),
    "eligible": lazy_gettext("Éligible"),
    "ineligible": lazy_gettext("Non éligible"),
    "withdrawn": lazy_gettext("Retirée"),
    "selected": lazy_gettext("Retenue"),
    "not_selected": lazy_gettext("Non retenue"),
}
STATE_BADGES = {
    "draft": "fr-badge--new", "submitted": "fr-badge--info", "eligible": "fr-badge--success",
    "ineligible": "fr-badge--error", "withdrawn": "", "selected": "fr-badge--success",
    "not_selected": "fr-badge--warning",
}
INNOVATION_KIND_LABELS: dict[str, Any] = {
    "product": lazy_gettext("Produit ou service nouveau ou sensiblement amélioré"),
    "process": lazy_gettext("Procédé de production ou de construction"),
    "marketing": lazy_gettext("Méthode de commercialisation"),
    "organisation": lazy_gettext("Méthode organisationnelle"),
}
MARKET_STATUS_LABELS: dict[str, Any] = {
    "prototype": lazy_gettext("Prototype"),
    "pilot": lazy_gettext("Pilote ou expérimentation en cours"),
    "on_sale": lazy_gettext("Commercialisée"),
}
# Technology readiness levels, as the European Commission's scale states them.
TRL_LABELS: dict[int, Any] = {
    1: lazy_gettext("Principes de base observés et décrits"),
    2: lazy_gettext("Concept technologique ou application formulés"),
    3: lazy_gettext("Preuve expérimentale du concept"),
    4: lazy_gettext("Technologie validée en laboratoire"),
    5: lazy_gettext("Technologie validée en environnement représentatif"),
    6: lazy_gettext("Technologie démontrée en environnement représentatif"),
    7: lazy_gettext("Prototype démontré en environnement opérationnel"),
    8: lazy_gettext("Système complet et qualifié"),
    9: lazy_gettext("Système éprouvé en environnement opérationnel réel"),
}
TRL_NOT_APPLICABLE = "na"
# The fields a submitted answer must have, with their label for the messages.
REQUIRED_FOR_SUBMISSION: dict[str, Any] = {
    "solution_name": lazy_gettext("Nom de la solution"),
    "summary": lazy_gettext("Résumé"),
    "description": lazy_gettext("Description"),
    "innovation_kinds": lazy_gettext("Nature de l'innovation"),
    "novelty": lazy_gettext("Ce qui est nouveau"),
    "trl": lazy_gettext("Maturité technologique (TRL)"),
    "market_status": lazy_gettext("Stade de commercialisation"),
    "targets": lazy_gettext("Besoins visés"),
    "sworn_statement": lazy_gettext("Déclaration sur l'honneur"),
    "data_consent": lazy_gettext("Consentement au traitement des données"),
}
TEXT_FIELDS = ["solution_name", "summary", "description", "novelty", "evidence", "public_references",
               "pricing_model", "indicative_price", "team", "intellectual_property", "hosting_security",
               "accessibility", "impact"]
AUDITED_FIELDS = [*TEXT_FIELDS, "innovation_kinds", "trl", "trl_not_applicable", "market_status",
                  "sworn_statement", "data_consent"]


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


def trl_label(application: Application) -> str:
    if application.trl_not_applicable:
        return _("Non applicable (innovation non technologique)")
    if application.trl is None:
        return _("Non renseignée")
    return _("TRL %(level)s — %(label)s", level=application.trl, label=TRL_LABELS[application.trl])


def _when(value: datetime | None) -> str:
    return formatting.when(value, empty="…")


def refusal_message(refusal: Refusal) -> str:
    """The French sentence for a workflow refusal."""
    p = refusal.params
    messages: dict[str, Callable[[], str]] = {
        "illegal_move": lambda: _("Cette action n'est pas possible pour une réponse à l'état « %(state)s ».",
                                  state=state_label(p["state"])),
        "not_editable": lambda: _("Une réponse à l'état « %(state)s » ne se modifie plus.",
                                  state=state_label(p["state"])),
        "ami_closed": lambda: _("L'AMI est clos depuis le %(date)s (heure de Paris) : les réponses ne peuvent "
                                "plus être déposées, modifiées ni retirées.", date=_when(p.get("closes_at"))),
        "ami_not_open": lambda: _("L'AMI n'est pas encore ouvert : il ouvrira le %(date)s (heure de Paris).",
                                  date=_when(p.get("opens_at"))),
        "missing_fit": lambda: _("Expliquez en une phrase en quoi la solution répond à chaque besoin visé."),
        "missing": lambda: _("« %(field)s » est à renseigner avant de soumettre la réponse.",
                             field=str(REQUIRED_FOR_SUBMISSION.get(p["field"], p["field"]))),
        "need_unavailable": lambda: _("Le besoin « %(title)s » n'est plus ouvert aux réponses : retirez-le de "
                                      "votre réponse.", title=p["title"]),
        "screening_closed": lambda: _("L'éligibilité ne s'examine que pendant l'AMI et la sélection (le cycle est "
                                      "à l'étape « %(stage)s »).", stage=cycle_state_label(p["cycle_state"])),
        "screening_needs_reason": lambda: _("Indiquez le motif de la décision d'éligibilité."),
        "stale": lambda: _("La réponse a changé entre-temps (elle est maintenant « %(state)s »). Rechargez la page.",
                           state=state_label(p["state"])),
        "guard_failed": lambda: _("L'action a été refusée."),
    }
    make = messages.get(refusal.code)
    return make() if make else str(p.get("message", refusal.code))


# --- the AMI: which cycle, open or not ------------------------------------------------------------------


def ami_window(cycle: Cycle) -> tuple[datetime | None, datetime | None]:
    window = cycle.window("ami_sourcing")
    return (window.opens_at, window.closes_at) if window else (None, None)


def context(cycle: Cycle, *, incomplete: list[Refusal] | None = None, reason: str = "") -> MoveContext:
    opens_at, closes_at = ami_window(cycle)
    return MoveContext(now=clock.now(), cycle_state=cycle.state, ami_opens_at=opens_at, ami_closes_at=closes_at,
                       incomplete=list(incomplete or []), reason=reason or "")


def ami_is_open(cycle: Cycle | None) -> bool:
    return cycle is not None and context(cycle).ami_open


def ami_cycle() -> Cycle | None:
    """The cycle whose AMI companies answer now: the latest one in its AMI stage, else the latest one that
    has passed it (to say when it closed), else the next one to come (to say when it opens)."""
    running = db.session.scalar(select(Cycle).where(Cycle.state == "ami_sourcing")
                                .order_by(Cycle.year.desc(), Cycle.id.desc()).limit(1))
    if running is not None:
        return running
    upcoming = db.session.scalar(select(Cycle).where(Cycle.state.in_(flow.BEFORE_AMI))
                                 .order_by(Cycle.year.desc(), Cycle.id.desc()).limit(1))
    past = db.session.scalar(select(Cycle).where(Cycle.state.not_in([*flow.BEFORE_AMI, "ami_sourcing"]))
                             .order_by(Cycle.year.desc(), Cycle.id.desc()).limit(1))
    if past is not None and (upcoming is None or past.year >= upcoming.year):
        return past
    return upcoming


def ami_title(cycle: Cycle) -> str:
    title = db.session.scalar(select(AmiCall.title).where(AmiCall.cycle_id == cycle.id))
    return title or _("Appel à manifestation d'intérêt %(year)s", year=cycle.year)


def edit_refusals(application: Application) -> list[Refusal]:
    return flow.edit_refusals(application.status, context(application.cycle))


def can_edit(application: Application) -> bool:
    return not edit_refusals(application)


def can_fire(application: Application, trigger: str) -> bool:
    """Whether the button may be offered (completeness aside: the submit page says what is missing)."""
    ctx = context(application.cycle, reason="x")
    return not flow.refusals(application.status, trigger, ctx)


# --- needs an answer may target --------------------------------------------------------------------------


def accepted_needs(cycle: Cycle) -> list[Need]:
    """The needs published in the cycle's AMI, with what the form shows of them loaded in a few queries."""
    return list(db.session.scalars(
        select(Need).where(Need.cycle_id == cycle.id, Need.status == "accepted")
        .options(selectinload(Need.organization), selectinload(Need.themes))
        .order_by(Need.title, Need.id)))


def open_need(need_id: int | None) -> Need | None:
    """An accepted need of a cycle whose AMI is open (to pre-select it on the new-answer page), or None."""
    if not need_id:
        return None
    need = db.session.get(Need, need_id)
    if need is None or need.status != "accepted" or not ami_is_open(need.cycle):
        return None
    return need


def buyer_label(need: Need) -> str:
    return need.public_buyer_name or _("un acheteur public de la région")


# --- writing answers --------------------------------------------------------------------------------------


@dataclass
class ApplicationData:
    """What the form sends, cleaned; targets are (need id, the sentence on the fit)."""

    solution_name: str
    summary: str | None = None
    description: str | None = None
    innovation_kinds: list[str] = field(default_factory=list)
    novelty: str | None = None
    evidence: str | None = None
    trl: int | None = None
    trl_not_applicable: bool = False
    market_status: str | None = None
    public_references: str | None = None
    pricing_model: str | None = None
    indicative_price: str | None = None
    team: str | None = None
    intellectual_property: str | None = None
    hosting_security: str | None = None
    accessibility: str | None = None
    impact: str | None = None
    targets: list[tuple[int, str]] = field(default_factory=list)
    sworn_statement: bool = False
    data_consent: bool = False


def _target_errors(cycle: Cycle, targets: Iterable[tuple[int, str]]) -> list[FieldError]:
    """An answer targets accepted needs of its own cycle only: another cycle's, a rejected or a merged need
    is refused, whatever the form was made to send."""
    ids = [need_id for need_id, _fit in targets]
    if len(set(ids)) != len(ids):
        return [FieldError("targets", _("Un même besoin ne peut être visé qu'une fois."))]
    if not ids:
        return []
    found = {n.id: n for n in db.session.scalars(select(Need).where(Need.id.in_(ids)))}
    errors = []
    for need_id in ids:
        need = found.get(need_id)
        if need is None or not _published(need):
            # Issue 9: a need the company may not see (a draft, submitted, returned, rejected or merged one, or
            # one of an AMI not yet open) is refused exactly like an id that does not exist: no title, and
            # nothing that tells which ids exist.
            errors.append(FieldError("targets", _("Le besoin n° %(id)s n'existe pas.", id=need_id)))
        elif need.cycle_id != cycle.id:
            errors.append(FieldError("targets", _(
                "Le besoin « %(title)s » appartient à un autre cycle : une réponse ne vise que les besoins de "
                "l'AMI auquel elle répond.", title=need.title)))
    return errors


def _published(need: Need) -> bool:
    """Published in an AMI, so anyone may know it: accepted, in a cycle whose AMI has opened."""
    return need.status == "accepted" and need.cycle.state not in ("draft", "needs_collection")


def _apply(application: Application, data: ApplicationData) -> None:
    for name in TEXT_FIELDS:
        value = getattr(data, name)
        setattr(application, name, value.strip() if isinstance(value, str) and value.strip() else None)
    application.solution_name = (data.solution_name or "").strip()
    application.innovation_kinds = [k for k in flow_kinds() if k in set(data.innovation_kinds)]
    application.trl = None if data.trl_not_applicable else data.trl
    application.trl_not_applicable = bool(data.trl_not_applicable)
    application.market_status = data.market_status or None
    application.sworn_statement = bool(data.sworn_statement)
    application.data_consent = bool(data.data_consent)
    wanted = {need_id: (fit or "").strip() for need_id, fit in data.targets}
    for target in list(application.targets):
        if target.need_id not in wanted:
            application.targets.remove(target)
        else:
            target.fit = wanted.pop(target.need_id)
    for need_id, fit in wanted.items():
        application.targets.append(ApplicationNeed(need_id=need_id, fit=fit))
    application.updated_at = clock.now()


def flow_kinds() -> list[str]:
    return list(INNOVATION_KIND_LABELS)


def _snapshot(application: Application) -> dict[str, Any]:
    snap = audit.snapshot(application, AUDITED_FIELDS)
    snap["targets"] = {str(t.need_id): t.fit for t in application.targets}
    return snap


def missing_for_submission(application: Application) -> list[Refusal]:
    """What must be filled before the answer can be submitted (a submitted answer must stay complete)."""
    missing = []
    for name in REQUIRED_FOR_SUBMISSION:
        if name == "trl":
            empty = application.trl is None and not application.trl_not_applicable
        elif name == "targets":
            empty = not application.targets
        else:
            value = getattr(application, name)
            empty = not value or (isinstance(value, str) and not value.strip())
        if empty:
            missing.append(Refusal("missing", {"field": name}))
    for target in application.targets:
        if not (target.fit or "").strip():
            missing.append(Refusal("missing_fit", {"need_id": target.need_id}))
        need = target.need if target.need is not None else db.session.get(Need, target.need_id)
        if need is not None and (need.status != "accepted" or need.cycle_id != application.cycle_id):
            missing.append(Refusal("need_unavailable", {"title": need.title, "need_id": need.id}))
    return missing


# The refusals that say what the form lacks; the form's error summary lists them next to their fields.
MISSING_CODES = frozenset({"missing", "missing_fit", "need_unavailable"})


def field_errors(refusals: Iterable[Refusal]) -> list[FieldError]:
    """Refusals placed next to the form's fields (the fit sentences go under "targets")."""
    errors = []
    for r in refusals:
        if r.code == "missing":
            errors.append(FieldError(r.params["field"], _("À renseigner avant de soumettre la réponse.")))
        elif r.code == "missing_fit":
            errors.append(FieldError(f"fit-{r.params['need_id']}", _(
                "Expliquez en une phrase en quoi la solution répond à ce besoin.")))
        else:
            errors.append(FieldError(None, refusal_message(r)))
    return errors


class Refused(Exception):
    """The action is refused now (state, time); the messages are French sentences for the page."""

    def __init__(self, refusals: list[Refusal]):
        super().__init__(", ".join(r.code for r in refusals))
        self.refusals = refusals

    @property
    def messages(self) -> list[str]:
        return list(dict.fromkeys(refusal_message(r) for r in self.refusals))


def create(company: Company, user: User, cycle: Cycle, data: ApplicationData,
           client_token: str | None = None) -> Application:
    """A new draft answer of the company to the cycle's AMI, while the AMI is open.

    `client_token` is the form's one-time token: posting the same form twice returns the answer the first
    post created (see `by_client_token`) instead of a second draft."""
    found = flow.ami_refusals(context(cycle))
    if found:
        raise Refused(found)
    errors = _target_errors(cycle, data.targets)
    if errors:
        raise Invalid(errors)
    now = clock.now()
    application = Application(cycle=cycle, company=company, author=user, status="draft", created_at=now,
                              updated_at=now, client_token=client_token or None)
    _apply(application, data)
    db.session.add(application)
    db.session.flush()
    audit.record("application.create", application, actor=user, after={"status": "draft", **_snapshot(application)})
    return application


def by_client_token(company: Company, token: str | None) -> Application | None:
    if not token:
        return None
    return db.session.scalar(select(Application).where(
        Application.client_token == token, Application.company_id == company.id))


def update(application: Application, data: ApplicationData, user: User) -> bool:
    """Change the answer's text while the AMI is open; a submitted answer must stay complete.

    Returns False when nothing changed (no audit row then)."""
    found = edit_refusals(application)
    if found:
        raise Refused(found)
    errors = _target_errors(application.cycle, data.targets)
    if errors:
        raise Invalid(errors)
    before = _snapshot(application)
    _apply(application, data)
    _flush_or_stale(application.id, application.status)
    if application.status == "submitted":
        missing = missing_for_submission(application)
        if missing:
            raise Invalid([FieldError(None, _(
                "Une réponse soumise doit rester complète : complétez les champs signalés, ou retirez la réponse."
            )), *field_errors(missing)])
    after = _snapshot(application)
    if after == before:
        return False
    audit.record("application.update", application, actor=user, before=before, after=after)
    return True


def _locked(application_id: int, expected_state: str | None) -> Application:
    application = lock_row(Application, application_id)
    if application is None:
        raise LookupError(application_id)
    if expected_state is not None and application.status != expected_state:
        raise Refused([Refusal("stale", {"state": application.status})])
    return application


def _flush_or_stale(application_id: int, state: str) -> None:
    """Flush; if another request changed the answer meanwhile (the version column), refuse as stale."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        current = db.session.get(Application, application_id)
        raise Refused([Refusal("stale", {"state": current.status if current else state})]) from None


def _move(application: Application, trigger: str, ctx: MoveContext, actor: User | None,
          reason: str | None = None, extra: dict[str, Any] | None = None) -> str:
    before = application.status
    new_state = flow.ApplicationFlow(before, ctx).fire(trigger)
    application.status = new_state
    application.updated_at = clock.now()
    _flush_or_stale(application.id, before)
    audit.record(f"application.{trigger}", application, actor=actor, before={"status": before},
                 after={"status": new_state, **(extra or {})}, reason=reason or None)
    return new_state


def submit(application_id: int, user: User) -> tuple[Application, bool]:
    """Submit a draft before the deadline and mail the company a summary.

    Returns (answer, moved): moved is False when it was already submitted (a second click: one record, one
    email). Raises Refused with every reason otherwise (late, incomplete, not a draft)."""
    application = _locked(application_id, None)
    if application.status == "submitted":
        return application, False
    ctx = context(application.cycle, incomplete=missing_for_submission(application))
    try:
        _move(application, flow.SUBMIT, ctx, user)
    except MoveRefused as exc:
        raise Refused(exc.refusals) from None
    except Refused as exc:
        current = db.session.get(Application, application_id)
        if current is not None and current.status == "submitted":  # submitted by the other click
            return current, False
        raise exc from None
    application.submitted_at = clock.now()
    _send_submission_mail(application, user)
    return application, True


def withdraw(application_id: int, user: User, expected_state: str, reason: str | None = None) -> Application:
    application = _locked(application_id, expected_state)
    try:
        _move(application, flow.WITHDRAW, context(application.cycle), user, reason)
    except MoveRefused as exc:
        raise Refused(exc.refusals) from None
    return application


def screen(application_id: int, admin: User, eligible: bool, reason: str, expected_state: str) -> Application:
    """An admin's eligibility decision, with its reason (shown to the company), audited."""
    application = _locked(application_id, expected_state)
    trigger = flow.DECLARE_ELIGIBLE if eligible else flow.DECLARE_INELIGIBLE
    try:
        _move(application, trigger, context(application.cycle, reason=reason), admin, reason.strip(),
              extra={"eligibility_reason": reason.strip()})
    except MoveRefused as exc:
        raise Refused(exc.refusals) from None
    application.eligibility_reason = reason.strip()
    _mail_screening(application, eligible)
    return application


def _mail_screening(application: Application, eligible: bool) -> None:
    """The company hears of the decision on its answer, with the reason (issue 10: the README promises a mail
    when a person's record changes). A decision taken again is a mail of its own (the row's version)."""
    db.session.flush()
    name = application.solution_name
    if eligible:
        subject = _("Votre réponse « %(name)s » à l'AMI est éligible", name=name)
        message = _("Votre réponse « %(name)s » à l'AMI %(year)s a été examinée : elle est éligible et sera "
                    "présentée au comité de pilotage. Motif : %(reason)s", name=name, year=application.cycle.year,
                    reason=application.eligibility_reason)
    else:
        subject = _("Votre réponse « %(name)s » à l'AMI n'est pas éligible", name=name)
        message = _("Votre réponse « %(name)s » à l'AMI %(year)s a été examinée : elle n'est pas éligible. "
                    "Motif : %(reason)s", name=name, year=application.cycle.year,
                    reason=application.eligibility_reason)
    notifications.notify_event(
        "application_screened", application, representatives(application.company), subject=subject,
        occurrence=application.version, message=message,
        link=url_for("applications.detail", application_id=application.id, _external=True))


def _send_submission_mail(application: Application, user: User) -> None:
    """The company's receipt: what was submitted, when, and until when it can still be changed."""
    _opens_at, closes_at = ami_window(application.cycle)
    targets = [(t.need or db.session.get(Need, t.need_id), t.fit) for t in application.targets]
    recipients = {u.id: u for u in representatives(application.company)}
    recipients.setdefault(user.id, user)
    context_values = {
        "application": application, "ami_title": ami_title(application.cycle), "targets": targets,
        "buyer_label": buyer_label, "trl": trl_label(application), "closes_at": closes_at,
        "kinds": [str(INNOVATION_KIND_LABELS[k]) for k in application.innovation_kinds],
        "market_status": str(MARKET_STATUS_LABELS.get(application.market_status or "", "")),
        "link": notifications.external_url("applications.detail", application_id=application.id),
    }
    for recipient in recipients.values():
        mail.queue(recipient.email, _("Votre réponse « %(name)s » à l'AMI est bien soumise",
                                      name=application.solution_name),
                   "application_submitted", person=recipient, **context_values)


# --- reading ---------------------------------------------------------------------------------------------


def for_company(company: Company) -> list[Application]:
    return list(db.session.scalars(
        select(Application).where(Application.company_id == company.id)
        .options(selectinload(Application.cycle), selectinload(Application.targets))
        .order_by(Application.created_at.desc(), Application.id.desc())))


def _awaiting_screening(*columns: Any) -> Select:
    return (select(*columns).select_from(Application).join(Cycle, Cycle.id == Application.cycle_id)
            .where(Application.status == "submitted", Cycle.state.in_(flow.SCREENING_STAGES)))


@dataclass(frozen=True)
class ScreeningRow:
    """A line of the screening queue: what the page shows of an answer, nothing more."""

    id: int
    solution_name: str
    company_name: str
    computed_size: str | None
    year: int
    submitted_at: datetime | None


class _ScreeningPage(Pagination):
    """The queue's page (Flask-SQLAlchemy's Pagination, for the macro) read as plain `ScreeningRow`s."""

    def _query_items(self) -> list[ScreeningRow]:
        cut = (_awaiting_screening(Application.id, Application.solution_name, Application.submitted_at,
                                   Application.company_id, Cycle.year)
               .order_by(Application.submitted_at, Application.id)
               .limit(self.per_page).offset(self._query_offset).subquery("queue"))
        rows = db.session.execute(
            select(cut.c.id, cut.c.solution_name, Organization.name, Company.computed_size, cut.c.year,
                   cut.c.submitted_at)
            .select_from(cut).join(Company, Company.id == cut.c.company_id)
            .join(Organization, Organization.id == Company.organization_id)
            .order_by(cut.c.submitted_at, cut.c.id))
        return [ScreeningRow(*row) for row in rows]

    def _query_count(self) -> int:
        return db.session.scalar(_awaiting_screening(func.count(Application.id))) or 0


def awaiting_screening(page: int = 1, per_page: int = 50) -> Pagination:
    """Submitted answers of cycles in a screening stage, oldest first: the admin's work queue, a page at a time
    (thousands on the day the AMI closes). The page's rows are ordered and cut on `applications` (with the
    cycles, a handful of rows) in a subquery, then joined to their companies and organizations for that page
    only (joined before the cut, every company would be read: 180 ms on the national dataset); the total is
    counted apart. Plain rows of the five columns the queue shows: loading the answers (with their long texts),
    companies and organizations as objects cost more than the rest of the page."""
    return _ScreeningPage(page=page, per_page=per_page, error_out=False)


# --- dashboard tasks ---------------------------------------------------------------------------------------


def _company_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Any]:
    """A representative's drafts still to submit before the AMI closes; or the company to register first."""
    if not user.has_role(Role.COMPANY):
        return []
    company = company_of(user)
    if company is None:
        # The deadline that matters is the close of the AMI to come or in progress, when there is one.
        ami = ami_cycle()
        _opens, closes = ami_window(ami) if ami is not None else (None, None)
        if closes is not None and closes <= now:
            closes = None
        return [Task(_("Enregistrer votre entreprise (SIRET, effectif, chiffre d'affaires) pour répondre à l'AMI"),
                     closes, url=url_for("companies.mine"))]
    tasks = []
    rows = db.session.execute(
        select(Cycle, func.count(Application.id)).join(Application, Application.cycle_id == Cycle.id)
        .where(Application.company_id == company.id, Application.status == "draft",
               Cycle.state == "ami_sourcing").group_by(Cycle.id)).all()
    for draft_cycle, count in rows:
        _opens_at, closes_at = ami_window(draft_cycle)
        if closes_at is not None and closes_at <= now:
            continue
        tasks.append(Task(
            ngettext("%(num)d réponse en brouillon à soumettre avant la clôture de l'AMI",
                     "%(num)d réponses en brouillon à soumettre avant la clôture de l'AMI", count),
            closes_at, url_for("applications.index"),
            detail=_("Un brouillon non soumis à la date limite n'est pas examiné.")))
    return tasks


def _screening_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Any]:
    """The admins' queue of the current cycle's submitted answers, while answers are screened."""
    if not user.has_role(Role.ADMIN) or cycle is None or cycle.state not in flow.SCREENING_STAGES:
        return []
    # count(*), not count(applications.id): counted in ix_applications_cycle_status alone (index-only), not by
    # reading each answer's row (3 ms for 800 answers).
    count = db.session.scalar(select(func.count()).select_from(Application).where(
        Application.cycle_id == cycle.id, Application.status == "submitted"))
    if not count:
        return []
    window = cycle.window(cycle.state)
    return [Task(ngettext("%(num)d réponse à l'AMI à examiner (éligibilité)",
                          "%(num)d réponses à l'AMI à examiner (éligibilité)", count),
                 window.closes_at if window else None, url=url_for("applications.screening"))]


for _source in (_company_tasks, _screening_tasks):
    if _source not in TASK_SOURCES:
        TASK_SOURCES.append(_source)


# --- reminders (issue 7, item 11: each area owns its audience) --------------------------------------------


def company_people_with_draft_answers(cycle: Cycle) -> list[User]:
    """Representatives of companies whose answer to the AMI is still a draft."""
    from innovation_cycle.services import reminders

    organizations = (select(Company.organization_id).join(Application, Application.company_id == Company.id)
                     .where(Application.cycle_id == cycle.id, Application.status == "draft"))
    return reminders.ordered(reminders.active_users().where(reminders.having_role(Role.COMPANY),
                                                            User.organization_id.in_(organizations)))


def _register_reminders() -> None:
    from innovation_cycle.services import reminders

    reminders.register_audience("ami_sourcing", company_people_with_draft_answers, text=lazy_gettext(
        "Votre entreprise a une réponse à l'AMI en brouillon. Complétez-la et déposez-la avant la clôture : une "
        "réponse non déposée ne sera pas examinée par le comité."),
        endpoints=("applications.index", "applications.mine", "companies.mine"))


_register_reminders()
