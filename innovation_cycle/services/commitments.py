"""The purchase-commitment census (issue 8): who records what and when, the moves, the follow-up.

Rules: PFRA agents record internal and regional commitments during the whole census stage; buyers declare
their own organization's, which a PFRA agent (never the declarer) confirms; UGAP agents record national
commitments during the UGAP phase only, and may add UGAP's national clients (SIRET checked). Moves and updates
stay open after the cycle closes, until the convention ends (a contract is often signed months later), each
audited. A company reads the commitments about its own solutions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from sqlalchemy import exists, func, select
from sqlalchemy.orm import joinedload, lazyload
from sqlalchemy.orm.exc import StaleDataError

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    CensusSettings,
    Commitment,
    Company,
    Cycle,
    Decision,
    DecisionNeed,
    Need,
    Organization,
    OrganizationKind,
    Role,
    User,
    UserRole,
)
from innovation_cycle.models.commitments import CHANNELS, PROCEDURES
from innovation_cycle.services import audit, procedures
from innovation_cycle.services.companies import compact_siret, siret_error
from innovation_cycle.services.dashboard import TASK_SOURCES, Task
from innovation_cycle.services.locking import lock_row
from workflows import commitment as flow
from workflows.base import MoveRefused, Refusal

STAGE = "commitment_census"
PFRA_CHANNELS = ("pfra_internal", "pfra_regional")
UGAP_CHANNEL = "ugap_national"
MAX_AMOUNT = Decimal("1000000000")  # 1 billion € excl. VAT: beyond is a typing mistake, not a purchase
DEFAULT_FOLLOW_UP_DAYS = 30

STATUS_LABELS = {
    "interest": lazy_gettext("Intérêt"),
    "experimentation_planned": lazy_gettext("Expérimentation prévue"),
    "purchase_commitment": lazy_gettext("Engagement d'achat"),
    "procedure_launched": lazy_gettext("Procédure lancée"),
    "contracted": lazy_gettext("Marché notifié"),
    "abandoned": lazy_gettext("Abandonné"),
}
CHANNEL_LABELS = {
    "pfra_internal": lazy_gettext("PFRA — service de l'État en région"),
    "pfra_regional": lazy_gettext("PFRA — acheteur public régional"),
    "ugap_national": lazy_gettext("UGAP — client national"),
}
TRIGGER_LABELS = {
    flow.PLAN_EXPERIMENTATION: lazy_gettext("Prévoir une expérimentation"),
    flow.COMMIT: lazy_gettext("Enregistrer l'engagement d'achat"),
    flow.LAUNCH_PROCEDURE: lazy_gettext("Procédure lancée"),
    flow.CONTRACT: lazy_gettext("Marché notifié"),
    flow.ABANDON: lazy_gettext("Abandonner"),
}
CONTRACT_FIELDS = ("contract_identifier", "contract_notified_on", "contract_amount", "contract_duration_months",
                   "contract_cpv", "contract_place", "contract_procedure", "holder_siret")
CONTRACT_LABELS = {
    "contract_identifier": lazy_gettext("Identifiant du marché"),
    "contract_notified_on": lazy_gettext("Date de notification"),
    "contract_amount": lazy_gettext("Montant du marché (€ HT)"),
    "contract_duration_months": lazy_gettext("Durée (mois)"),
    "contract_cpv": lazy_gettext("Code CPV"),
    "contract_place": lazy_gettext("Lieu d'exécution"),
    "contract_procedure": lazy_gettext("Procédure"),
    "holder_siret": lazy_gettext("SIRET du titulaire"),
}
EDIT_FIELDS = ["amount_excl_vat", "quantity", "expected_on", "procedure", "procedure_note", "notes", "need_id",
               "buyer_organization_id"]
CPV_PATTERN = re.compile(r"^\d{8}(-\d)?$")


@dataclass
class FieldError:
    field: str | None
    message: str


class CommitmentInvalid(Exception):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def channel_label(channel: str) -> str:
    return str(CHANNEL_LABELS.get(channel, channel))


def refusal_message(refusal: Refusal) -> str:
    p = refusal.params
    messages = {
        "illegal_move": lambda: _("Ce changement n'est pas possible depuis l'état « %(state)s ».",
                                  state=status_label(p.get("state", ""))),
        "abandon_needs_reason": lambda: _("Indiquez pourquoi l'achat est abandonné."),
        "contract_incomplete": lambda: _("Renseignez les données essentielles du marché : %(fields)s.",
                                         fields=", ".join(str(CONTRACT_LABELS[f]) for f in p.get("fields", []))),
        "follow_up_closed": lambda: _("Le suivi des engagements de ce cycle est clos : la convention est "
                                      "terminée."),
        "stale": lambda: _("Cet engagement a été modifié entre-temps (il est maintenant à l'état « %(state)s ») : "
                           "rechargez la page.", state=status_label(p.get("state", ""))),
        "not_allowed": lambda: str(p.get("message", "")),
    }
    make = messages.get(refusal.code)
    return make() if make else str(p.get("message", refusal.code))


# --- parsing -------------------------------------------------------------------------------------------


def parse_amount(text: str | None) -> Decimal | None:
    """"12 500,50", "12 500,50 €", "12500.5" → Decimal("12500.50"); None when blank. Raises ValueError
    when not an amount in euros (the French way: spaces between thousands, a comma before the cents)."""
    value = (text or "").replace("\u202f", " ").replace("\xa0", " ").replace("€", "").strip()
    if not value:
        return None
    if not re.fullmatch(r"-?\d{1,3}( \d{3})+([.,]\d{1,2})?|-?\d+([.,]\d{1,2})?", value):
        raise ValueError(value)
    try:
        return Decimal(value.replace(" ", "").replace(",", ".")).quantize(Decimal("0.01"))
    except InvalidOperation as exc:  # pragma: no cover - the pattern above only lets numbers through
        raise ValueError(value) from exc


def amount_error(text: str | None, *, required: bool = False) -> tuple[Decimal | None, str | None]:
    try:
        amount = parse_amount(text)
    except ValueError:
        return None, _("Saisissez un montant en euros, par exemple « 12 500,50 ».")
    if amount is None:
        return None, _("Indiquez le montant estimé hors taxes.") if required else None
    if amount <= 0:
        return None, _("Le montant doit être positif.")
    if amount >= MAX_AMOUNT:
        return None, _("Ce montant n'est pas plausible (un milliard d'euros ou plus) : vérifiez la saisie.")
    return amount, None


# --- the census's phases and the follow-up -------------------------------------------------------------


def default_ugap_phase_opens_at(cycle: Cycle) -> datetime:
    """1 September of the cycle's year, kept inside the census window (PFRA August, UGAP September)."""
    opens = clock.paris_datetime(cycle.year, 9, 1)
    window = cycle.window(STAGE)
    if window is not None and not (window.opens_at <= opens < window.closes_at):
        opens = window.opens_at + (window.closes_at - window.opens_at) / 2
    return opens


