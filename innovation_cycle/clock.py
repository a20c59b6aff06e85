"""The one clock of the application.

Everything that asks "what time is it" asks `clock.now()`: tests swap in a `FixedClock` and move time without
sleeping, and in demo mode an admin moves a stored offset forward so a newcomer walks a whole cycle in minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, g, has_app_context

PARIS = ZoneInfo("Europe/Paris")
OFFSET_KEY = "demo_clock_offset_seconds"


def real_now() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    """The real time, plus the demo offset stored in the database (zero outside demo mode)."""

    def now(self) -> datetime:
        try:
            return real_now() + self.offset()
        except OverflowError:  # an offset stored before the range was checked: the real time, not a 500
            return real_now()

    def offset(self) -> timedelta:
        if not has_app_context() or not current_app.config.get("DEMO_MODE"):
            return timedelta(0)
        if "clock_offset" not in g:
            from innovation_cycle.extensions import db
            from innovation_cycle.models import Setting

            # Reading the time must never flush: a service often asks for it while a new row without its dates
            # is pending in the session (autoflush would INSERT it with created_at NULL: issue 9, item 7).
            with db.session.no_autoflush:
                row = db.session.get(Setting, OFFSET_KEY)
            g.clock_offset = timedelta(seconds=float(row.value)) if row else timedelta(0)
        return g.clock_offset


class FixedClock:
    """A clock that moves only when told to; for tests and benchmarks."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def offset(self) -> timedelta:
        return timedelta(0)

    def set(self, at: datetime) -> None:
        self.at = at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


def simulate(at: datetime | None) -> timedelta:
    """Demo mode: make the application's time read `at` from now on (None: back to the real time).

    The offset is stored in the database so every worker process sees the same simulated date; it may be
    negative (the demo convention runs in 2017). Flushes; the caller commits."""
    from innovation_cycle.extensions import db
    from innovation_cycle.models import Setting

    offset = timedelta(0) if at is None else at - real_now()
    db.session.merge(Setting(key=OFFSET_KEY, value=str(offset.total_seconds())))
    db.session.flush()
    if has_app_context():
        g.pop("clock_offset", None)
    return offset


# The demo clock stays within years every page can compute with (a date plus a window or a reminder offset):
# year 9999 made every page fail with an OverflowError.
SIMULATION_RANGE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def get_clock() -> SystemClock | FixedClock:
    return current_app.extensions["clock"]


def now() -> datetime:
    return get_clock().now()


def is_simulated() -> bool:
    return get_clock().offset() != timedelta(0)


def to_paris(value: datetime) -> datetime:
    return value.astimezone(PARIS)


def paris_datetime(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime from a wall-clock time in Paris (summer time handled by zoneinfo)."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).astimezone(UTC)
