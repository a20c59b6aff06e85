"""The committee's ranking of a cycle's eligible answers, computed in SQL.

One statement does the work whatever the number of scores (360,000 for 20,000 answers × 3 reviews × 6
criteria): it reads each submitted review's weighted score, stored on the review (the grid's weights; a
criterion left empty, or added after the review was written, simply does not count; `models.reviews` keeps it
true when scores or weights change), then per answer the weighted mean, the median (portable: the
middle row(s) by window `row_number`/`count`, which SQLite ≥ 3.25 and PostgreSQL both know), the standard
deviation (from the mean of squares: SQLite has no `stddev`), the spread (max − min) that flags a disagreement,
the reviews done beside the reviews expected (assignments), and the buyers' interest, counted apart from the
scores. Only the page's rows leave the database.

Per-reviewer normalization replaces each review's weighted score by its z-score among that reviewer's reviews
of the cycle (harsh and generous reviewers then weigh the same); the page says so when it is on.

A committee member never gets a line about a company they are conflicted with: the filter is a NOT EXISTS
against the conflicts table inside the same statement, so a count, a page or an export cannot leak it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    event,
    exists,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Engine

from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Company,
    Cycle,
    Need,
    Organization,
    Role,
    User,
    need_themes,
)
from innovation_cycle.models.decisions import Decision
from innovation_cycle.models.reviews import (
    Assignment,
    BuyerInterest,
    Conflict,
    Review,
    SelectionSettings,
)

# The answers the committee ranks: eligible ones, and those it has already decided on.
RANKED_STATES: tuple[str, ...] = ("eligible", "selected", "not_selected")
SIZES = ("micro", "pme", "eti", "ge")
DEFAULT_THRESHOLD = 1.5


@event.listens_for(Engine, "connect")
def _sqlite_math(dbapi_connection: Any, _record: Any) -> None:
    """SQLite builds without the math functions lack `sqrt`, which the z-scores need: provide it."""
    module = type(dbapi_connection).__module__
    if not module.startswith(("sqlite3", "pysqlite")):
        return
    try:
        dbapi_connection.execute("SELECT sqrt(4.0)")
    except Exception:  # noqa: BLE001 - the sqlite3 module's OperationalError: the function is missing
        dbapi_connection.create_function("sqrt", 1, lambda x: math.sqrt(x) if x is not None and x >= 0 else None,
                                         deterministic=True)



def need_choices(cycle: Cycle) -> list[tuple[int, str]]:
    """The needs the ranking can be narrowed to: accepted needs of the cycle that eligible answers target."""
    targeted = select(ApplicationNeed.need_id).join(Application, Application.id == ApplicationNeed.application_id) \
        .where(Application.cycle_id == cycle.id, Application.status.in_(RANKED_STATES))
    return [(need_id, title) for need_id, title in db.session.execute(
        select(Need.id, Need.title).where(Need.cycle_id == cycle.id, Need.status == "accepted",
                                          Need.id.in_(targeted))
        .order_by(func.lower(Need.title), Need.id))]

@dataclass
class RankingFilters:
    theme_id: int | None = None
    need_id: int | None = None
    size: str | None = None
    department: str | None = None
    status: str | None = None  # eligible | selected | not_selected
    normalized: bool = False


@dataclass
class RankingLine:
    """One answer's line: its figures, and what the page shows beside them."""

    rank: int
    application_id: int
    solution_name: str
    company_id: int
    company_name: str
    size: str | None
    department: str | None
    status: str
    score: float | None  # weighted mean (or mean z-score when normalized)
    median: float | None
    stddev: float | None
    spread: float | None  # max − min of the reviewers' (raw) weighted scores
    reviews_done: int
    reviews_expected: int
    interest_meet: int
    interest_test: int
    interest_none: int
    outcome: str | None
    to_discuss: bool
    needs: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class RankingPage:
    lines: list[RankingLine]
    total: int
    page: int
    per_page: int
    normalized: bool
    threshold: float

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def items(self) -> list[RankingLine]:
        return self.lines

    def iter_pages(self, left_edge: int = 2, left_current: int = 2, right_current: int = 4,
                   right_edge: int = 2) -> Iterable[int | None]:
        """The page numbers to show, None for a gap (Flask-SQLAlchemy's Pagination contract, for the macro)."""
        last = 0
        for number in range(1, self.pages + 1):
            if (number <= left_edge or self.page - left_current <= number <= self.page + right_current
                    or number > self.pages - right_edge):
                if last + 1 != number:
                    yield None
                yield number
                last = number


