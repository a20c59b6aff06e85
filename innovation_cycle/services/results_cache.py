"""What the results pages compute from a whole convention's records, kept between requests until a record changes.

Why: the bilan's figures aggregate every need, answer and commitment of the convention's cycles, and the admin's
bilan page builds each open-data file (an OCDS package of thousands of bids) only to show its size; the public
results page shows the same figures to every anonymous reader. All of it grows with the records, so it is
computed once and served from memory until the records change.

How a change is seen at once, in every process: a *generation* token in the `settings` table (one indexed read
per page) is replaced after every commit that added, changed or deleted a record the results are made of (the
models in `WATCHED`, through the ORM: the session's `after_flush` notes it, `after_commit` writes the new
token on its own connection, once the change is visible to others). Everything cached is keyed by the token, so
an entry built before the change is never served after it; each gunicorn worker keeps its own copy
(`page_cache.FragmentCache`) and no message has to travel between them.

Order matters: the token is written *after* the commit, and readers read it *before* the records. A reader that
read the old token and then the new records stores newer figures under the old key (harmless, the key is
abandoned once the token changes); it can never store old records under the new token. A change made outside
the application (SQL typed by hand) is not seen: entries also expire after `RESULTS_CACHE_TTL` seconds (300).

The token is global, not per convention: an organization, company or theme belongs to every convention at once,
and a change is rare next to the readings (an answer submitted to an open AMI does start a new generation: the
next reading of a bilan of the same convention recomputes it, as it must, its figures having changed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import get_locale
from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AmiCall,
    Application,
    ApplicationNeed,
    Attachment,
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
    Setting,
    StageWindow,
    Theme,
)
from innovation_cycle.services.page_cache import FragmentCache

log = logging.getLogger(__name__)

GENERATION_KEY = "cache.results_generation"
# Every model whose rows the bilan, its open-data files or the results pages read (a need's themes change with
# the need: its collection marks it changed).
WATCHED: tuple[type, ...] = (
    AmiCall, Application, ApplicationNeed, Attachment, Commitment, Company, Convention, ConventionMembership,
    Cycle, Need, Organization, PurchaseBaseline, ResultsApproval, ResultsReport, StageWindow, Theme)
_CHANGED = "results_cache.changed"


def _touches_watched(objects) -> bool:
    return any(isinstance(obj, WATCHED) for obj in objects)


def _after_flush(session: Session, _context: Any) -> None:
    # In after_flush the session's new/dirty/deleted collections still list what this flush wrote.
    if not session.info.get(_CHANGED) and (
            _touches_watched(session.new) or _touches_watched(session.deleted)
            or any(isinstance(obj, WATCHED) and session.is_modified(obj) for obj in session.dirty)):
        session.info[_CHANGED] = True


def _on_execute(state: Any) -> None:
    """An UPDATE, DELETE or INSERT statement through the session (not an object's flush) on a watched model."""
    if (state.is_update or state.is_delete or state.is_insert) and state.bind_mapper is not None \
            and issubclass(state.bind_mapper.class_, WATCHED):
        state.session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    try:
        bump(session.get_bind())
    except SQLAlchemyError:  # the entries' time-to-live is the backstop; the user's change is committed already
        log.exception("could not start a new results generation")


def _after_soft_rollback(session: Session, previous: Any) -> None:
    # The whole transaction rolled back: nothing of it reached the database. (A savepoint's rollback keeps the
    # mark: what the transaction flushed before it may still be committed.)
    if previous.parent is None:
        session.info.pop(_CHANGED, None)


def bump(engine: Any) -> str:
    """Write a new generation token, on a connection of its own (committed at once)."""
    token = uuid.uuid4().hex
    table = Setting.__table__
    with engine.begin() as connection:
        if connection.execute(update(table).where(table.c.key == GENERATION_KEY).values(value=token)).rowcount:
            return token
    try:
        with engine.begin() as connection:
            connection.execute(insert(table).values(key=GENERATION_KEY, value=token))
    except IntegrityError:  # another process inserted it meanwhile: replace its token by ours
        with engine.begin() as connection:
            connection.execute(update(table).where(table.c.key == GENERATION_KEY).values(value=token))
    return token


def register() -> None:
    """Listen to every session of the application (idempotent: imported by the results services)."""
    for name, listener in (("after_flush", _after_flush), ("do_orm_execute", _on_execute),
                           ("after_commit", _after_commit), ("after_soft_rollback", _after_soft_rollback)):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)


register()


def generation() -> str | None:
    """The current generation token (None until the first change: the records as seeded)."""
    return db.session.scalar(select(Setting.value).where(Setting.key == GENERATION_KEY))


def _cache() -> FragmentCache:
    return current_app.extensions.setdefault(
        "results_cache", FragmentCache(size=128, ttl=current_app.config.get("RESULTS_CACHE_TTL", 300)))


def base_key() -> tuple[Hashable, ...]:
    """What every entry depends on besides the records: the language (the figures' labels are translated),
    the day in Paris (a file of a bilan not yet published is dated today), the simulated clock (demo), and the
    generation. Read first, before any record (module docstring); once per page, for all its entries."""
    now = clock.now()
    simulated = now.replace(second=0, microsecond=0) if clock.is_simulated() else None
    return (generation(), str(get_locale()), clock.to_paris(now).date(), simulated)


def cached(key: tuple[Hashable, ...], build: Callable[[], Any]) -> Any:
    """`build()`'s value under `key` (which starts with `base_key()`); the value must hold no ORM object (it
    outlives the session that read it)."""
    return _cache().get_or_set(key, build)


@dataclass(frozen=True)
class BaselineSnapshot:
    """A year's PFRA purchases as the bilan shows them, read off the row (which stays with its session)."""

    year: int
    amount: Decimal
    source: str


def detached(bilans: list[Any]) -> list[Any]:
    """`bilans` (services.results.CycleBilan) with their baseline row replaced by a snapshot, so they can be
    kept between requests."""
    return [replace(b, baseline=BaselineSnapshot(b.baseline.year, b.baseline.amount, b.baseline.source))
            if b.baseline is not None else b for b in bilans]
