"""The statistics folded from every event of every hazard in Python (readmodel.statistics.HazardAsOf): the rules as
first written and checked by hand (tests/test_statistics.py), which hazard_statistics, reading the projection's
timelines instead, must agree with (tests/test_statistics_fold.py, tests/test_demo.py)."""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from statistics import median
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from contracts.clock import day_start
from contracts.deadlines import Rung
from contracts.enums import Source, Stage
from readmodel.models import EscalationRow
from readmodel.statistics import (
    GROUP_COLUMNS,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    GroupBy,
    HazardAsOf,
    RungEffectiveness,
    StatisticsPublic,
    StatisticsQuery,
    StatisticsRow,
    answer,
    hazards_as_of,
    window_conditions,
)
from readmodel.timeline import EFFECTIVENESS_RUNGS


def folded(engine: Engine, scope: Any, query: StatisticsQuery) -> StatisticsPublic:
    """The statistics by folding every event of every hazard in Python."""
    key = None if query.group_by is GroupBy.NONE else col(GROUP_COLUMNS[query.group_by])
    with Session(engine) as session:
        conditions = window_conditions(scope, query)
        hazards = hazards_as_of(session=session, conditions=conditions, as_of=query.as_of, key=key)
        fired: dict[str, list[tuple[Rung, datetime]]] = defaultdict(list)
        for hazard_id, rung, at in session.exec(
            select(EscalationRow.hazard_id, EscalationRow.rung, EscalationRow.at).where(
                col(EscalationRow.rung).in_([r.value for r in EFFECTIVENESS_RUNGS]),
                col(EscalationRow.at) <= query.as_of,
            )
        ):
            fired[hazard_id].append((Rung(rung), at))
    groups: dict[str | None, list[tuple[HazardAsOf, list[tuple[Rung, datetime]]]]] = defaultdict(list)
    for hazard_id, hazard in hazards.items():
        groups[hazard.key].append((hazard, fired[hazard_id]))
    cutoff = day_start(date(query.cutoff_year, 1, 1))
    return answer(
        query,
        {k: folded_row(k, group, query.as_of, cutoff) for k, group in groups.items()},
        folded_row(None, [h for group in groups.values() for h in group], query.as_of, cutoff),
    )


def _median(values: list[float]) -> float | None:
    return round(median(values), 2) if values else None


def folded_row(
    key: str | None, group: list[tuple[HazardAsOf, list[tuple[Rung, datetime]]]], as_of: datetime, cutoff: datetime
) -> StatisticsRow:
    hazards = [h for h, _ in group]
    found = len(hazards)
    closed = [h for h in hazards if h.closed_at is not None and h.stage is Stage.CLOSED]
    open_ = [h for h in hazards if h.is_open]
    planned = [h for h in hazards if h.planned]
    fired: dict[Rung, int] = defaultdict(int)
    hours: dict[Rung, list[float]] = defaultdict(list)
    for hazard, rungs in group:
        for rung, at in rungs:
            fired[rung] += 1
            done = next((changed for changed, _ in hazard.stage_changes if changed > at), None)
            if done is not None:
                hours[rung].append((done - at).total_seconds() / SECONDS_PER_HOUR)
    return StatisticsRow(
        key=key,
        found=found,
        by_source={source: sum(1 for h in hazards if h.source is source) for source in Source},
        closed=len(closed),
        open=len(open_),
        overdue=sum(1 for h in open_ if h.next_deadline is not None and h.next_deadline < as_of),
        listed=sum(1 for h in hazards if h.listed),
        five_in_place=sum(1 for h in planned if h.five_in_place),
        rectification_rate=round(len(closed) / found, 4) if found else None,
        funds_yuan=sum((h.funds_yuan for h in planned if h.funds_yuan is not None), Decimal("0")),
        stock=sum(1 for h in open_ if h.found_at < cutoff),
        increment=sum(1 for h in hazards if h.found_at >= cutoff),
        median_days_to_close=_median(
            [(h.closed_at - h.found_at).total_seconds() / SECONDS_PER_DAY for h in closed if h.closed_at]
        ),
        escalation_effectiveness={
            rung: RungEffectiveness(
                fired=fired[rung], stage_done=len(hours[rung]), median_hours_to_done=_median(hours[rung])
            )
            for rung in EFFECTIVENESS_RUNGS
        },
    )
