"""What the board and the list read: the same jurisdiction and filters as the API (readmodel.queries), grouped
for the screen. Each takes the session by keyword."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from operator import add
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_

# SQLAlchemy's own select: sqlmodel's is typed for at most four columns.
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from contracts.clock import china_date, day_start
from contracts.deadlines import Rag
from contracts.enums import Stage
from contracts.hazard import Actor
from readmodel.models import Hazard, HazardEventRow, HazardsPublic
from readmodel.queries import NEWEST_FIRST, HazardFilter, hazard_conditions, list_hazards, scope_condition

TERMINAL = [Stage.CLOSED.value, Stage.REVOKED.value]
# contracts.deadlines.RUNG_LEVELS above the colour: 函告, 约谈, 挂牌督办 or 通报.
LEVELS = (1, 2, 3)


# What the board counts of each cell's open hazards, each as SQL: by colour, by level reached, and the listed.
COUNTED = (
    *(col(Hazard.rag) == rag for rag in Rag),
    *(col(Hazard.escalation_level) == level for level in LEVELS),
    col(Hazard.listed).is_(True),
)


@dataclass(frozen=True)
class Cell:
    """Open hazards in one cell of the board, as the counts COUNTED names (kept as they come from the database:
    at national scale a board has some 8,000 cells and totals, most never shown)."""

    counts: Sequence[int]

    @property
    def rag(self) -> Counter[Rag]:
        return Counter({rag: n for rag, n in zip(Rag, self.counts[: len(Rag)], strict=True) if n})

    @property
    def levels(self) -> Counter[int]:
        return Counter({level: n for level, n in zip(LEVELS, self.counts[len(Rag) : -1], strict=True) if n})

    @property
    def listed(self) -> int:
        return self.counts[-1]

    @property
    def total(self) -> int:
        return sum(self.counts[: len(Rag)])


@dataclass
class Matrix:
    """Open hazards by row (street or department) and column (industry, or none)."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    row_totals: dict[str, Cell]
    column_totals: dict[str, Cell]
    total: Cell


def open_matrix(*, session: Session, actor: Actor, row: Any, column: Any | None, now: datetime) -> Matrix:
    """Open hazards the actor may see, grouped by `row` and `column` (Hazard columns; column None: one column)."""
    conditions = [*hazard_conditions(actor, HazardFilter(), now), col(Hazard.stage).not_in(TERMINAL)]
    keys: list[Any] = [col(row), col(column) if column is not None else literal("")]
    # Each cell counted in SQL, one row per cell, and the totals summed as plain counts: grouping by colour, rung
    # and listing as well sent about three rows per cell (15,000 at national scale), each a Python loop.
    counted = (func.count().filter(condition) for condition in COUNTED)
    query = columns(*keys, *counted).where(*conditions).group_by(*(keys if column is not None else keys[:1]))
    cells: dict[tuple[str, str], Sequence[int]] = {}
    row_sums: dict[str, list[int]] = defaultdict(lambda: [0] * len(COUNTED))
    column_sums: dict[str, list[int]] = defaultdict(lambda: [0] * len(COUNTED))
    total = [0] * len(COUNTED)
    for row_value, column_value, *counts in session.connection().execute(query):
        r, c = str(row_value), str(column_value or "")
        cells[r, c] = counts
        for sums in (row_sums[r], column_sums[c], total):
            sums[:] = map(add, sums, counts)
    row_totals = {r: Cell(sums) for r, sums in row_sums.items()}
    column_totals = {c: Cell(sums) for c, sums in column_sums.items()}
    return Matrix(
        rows=sorted(row_totals, key=lambda r: (-row_totals[r].rag[Rag.RED], -row_totals[r].total, r)),
        columns=sorted(column_totals, key=lambda c: (-column_totals[c].total, c)),
        cells={key: Cell(counts) for key, counts in cells.items()},
        row_totals=row_totals,
        column_totals=column_totals,
        total=Cell(total),
    )


def open_trend(*, session: Session, actor: Actor, first: date, last: date) -> list[tuple[date, int]]:
    """Open hazards at the end of each day from `first` to `last`, counted as readmodel.statistics counts them:
    a hazard is open from its report until the event that moves it to a terminal stage."""
    scope = scope_condition(actor)
    in_scope = select(Hazard.hazard_id) if scope is None else select(Hazard.hazard_id).where(scope)
    changes = session.execute(
        columns(col(HazardEventRow.hazard_id), col(HazardEventRow.at), col(HazardEventRow.stage_after))
        .where(
            col(HazardEventRow.hazard_id).in_(in_scope),
            col(HazardEventRow.at) < day_start(last + timedelta(days=1)),
            or_(
                col(HazardEventRow.stage_before).is_(None),
                col(HazardEventRow.stage_before) != col(HazardEventRow.stage_after),
            ),
        )
        .order_by(col(HazardEventRow.hazard_id), col(HazardEventRow.seq))
    ).all()
    deltas: Counter[date] = Counter()
    was_open: dict[str, bool] = {}
    for hazard_id, at, stage_after in changes:
        is_open = stage_after not in TERMINAL
        if is_open != was_open.get(hazard_id, False):
            deltas[china_date(at)] += 1 if is_open else -1
        was_open[hazard_id] = is_open
    running = sum(delta for moment, delta in deltas.items() if moment < first)
    trend = []
    for offset in range((last - first).days + 1):
        moment = first + timedelta(days=offset)
        running += deltas[moment]
        trend.append((moment, running))
    return trend


class Sort(StrEnum):
    DEADLINE = "deadline"  # 倒排工期: the nearest (or most overdue) deadline first, none last
    REPORTED = "reported"  # the newest report first, as the API lists


# 倒排工期: the nearest (or most overdue) deadline first, none last.
DEADLINE_FIRST: tuple[ColumnElement[Any], ...] = (
    col(Hazard.next_deadline).is_(None),
    col(Hazard.next_deadline).asc(),
    col(Hazard.hazard_id).asc(),
)


def list_page(
    *, session: Session, actor: Actor, where: HazardFilter, now: datetime, sort: Sort, offset: int, limit: int
) -> HazardsPublic:
    """The API's list (same jurisdiction, same filters), in the order the page asks for."""
    order = DEADLINE_FIRST if sort is Sort.DEADLINE else NEWEST_FIRST
    return list_hazards(session=session, actor=actor, where=where, now=now, offset=offset, limit=limit, order=order)