def settings_of(cycle: Cycle) -> CensusSettings:
    """The cycle's census settings (the defaults, unsaved, until the admin changes them)."""
    found = db.session.get(CensusSettings, cycle.id)
    if found is not None:
        return found
    return CensusSettings(cycle_id=cycle.id, ugap_phase_opens_at=default_ugap_phase_opens_at(cycle),
                          follow_up_delay_days=DEFAULT_FOLLOW_UP_DAYS)


def update_settings(cycle: Cycle, ugap_phase_opens_at: datetime, follow_up_delay_days: int) -> CensusSettings:
    window = cycle.window(STAGE)
    errors = []
    if window is not None and not (window.opens_at <= ugap_phase_opens_at <= window.closes_at):
        errors.append(FieldError("ugap_phase_opens_at", _(
            "La phase UGAP commence pendant le recensement (entre son ouverture et sa clôture).")))
    if not 0 <= follow_up_delay_days <= 365:
        errors.append(FieldError("follow_up_delay_days", _("Indiquez un délai entre 0 et 365 jours.")))
    if errors:
        raise CommitmentInvalid(errors)
    current = settings_of(cycle)
    before = {"ugap_phase_opens_at": current.ugap_phase_opens_at,
              "follow_up_delay_days": current.follow_up_delay_days}
    current.ugap_phase_opens_at = ugap_phase_opens_at
    current.follow_up_delay_days = follow_up_delay_days
    db.session.merge(current)
    db.session.flush()
    audit.record("census.settings", object_type="cycles", object_id=cycle.id, before=before,
                 after={"ugap_phase_opens_at": ugap_phase_opens_at, "follow_up_delay_days": follow_up_delay_days})
    return current


def phase(cycle: Cycle, now: datetime | None = None) -> str | None:
    """"pfra" or "ugap" while the census stage is under way (the PFRA records throughout), else None."""
    if cycle.state != STAGE:
        return None
    now = now or clock.now()
    return "ugap" if now >= settings_of(cycle).ugap_phase_opens_at else "pfra"


def follow_up_open(cycle: Cycle, now: datetime | None = None) -> bool:
    """Moves and updates: from the census stage on, until the end of the convention's three years."""
    if cycle.state not in (STAGE, "results_communication", "closed"):
        return False
    now = now or clock.now()
    return clock.to_paris(now).date() <= cycle.convention.ends_on


def _is_ugap_org(org: Organization | None) -> bool:
    return org is not None and org.kind == OrganizationKind.UGAP


def recording_refusal(user: User, cycle: Cycle, channel: str | None = None) -> str | None:
    """Why `user` may not record a new commitment in `cycle` now (None: they may)."""
    if cycle.state != STAGE:
        return _("Le recensement des engagements n'est pas en cours pour le cycle %(year)s.", year=cycle.year)
    if user.has_role(Role.ADMIN, Role.PFRA_AGENT):
        if channel == UGAP_CHANNEL and not user.has_role(Role.ADMIN) and not user.has_role(Role.UGAP_AGENT):
            return _("Les engagements nationaux sont recensés par l'UGAP.")
        return None
    if user.has_role(Role.UGAP_AGENT):
        if phase(cycle) != "ugap":
            return _("La phase UGAP du recensement commence le %(date)s : la PFRA recense d'abord les "
                     "engagements de l'État et régionaux.", date=_day(settings_of(cycle).ugap_phase_opens_at))
        if channel not in (None, UGAP_CHANNEL):
            return _("L'UGAP recense les engagements de ses clients nationaux.")
        return None
    if user.has_role(Role.BUYER) and user.organization_id:
        if channel == UGAP_CHANNEL:
            return _("Les engagements nationaux sont recensés par l'UGAP.")
        return None
    return _("Votre rôle ne permet pas de recenser des engagements.")