def settings_of(cycle: Cycle) -> SelectionSettings:
    """The cycle's selection settings, or the defaults (unsaved) when the stage has not been set up."""
    found = db.session.get(SelectionSettings, cycle.id)
    return found or SelectionSettings(cycle_id=cycle.id, reviewers_per_answer=3,
                                      disagreement_threshold=DEFAULT_THRESHOLD)


def _review_scores(cycle_id: Any, normalized: bool):
    """Each submitted review's weighted score (`ws`, stored on the review when its scores or the grid's weights
    change: 3 rows per answer to read, not 18 scores) and the figure ranked (`x`: ws, or its z-score among the
    same reviewer's reviews of the cycle)."""
    per_review = (
        select(Review.application_id.label("application_id"), Review.reviewer_id.label("reviewer_id"),
               Review.weighted_score.label("ws"))
        .where(Review.cycle_id == cycle_id, Review.status == "submitted", Review.weighted_score.is_not(None))
    ).cte("review_ws")
    if not normalized:
        return select(per_review.c.application_id, per_review.c.ws, per_review.c.ws.label("x")).cte("review_x")
    # Each reviewer's mean and mean of squares: a GROUP BY giving one row per reviewer, joined back by hash
    # (a window partitioned by reviewer would sort the cycle's reviews once more).
    stats = (select(per_review.c.reviewer_id, func.avg(per_review.c.ws).label("m"),
                    func.avg(per_review.c.ws * per_review.c.ws).label("m2"))
             .group_by(per_review.c.reviewer_id).cte("reviewer_stats"))
    variance = stats.c.m2 - stats.c.m * stats.c.m
    z = case((variance > 1e-12, (per_review.c.ws - stats.c.m) / func.sqrt(variance)), else_=literal(0.0))
    return (select(per_review.c.application_id, per_review.c.ws, cast(z, Float).label("x"))
            .join(stats, stats.c.reviewer_id == per_review.c.reviewer_id).cte("review_x"))


