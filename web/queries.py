"""What the board and the list read: the same jurisdiction and filters as the API (readmodel.queries), grouped
for the screen. Each takes the session by keyword."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, literal, or_

# SQLAlchemy's own select: sqlmodel's is typed for at most four columns.
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from contracts.clock import china_date, day_start
from contracts.deadlines import Rag
from contracts.enums import Stage
from contracts.hazard import Actor
from readmodel.models import Hazard, HazardEventRow, HazardPublic, HazardsPublic
from readmodel.queries import HazardFilter, hazard_conditions, scope_condition

TERMINAL = [Stage.CLOSED.value, Stage.REVOKED.value]
# contracts.deadlines.RUNG_LEVELS above the colour: 函告, 约谈, 挂牌督办 or 通报.
LEVELS = (1, 2, 3)


@dataclass
class Cell:
    """Open hazards in one cell of the board: by colour, by escalation level reached, and listed."""

    rag: Counter[Rag] = field(default_factory=Counter)
    levels: Counter[int] = field(default_factory=Counter)
    listed: int = 0

    @property
    def total(self) -> int:
        return sum(self.rag.values())

    def add(self, rag: Rag, level: int, listed: bool, count: int) -> None:
        self.rag[rag] += count
        if level in LEVELS:
            self.levels[level] += count
        if listed:
            self.listed += count


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
    counted = [col(Hazard.rag), col(Hazard.escalation_level), col(Hazard.listed)]
    grouped = [*(keys if column is not None else keys[:1]), *counted]
    query = columns(*keys, *counted, func.count()).where(*conditions).group_by(*grouped)
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    row_totals: dict[str, Cell] = defaultdict(Cell)
    column_totals: dict[str, Cell] = defaultdict(Cell)
    total = Cell()
    for row_value, column_value, rag, level, listed, count in session.execute(query).all():
        r, c = str(row_value), str(column_value or "")
        for cell in (cells[r, c], row_totals[r], column_totals[c], total):
            cell.add(Rag(rag), int(level), bool(listed), int(count))
    return Matrix(
        rows=sorted(row_totals, key=lambda r: (-row_totals[r].rag[Rag.RED], -row_totals[r].total, r)),
        columns=sorted(column_totals, key=lambda c: (-column_totals[c].total, c)),
        cells=dict(cells),
        row_totals=dict(row_totals),
        column_totals=dict(column_totals),
        total=total,
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


def list_page(
    *, session: Session, actor: Actor, where: HazardFilter, now: datetime, sort: Sort, offset: int, limit: int
) -> HazardsPublic:
    """The API's list (same jurisdiction, same filters), in the order the page asks for."""
    conditions = hazard_conditions(actor, where, now)
    count = session.exec(select(func.count()).select_from(Hazard).where(*conditions)).one()
    order: list[Any] = (
        [col(Hazard.next_deadline).is_(None), col(Hazard.next_deadline), col(Hazard.hazard_id)]
        if sort is Sort.DEADLINE
        else [col(Hazard.reported_at).desc(), col(Hazard.hazard_id).desc()]
    )
    rows = session.exec(select(Hazard).where(*conditions).order_by(*order).offset(offset).limit(limit)).all()
    return HazardsPublic(data=[HazardPublic.model_validate(row) for row in rows], count=count)
