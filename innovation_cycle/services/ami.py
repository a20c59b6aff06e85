"""The cycle's call for expressions of interest (AMI): its text, written by the admin before the AMI stage,
whether it is open, and what its public page shows.

The AMI is open while the cycle is in `ami_sourcing` and its window has not closed: it opens when the admin
moves the cycle (the move is refused without an AMI text) and closes at its date, not when a job notices.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Select, String, and_, cast, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from innovation_cycle import clock, formatting
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AmiCall,
    Application,
    Attachment,
    CommitteeMember,
    Cycle,
    Need,
    Organization,
    Role,
    StageWindow,
    Theme,
    User,
    need_themes,
)
from innovation_cycle.services import audit
from innovation_cycle.services.cycles import register_exit_condition
from innovation_cycle.services.dashboard import TASK_SOURCES, Task
from workflows.base import Refusal

TEXT_FIELDS = ("title", "introduction", "eligibility", "innovation_definition", "calendar_text",
               "evaluation_criteria", "legal_notice")
REQUIRED_FIELDS = ("title", "introduction", "eligibility", "innovation_definition", "evaluation_criteria",
                   "legal_notice")
# The AMI can be written in these states; after its close it is an archive.
EDITABLE_STATES = ("draft", "needs_collection", "ami_sourcing")
CONFIDENTIAL_BUYER = "un acheteur public de la région"


# --- open or not -------------------------------------------------------------------------------------------


def window(cycle: Cycle) -> tuple[datetime | None, datetime | None]:
    w = cycle.window("ami_sourcing")
    return (w.opens_at, w.closes_at) if w else (None, None)


def is_open(cycle: Cycle | None, now: datetime | None = None) -> bool:
    """Companies may answer: the cycle is in the AMI stage and the deadline has not passed."""
    if cycle is None or cycle.state != "ami_sourcing":
        return False
    _opens, closes = window(cycle)
    return closes is None or (now or clock.now()) < closes


def phase(cycle: Cycle | None, now: datetime | None = None) -> str:
    """"upcoming" (not yet published), "open", or "closed" (deadline passed or a later stage)."""
    if cycle is None or cycle.state in ("draft", "needs_collection"):
        return "upcoming"
    if is_open(cycle, now):
        return "open"
    return "closed"


# --- the text -------------------------------------------------------------------------------------------


def _date(value: datetime | None) -> str:
    return formatting.day(value) if value else "…"


def default_texts(cycle: Cycle) -> dict[str, str]:
    """A first version the admin adapts: the legal notice is the one the issue requires, word for word in
    substance (sourcing under art. R2111-1, selection is not an award and obliges no one to buy)."""
    selection = cycle.window("selection")
    return {
        "title": _("Appel à manifestation d'intérêt %(year)s — solutions innovantes pour les acheteurs publics "
                   "des Hauts-de-France", year=cycle.year),
        "introduction": _(
            "Dans le cadre de la convention État–UGAP pour l'accès des TPE-PME innovantes à la commande publique, "
            "l'Observatoire régional de la commande publique (ORCP) des Hauts-de-France lance un appel à "
            "manifestation d'intérêt (AMI).\n\n"
            "Des acheteurs publics de la région (services de l'État, collectivités, établissements publics) ont "
            "exprimé des besoins d'innovation. Les entreprises qui proposent une solution innovante répondant à un "
            "ou plusieurs de ces besoins sont invitées à la présenter."),
        "eligibility": _(
            "L'AMI s'adresse en priorité aux très petites, petites et moyennes entreprises (TPE-PME au sens de "
            "l'annexe I du règlement (UE) n° 651/2014 et du décret n° 2008-1354) qui proposent une solution "
            "innovante.\n\n"
            "Les entreprises de taille intermédiaire (ETI) peuvent répondre lorsque leur solution est innovante ; "
            "les start-up, jeunes entreprises innovantes (JEI) et groupements d'entreprises sont les bienvenus."),
        "innovation_definition": _(
            "Est innovante, au sens de l'article L2172-3 du Code de la commande publique, une solution nouvelle ou "
            "sensiblement améliorée. Elle peut porter sur :\n"
            "- un produit ou un service (innovation de produit) ;\n"
            "- un procédé de production ou de fourniture (innovation de procédé) ;\n"
            "- une méthode de commercialisation (innovation de commercialisation) ;\n"
            "- une méthode d'organisation (innovation d'organisation).\n\n"
            "L'innovation peut être technologique ou non technologique."),
        "calendar_text": _(
            "Après la clôture de l'AMI, les réponses sont examinées et le comité de pilotage sélectionne les "
            "solutions pertinentes (jusqu'au %(selection)s). Les acheteurs indiquent ensuite leurs intentions "
            "d'achat ; les résultats sont communiqués à l'automne %(year)s.",
            selection=_date(selection.closes_at if selection else None), year=cycle.year),
        "evaluation_criteria": _(
            "Les réponses sont examinées au regard des critères suivants :\n"
            "1. le caractère innovant de la solution ;\n"
            "2. sa pertinence au regard du ou des besoins visés ;\n"
            "3. sa maturité et sa capacité à être déployée ;\n"
            "4. la capacité de l'entreprise à la fournir ;\n"
            "5. ses impacts environnementaux et sociaux."),
        "legal_notice": _(
            "Le présent appel à manifestation d'intérêt est une démarche de sourcing au sens de l'article R2111-1 "
            "du Code de la commande publique : il a pour seul objet de préparer d'éventuels achats en "
            "connaissant mieux les solutions disponibles.\n\n"
            "Il ne constitue pas une procédure de passation d'un marché public. Être retenu à l'issue de l'AMI "
            "ne vaut pas attribution d'un marché et n'oblige aucun acheteur à acheter. Les informations "
            "communiquées ne peuvent pas avoir pour effet de fausser la concurrence ni de méconnaître les "
            "principes de la commande publique."),
    }


def ami_of(cycle: Cycle) -> AmiCall | None:
    return db.session.scalar(select(AmiCall).where(AmiCall.cycle_id == cycle.id))


@dataclass
class AmiError:
    field: str | None
    message: str


class AmiInvalid(Exception):
    def __init__(self, errors: list[AmiError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def save_text(cycle: Cycle, values: dict[str, Any], *, actor: User | None = None,
              reason: str | None = None) -> tuple[AmiCall, bool]:
    """Create or update the cycle's AMI; returns it and whether anything changed.

    Once the AMI is public a change needs a reason (candidates read it); after its close it is read-only."""
    errors: list[AmiError] = []
    if cycle.state not in EDITABLE_STATES or (cycle.state == "ami_sourcing" and not is_open(cycle)):
        errors.append(AmiError(None, _("L'AMI est clos : son texte ne peut plus être modifié.")))
    values = {k: (values.get(k) or "").strip() for k in TEXT_FIELDS}
    for name in REQUIRED_FIELDS:
        if not values[name]:
            errors.append(AmiError(name, _("Ce champ est obligatoire.")))
    if cycle.state == "ami_sourcing" and not (reason or "").strip():
        errors.append(AmiError("reason", _(
            "L'AMI est déjà publié : indiquez la raison de la modification (elle est conservée au journal).")))
    if errors:
        raise AmiInvalid(errors)
    ami = ami_of(cycle)
    now = clock.now()
    stored = {k: v or None for k, v in values.items()}
    stored.update({k: values[k] for k in REQUIRED_FIELDS})
    if ami is None:
        ami = AmiCall(cycle=cycle, created_at=now, updated_at=now, **stored)
        db.session.add(ami)
        db.session.flush()
        audit.record("ami.create", ami, actor=actor if actor else True, after=stored)
        return ami, True
    before = audit.snapshot(ami, list(TEXT_FIELDS))
    changed = {k: v for k, v in stored.items() if before[k] != v}
    if not changed:
        return ami, False
    for k, v in changed.items():
        setattr(ami, k, v)
    ami.updated_at = now
    audit.record("ami.update", ami, actor=actor if actor else True, reason=(reason or "").strip() or None,
                 before={k: before[k] for k in changed}, after=changed)
    return ami, True


def can_edit(cycle: Cycle) -> bool:
    return cycle.state in ("draft", "needs_collection") or is_open(cycle)


def rules_document(ami: AmiCall | None):
    """The AMI's rules document: its latest PDF attachment."""
    return ami.attachments[-1] if ami is not None and ami.attachments else None