def _day(value: datetime) -> str:
    from innovation_cycle import formatting

    return formatting.day(value)


def allowed_channels(user: User) -> list[str]:
    if user.has_role(Role.ADMIN):
        return list(CHANNELS)
    channels: list[str] = []
    if user.has_role(Role.PFRA_AGENT):
        channels += PFRA_CHANNELS
    if user.has_role(Role.UGAP_AGENT):
        channels.append(UGAP_CHANNEL)
    if not channels and user.has_role(Role.BUYER):
        channels += PFRA_CHANNELS
    return channels


# --- the shortlist -------------------------------------------------------------------------------------


def _selected(cycle: Cycle, *columns):
    return (select(*columns).select_from(Application).join(Decision, Decision.application_id == Application.id)
            .where(Application.cycle_id == cycle.id, Decision.outcome == "selected",
                   Application.status == "selected"))


def selected_query(cycle: Cycle):
    """The cycle's selected solutions: answers with a `selected` decision (the selection stage's output), by
    name, with their companies (the census page pages through the same rows as `shortlist_rows`)."""
    return (_selected(cycle, Application)
            .options(joinedload(Application.company).joinedload(Company.organization))
            .order_by(Application.solution_name, Application.id))


def selected_count(cycle: Cycle) -> int:
    return db.session.scalar(_selected(cycle, func.count(Application.id))) or 0


def selected_answers(cycle: Cycle) -> list[Application]:
    """Every selected solution of the cycle (the recording form's choices, the checks)."""
    return list(db.session.scalars(selected_query(cycle)))


def shortlisted_needs(application: Application) -> list[Need]:
    """The needs the answer was selected for (DecisionNeed rows of its `selected` decision)."""
    return list(db.session.scalars(
        select(Need).join(DecisionNeed, DecisionNeed.need_id == Need.id)
        .join(Decision, Decision.id == DecisionNeed.decision_id)
        .where(Decision.application_id == application.id, Decision.outcome == "selected")
        .order_by(Need.title, Need.id)))


def buyer_choices(user: User, channel: str | None = None) -> list[Organization]:
    """The organizations a commitment may name as buyer: a buyer names its own; the agents, public buyers."""
    if not user.has_role(Role.ADMIN, Role.PFRA_AGENT, Role.UGAP_AGENT) and user.has_role(Role.BUYER):
        return [user.organization] if user.organization else []
    excluded = (OrganizationKind.COMPANY, OrganizationKind.UGAP)
    return list(db.session.scalars(select(Organization).where(Organization.kind.not_in(excluded))
                                   .order_by(Organization.name)))


# --- recording -----------------------------------------------------------------------------------------


@dataclass
class CommitmentData:
    application_id: int | None = None
    need_id: int | None = None
    buyer_organization_id: int | None = None
    channel: str = ""
    amount: str = ""
    quantity: int | None = None
    expected_on: date | None = None
    procedure: str = ""
    procedure_note: str = ""
    notes: str = ""


def advice_for(amount: Decimal | None, channel: str, buyer: Organization | None, on: date | None,
               application: Application | None = None) -> procedures.Advice | None:
    if amount is None or on is None:
        return None
    central = buyer is not None and buyer.kind in (OrganizationKind.STATE_SERVICE, OrganizationKind.PFRA)
    development = application is not None and application.market_status in ("prototype", "pilot")
    return procedures.advise(amount, through_ugap=channel == UGAP_CHANNEL, central_buyer=central, on=on,
                             thresholds=procedures.thresholds(), needs_development=development)


