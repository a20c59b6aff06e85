"""The cycle's results (stage 5, issue 8): the bilan computed from the records in SQL aggregates, its
editorial text, the founding partners' approvals, publication (which sends the "results published"
announcement) and the exit guard that keeps a cycle open until its bilan is published.

The bilan of a whole convention (its three cycles side by side) is a fixed number of grouped queries,
whatever the number of needs, answers and commitments (tests/test_results.py asserts the budget).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import case, func, select

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    Commitment,
    Company,
    Convention,
    ConventionMembership,
    Cycle,
    Need,
    Organization,
    PurchaseBaseline,
    ResultsApproval,
    ResultsReport,
    Role,
    Theme,
    Tier,
    User,
    need_themes,
)
from innovation_cycle.services import audit
from innovation_cycle.services.cycles import register_exit_condition
from innovation_cycle.services.dashboard import TASK_SOURCES, Task
from workflows.base import MoveRefused, Refusal
from workflows.commitment import LEVELS

OBJECTIVE = Decimal("0.02")  # Pacte national pour la croissance, measure 32: 2% to innovative SMEs and ETIs
SME_SIZES = ("micro", "pme")
SIZE_LABELS = {"micro": "micro-entreprises", "pme": "PME", "eti": "ETI", "ge": "grandes entreprises",
               None: "taille inconnue"}
ZERO = Decimal("0")


@dataclass
class CycleBilan:
    cycle_id: int
    year: int
    funnel: dict[str, int] = field(default_factory=dict)
    by_level: dict[str, int] = field(default_factory=dict)
    committed_by_channel: dict[str, Decimal] = field(default_factory=dict)
    contracted_by_channel: dict[str, Decimal] = field(default_factory=dict)
    by_size: dict[str | None, dict[str, Any]] = field(default_factory=dict)
    by_department: dict[str | None, int] = field(default_factory=dict)
    by_theme: dict[str, int] = field(default_factory=dict)
    lead_days_to_commitment: float | None = None
    lead_days_to_contract: float | None = None
    baseline: PurchaseBaseline | None = None
    pfra_contracted_sme: Decimal = ZERO
    pfra_contracted_sme_eti: Decimal = ZERO

    @property
    def committed_total(self) -> Decimal:
        return sum(self.committed_by_channel.values(), ZERO)

    @property
    def contracted_total(self) -> Decimal:
        return sum(self.contracted_by_channel.values(), ZERO)

    @property
    def sme_share(self) -> float | None:
        """The share of committed amounts going to micro, small and medium companies (décret 2008-1354)."""
        total = sum((v["committed"] for v in self.by_size.values()), ZERO)
        if not total:
            return None
        return float(sum((self.by_size.get(s, {}).get("committed", ZERO) for s in SME_SIZES), ZERO) / total)

    def objective_share(self, with_eti: bool = False) -> float | None:
        """Innovative purchases contracted through the PFRA channels over the PFRA's purchases of the year."""
        if self.baseline is None:
            return None
        numerator = self.pfra_contracted_sme_eti if with_eti else self.pfra_contracted_sme
        return float(numerator / self.baseline.amount)