# --- the guard on the cycle ---------------------------------------------------------------------------


def _ami_written(cycle: Cycle) -> list[Refusal]:
    ami = ami_of(cycle)
    if ami is not None and all(getattr(ami, f) for f in REQUIRED_FIELDS):
        return []
    return [Refusal("ami_missing", {"message": _(
        "Le texte de l'AMI n'est pas rédigé : rédigez-le (bouton « Texte et règlement de l'AMI » ci-dessus) "
        "avant d'ouvrir l'étape « Sourcing par l'AMI ».")})]


register_exit_condition("needs_collection", _ami_written)


# --- the public page ---------------------------------------------------------------------------------


@dataclass
class PublicFilters:
    q: str = ""
    theme_id: int | None = None
    category: str | None = None  # procurement category
    experimentation: bool = False
    non_technological: bool = False


@dataclass
class ThemeGroup:
    theme: Theme | None  # None: needs without a theme
    needs: list[Need] = field(default_factory=list)
    count: int = 0  # needs of the group matching the filters (the cards shown may be fewer)


NO_THEME = 0  # the theme filter's value for the needs without a theme ("Autres besoins")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _public_conditions(cycle: Cycle, filters: PublicFilters) -> list[Any]:
    """The WHERE clauses of the public listing, for any SELECT over `needs`: accepted needs of the cycle, and
    nothing else (drafts, submitted, returned, rejected and merged needs never reach the public page)."""
    conditions: list[Any] = [Need.cycle_id == cycle.id, Need.status == "accepted"]
    if filters.q:
        words = [w for w in filters.q.split() if w][:8]
        for word in words:
            pattern = f"%{_escape_like(word.lower())}%"
            public_name = select(Organization.id).where(Organization.id == Need.organization_id,
                                                        Need.confidential.is_(False),
                                                        Organization.name.ilike(pattern, escape="\\"))
            conditions.append(or_(Need.title.ilike(pattern, escape="\\"),
                                  Need.problem.ilike(pattern, escape="\\"),
                                  Need.context.ilike(pattern, escape="\\"),
                                  Need.expected_outcomes.ilike(pattern, escape="\\"),
                                  public_name.exists()))
    if filters.theme_id == NO_THEME:
        conditions.append(~select(need_themes.c.need_id).where(need_themes.c.need_id == Need.id).exists())
    elif filters.theme_id:
        conditions.append(Need.id.in_(select(need_themes.c.need_id).where(need_themes.c.theme_id == filters.theme_id)))
    if filters.category:
        conditions.append(Need.procurement_category == filters.category)
    if filters.experimentation:
        conditions.append(Need.open_to_experimentation.is_(True))
    if filters.non_technological:
        conditions.append(Need.non_technological_welcome.is_(True))
    return conditions