def _validate(cycle: Cycle, user: User, data: CommitmentData, commitment: Commitment | None
              ) -> tuple[list[FieldError], dict[str, Any]]:
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    application = commitment.application if commitment else (
        db.session.get(Application, data.application_id) if data.application_id else None)
    if commitment is None:
        if application is None or application.cycle_id != cycle.id:
            errors.append(FieldError("application_id", _("Choisissez une solution retenue de ce cycle.")))
            application = None
        elif not any(a.id == application.id for a in selected_answers(cycle)):
            errors.append(FieldError("application_id", _(
                "Cette solution n'a pas été retenue par le comité : un engagement ne porte que sur une solution "
                "retenue.")))
            application = None
        channel = data.channel
        if channel not in allowed_channels(user):
            errors.append(FieldError("channel", _("Choisissez un canal d'achat que votre rôle permet de recenser.")))
    else:
        channel = commitment.channel
    values["channel"] = channel
    need = None
    if data.need_id:
        need = db.session.get(Need, data.need_id)
        if application is not None and (need is None or need.id not in {n.id for n in shortlisted_needs(application)}):
            errors.append(FieldError("need_id", _(
                "Ce besoin n'est pas l'un de ceux pour lesquels la solution a été retenue.")))
    values["need_id"] = need.id if need else None
    buyer = db.session.get(Organization, data.buyer_organization_id) if data.buyer_organization_id else None
    if buyer is None or buyer.id not in {o.id for o in buyer_choices(user, channel)}:
        errors.append(FieldError("buyer_organization_id", _("Choisissez l'organisation acheteuse.")))
        buyer = None
    values["buyer_organization_id"] = buyer.id if buyer else None
    amount, message = amount_error(data.amount)
    if message:
        errors.append(FieldError("amount", message))
    values["amount_excl_vat"] = amount
    if data.quantity is not None and not 1 <= data.quantity <= 1_000_000:
        errors.append(FieldError("quantity", _("La quantité est un nombre entier positif.")))
    values["quantity"] = data.quantity
    convention = cycle.convention
    if data.expected_on is not None and not convention.starts_on <= data.expected_on <= convention.ends_on:
        errors.append(FieldError("expected_on", _(
            "La date prévue doit se situer pendant la convention (du %(start)s au %(end)s).",
            start=convention.starts_on.strftime("%d/%m/%Y"), end=convention.ends_on.strftime("%d/%m/%Y"))))
    values["expected_on"] = data.expected_on
    procedure = data.procedure or None
    if procedure is not None and procedure not in PROCEDURES:
        errors.append(FieldError("procedure", _("Choisissez une procédure de la liste.")))
        procedure = None
    advice = advice_for(amount, channel, buyer, data.expected_on, application)
    values["advised_procedure"] = advice.procedure if advice else None
    note = (data.procedure_note or "").strip()
    if procedure and advice and procedure != advice.procedure and not note:
        errors.append(FieldError("procedure_note", _(
            "La procédure choisie diffère de celle conseillée (%(advice)s) : expliquez ce choix.",
            advice=advice.label)))
    values["procedure"] = procedure
    values["procedure_note"] = note or None
    values["notes"] = (data.notes or "").strip() or None
    values["application"] = application
    return errors, values


def record(cycle: Cycle, user: User, data: CommitmentData) -> Commitment:
    """A new commitment, as a PFRA or UGAP agent, a buyer (a declaration to confirm) or an admin."""
    refusal = recording_refusal(user, cycle, data.channel or None)
    if refusal:
        raise MoveRefused([Refusal("not_allowed", {"message": refusal})])
    errors, values = _validate(cycle, user, data, None)
    if errors:
        raise CommitmentInvalid(errors)
    application: Application = values.pop("application")
    now = clock.now()
    by_buyer = not user.has_role(Role.ADMIN, Role.PFRA_AGENT, Role.UGAP_AGENT)
    ugap_org = None
    if values["channel"] == UGAP_CHANNEL:
        ugap_org = user.organization if _is_ugap_org(user.organization) else db.session.scalars(
            select(Organization).where(Organization.kind == OrganizationKind.UGAP).order_by(Organization.id)).first()
        if ugap_org is None:
            raise CommitmentInvalid([FieldError("channel", _("Aucune organisation UGAP n'est enregistrée."))])
    commitment = Commitment(cycle_id=cycle.id, application_id=application.id, company_id=application.company_id,
                            ugap_organization_id=ugap_org.id if ugap_org else None, status="interest",
                            declared_by_buyer=by_buyer, recorded_by_id=user.id, created_at=now, updated_at=now,
                            confirmed_at=None if by_buyer else now, confirmed_by_id=None if by_buyer else user.id,
                            **values)
    db.session.add(commitment)
    db.session.flush()
    audit.record("commitment.record", commitment, after=_snapshot(commitment), actor=user)
    return commitment


def _snapshot(c: Commitment) -> dict[str, Any]:
    data = audit.snapshot(c, ["status", "channel", *EDIT_FIELDS, "ugap_organization_id", "advised_procedure"])
    for key, value in data.items():
        if isinstance(value, Decimal):
            data[key] = str(value)
    return data


def _lock(commitment_id: int, expected_version: int | None = None) -> Commitment:
    commitment = lock_row(Commitment, commitment_id)
    if commitment is None:
        raise LookupError(commitment_id)
    if expected_version is not None and commitment.version != expected_version:
        raise MoveRefused([Refusal("stale", {"state": commitment.status})])
    return commitment


def update(commitment_id: int, user: User, data: CommitmentData, *, expected_version: int | None = None
           ) -> Commitment:
    """Change the figures of a commitment (while the follow-up is open), audited with before and after."""
    commitment = _lock(commitment_id, expected_version)
    if not follow_up_open(commitment.cycle):
        raise MoveRefused([Refusal("follow_up_closed")])
    errors, values = _validate(commitment.cycle, user, data, commitment)
    if errors:
        raise CommitmentInvalid(errors)
    values.pop("application")
    values.pop("channel")
    before = _snapshot(commitment)
    for key, value in values.items():
        setattr(commitment, key, value)
    commitment.updated_at = clock.now()
    _flush(commitment)
    audit.record("commitment.update", commitment, before=before, after=_snapshot(commitment), actor=user)
    return commitment


