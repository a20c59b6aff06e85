"""Which procurement procedure fits a purchase: a pure function of its amount, its buyer and its date.

The thresholds are data rows (`ProcedureThreshold`: amount, validity dates, legal source), never constants:
the rule applied is the one in force at the purchase's expected date (DESIGN §6). The advice is information
for the recorder, not a legal decision; choosing another procedure asks for a note. The secretariat keeps the
rows up to date through its form (`save_threshold`, at the end of this module): a new threshold is a new row
with its date and source, never an edit of the code.

Sources, checked on 1 December 2026 (see the issue 8 report for how):
- R2122-9-1: created by décret n° 2021-1634 du 13 décembre 2021 (JORF 15 déc. 2021), in force 16 Dec 2021,
  100 000 € HT, after the three-year experiment of décret n° 2018-1225 du 24 décembre 2018. Décret
  n° 2025-1386 du 29 décembre 2025 raises the low-value thresholds of R2122-8 (60 000 € supplies/services from
  1 Apr 2026, 100 000 € works from 1 Jan 2026), not R2122-9-1: no 140 000 € row is seeded.
- EU (formal procedure) thresholds for supplies and services, by two-year period (Commission regulations).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext

from innovation_cycle import formatting

INNOVATIVE, EU_CENTRAL, EU_OTHER = "innovative_no_competition", "eu_supplies_central", "eu_supplies_other"

R2018 = ("Décret n° 2018-1225 du 24 décembre 2018, expérimentation de trois ans des achats innovants sans "
         "publicité ni mise en concurrence préalables (valeur estimée inférieure à 100 000 € HT)")
R2122_9_1 = ("Code de la commande publique, art. R2122-9-1, créé par le décret n° 2021-1634 du 13 décembre 2021 "
             "(JORF du 15 décembre 2021), en vigueur le 16 décembre 2021")


def _eu(regulation: str) -> str:
    return (f"Règlement délégué (UE) {regulation} (seuils de la directive 2014/24/UE) ; code de la commande "
            "publique, art. L2124-1 et avis relatif aux seuils de procédure")


# (kind, amount, valid_from, valid_to inclusive, legal source). Copied as they are into the migration that
# seeds them; an admin corrects a row in the database, not here.
SEED: list[tuple[str, str, date, date | None, str]] = [
    (INNOVATIVE, "100000", date(2018, 12, 25), date(2021, 12, 15), R2018),
    (INNOVATIVE, "100000", date(2021, 12, 16), None, R2122_9_1),
    (EU_CENTRAL, "135000", date(2016, 1, 1), date(2017, 12, 31), _eu("2015/2170")),
    (EU_OTHER, "209000", date(2016, 1, 1), date(2017, 12, 31), _eu("2015/2170")),
    (EU_CENTRAL, "144000", date(2018, 1, 1), date(2019, 12, 31), _eu("2017/2365")),
    (EU_OTHER, "221000", date(2018, 1, 1), date(2019, 12, 31), _eu("2017/2365")),
    (EU_CENTRAL, "139000", date(2020, 1, 1), date(2021, 12, 31), _eu("2019/1828")),
    (EU_OTHER, "214000", date(2020, 1, 1), date(2021, 12, 31), _eu("2019/1828")),
    (EU_CENTRAL, "140000", date(2022, 1, 1), date(2023, 12, 31), _eu("2021/1952")),
    (EU_OTHER, "215000", date(2022, 1, 1), date(2023, 12, 31), _eu("2021/1952")),
    (EU_CENTRAL, "143000", date(2024, 1, 1), date(2025, 12, 31), _eu("2023/2495")),
    (EU_OTHER, "221000", date(2024, 1, 1), date(2025, 12, 31), _eu("2023/2495")),
    (EU_CENTRAL, "140000", date(2026, 1, 1), date(2027, 12, 31), _eu("2025/2152")),
    (EU_OTHER, "216000", date(2026, 1, 1), date(2027, 12, 31), _eu("2025/2152")),
]

LABELS = {
    "ugap": lazy_gettext("Achat auprès de l'UGAP, centrale d'achat"),
    "innovative_no_competition": lazy_gettext("Achat innovant sans publicité ni mise en concurrence préalables"),
    "innovation_partnership": lazy_gettext("Partenariat d'innovation"),
    "adapted": lazy_gettext("Procédure adaptée (MAPA)"),
    "formal": lazy_gettext("Procédure formalisée (appel d'offres, procédure avec négociation, dialogue "
                           "compétitif)"),
    "other": lazy_gettext("Autre procédure"),
}
BASES = {
    "ugap": "Code de la commande publique, art. L2113-2 et L2113-4",
    "innovation_partnership": "Code de la commande publique, art. L2172-3 et R2172-20 et suivants",
    "adapted": "Code de la commande publique, art. L2123-1 et R2123-1",
}


@dataclass(frozen=True)
class Threshold:
    kind: str
    amount: Decimal
    valid_from: date
    valid_to: date | None
    legal_source: str

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


@dataclass(frozen=True)
class Advice:
    procedure: str
    legal_basis: str
    threshold: Threshold | None = None
    # What the recorder should know besides (e.g. "no R2122-9-1 at that date").
    remark: str = ""

    @property
    def label(self) -> str:
        return str(LABELS[self.procedure])


def in_force(thresholds: Iterable[Any], kind: str, on: date) -> Threshold | None:
    """The row of `kind` in force on `on` (the latest starting one if an admin left an overlap)."""
    rows = [Threshold(t.kind, Decimal(t.amount), t.valid_from, t.valid_to, t.legal_source) for t in thresholds
            if t.kind == kind]
    current = [t for t in rows if t.in_force(on)]
    return max(current, key=lambda t: t.valid_from) if current else None


def advise(amount: Decimal, *, through_ugap: bool, central_buyer: bool, on: date, thresholds: Iterable[Any],
           needs_development: bool = False) -> Advice:
    """The procedure that fits. `central_buyer`: a State service (the EU's "central government authority"),
    whose formal threshold is lower; `needs_development`: the solution still needs research and development
    (a prototype or a pilot), which is what the partenariat d'innovation is for."""
    rows = list(thresholds)
    if through_ugap:
        return Advice("ugap", BASES["ugap"], remark=str(lazy_gettext(
            "Le client de l'UGAP est dispensé de publicité et de mise en concurrence pour ce qu'il lui confie.")))
    innovative = in_force(rows, INNOVATIVE, on)
    if needs_development:
        return Advice("innovation_partnership", BASES["innovation_partnership"])
    if innovative is not None and amount < innovative.amount:
        return Advice("innovative_no_competition", innovative.legal_source, innovative)
    remark = "" if innovative is not None else str(lazy_gettext(
        "À cette date, l'achat innovant sans publicité ni mise en concurrence n'existait pas."))
    formal = in_force(rows, EU_CENTRAL if central_buyer else EU_OTHER, on)
    if formal is not None and amount >= formal.amount:
        return Advice("formal", formal.legal_source, formal, remark)
    return Advice("adapted", BASES["adapted"], formal, remark)


def seed_thresholds() -> int:
    """Add the seed rows missing from the database (tests build their schema without the migrations)."""
    from sqlalchemy import select

    from innovation_cycle.extensions import db
    from innovation_cycle.models import ProcedureThreshold

    existing = set(db.session.execute(select(ProcedureThreshold.kind, ProcedureThreshold.valid_from)).tuples())
    added = 0
    for kind, amount, valid_from, valid_to, source in SEED:
        if (kind, valid_from) not in existing:
            db.session.add(ProcedureThreshold(kind=kind, amount=Decimal(amount), valid_from=valid_from,
                                              valid_to=valid_to, legal_source=source))
            added += 1
    db.session.flush()
    return added


def thresholds() -> list[Any]:
    from sqlalchemy import select

    from innovation_cycle.extensions import db
    from innovation_cycle.models import ProcedureThreshold

    return list(db.session.scalars(select(ProcedureThreshold)))


# --- the secretariat's rows (admin forms) ----------------------------------------------------------------

KIND_LABELS = {
    INNOVATIVE: lazy_gettext("Achat innovant sans publicité ni mise en concurrence (art. R2122-9-1)"),
    EU_CENTRAL: lazy_gettext("Procédure formalisée — fournitures et services des autorités publiques centrales "
                             "(services de l'État)"),
    EU_OTHER: lazy_gettext("Procédure formalisée — fournitures et services des autres pouvoirs adjudicateurs"),
}
# Every procurement threshold (the highest, the EU's works threshold, is about 5.5 M€) is far below this.
MAX_THRESHOLD = Decimal("10000000")
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


@dataclass
class FieldError:
    field: str | None
    message: str


class Invalid(Exception):
    """Refused input, each message next to its field (forms.put_errors)."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def amount_errors(text: Any, field: str, *, maximum: Decimal, absurd: str, missing: str
                  ) -> tuple[Decimal | None, list[FieldError]]:
    """An amount in euros typed the French way ("100 000", "100 000,00 €"), or a Decimal; positive and under
    `maximum` (beyond, a typing mistake)."""
    from flask_babel import gettext as _

    from innovation_cycle.services.commitments import parse_amount

    if isinstance(text, Decimal):
        amount: Decimal | None = text
    else:
        try:
            amount = parse_amount(text)
        except ValueError:
            return None, [FieldError(field, _("Saisissez un montant en euros, par exemple « 100 000 »."))]
    if amount is None:
        return None, [FieldError(field, missing)]
    if amount <= 0:
        return None, [FieldError(field, _("Le montant doit être positif."))]
    if amount >= maximum:
        return None, [FieldError(field, absurd)]
    return amount, []


def _period(valid_from: date | None, valid_to: date | None) -> str:
    from flask_babel import gettext as _

    start = valid_from.strftime("%d/%m/%Y") if valid_from else "?"
    if valid_to is None:
        return _("en vigueur depuis le %(start)s", start=start)
    return _("du %(start)s au %(end)s", start=start, end=valid_to.strftime("%d/%m/%Y"))


def save_threshold(threshold_id: int | None, *, kind: str, amount: Any, valid_from: date | None,
                   valid_to: date | None, legal_source: str, actor: Any) -> Any:
    """Add a threshold row, or correct one (`threshold_id`), audited. Two rows of the same rule may not be in
    force on the same day: the advice must know which one applies, so an overlap is refused, naming the row
    it overlaps."""
    from flask_babel import gettext as _
    from sqlalchemy import select

    from innovation_cycle.extensions import db
    from innovation_cycle.models import ProcedureThreshold
    from innovation_cycle.services import audit
    from innovation_cycle.services.locking import lock_row

    row = None
    if threshold_id is not None:
        row = lock_row(ProcedureThreshold, threshold_id)
        if row is None:
            raise LookupError(threshold_id)
    errors: list[FieldError] = []
    if kind not in KIND_LABELS:
        errors.append(FieldError("kind", _("Choisissez la règle à laquelle ce seuil s'applique.")))
    value, amount_problems = amount_errors(
        amount, "amount", maximum=MAX_THRESHOLD, missing=_("Indiquez le montant du seuil en euros hors taxes."),
        absurd=_("Ce montant n'est pas plausible pour un seuil de procédure (10 millions d'euros ou plus) : "
                 "vérifiez la saisie."))
    errors.extend(amount_problems)
    if valid_from is None:
        errors.append(FieldError("valid_from", _("Indiquez la date d'entrée en vigueur du seuil.")))
    elif not FIRST_DAY <= valid_from <= LAST_DAY:
        errors.append(FieldError("valid_from", _("Indiquez une date entre 2000 et 2100.")))
    if valid_to is not None and not FIRST_DAY <= valid_to <= LAST_DAY:
        errors.append(FieldError("valid_to", _("Indiquez une date entre 2000 et 2100.")))
    elif valid_to is not None and valid_from is not None and valid_to < valid_from:
        errors.append(FieldError("valid_to", _("La fin de validité ne peut pas précéder l'entrée en vigueur.")))
    source = (legal_source or "").strip()
    if not source:
        errors.append(FieldError("legal_source", _("Indiquez le texte qui fixe ce seuil (décret, règlement, "
                                                   "article du code) : l'avis de procédure le cite.")))
    if valid_from is not None and kind in KIND_LABELS and not any(e.field in ("valid_from", "valid_to")
                                                                  for e in errors):
        end = valid_to or LAST_DAY
        for other in db.session.scalars(select(ProcedureThreshold).where(ProcedureThreshold.kind == kind)
                                        .order_by(ProcedureThreshold.valid_from)):
            if row is not None and other.id == row.id:
                continue
            if other.valid_from <= end and (other.valid_to or LAST_DAY) >= valid_from:
                errors.append(FieldError("valid_from", _(
                    "Cette période chevauche celle d'un autre seuil de la même règle (%(amount)s € HT, %(period)s) : "
                    "une seule valeur doit s'appliquer à une date ; fermez d'abord l'autre période.",
                    amount=formatting.whole(other.amount),
                    period=_period(other.valid_from, other.valid_to))))
                break
    if errors:
        raise Invalid(errors)
    fields = ["kind", "amount", "valid_from", "valid_to", "legal_source"]
    before = _threshold_snapshot(row, fields) if row is not None else None
    if row is None:
        row = ProcedureThreshold()
        db.session.add(row)
    row.kind, row.amount, row.valid_from, row.valid_to, row.legal_source = kind, value, valid_from, valid_to, source
    db.session.flush()
    after = _threshold_snapshot(row, fields)
    if before == after:
        return row
    audit.record("procedure_threshold.update" if before else "procedure_threshold.create", row, before=before,
                 after=after, actor=actor)
    return row


def _threshold_snapshot(row: Any, fields: list[str]) -> dict[str, Any]:
    from innovation_cycle.services import audit

    data = audit.snapshot(row, fields)
    data["amount"] = str(Decimal(row.amount).quantize(Decimal("0.01")))
    return data