_CARD_LOADS = (selectinload(Need.organization), selectinload(Need.attachments))


def public_needs_query(cycle: Cycle, filters: PublicFilters) -> Select:
    """Accepted needs of the cycle matching the filters, in the page's order (title, then id)."""
    return (select(Need).where(*_public_conditions(cycle, filters))
            .options(selectinload(Need.themes), *_CARD_LOADS).order_by(Need.title, Need.id))


def themes_of(cycle: Cycle) -> list[Theme]:
    return list(db.session.scalars(select(Theme).where(Theme.cycle_id == cycle.id)
                                   .order_by(Theme.position, Theme.name)))


def group_by_theme(needs: list[Need], themes: list[Theme], only_theme: int | None = None) -> list[ThemeGroup]:
    """A need with several themes appears under each; needs without a theme come last."""
    groups: OrderedDict[int | None, ThemeGroup] = OrderedDict((t.id, ThemeGroup(t)) for t in themes)
    groups[None] = ThemeGroup(None)
    for need in needs:
        keys = [t.id for t in need.themes if t.id in groups] or [None]
        for key in keys:
            if only_theme is None or key == only_theme:
                groups[key].needs.append(need)
    for group in groups.values():
        group.count = len(group.needs)
    return [g for g in groups.values() if g.needs]