def _decimal(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def bilan(cycles: list[Cycle]) -> list[CycleBilan]:
    """The figures of `cycles`, side by side, in a fixed number of grouped queries (8)."""
    if not cycles:
        return []
    ids = [c.id for c in cycles]
    result = {c.id: CycleBilan(c.id, c.year) for c in cycles}
    for b in result.values():
        b.funnel = dict.fromkeys(("needs_submitted", "needs_accepted", "answers_submitted", "answers_eligible",
                                  "answers_selected", "commitments", "contracted"), 0)
        b.by_level = dict.fromkeys(LEVELS, 0)
        b.by_level["abandoned"] = 0
    # 1. Needs.
    for cycle_id, status, count in db.session.execute(
            select(Need.cycle_id, Need.status, func.count()).where(Need.cycle_id.in_(ids))
            .group_by(Need.cycle_id, Need.status)):
        if status != "draft":
            result[cycle_id].funnel["needs_submitted"] += count
        if status == "accepted":
            result[cycle_id].funnel["needs_accepted"] += count
    # 2. Answers.
    for cycle_id, status, count in db.session.execute(
            select(Application.cycle_id, Application.status, func.count()).where(Application.cycle_id.in_(ids))
            .group_by(Application.cycle_id, Application.status)):
        f = result[cycle_id].funnel
        if status not in ("draft", "withdrawn"):
            f["answers_submitted"] += count
        if status in ("eligible", "selected", "not_selected"):
            f["answers_eligible"] += count
        if status == "selected":
            f["answers_selected"] += count
    # 3. Commitments by status and channel: counts and amounts.
    for cycle_id, status, channel, count, committed, contracted in db.session.execute(
            select(Commitment.cycle_id, Commitment.status, Commitment.channel, func.count(),
                   func.sum(Commitment.amount_excl_vat), func.sum(Commitment.contract_amount))
            .where(Commitment.cycle_id.in_(ids), Commitment.confirmed_at.is_not(None))
            .group_by(Commitment.cycle_id, Commitment.status, Commitment.channel)):
        b = result[cycle_id]
        b.by_level[status] += count
        b.funnel["commitments"] += count
        if status != "abandoned":
            b.committed_by_channel[channel] = b.committed_by_channel.get(channel, ZERO) + _decimal(committed)
        if status == "contracted":
            b.funnel["contracted"] += count
            b.contracted_by_channel[channel] = b.contracted_by_channel.get(channel, ZERO) + _decimal(contracted)
    live = (Commitment.cycle_id.in_(ids), Commitment.confirmed_at.is_not(None), Commitment.status != "abandoned")
    # 4. By company size (computed, not declared), and the PFRA channels' contracted amounts for the 2% share.
    pfra = Commitment.channel.in_(("pfra_internal", "pfra_regional"))
    contracted_pfra = func.sum(case((pfra & (Commitment.status == "contracted"), Commitment.contract_amount),
                                    else_=0))
    for cycle_id, size, count, committed, contracted, pfra_contracted in db.session.execute(
            select(Commitment.cycle_id, Company.computed_size, func.count(), func.sum(Commitment.amount_excl_vat),
                   func.sum(case((Commitment.status == "contracted", Commitment.contract_amount), else_=0)),
                   contracted_pfra)
            .join(Company, Company.id == Commitment.company_id).where(*live)
            .group_by(Commitment.cycle_id, Company.computed_size)):
        b = result[cycle_id]
        b.by_size[size] = {"count": count, "committed": _decimal(committed), "contracted": _decimal(contracted)}
        if size in SME_SIZES:
            b.pfra_contracted_sme += _decimal(pfra_contracted)
        if size in (*SME_SIZES, "eti"):
            b.pfra_contracted_sme_eti += _decimal(pfra_contracted)
    # 5. By the company's department.
    for cycle_id, department, count in db.session.execute(
            select(Commitment.cycle_id, Organization.department, func.count())
            .join(Company, Company.id == Commitment.company_id)
            .join(Organization, Organization.id == Company.organization_id).where(*live)
            .group_by(Commitment.cycle_id, Organization.department)):
        result[cycle_id].by_department[department] = count
    # 6. By the need's theme.
    for cycle_id, theme, count in db.session.execute(
            select(Commitment.cycle_id, Theme.name, func.count())
            .join(need_themes, need_themes.c.need_id == Commitment.need_id)
            .join(Theme, Theme.id == need_themes.c.theme_id).where(*live)
            .group_by(Commitment.cycle_id, Theme.name)):
        result[cycle_id].by_theme[theme] = count
    # 7. Lead times: need submitted → first commitment → contract (medians, in days).
    leads: dict[int, tuple[list[float], list[float]]] = {i: ([], []) for i in ids}
    for cycle_id, submitted, committed, notified in db.session.execute(
            select(Commitment.cycle_id, Need.submitted_at, Commitment.first_committed_at,
                   Commitment.contract_notified_on).join(Need, Need.id == Commitment.need_id)
            .where(*live, Need.submitted_at.is_not(None), Commitment.first_committed_at.is_not(None))):
        submitted = _aware(submitted)
        leads[cycle_id][0].append((_aware(committed) - submitted).total_seconds() / 86400)
        if notified is not None:
            leads[cycle_id][1].append((notified - clock.to_paris(submitted).date()).days)
    for cycle_id, (to_commit, to_contract) in leads.items():
        result[cycle_id].lead_days_to_commitment = statistics.median(to_commit) if to_commit else None
        result[cycle_id].lead_days_to_contract = statistics.median(to_contract) if to_contract else None
    # 8. The denominators entered by the admin.
    years = {c.year: c.id for c in cycles}
    for baseline in db.session.scalars(select(PurchaseBaseline).where(PurchaseBaseline.year.in_(years))):
        result[years[baseline.year]].baseline = baseline
    return [result[i] for i in ids]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=clock.UTC)