def _flush(commitment: Commitment) -> None:
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise MoveRefused([Refusal("stale", {"state": commitment.status})]) from None


@dataclass
class ContractData:
    contract_identifier: str = ""
    contract_notified_on: date | None = None
    contract_amount: str = ""
    contract_duration_months: int | None = None
    contract_cpv: str = ""
    contract_place: str = ""
    contract_procedure: str = ""
    holder_siret: str = ""


def _contract_values(data: ContractData, commitment: Commitment) -> tuple[list[FieldError], dict[str, Any]]:
    errors: list[FieldError] = []
    values: dict[str, Any] = {
        "contract_identifier": data.contract_identifier.strip() or None,
        "contract_notified_on": data.contract_notified_on,
        "contract_duration_months": data.contract_duration_months,
        "contract_cpv": data.contract_cpv.strip() or None,
        "contract_place": data.contract_place.strip() or None,
        "contract_procedure": data.contract_procedure or None,
    }
    amount, message = amount_error(data.contract_amount)
    if message:
        errors.append(FieldError("contract_amount", message))
    values["contract_amount"] = amount
    if values["contract_identifier"] and not re.fullmatch(r"[A-Za-z0-9\-_/.]{1,16}",
                                                           values["contract_identifier"]):
        errors.append(FieldError("contract_identifier", _(
            "L'identifiant du marché compte au plus 16 caractères (lettres, chiffres, - _ / .).")))
    if values["contract_cpv"] and not CPV_PATTERN.fullmatch(values["contract_cpv"]):
        errors.append(FieldError("contract_cpv", _("Un code CPV s'écrit avec 8 chiffres, par exemple 48000000-8.")))
    if values["contract_duration_months"] is not None and not 1 <= values["contract_duration_months"] <= 240:
        errors.append(FieldError("contract_duration_months", _("Indiquez une durée entre 1 et 240 mois.")))
    if values["contract_procedure"] and values["contract_procedure"] not in PROCEDURES:
        errors.append(FieldError("contract_procedure", _("Choisissez une procédure de la liste.")))
    if values["contract_notified_on"] and values["contract_notified_on"] > clock.to_paris(clock.now()).date():
        errors.append(FieldError("contract_notified_on", _("La date de notification ne peut être dans le futur.")))
    siret = compact_siret(data.holder_siret)
    if siret and (message := siret_error(siret)):
        errors.append(FieldError("holder_siret", message))
    values["holder_siret"] = siret or None
    return errors, values


def move(commitment_id: int, trigger: str, user: User, *, expected_state: str, reason: str = "",
         contract: ContractData | None = None) -> Commitment:
    """Fire `trigger` on the locked commitment, as the user who saw it in `expected_state`; audited."""
    commitment = _lock(commitment_id)
    if commitment.status != expected_state:
        raise MoveRefused([Refusal("stale", {"state": commitment.status})])
    ctx = flow.MoveContext(now=clock.now(), follow_up_open=follow_up_open(commitment.cycle), reason=reason or "")
    contract_values: dict[str, Any] = {}
    if trigger == flow.CONTRACT:
        errors, contract_values = _contract_values(contract or ContractData(), commitment)
        if errors:
            raise CommitmentInvalid(errors)
        ctx.contract_missing = [f for f in CONTRACT_FIELDS if contract_values.get(f) in (None, "")]
    before = commitment.status
    new_state = flow.CommitmentFlow(before, ctx).fire(trigger)
    commitment.status = new_state
    now = clock.now()
    commitment.updated_at = now
    if trigger == flow.ABANDON:
        commitment.abandon_reason = reason.strip()
    if trigger == flow.COMMIT and commitment.first_committed_at is None:
        commitment.first_committed_at = now
    for key, value in contract_values.items():
        setattr(commitment, key, value)
    _flush(commitment)
    after: dict[str, Any] = {"state": new_state}
    if contract_values:
        after.update({k: str(v) if isinstance(v, Decimal) else v for k, v in contract_values.items()})
    audit.record(f"commitment.{trigger}", commitment, before={"state": before}, after=after,
                 reason=reason.strip() or None, actor=user)
    return commitment


def confirm(commitment_id: int, user: User) -> Commitment:
    """A PFRA agent confirms a buyer's declaration; the declarer never confirms their own."""
    commitment = _lock(commitment_id)
    if commitment.confirmed_at is not None:
        return commitment
    if commitment.recorded_by_id == user.id:
        raise MoveRefused([Refusal("not_allowed", {"message": _(
            "Vous avez déclaré cet engagement : un autre agent de la PFRA le confirme.")})])
    if not user.has_role(Role.PFRA_AGENT, Role.ADMIN):
        raise MoveRefused([Refusal("not_allowed", {"message": _("Seule la PFRA confirme une déclaration.")})])
    commitment.confirmed_at = clock.now()
    commitment.confirmed_by_id = user.id
    _flush(commitment)
    audit.record("commitment.confirm", commitment, after={"confirmed": True}, actor=user)
    return commitment