def _aggregates(cycle_id: Any, normalized: bool):
    """Per answer: mean, mean of squares, median, min, max, reviews done."""
    rx = _review_scores(cycle_id, normalized)
    ordered = select(
        rx.c.application_id, rx.c.ws, rx.c.x,
        func.row_number().over(partition_by=rx.c.application_id, order_by=rx.c.x).label("rn"),
        func.count().over(partition_by=rx.c.application_id).label("cnt"),
    ).cte("ordered")
    middle = or_(ordered.c.rn == (ordered.c.cnt + 1) // 2, ordered.c.rn == (ordered.c.cnt + 2) // 2)
    return select(
        ordered.c.application_id,
        func.avg(ordered.c.x).label("mean"),
        func.avg(ordered.c.x * ordered.c.x).label("mean_sq"),
        func.avg(case((middle, ordered.c.x))).label("median"),
        (func.max(ordered.c.ws) - func.min(ordered.c.ws)).label("spread"),
        func.count().label("done"),
    ).group_by(ordered.c.application_id).cte("agg")


def visible_to(user: User | None, cycle_id: int):
    """The SQL condition that hides the answers of companies `user` is conflicted with (none for admins)."""
    if user is None or user.has_role(Role.ADMIN):
        return literal(True)
    return ~exists().where(Conflict.cycle_id == cycle_id, Conflict.user_id == user.id,
                           Conflict.company_id == Application.company_id)


def is_conflicted(user: User, application: Application) -> bool:
    if user.has_role(Role.ADMIN):
        return False
    return db.session.scalar(select(Conflict.id).where(
        Conflict.cycle_id == application.cycle_id, Conflict.user_id == user.id,
        Conflict.company_id == application.company_id).limit(1)) is not None


@dataclass(frozen=True)
class _Shape:
    """What changes the ranking's SQL text (the values themselves are bound at execution)."""

    normalized: bool
    need: bool
    theme: bool
    company: bool  # a size or department filter: companies and organizations joined in the inner statement
    size: bool
    department: bool
    status: bool
    member: bool  # a viewer whose conflicts hide answers (not an admin)
    paged: bool


def ranking_query(cycle: Cycle, f: RankingFilters, viewer: User | None, threshold: float, *,
                  limit: int | None = None, offset: int = 0) -> tuple[Select, dict[str, Any]]:
    """The ranking's statement and its values: one row per visible answer, best first, with its rank.

    The statement is built once per shape (`_statement`; building it cost more than running it on the medium
    dataset) with bound parameters for the cycle, the filters' values, the viewer and the page."""
    size = f.size in SIZES
    shape = _Shape(normalized=f.normalized, need=bool(f.need_id), theme=bool(f.theme_id),
                   company=size or bool(f.department), size=size, department=bool(f.department),
                   status=f.status in RANKED_STATES, member=viewer is not None and not viewer.has_role(Role.ADMIN),
                   paged=bool(limit))
    params: dict[str, Any] = {"cycle_id": cycle.id}
    if shape.need:
        params["need_id"] = f.need_id
    if shape.theme:
        params["theme_id"] = f.theme_id
    if shape.size:
        params["size"] = f.size
    if shape.department:
        params["department"] = f.department
    if shape.status:
        params["status"] = f.status
    if shape.member:
        params["viewer_id"] = viewer.id  # type: ignore[union-attr]
    if shape.paged:
        params["limit"], params["offset"] = limit, offset
    return _statement(shape), params


@functools.lru_cache(maxsize=256)
def _statement(shape: _Shape) -> Select:
    """Two levels, so that the work done for every answer is only what the order needs: the inner statement
    ranks every visible answer on its aggregates (joining companies only when a filter asks for their size or
    department) and keeps the page; the outer one fetches, for the page's rows only, the names, the reviews
    expected, the buyers' interest and the decision."""
    cycle_id = bindparam("cycle_id", type_=Integer)
    agg = _aggregates(cycle_id, shape.normalized)
    score_order = (agg.c.mean.desc().nulls_last(), Application.id)
    visible = (~exists().where(Conflict.cycle_id == cycle_id, Conflict.user_id == bindparam("viewer_id", type_=Integer),
                               Conflict.company_id == Application.company_id)
               if shape.member else literal(True))
    ranked = (
        select(Application.id.label("id"), agg.c.mean, agg.c.median, agg.c.mean_sq, agg.c.spread, agg.c.done,
               func.rank().over(order_by=score_order).label("rank"), func.count().over().label("total"))
        .select_from(Application)
        .outerjoin(agg, agg.c.application_id == Application.id)
        .where(Application.cycle_id == cycle_id, Application.status.in_(RANKED_STATES), visible)
    )
    targeted = select(ApplicationNeed.application_id)
    if shape.need:
        ranked = ranked.where(Application.id.in_(
            targeted.where(ApplicationNeed.need_id == bindparam("need_id", type_=Integer))))
    if shape.theme:
        ranked = ranked.where(Application.id.in_(
            targeted.join(need_themes, need_themes.c.need_id == ApplicationNeed.need_id)
            .where(need_themes.c.theme_id == bindparam("theme_id", type_=Integer))))
    if shape.company:
        ranked = ranked.join(Company, Company.id == Application.company_id) \
            .join(Organization, Organization.id == Company.organization_id)
        if shape.size:
            ranked = ranked.where(Company.computed_size == bindparam("size", type_=String))
        if shape.department:
            ranked = ranked.where(Organization.department == bindparam("department", type_=String))
    if shape.status:
        ranked = ranked.where(Application.status == bindparam("status", type_=String))
    ranked = ranked.order_by(*score_order)
    if shape.paged:
        ranked = ranked.limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
    page = ranked.subquery("ranked")

    def interest(level: str):
        return (select(func.count()).where(BuyerInterest.application_id == page.c.id, BuyerInterest.level == level)
                .scalar_subquery())

    expected = select(func.count()).where(Assignment.application_id == page.c.id).scalar_subquery()
    variance = page.c.mean_sq - page.c.mean * page.c.mean
    return (
        select(
            page.c.rank, page.c.total,
            Application.id, Application.solution_name, Application.company_id, Organization.name,
            Company.computed_size, Organization.department, Application.status,
            page.c.mean, page.c.median, variance.label("variance"), page.c.spread,
            func.coalesce(page.c.done, 0), expected, interest("meet"), interest("test"), interest("none"),
            Decision.outcome,
        )
        .select_from(page)
        .join(Application, Application.id == page.c.id)
        .join(Company, Company.id == Application.company_id)
        .join(Organization, Organization.id == Company.organization_id)
        .outerjoin(Decision, Decision.application_id == page.c.id)
        .order_by(page.c.mean.desc().nulls_last(), page.c.id)
    )


def _line(row: Any, threshold: float) -> RankingLine:
    (rank, _total, app_id, name, company_id, company_name, size, department, status, mean, median, variance, spread,
     done, expected, meet, test, none_, outcome) = row
    stddev = math.sqrt(max(variance, 0.0)) if variance is not None else None
    return RankingLine(
        rank=rank, application_id=app_id, solution_name=name, company_id=company_id, company_name=company_name,
        size=size, department=department, status=status,
        score=float(mean) if mean is not None else None, median=float(median) if median is not None else None,
        stddev=stddev, spread=float(spread) if spread is not None else None, reviews_done=int(done),
        reviews_expected=int(expected), interest_meet=int(meet), interest_test=int(test), interest_none=int(none_),
        outcome=outcome, to_discuss=spread is not None and int(done) > 1 and float(spread) >= threshold - 1e-9)


def _attach_needs(lines: list[RankingLine]) -> None:
    """The targeted needs of the page's answers: one query for the whole page."""
    ids = [line.application_id for line in lines]
    if not ids:
        return
    by_app: dict[int, list[tuple[int, str]]] = {}
    for app_id, need_id, title in db.session.execute(
            select(ApplicationNeed.application_id, Need.id, Need.title).join(Need, Need.id == ApplicationNeed.need_id)
            .where(ApplicationNeed.application_id.in_(ids)).order_by(Need.title, Need.id)):
        by_app.setdefault(app_id, []).append((need_id, title))
    for line in lines:
        line.needs = by_app.get(line.application_id, [])


def _enough_memory() -> None:
    """On PostgreSQL, let this transaction's sorts and hashes (a few MB per 10,000 answers) stay in memory
    instead of spilling to disk with the default 4 MB work_mem."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))


def rank(cycle: Cycle, f: RankingFilters, viewer: User | None, *, page: int = 1, per_page: int | None = 50,
         threshold: float | None = None) -> RankingPage:
    """A page of the ranking (`per_page=None`: every line, for the exports and the meeting's agenda)."""
    if threshold is None:
        threshold = settings_of(cycle).disagreement_threshold
    page = max(1, page)
    _enough_memory()
    if per_page:
        # The total rides on every row (count(*) over ()): one statement computes the ranking once.
        statement, params = ranking_query(cycle, f, viewer, threshold, limit=per_page, offset=(page - 1) * per_page)
        rows = db.session.execute(statement, params).all()
        if not rows:
            statement, params = ranking_query(cycle, f, viewer, threshold)
            total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()),
                                      params) or 0
        else:
            total = rows[0].total
    else:
        statement, params = ranking_query(cycle, f, viewer, threshold)
        rows = db.session.execute(statement, params).all()
        total = len(rows)
    lines = [_line(r, threshold) for r in rows]
    _attach_needs(lines)
    return RankingPage(lines=lines, total=total, page=page, per_page=per_page or total, normalized=f.normalized,
                       threshold=threshold)


