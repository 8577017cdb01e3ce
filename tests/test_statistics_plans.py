"""How SQLite answers statistics over every hazard: grouped by street or industry, from the index led by the group
(migration 0013), which brings the rows grouped; otherwise from ix_hazard_statistics. (This test runs on SQLite
only: PostgreSQL groups by hashing.)"""

from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bench.dataset import load
from bench.readside import COMMITTEE, DEPARTMENT, captured
from contracts.clock import CHINA_TZ
from contracts.hazard import Actor
from readmodel.queries import scope_condition
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from tests.conftest import sqlite_plan

SORTED = "USE TEMP B-TREE FOR GROUP BY"


def test_sqlite_counts_every_hazard_by_street_or_industry_from_the_index_led_by_it(engine: Engine) -> None:
    now = datetime.now(CHINA_TZ)
    load(engine, 300, now=now)

    def plan(actor: Actor, group_by: GroupBy, found_from: date | None = None) -> list[str]:
        as_of = now - timedelta(days=90)
        query = StatisticsQuery(group_by=group_by, as_of=as_of, cutoff_year=now.year, found_from=found_from)

        def run() -> None:
            with Session(engine) as session:
                hazard_statistics(session=session, scope=scope_condition(actor), query=query)

        ((statement, parameters),) = captured(engine, run)
        return sqlite_plan(engine, statement, parameters)

    for group_by in (GroupBy.STREET, GroupBy.INDUSTRY):
        steps = plan(COMMITTEE, group_by)
        assert f"SCAN hazard USING COVERING INDEX ix_hazard_statistics_by_{group_by.value}" in steps, steps
        assert SORTED not in steps, steps
    # Grouped by department, the rows come from the index that holds every figure, and are sorted.
    steps = plan(COMMITTEE, GroupBy.DEPARTMENT)
    assert any(step.startswith("SEARCH hazard USING COVERING INDEX ix_hazard_statistics ") for step in steps), steps
    assert SORTED in steps, steps
    # Ungrouped, nothing is sorted (not even by source).
    steps = plan(COMMITTEE, GroupBy.NONE)
    assert not any("TEMP B-TREE" in step for step in steps), steps
    # A jurisdiction's few, or a window's, are taken by their own indexes (a led one may serve as an index on its
    # group's column), not by walking every hazard.
    for steps in (
        plan(DEPARTMENT, GroupBy.STREET),
        plan(COMMITTEE, GroupBy.STREET, found_from=(now - timedelta(days=60)).date()),
    ):
        assert not any(step.startswith("SCAN hazard") for step in steps), "\n".join(steps)