def add_client(user: User, name: str, siret: str, department: str = "") -> Organization:
    """A UGAP agent adds one of UGAP's national clients (a public buyer anywhere in France)."""
    errors = []
    name = (name or "").strip()
    if not name:
        errors.append(FieldError("name", _("Indiquez le nom de l'organisation cliente.")))
    number = compact_siret(siret)
    if message := siret_error(number):
        errors.append(FieldError("siret", message))
    elif db.session.scalar(select(Organization.id).where(Organization.siret == number)):
        errors.append(FieldError("siret", _("Une organisation avec ce SIRET est déjà enregistrée : "
                                            "choisissez-la dans la liste.")))
    department = (department or "").strip().upper()
    if department and not re.fullmatch(r"\d{2,3}|2A|2B", department):
        errors.append(FieldError("department", _("Un département s'écrit avec 2 ou 3 caractères (59, 2A, 974).")))
    if errors:
        raise CommitmentInvalid(errors)
    org = Organization(name=name, kind=OrganizationKind.PUBLIC_BODY, siret=number, siren=number[:9],
                       department=department or None)
    db.session.add(org)
    db.session.flush()
    audit.record("organization.add_ugap_client", org, after={"name": name, "siret": number}, actor=user)
    return org


# --- who sees what -------------------------------------------------------------------------------------


def visible_to(user: User):
    """A select() condition: the commitments `user` may read."""
    if user.has_role(Role.ADMIN, Role.PFRA_AGENT, Role.UGAP_AGENT):
        return Commitment.id.is_not(None)
    conditions = []
    if user.organization_id and user.has_role(Role.BUYER):
        conditions.append(Commitment.buyer_organization_id == user.organization_id)
    if user.organization_id and user.has_role(Role.COMPANY):
        conditions.append(Commitment.company_id.in_(
            select(Company.id).where(Company.organization_id == user.organization_id)))
    if not conditions:
        return Commitment.id.is_(None)
    condition = conditions[0]
    for other in conditions[1:]:
        condition = condition | other
    return condition


def _listed(user: User, cycle: Cycle | None, to_confirm: bool, *columns):
    """The commitments `user` reads on the census page (of `cycle`, or of every cycle when there is none),
    only those waiting for a confirmation if asked: one condition for the page, its total and its counts."""
    query = select(*columns).select_from(Commitment).where(visible_to(user))
    if cycle is not None:
        query = query.where(Commitment.cycle_id == cycle.id)
    if to_confirm:
        query = query.where(Commitment.confirmed_at.is_(None))
    return query


def listing_query(user: User, cycle: Cycle | None, *, to_confirm: bool = False):
    """The commitments `user` reads, newest first, with their solution and buyer loaded with them (the census
    page pages through the same commitments as `listing_rows`, plain rows)."""
    return (_listed(user, cycle, to_confirm, Commitment)
            .options(joinedload(Commitment.buyer), joinedload(Commitment.application))
            .order_by(Commitment.created_at.desc(), Commitment.id.desc()))


def shortlist_rows(cycle: Cycle):
    """`selected_query` for the census page's shortlist as plain rows (id, solution_name, company_name): a page
    of 50 answers read as objects, each with its company and organization, costs more than the rest of the
    page; a row shows three values."""
    return (_selected(cycle, Application.id, Application.solution_name, Organization.name.label("company_name"))
            .join(Company, Company.id == Application.company_id)
            .join(Organization, Organization.id == Company.organization_id)
            .order_by(Application.solution_name, Application.id))


def listing_rows(user: User, cycle: Cycle | None, *, to_confirm: bool = False):
    """`listing_query` as plain rows with what a row of the census page shows (id, solution_name,
    confirmed_at, buyer_name, channel, status, amount_excl_vat), in the same order."""
    return (_listed(user, cycle, to_confirm, Commitment.id, Application.solution_name, Commitment.confirmed_at,
                    Organization.name.label("buyer_name"), Commitment.channel, Commitment.status,
                    Commitment.amount_excl_vat)
            .join(Application, Application.id == Commitment.application_id)
            .join(Organization, Organization.id == Commitment.buyer_organization_id)
            .order_by(Commitment.created_at.desc(), Commitment.id.desc()))


def listing_count(user: User, cycle: Cycle | None, *, to_confirm: bool = False) -> int:
    """The page's total, counted on `commitments` alone rather than over the page's joined query."""
    return db.session.scalar(_listed(user, cycle, to_confirm, func.count(Commitment.id))) or 0


def list_for(user: User, cycle: Cycle | None) -> list[Commitment]:
    """Every commitment `user` reads in `cycle` (not for pages: they go through `listing_query`)."""
    return list(db.session.scalars(listing_query(user, cycle)))