def convention_bilan(convention: Convention) -> list[CycleBilan]:
    cycles = list(db.session.scalars(select(Cycle).where(Cycle.convention_id == convention.id).order_by(Cycle.year)))
    return bilan(cycles)


# --- who may approve: the convention's founding partners -------------------------------------------------


def founding_partners(cycle: Cycle) -> list[Organization]:
    return list(db.session.scalars(
        select(Organization).join(ConventionMembership, ConventionMembership.organization_id == Organization.id)
        .where(ConventionMembership.convention_id == cycle.convention_id,
               ConventionMembership.tier == Tier.FOUNDING_PARTNER).order_by(Organization.name)))


def founding_partner_of(user: User, cycle: Cycle) -> Organization | None:
    return next((o for o in founding_partners(cycle) if o.id == user.organization_id), None)


# --- the report: text, approvals, publication ----------------------------------------------------------


def report_of(cycle: Cycle) -> ResultsReport | None:
    return db.session.get(ResultsReport, cycle.id)


def is_published(cycle: Cycle) -> bool:
    report = report_of(cycle)
    return report is not None and report.published_at is not None


def _refuse(message: str) -> MoveRefused:
    return MoveRefused([Refusal("results", {"message": message})])


def save_editorial(cycle: Cycle, user: User, text: str) -> ResultsReport:
    """The admin's text. A changed text clears the approvals: the founders approve what is published."""
    text = (text or "").strip()
    if not text:
        raise _refuse(_("Rédigez le texte du bilan."))
    report = report_of(cycle)
    if report is not None and report.published_at is not None:
        raise _refuse(_("Le bilan est publié : il ne peut plus être modifié."))
    if report is None:
        report = ResultsReport(cycle_id=cycle.id, editorial=text, updated_at=clock.now())
        db.session.add(report)
        before = None
    else:
        before = {"editorial": report.editorial}
        if report.editorial != text:
            report.approvals.clear()
        report.editorial = text
        report.updated_at = clock.now()
    db.session.flush()
    audit.record("results.editorial", object_type="cycles", object_id=cycle.id, before=before,
                 after={"editorial": text}, actor=user)
    return report


def approve(cycle: Cycle, user: User) -> ResultsApproval:
    """A user of a founding partner approves the current draft, for their organization."""
    organization = founding_partner_of(user, cycle)
    if organization is None:
        raise _refuse(_("Seul un membre fondateur de la convention approuve le bilan."))
    report = report_of(cycle)
    if report is None or not report.editorial:
        raise _refuse(_("Le bilan n'est pas encore rédigé."))
    if report.published_at is not None:
        raise _refuse(_("Le bilan est déjà publié."))
    existing = next((a for a in report.approvals if a.organization_id == organization.id), None)
    if existing is not None:
        return existing
    approval = ResultsApproval(organization_id=organization.id, user_id=user.id, approved_at=clock.now())
    report.approvals.append(approval)
    db.session.flush()
    audit.record("results.approve", object_type="cycles", object_id=cycle.id,
                 after={"organization_id": organization.id}, actor=user)
    return approval


def missing_approvals(cycle: Cycle) -> list[Organization]:
    report = report_of(cycle)
    approved = {a.organization_id for a in report.approvals} if report else set()
    return [o for o in founding_partners(cycle) if o.id not in approved]


def publish(cycle: Cycle, user: User) -> ResultsReport:
    """Publish the approved bilan, and send the "results published" announcement (not entering the stage)."""
    from innovation_cycle.services import notifications

    if cycle.state != "results_communication":
        raise _refuse(_("Le bilan se publie pendant l'étape de communication des résultats."))
    report = report_of(cycle)
    if report is None or not report.editorial:
        raise _refuse(_("Le bilan n'est pas encore rédigé."))
    if report.published_at is not None:
        return report
    missing = missing_approvals(cycle)
    if missing:
        raise _refuse(_("Il manque l'approbation de : %(names)s.", names=", ".join(o.name for o in missing)))
    report.published_at = clock.now()
    report.published_by_id = user.id
    db.session.flush()
    audit.record("results.publish", object_type="cycles", object_id=cycle.id, after={"published": True},
                 actor=user)
    notifications.announce_results(cycle)
    return report


def published_cycle(year: int) -> Cycle | None:
    """The cycle of `year` whose bilan is published (the latest convention's, if several)."""
    return db.session.scalar(
        select(Cycle).join(ResultsReport, ResultsReport.cycle_id == Cycle.id)
        .where(Cycle.year == year, ResultsReport.published_at.is_not(None)).order_by(Cycle.id.desc()).limit(1))


