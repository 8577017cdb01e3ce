"""Hints for SQLite's query planner, which keeps no statistics here (the product never runs ANALYZE) and so cannot
tell a range that matches a few rows from one that matches most of the table. PostgreSQL plans from its own
statistics, so on it each hint is the plain expression."""

from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, SQLModel, col


class unindexed(FunctionElement[Any]):
    """The column, where no index is to answer for it: on SQLite `+column`, which the planner can neither look up
    in an index nor read from one in order. Ordered by it, SQLite finds the rows by their other conditions and
    sorts them."""

    inherit_cache = True
    name = "unindexed"

    def __init__(self, column: ColumnElement[Any] | Mapped[Any]) -> None:
        super().__init__(column)
        # The column's own type, so a value compared with it is bound as the column binds it.
        self.type = self.clauses.clauses[0].type


@compiles(unindexed)
def _plain(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _kept_from_indexes(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def column(field: Any, *, indexed: bool) -> Mapped[Any] | unindexed:
    """A model's field as a column in a condition (sqlmodel's `col`), or `unindexed` when no index is to answer
    for it."""
    return col(field) if indexed else unindexed(col(field))


def rows_estimate(session: Session, model: type[SQLModel]) -> int:
    """About how many rows `model`'s table holds, without counting them: on SQLite its largest rowid (rows are
    upserted, not deleted; were some deleted, the estimate runs high, and a page is sorted where it could have been
    walked). Elsewhere 0: the planner has statistics of its own, and needs no hint from the count."""
    if session.get_bind().dialect.name != "sqlite":
        return 0
    table = model.__table__  # type: ignore[attr-defined]
    return int(session.execute(select(func.max(literal_column("rowid"))).select_from(table)).scalar() or 0)