def counts_by_answer(user: User, cycle: Cycle | None, application_ids: Iterable[int], *,
                     to_confirm: bool = False) -> dict[int, int]:
    """How many of the listed commitments name each answer of a shortlist page: one grouped query."""
    ids = list(application_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        _listed(user, cycle, to_confirm, Commitment.application_id, func.count(Commitment.id))
        .where(Commitment.application_id.in_(ids)).group_by(Commitment.application_id))
    return {application_id: count for application_id, count in rows}


def may_edit(user: User, commitment: Commitment) -> bool:
    """Agents edit their channel's commitments; a buyer, its organization's unconfirmed declarations."""
    if user.has_role(Role.ADMIN):
        return True
    if commitment.channel == UGAP_CHANNEL:
        return user.has_role(Role.UGAP_AGENT)
    if user.has_role(Role.PFRA_AGENT):
        return True
    return (user.has_role(Role.BUYER) and commitment.buyer_organization_id == user.organization_id
            and commitment.declared_by_buyer and commitment.confirmed_at is None)


# --- reminders, follow-up mails, dashboard -------------------------------------------------------------


def unreviewed_count(cycle: Cycle) -> int:
    """Selected solutions that no commitment mentions yet."""
    covered = exists().where(Commitment.application_id == Application.id)
    return db.session.scalar(
        select(func.count(Application.id)).join(Decision, Decision.application_id == Application.id)
        .where(Application.cycle_id == cycle.id, Decision.outcome == "selected", Application.status == "selected",
               ~covered)) or 0


def census_audience(cycle: Cycle) -> list[User]:
    """The stage reminders go to the agents while selected solutions are not yet reviewed (UGAP agents once
    their phase has begun)."""
    if not unreviewed_count(cycle):
        return []
    roles = [Role.PFRA_AGENT] + ([Role.UGAP_AGENT] if phase(cycle) == "ugap" else [])
    # Filtered by the database, and without loading every person's roles (a national round is thousands of
    # agents, read on the dispatcher's pass at the round's due time).
    return list(db.session.scalars(
        select(User).where(User.active.is_(True),
                           User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(roles))))
        .order_by(User.id).options(lazyload(User.role_rows))))


def ask_follow_ups(now: datetime | None = None) -> int:
    """Mail each recorder whose commitment's expected date passed `delay` days ago, once, asking whether the
    purchase happened. Flushes; the caller commits."""
    from innovation_cycle.services import notifications

    now = now or clock.now()
    today = clock.to_paris(now).date()
    candidates = db.session.scalars(
        select(Commitment).where(Commitment.status.not_in(flow.FINAL), Commitment.expected_on.is_not(None),
                                 Commitment.follow_up_asked_at.is_(None), Commitment.recorded_by_id.is_not(None),
                                 Commitment.expected_on < today)
        .options(joinedload(Commitment.recorded_by), joinedload(Commitment.cycle))).all()
    sent = 0
    for commitment in candidates:
        delay = settings_of(commitment.cycle).follow_up_delay_days
        if commitment.expected_on + timedelta(days=delay) > today or not follow_up_open(commitment.cycle, now):
            continue
        notifications.notify_event(
            "commitment_follow_up", commitment, [commitment.recorded_by], subject=_(
                "L'achat de « %(solution)s » a-t-il eu lieu ?", solution=commitment.application.solution_name),
            message=_("Vous avez enregistré un engagement d'achat de « %(solution)s » par %(buyer)s, prévu le "
                     "%(date)s. Indiquez où en est l'achat : procédure lancée, marché notifié ou abandon.",
                     solution=commitment.application.solution_name, buyer=commitment.buyer.name,
                    date=commitment.expected_on.strftime("%d/%m/%Y")),
            link=notifications.external_url("commitments.show", commitment_id=commitment.id))
        commitment.follow_up_asked_at = now
        sent += 1
    db.session.flush()
    return sent


def _census_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Task]:
    """PFRA agents: selected solutions to review and declarations to confirm; UGAP agents in their phase;
    buyers: the shortlist of their needs to answer."""
    if cycle is None or cycle.state != STAGE:
        return []
    window = cycle.window(STAGE)
    deadline = window.closes_at if window else None
    tasks: list[Task] = []
    agent = user.has_role(Role.PFRA_AGENT) or (user.has_role(Role.UGAP_AGENT) and phase(cycle, now) == "ugap")
    if agent:
        left = unreviewed_count(cycle)
        if left:
            tasks.append(Task(ngettext("%(num)d solution retenue sans engagement recensé",
                                       "%(num)d solutions retenues sans engagement recensé", left),
                              deadline, url_for("commitments.index", cycle_id=cycle.id)))
    if user.has_role(Role.PFRA_AGENT):
        waiting = db.session.scalar(select(func.count(Commitment.id)).where(
            Commitment.cycle_id == cycle.id, Commitment.confirmed_at.is_(None))) or 0
        if waiting:
            tasks.append(Task(ngettext("%(num)d déclaration d'acheteur à confirmer",
                                       "%(num)d déclarations d'acheteurs à confirmer", waiting),
                              deadline, url_for("commitments.index", cycle_id=cycle.id, to_confirm=1), urgent=True))
    if user.has_role(Role.UGAP_AGENT) and phase(cycle, now) == "pfra":
        tasks.append(Task(_("Préparer le recensement des clients nationaux (phase UGAP à partir du %(date)s)",
                            date=_day(settings_of(cycle).ugap_phase_opens_at)), deadline,
                          url_for("commitments.index", cycle_id=cycle.id)))
    if user.has_role(Role.BUYER) and user.organization_id:
        shortlisted = db.session.scalar(
            select(func.count(func.distinct(DecisionNeed.decision_id))).join(Need, Need.id == DecisionNeed.need_id)
            .join(Decision, Decision.id == DecisionNeed.decision_id)
            .where(Need.cycle_id == cycle.id, Need.organization_id == user.organization_id,
                   Decision.outcome == "selected")) or 0
        if shortlisted:
            tasks.append(Task(ngettext("%(num)d solution retenue pour vos besoins : déclarez vos intentions d'achat",
                                       "%(num)d solutions retenues pour vos besoins : déclarez vos intentions "
                                       "d'achat", shortlisted), deadline,
                              url_for("commitments.index", cycle_id=cycle.id)))
    return tasks