def count_public_needs(cycle: Cycle, filters: PublicFilters) -> int:
    """Distinct needs matching the filters (a need with two themes counts once)."""
    return db.session.scalar(select(func.count(Need.id)).where(*_public_conditions(cycle, filters))) or 0


def theme_overview(cycle: Cycle, filters: PublicFilters, themes: list[Theme], per_theme: int) -> list[ThemeGroup]:
    """The page without a theme chosen: each theme's count and its first `per_theme` needs (by title), the
    needs without a theme last. Three queries plus the cards' loads, and at most `per_theme` cards per theme,
    whatever the number of needs: the page is bounded by the number of themes, not of needs."""
    conditions = _public_conditions(cycle, filters)
    theme_key = func.coalesce(need_themes.c.theme_id, NO_THEME)
    joined = select(Need.id).outerjoin(need_themes, need_themes.c.need_id == Need.id).where(*conditions)
    counts = dict(db.session.execute(
        joined.with_only_columns(theme_key, func.count(Need.id)).group_by(theme_key)).all())
    ranked = joined.with_only_columns(
        theme_key.label("theme_id"), Need.id.label("need_id"),
        func.row_number().over(partition_by=theme_key, order_by=(Need.title, Need.id)).label("rank")).subquery()
    picked = db.session.execute(select(ranked.c.theme_id, ranked.c.need_id).where(ranked.c.rank <= per_theme)
                                .order_by(ranked.c.rank)).all()
    needs = {n.id: n for n in db.session.scalars(
        select(Need).where(Need.id.in_({need_id for _t, need_id in picked})).options(*_CARD_LOADS))}
    groups: OrderedDict[int, ThemeGroup] = OrderedDict((t.id, ThemeGroup(t)) for t in themes)
    groups[NO_THEME] = ThemeGroup(None)
    for theme_id, need_id in picked:
        if theme_id in groups:
            groups[theme_id].needs.append(needs[need_id])
    for theme_id, group in groups.items():
        group.count = counts.get(theme_id, 0)
    return [g for g in groups.values() if g.count]


def theme_page(cycle: Cycle, filters: PublicFilters, themes: list[Theme], page: int, per_page: int):
    """One theme chosen (or the needs without a theme): its needs, a page at a time."""
    query = (select(Need).where(*_public_conditions(cycle, filters)).options(*_CARD_LOADS)
             .order_by(Need.title, Need.id))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def public_signature(cycle: Cycle) -> tuple[Any, ...]:
    """What the public needs section depends on in the database, read in one query: the cycle's version and
    state, the AMI text's last change, the needs' last change and accepted count, the needs' and the AMI's
    attachments, the themes.
    A cached section whose signature differs is stale: publishing, changing or withdrawing a need, moving the
    cycle, editing the AMI or its themes, or adding a file each change it."""
    needs_of_cycle = select(Need.id).where(Need.cycle_id == cycle.id)
    ami_of_cycle = select(AmiCall.id).where(AmiCall.cycle_id == cycle.id)
    row = db.session.execute(select(
        select(Cycle.version).where(Cycle.id == cycle.id).scalar_subquery(),
        select(Cycle.state).where(Cycle.id == cycle.id).scalar_subquery(),
        select(AmiCall.updated_at).where(AmiCall.cycle_id == cycle.id).scalar_subquery(),
        select(func.max(Need.updated_at)).where(Need.cycle_id == cycle.id).scalar_subquery(),
        select(func.count(Need.id)).where(Need.cycle_id == cycle.id, Need.status == "accepted").scalar_subquery(),
        select(func.count(Attachment.id)).where(Attachment.need_id.in_(needs_of_cycle)).scalar_subquery(),
        select(func.max(Attachment.id)).where(Attachment.need_id.in_(needs_of_cycle)).scalar_subquery(),
        # The AMI's rules document (the anonymous reader's page is cached whole, its download link included).
        select(func.count(Attachment.id)).where(Attachment.ami_id.in_(ami_of_cycle)).scalar_subquery(),
        select(func.max(Attachment.id)).where(Attachment.ami_id.in_(ami_of_cycle)).scalar_subquery(),
        # The themes (the sections and the filter's choices): added, removed, renamed or moved.
        select(func.aggregate_strings(cast(Theme.id, String) + ":" + cast(Theme.position, String) + ":"
                                      + Theme.name, "|")).where(Theme.cycle_id == cycle.id).scalar_subquery(),
    )).one()
    return tuple(str(value) for value in row)