def named_solutions(cycle: Cycle) -> tuple[list[Application], int]:
    """The selected solutions of companies that agreed to be named, and how many others (counted, not named)."""
    from sqlalchemy.orm import joinedload

    selected = list(db.session.scalars(
        select(Application).where(Application.cycle_id == cycle.id, Application.status == "selected")
        .options(joinedload(Application.company).joinedload(Company.organization))
        .order_by(Application.solution_name)))
    named = [a for a in selected if a.named_in_results]
    return named, len(selected) - len(named)


def named_solutions_page(cycle: Cycle, page: int, per_page: int) -> tuple[Any, int]:
    """`named_solutions` a page at a time (a national cycle selects hundreds of solutions: the results page does
    not grow with them): the page of named solutions, by name, and how many others (counted, not named)."""
    from sqlalchemy.orm import joinedload

    selected = (Application.cycle_id == cycle.id, Application.status == "selected")
    named = db.paginate(
        select(Application).where(*selected, Application.named_in_results.is_(True))
        .options(joinedload(Application.company).joinedload(Company.organization))
        .order_by(Application.solution_name, Application.id), page=page, per_page=per_page, error_out=False)
    unnamed = db.session.scalar(select(func.count()).select_from(Application)
                                .where(*selected, Application.named_in_results.is_(False)))
    return named, unnamed or 0


def _bilan_published(cycle: Cycle) -> list[Refusal]:
    if is_published(cycle):
        return []
    return [Refusal("results_unpublished", {"message": _(
        "Le bilan du cycle %(year)s n'est pas publié : le cycle ne peut être clos qu'après sa publication.",
        year=cycle.year)})]


register_exit_condition("results_communication", _bilan_published)


def table_rows(bilans: list[CycleBilan]) -> list[list[Any]]:
    """The bilan as a table (open data): one row per indicator, one column per cycle of the convention."""
    from workflows.commitment import STATES

    def row(label: str, values: list[Any]) -> list[Any]:
        return [label, *values]

    rows = [row("indicateur", [b.year for b in bilans])]
    for key in ("needs_submitted", "needs_accepted", "answers_submitted", "answers_eligible", "answers_selected",
                "commitments", "contracted"):
        rows.append(row(key, [b.funnel[key] for b in bilans]))
    for state in STATES:
        rows.append(row(f"commitments_{state}", [b.by_level.get(state, 0) for b in bilans]))
    for channel in ("pfra_internal", "pfra_regional", "ugap_national"):
        rows.append(row(f"committed_eur_{channel}", [b.committed_by_channel.get(channel, ZERO) for b in bilans]))
        rows.append(row(f"contracted_eur_{channel}", [b.contracted_by_channel.get(channel, ZERO) for b in bilans]))
    for size in ("micro", "pme", "eti", "ge"):
        rows.append(row(f"committed_eur_size_{size}",
                        [b.by_size.get(size, {}).get("committed", ZERO) for b in bilans]))
    rows.append(row("sme_share_committed", [_round(b.sme_share) for b in bilans]))
    rows.append(row("objective_share_sme", [_round(b.objective_share()) for b in bilans]))
    rows.append(row("objective_share_sme_eti", [_round(b.objective_share(True)) for b in bilans]))
    rows.append(row("median_days_need_to_commitment", [_round(b.lead_days_to_commitment, 1) for b in bilans]))
    rows.append(row("median_days_need_to_contract", [_round(b.lead_days_to_contract, 1) for b in bilans]))
    return rows


def _round(value: float | None, digits: int = 4) -> float | str:
    return "" if value is None else round(value, digits)


# --- the 2% objective's denominator: the PFRA's purchases per year, entered by the admin ------------------

# A region's State purchases are counted in millions or in hundreds of millions: 100 billion is a typo.
MAX_BASELINE = Decimal("100000000000")
FIRST_YEAR, LAST_YEAR = 2000, 2100


def baselines() -> list[PurchaseBaseline]:
    return list(db.session.scalars(select(PurchaseBaseline).order_by(PurchaseBaseline.year.desc())))


def baseline_of(year: int) -> PurchaseBaseline | None:
    return db.session.get(PurchaseBaseline, year)