def register() -> None:
    from innovation_cycle.services import notifications

    if _census_tasks not in TASK_SOURCES:
        TASK_SOURCES.append(_census_tasks)
    notifications.register_audience(STAGE, census_audience)


register()


@dataclass
class ShortlistRow:
    application: Application
    needs: list[Need] = field(default_factory=list)
    commitments: int = 0


# --- carry-over: accepted needs without a commitment, into the next needs collection --------------------


def carry_over_candidates(user: User) -> list[Need]:
    """The accepted needs of the buyer's organization, in closed cycles, that no commitment answers and that
    were not carried over yet."""
    from innovation_cycle.models import NeedCarryOver

    if not (user.has_role(Role.BUYER) and user.organization_id):
        return []
    return list(db.session.scalars(
        select(Need).join(Cycle, Cycle.id == Need.cycle_id)
        .where(Need.organization_id == user.organization_id, Need.status == "accepted", Cycle.state == "closed",
               ~exists().where(Commitment.need_id == Need.id),
               ~exists().where(NeedCarryOver.source_need_id == Need.id))
        .order_by(Need.title, Need.id)))


CARRIED_FIELDS = ("title", "problem", "context", "expected_outcomes", "constraint_data_protection",
                  "constraint_security", "constraint_hosting", "constraint_accessibility",
                  "constraint_interoperability", "environmental_social", "estimated_value", "procurement_category",
                  "cpv_codes", "purchase_horizon", "scope", "open_to_experimentation", "non_technological_welcome",
                  "confidential", "contact_name", "contact_email", "contact_phone")


def carry_over(need_id: int, user: User) -> Need:
    """One click: a draft copy of the need in the open needs collection, recording where it came from."""
    from innovation_cycle.models import NeedCarryOver
    from innovation_cycle.services import needs as need_service

    source = lock_row(Need, need_id)
    if source is None:
        raise LookupError(need_id)
    if source.id not in {n.id for n in carry_over_candidates(user)}:
        raise MoveRefused([Refusal("not_allowed", {"message": _(
            "Ce besoin ne peut pas être reconduit : seul un besoin accepté de votre organisation, sans engagement "
            "d'achat, dans un cycle clos, peut l'être, une seule fois.")})])
    target = need_service.collection_cycle()
    if target is None or target.year <= source.cycle.year or not need_service.is_collection_open(target):
        raise MoveRefused([Refusal("not_allowed", {"message": _(
            "Aucune collecte de besoins n'est ouverte pour l'année suivante : vous pourrez reconduire ce besoin "
            "à son ouverture.")})])
    now = clock.now()
    need = Need(cycle_id=target.id, organization_id=source.organization_id, author_id=user.id, status="draft",
                created_at=now, updated_at=now, **{f: getattr(source, f) for f in CARRIED_FIELDS})
    db.session.add(need)
    db.session.flush()
    db.session.add(NeedCarryOver(need_id=need.id, source_need_id=source.id, carried_by_id=user.id, carried_at=now))
    db.session.flush()
    audit.record("need.carry_over", need, after={"source_need_id": source.id, "cycle_id": target.id}, actor=user)
    return need


# --- the company's choice to be named on the public results page -----------------------------------------


def set_named_in_results(application_id: int, user: User, named: bool) -> Application:
    application = lock_row(Application, application_id)
    if application is None:
        raise LookupError(application_id)
    before = application.named_in_results
    application.named_in_results = bool(named)
    application.updated_at = clock.now()
    db.session.flush()
    audit.record("application.named_in_results", application, before={"named_in_results": before},
                 after={"named_in_results": bool(named)}, actor=user)
    return application


def own_selected_answers(user: User) -> list[Application]:
    if not (user.has_role(Role.COMPANY) and user.organization_id):
        return []
    return list(db.session.scalars(
        select(Application).join(Company, Company.id == Application.company_id)
        .where(Company.organization_id == user.organization_id, Application.status == "selected")
        .order_by(Application.id)))
