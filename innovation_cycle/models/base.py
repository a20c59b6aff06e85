"""Declarative base, constraint naming and the UTC datetime type shared by every record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, MetaData
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives back aware UTC datetimes.

    SQLite forgets time zones; without this, a value read back would compare badly with the clock's
    aware `now()` and a window could look open or closed depending on the database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DescNullsLast(ColumnElement[Any]):
    """`column DESC NULLS LAST` in an index, as the listings sort (newest first, undated last). PostgreSQL reads
    an index in a sort's order only if their NULLS agree, and a DESC column's nulls come first by default;
    SQLite puts them last already and refuses NULLS LAST in an index: there it is plain DESC."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        # In a model's body the attribute is still a MappedColumn: its Column is what the index names.
        self.column = getattr(column, "column", column)
        self.type = self.column.type

    def get_children(self, **kw: Any):
        return (self.column,)


@compiles(DescNullsLast)
def _desc_nulls_last(element: DescNullsLast, compiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} DESC"


@compiles(DescNullsLast, "postgresql")
def _desc_nulls_last_postgresql(element: DescNullsLast, compiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} DESC NULLS LAST"
