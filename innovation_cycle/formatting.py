"""Dates as people read them: stored UTC, shown in Europe/Paris, worded in the request's language.

One place for the patterns, so French shows « 1 février 2017 à 10:00 » and English « 1 February 2017 at 10:00 »."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_date, format_datetime, gettext

from innovation_cycle.clock import to_paris


def when(value: datetime | None, *, weekday: bool = False, empty: str = "") -> str:
    """A moment, to the minute (a deadline, an event)."""
    if value is None:
        return empty
    # Translators: a Babel (CLDR) date pattern; keep the letters, translate the quoted word.
    pattern = gettext("EEEE d MMMM y 'à' HH:mm") if weekday else gettext("d MMMM y 'à' HH:mm")
    return format_datetime(value, pattern)


def day(value: datetime | None, *, empty: str = "") -> str:
    """A calendar day in Paris (a window's first or last day)."""
    return format_date(to_paris(value).date(), "d MMMM y") if value else empty