def buyer_label(need: Need) -> str:
    """What the public sees of the buyer: its name, or « un acheteur public de la région »."""
    return need.public_buyer_name or _("un acheteur public de la région")


def public_cycle(cycle_id: int | None = None) -> Cycle | None:
    """The cycle whose AMI the public page shows: the one asked for, else an AMI open now, else the cycle
    under way (whose page then says the AMI is upcoming or closed, with its dates)."""
    if cycle_id is not None:
        return db.session.get(Cycle, cycle_id)
    from innovation_cycle.services import cycles

    # The windows joined (one query, not one more for them): `is_open` reads them.
    for cycle in db.session.scalars(select(Cycle).where(Cycle.state == "ami_sourcing")
                                    .options(joinedload(Cycle.windows)).order_by(Cycle.year.desc())).unique():
        if is_open(cycle):
            return cycle
    return cycles.current_cycle()


# --- dashboard -----------------------------------------------------------------------------------------


def _ami_tasks(user: User, _cycle: Cycle | None, now: datetime) -> list[Task]:
    """The admin writes the AMI before its stage opens; the listing readers follow the answers while it is
    open. A fixed number of queries, whatever the number of cycles (the dashboard has a query budget)."""
    if not user.has_role(Role.ADMIN, Role.PFRA_AGENT, Role.COMMITTEE_MEMBER):
        return []
    # One row per cycle, with only what the tasks say (loading Cycle objects would also load all windows).
    rows = db.session.execute(
        select(Cycle.id, Cycle.year, Cycle.state, AmiCall.id, StageWindow.opens_at, StageWindow.closes_at)
        .outerjoin(AmiCall, AmiCall.cycle_id == Cycle.id)
        .outerjoin(StageWindow, and_(StageWindow.cycle_id == Cycle.id, StageWindow.stage == "ami_sourcing"))
        .where(Cycle.state.in_(("draft", "needs_collection", "ami_sourcing"))).order_by(Cycle.year, Cycle.id)).all()
    tasks: list[Task] = []
    if user.has_role(Role.ADMIN):
        for cycle_id, year, state, ami_id, opens, _closes in rows:
            if state != "ami_sourcing" and ami_id is None:
                tasks.append(Task(_("Cycle %(year)s : rédiger le texte de l'AMI avant l'ouverture de l'étape "
                                    "« Sourcing par l'AMI »", year=year), opens,
                                  url_for("ami.edit", cycle_id=cycle_id)))
    sourcing = [(cycle_id, year, closes) for cycle_id, year, state, _a, _o, closes in rows if state == "ami_sourcing"]
    if sourcing and not user.has_role(Role.ADMIN, Role.PFRA_AGENT):
        mine = set(db.session.scalars(select(CommitteeMember.cycle_id).where(CommitteeMember.user_id == user.id)))
        sourcing = [row for row in sourcing if row[0] in mine]
    if sourcing:
        received = dict(db.session.execute(
            # count(*): counted in ix_applications_cycle_status alone (index-only), not row by row.
            select(Application.cycle_id, func.count())
            .where(Application.cycle_id.in_([row[0] for row in sourcing]), Application.status != "draft")
            .group_by(Application.cycle_id)).all())
        for cycle_id, year, closes in sourcing:
            count = received.get(cycle_id, 0)
            title = (ngettext("AMI %(year)s : %(num)d réponse reçue, à suivre",
                              "AMI %(year)s : %(num)d réponses reçues, à suivre", count, year=year)
                     if count else _("AMI %(year)s : aucune réponse reçue pour l'instant", year=year))
            tasks.append(Task(title, closes, url_for("listings.applications", cycle=cycle_id)))
    return tasks


if _ami_tasks not in TASK_SOURCES:
    TASK_SOURCES.append(_ami_tasks)
