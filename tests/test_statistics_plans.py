"""How SQLite answers statistics over every hazard: grouped by street or industry, from the index led by the group
(migration 0013), which brings the rows grouped; otherwise from ix_hazard_statistics. (PostgreSQL groups by hashing;
its test here is of a look-up made for each hazard counted.)"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bench.dataset import load
from bench.readside import COMMITTEE, DEPARTMENT, captured
from contracts.clock import CHINA_TZ
from contracts.hazard import Actor
from readmodel.db import make_engine
from readmodel.models import Hazard, ListingPeriodRow
from readmodel.queries import scope_condition
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from tests.conftest import new_database_url, sqlite_plan

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


def test_postgresql_looks_up_listing_periods_only_for_hazards_listed_by_then(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A hazard never listed has no listed_since: `listed_since <= as_of AND <look-up>` is NULL AND x there, which
    # PostgreSQL must evaluate x to settle, so it looked up every counted hazard's periods.
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    now = datetime.now(CHINA_TZ)
    as_of = now - timedelta(days=90)
    load(engine, 300, now=now)
    with Session(engine) as session:
        listed = session.exec(
            select(Hazard.hazard_id).where(col(Hazard.reported_at) <= as_of).order_by(col(Hazard.hazard_id)).limit(3)
        ).all()
        for hazard_id in listed:
            hazard = session.get_one(Hazard, hazard_id)
            hazard.listed_since = hazard.reported_at
            session.add(hazard)
            # Periods enough that, with work_mem at its least, PostgreSQL cannot hash them all once: it looks them
            # up for each hazard, and the plan counts the look-ups.
            session.add_all(
                ListingPeriodRow(hazard_id=hazard_id, seq=seq, listed_at=hazard.reported_at) for seq in range(2000)
            )
        session.commit()
    query = StatisticsQuery(group_by=GroupBy.INDUSTRY, as_of=as_of, cutoff_year=now.year)

    def run() -> None:
        with Session(engine) as session:
            assert hazard_statistics(session=session, scope=None, query=query).total.listed == len(listed)

    ((statement, parameters),) = captured(engine, run)
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.exec_driver_sql("SET work_mem = '64kB'")
        plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).scalar_one()
    plan = plan[0]["Plan"]
    engine.dispose()

    def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    look_ups = [node for node in nodes(plan) if node.get("Relation Name") == "listing_period"]
    assert look_ups, plan
    assert sum(node["Actual Loops"] for node in look_ups) == len(listed), look_ups