def save_baseline(year: int | None, amount: Any, source: str, *, actor: User | None,
                  existing: bool = False) -> PurchaseBaseline:
    """Enter (or, `existing`, correct) the PFRA's purchases of `year` with the document they come from; audited.
    A new entry for a year already entered is refused: the admin corrects that one instead."""
    from innovation_cycle.services.procedures import FieldError, Invalid, amount_errors

    errors: list[FieldError] = []
    row = None
    if existing:
        row = db.session.get(PurchaseBaseline, year, with_for_update=True, populate_existing=True)
        if row is None:
            raise LookupError(year)
    elif year is None:
        errors.append(FieldError("year", _("Indiquez l'année des achats.")))
    elif not FIRST_YEAR <= year <= LAST_YEAR:
        errors.append(FieldError("year", _("Indiquez une année entre %(first)s et %(last)s.", first=FIRST_YEAR,
                                           last=LAST_YEAR)))
    elif baseline_of(year) is not None:
        errors.append(FieldError("year", _("Les achats de %(year)s sont déjà saisis : modifiez-les plutôt.",
                                           year=year)))
    value, problems = amount_errors(
        amount, "amount", maximum=MAX_BASELINE,
        missing=_("Indiquez le montant des achats de la PFRA pour l'année, en euros hors taxes."),
        absurd=_("Ce montant n'est pas plausible (100 milliards d'euros ou plus) : vérifiez la saisie."))
    errors.extend(problems)
    source = (source or "").strip()
    if not source:
        errors.append(FieldError("source", _("Indiquez la source de ce montant (rapport, tableau de bord, "
                                             "extraction) : le bilan public la cite.")))
    if errors:
        raise Invalid(errors)
    before = ({"amount": str(Decimal(row.amount).quantize(Decimal("0.01"))), "source": row.source}
              if row is not None else None)
    if row is None:
        row = PurchaseBaseline(year=year, amount=value, source=source)
        db.session.add(row)
    else:
        row.amount, row.source = value, source
    db.session.flush()
    after = {"amount": str(Decimal(row.amount).quantize(Decimal("0.01"))), "source": row.source}
    if before == after:
        return row
    audit.record("purchase_baseline.update" if before else "purchase_baseline.create",
                 object_type="purchase_baselines", object_id=row.year, before=before, after=after, actor=actor)
    return row


# --- dashboard: the bilan to write, approve, publish; the cycle to close ---------------------------------


def _results_tasks(user: User, cycle: Cycle | None, now: datetime) -> list[Any]:
    """The admin: the year's purchases to enter (from the census on), the bilan to write, to publish once
    approved, the cycle to close once published; a founding partner's user: the draft to approve."""

    from innovation_cycle.services.dashboard import Task

    if cycle is None or cycle.state not in ("commitment_census", "results_communication"):
        return []
    window = cycle.window("results_communication")
    deadline = window.closes_at if window else None
    tasks: list[Task] = []
    report = report_of(cycle)
    admin = user.has_role(Role.ADMIN)
    if admin and baseline_of(cycle.year) is None:
        tasks.append(Task(_("Saisir les achats de la PFRA en %(year)s (dénominateur de l'objectif de 2 %%)",
                            year=cycle.year), deadline, url_for("admin.baseline_new", year=cycle.year)))
    if cycle.state != "results_communication":
        return tasks
    manage = url_for("results.manage", cycle_id=cycle.id)
    if admin and (report is None or not report.editorial):
        tasks.append(Task(_("Rédiger le bilan du cycle %(year)s", year=cycle.year), deadline, manage))
    elif admin and report.published_at is None:
        missing = missing_approvals(cycle)
        if missing:
            tasks.append(Task(_("Bilan %(year)s : en attente de l'approbation de %(names)s", year=cycle.year,
                                names=", ".join(o.name for o in missing)), deadline, manage))
        else:
            tasks.append(Task(_("Publier le bilan du cycle %(year)s : les membres fondateurs l'ont approuvé",
                                year=cycle.year), deadline, manage, urgent=True))
    elif admin:
        tasks.append(Task(_("Le bilan %(year)s est publié : clore le cycle", year=cycle.year), deadline,
                          url_for("admin.cycle", cycle_id=cycle.id)))
    if report is not None and report.editorial and report.published_at is None:
        organization = founding_partner_of(user, cycle)
        if organization is not None and organization.id not in {a.organization_id for a in report.approvals}:
            tasks.append(Task(_("Approuver le bilan du cycle %(year)s pour %(name)s", year=cycle.year,
                                name=organization.name), deadline,
                              url_for("results.preview", cycle_id=cycle.id), urgent=True))
    return tasks


def register_tasks() -> None:
    if _results_tasks not in TASK_SOURCES:
        TASK_SOURCES.append(_results_tasks)


register_tasks()