def order_of(cycle: Cycle, ids: Iterable[int]) -> dict[int, int]:
    """Rank of each answer in the cycle's (raw) ranking: the meeting's agenda walks it in this order."""
    wanted = set(ids)
    page = rank(cycle, RankingFilters(), None, per_page=None)
    return {line.application_id: line.rank for line in page.lines if line.application_id in wanted}


# --- exports -----------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def export_columns(size_labels: dict[str, Any], state_label: Any, outcome_label: Any) -> list[Any]:
    from innovation_cycle.services.listings import Column

    return [
        Column(_l("Rang"), lambda r: r.rank),
        Column(_l("N°"), lambda r: r.application_id),
        Column(_l("Solution"), lambda r: r.solution_name),
        Column(_l("Entreprise"), lambda r: r.company_name),
        Column(_l("Taille"), lambda r: size_labels.get(r.size, "")),
        Column(_l("Département"), lambda r: r.department),
        Column(_l("Besoins visés"), lambda r: " | ".join(title for _id, title in r.needs)),
        Column(_l("Moyenne pondérée"), lambda r: _fmt(r.score)),
        Column(_l("Médiane"), lambda r: _fmt(r.median)),
        Column(_l("Écart type"), lambda r: _fmt(r.stddev)),
        Column(_l("Écart entre évaluateurs"), lambda r: _fmt(r.spread)),
        Column(_l("Évaluations faites"), lambda r: r.reviews_done),
        Column(_l("Évaluations attendues"), lambda r: r.reviews_expected),
        Column(_l("Acheteurs : rencontrer"), lambda r: r.interest_meet),
        Column(_l("Acheteurs : tester"), lambda r: r.interest_test),
        Column(_l("Acheteurs : sans intérêt"), lambda r: r.interest_none),
        Column(_l("À discuter"), lambda r: r.to_discuss),
        Column(_l("État"), lambda r: state_label(r.status)),
        Column(_l("Décision"), lambda r: outcome_label(r.outcome) if r.outcome else ""),
    ]
