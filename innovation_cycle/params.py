"""Numbers read from the request: ids, page numbers, years.

Python's `int()` takes what a database does not: `int("²")` raises although `"²".isdigit()` is true, and
`int("9" * 30)` is a number no INTEGER column holds (PostgreSQL then fails the query with a 500). Every id or
count taken from a URL, a query string or a form goes through here: ASCII digits only, within the signed
32-bit range of the primary keys, or it is treated as absent (an unknown id, a 404, a field error).
"""

from __future__ import annotations

from flask import request
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # INTEGER primary keys, on PostgreSQL and SQLite alike
MAX_PAGE = 100_000  # far past any list's last page; keeps OFFSET a small number


def parse_int(value: object, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """The integer written in `value` with ASCII digits, within [minimum, maximum]; None otherwise."""
    text = str(value).strip() if value is not None else ""
    if not text or len(text) > 10 or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if minimum <= number <= maximum else None


def parse_id(value: object) -> int | None:
    """A primary key: a positive ASCII integer the database can hold, or None."""
    return parse_int(value, minimum=1)


def db_id(value: str) -> int:
    """`request.args.get(name, type=db_id)`: werkzeug treats the ValueError as "absent"."""
    parsed = parse_id(value)
    if parsed is None:
        raise ValueError(value)
    return parsed


def page_number(name: str = "page") -> int:
    """The page asked for in the query string, clamped to [1, MAX_PAGE] (a huge page is the last, empty one)."""
    text = request.args.get(name, "")
    if not (text.isascii() and text.isdigit()):
        return 1
    return max(1, min(int(text[:7]), MAX_PAGE))


class BoundedIntegerConverter(IntegerConverter):
    """`<int:…>` in every route: ids past the INTEGER range are a 404 like any unknown id, on both databases
    (PostgreSQL refuses the query, SQLite overflows past 2^63)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
