"""Dates and amounts as people read them: stored UTC, shown in Europe/Paris, worded in the request's language.

One place for the patterns, so French shows « 2 février 2017 à 10:00 » and English « 2 February 2017 at 10:00 »;
the first day of a month is « 1er » in French (« 1er mars 2017 »), hence its own patterns."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date, datetime
from typing import Any

from babel.numbers import parse_pattern
from flask_babel import format_date, format_datetime, format_decimal, get_locale, gettext

from innovation_cycle.clock import to_paris


def when(value: datetime | None, *, weekday: bool = False, empty: str = "") -> str:
    """A moment, to the minute (a deadline, an event)."""
    if value is None:
        return empty
    # A listing shows a moment per row, the same rows page after page: each minute is worded once per language
    # and process (Babel's formatting costs as much as the rest of a row). The key is the moment to the minute,
    # which is all the patterns show (Paris is a whole number of hours from UTC).
    key = (get_locale(), value.replace(second=0, microsecond=0), weekday)
    worded = _MOMENTS.get(key)
    if worded is None:
        if to_paris(value).day == 1:
            # Translators: the first day of a month (French « 1er »); keep the letters, translate the quoted words.
            pattern = gettext("EEEE d'er' MMMM y 'à' HH:mm") if weekday else gettext("d'er' MMMM y 'à' HH:mm")
        else:
            # Translators: a Babel (CLDR) date pattern; keep the letters, translate the quoted word.
            pattern = gettext("EEEE d MMMM y 'à' HH:mm") if weekday else gettext("d MMMM y 'à' HH:mm")
        worded = format_datetime(value, pattern)
        if len(_MOMENTS) >= 20_000:
            _MOMENTS.clear()
        _MOMENTS[key] = worded
    return worded


def day(value: datetime | date | None, *, empty: str = "") -> str:
    """A calendar day: a moment's day in Paris (a window's first or last day), or a date as stored."""
    if value is None:
        return empty
    paris_day = to_paris(value).date() if isinstance(value, datetime) else value
    # A listing shows a day per row, most of them the same few: each is worded once per language and process
    # (Babel's formatting costs as much as the rest of a row).
    key = (get_locale(), paris_day)  # the locale in force (a mail to an English reader within a French page)
    worded = _DAYS.get(key)
    if worded is None:
        # Translators: a calendar day; the first of a month is « 1er » in French (keep the letters).
        pattern = gettext("d'er' MMMM y") if paris_day.day == 1 else "d MMMM y"
        worded = format_date(paris_day, pattern)
        if len(_DAYS) >= 20_000:
            _DAYS.clear()
        _DAYS[key] = worded
    return worded


_DAYS: dict[tuple[Any, date], str] = {}
_MOMENTS: dict[tuple[Any, datetime, bool], str] = {}


class Labels(dict):
    """Each code's label, worded once for the page (`Labels.of(label_function, codes)`), read with `[code]`
    (a lookup per row, not a call); a code the list does not know reads as itself, or as `missing`. Its repr
    is its items': a kept row's key holds it (templating.rows_html)."""

    def __init__(self, labels: dict, missing: str | None = None) -> None:
        super().__init__(labels)
        self.missing = missing

    @classmethod
    def of(cls, label: Callable[[Any], Any], codes: Any, missing: str | None = None) -> Labels:
        return cls({code: str(label(code)) for code in codes}, missing)

    def __missing__(self, code: Any) -> str:
        return str(code) if self.missing is None else self.missing

    def __repr__(self) -> str:
        return f"Labels({dict.__repr__(self)}, {self.missing!r})"


class translated_once:  # noqa: N801 (used like a function)
    """A label function (code → lazy or translated text) that translates each code once for the page it is
    made for, not once per row: a listing of 50 rows asks for the same few states 50 times."""

    def __init__(self, translate: Callable[[Any], Any]) -> None:
        self.translate = translate
        self.known: dict[Hashable, str] = {}

    def __call__(self, code: Any) -> str:
        if code not in self.known:
            self.known[code] = str(self.translate(code))
        return self.known[code]


# The patterns parsed once (Babel parses a pattern given as text on every call: most of the cost of an amount,
# and a listing shows 50 of them).
_CENTS = parse_pattern("#,##0.00")
_WHOLE = parse_pattern("#,##0")


def euros(value: Any, *, empty: str = "") -> str:
    """An amount as the French read it: « 12 500,50 € » (the commitments' pages, the bilan's tables)."""
    return format_decimal(value, format=_CENTS) + "\u00a0€" if value is not None else empty


def whole(value: Any) -> str:
    """A whole number with the locale's grouping, « 100 000 », for amounts a sentence follows with « € HT »."""
    return format_decimal(value, format=_WHOLE)
