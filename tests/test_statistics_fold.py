"""Statistics read from the hazards' timelines (readmodel.timeline) against the same figures folded from every event
in Python (readmodel.statistics.HazardAsOf), the rules as they were first written and checked by hand
(tests/test_statistics.py). Random histories with relistings, revocations while listed, imports, rungs and events
sharing a time; every date and window a figure could turn on."""

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

# SQLAlchemy's own select: sqlmodel's is typed for at most four columns.
from sqlalchemy import select as columns
from sqlmodel import Session, SQLModel, select

from bench.dataset import load
from contracts.clock import CHINA_TZ
from contracts.deadlines import Rung
from contracts.enums import Action, Industry, Role, Source, Stage
from contracts.hazard import Actor
from readmodel.db import make_engine
from readmodel.queries import scope_condition
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from readmodel.timeline import EFFECTIVENESS_RUNGS, refresh_timelines
from tests.postgres import PostgresServer
from tests.statistics_fold import folded
from tests.test_statistics import DEPT, Seed, seed, t

pytestmark = pytest.mark.databases

TIMELINE_COLUMNS = [
    "planned_at",
    "ended_at",
    "listed_since",
    "escalated_since",
    "found_to_closed_us",
    "rungs_settled_at",
]
STREETS = ["王顶堤街道", "华苑街道", "体育中心街道"]
INDUSTRIES = [Industry.HAZARDOUS_CHEMICALS, Industry.GAS]
START = t(2025, 6, 1)
LEDGER_STAGES = {"closed": Stage.CLOSED, "rectify": Stage.RECTIFY, "review": Stage.REVIEW}
# The stage each lifecycle action leads to from the stage it is taken in.
NEXT = {
    Stage.VERIFY: (Action.VERIFY, Stage.PLAN),
    Stage.PLAN: (Action.SUBMIT_PLAN, Stage.INTERIM_CONTROL),
    Stage.INTERIM_CONTROL: (Action.CONFIRM_INTERIM_CONTROL, Stage.RECTIFY),
    Stage.RECTIFY: (Action.REPORT_RECTIFICATION, Stage.REVIEW),
}


def history(rng: random.Random, n: int) -> Seed:
    """One hazard's events by the lifecycle's rules, a random number of hours apart (sometimes none)."""
    found = START + timedelta(hours=rng.randrange(24 * 400))
    at = found + timedelta(hours=rng.randrange(48))
    payload: dict[str, Any] = {}
    listed = False
    if rng.random() < 0.2:
        ledger = rng.choice(list(LEDGER_STAGES))
        stage = LEDGER_STAGES[ledger]
        payload = {"imported": {"stage": ledger}}
        if rng.random() < 0.5:
            payload["imported"]["plan"] = {"deadline": (found.date() + timedelta(days=30)).isoformat()}
        if rng.random() < 0.5:
            payload["imported"]["funds_yuan"] = "1200.50"
        if rng.random() < 0.3:
            payload["imported"]["five_in_place"] = True
        if stage is Stage.CLOSED:
            payload["imported"]["closed_on"] = (found.date() + timedelta(days=rng.randrange(1, 60))).isoformat()
        elif rng.random() < 0.4:
            payload["imported"]["listing"] = {"doc_number": f"津南安委〔2025〕{n}号"}
            listed = True
    else:
        stage = rng.choice([Stage.VERIFY, Stage.PLAN])
    events = [(Action.REPORT, at, stage)]
    rungs: list[tuple[Rung, datetime]] = []
    for _ in range(rng.randrange(12)):
        if stage.is_terminal:
            break
        at += timedelta(hours=rng.choice([0, 1, 5, 30, 200]))
        roll = rng.random()
        if roll < 0.08:
            action, stage = Action.REVOKE, Stage.REVOKED
        elif roll < 0.25 and not listed:
            action, listed = Action.LIST, True
        elif roll < 0.35 and listed and stage is Stage.REVIEW:
            action, listed = Action.DELIST, False
        elif roll < 0.4:
            action = Action.TRANSFER
        elif stage is Stage.REVIEW:
            action = Action.REVIEW
            stage = Stage.RECTIFY if listed or rng.random() < 0.3 else Stage.CLOSED
        else:
            action, stage = NEXT[stage]
        events.append((action, at, stage))
        rung = rng.choice([*EFFECTIVENESS_RUNGS, Rung.REMINDER])
        if rng.random() < 0.3 and rung not in {
            r for r, _ in rungs
        }:  # one of each: seed() names their deadlines by rung
            rungs.append((rung, at - timedelta(hours=rng.randrange(60))))
    industry = rng.choice(INDUSTRIES)
    return Seed(
        f"F{n:04d}",
        rng.choice(STREETS),
        industry,
        rng.choice(list(Source)),
        found,
        events,
        next_deadline=rng.choice([None, found + timedelta(days=rng.randrange(-10, 300))]),
        five_in_place=rng.random() < 0.5,
        funds_yuan=rng.choice([None, Decimal("0"), Decimal("99.99"), Decimal(rng.randrange(100000)) / 100]),
        rungs=rungs,
        report_payload=payload,
    )


SCOPES = {
    "all": None,
    "street": scope_condition(Actor(id="s", name="街道", role=Role.STREET, organisation=STREETS[0])),
    "department": scope_condition(
        Actor(
            id="d",
            name="部门",
            role=Role.DEPARTMENT,
            organisation=DEPT[Industry.GAS],
            industries=[Industry.GAS],
        )
    ),
}


def test_the_timelines_count_what_the_fold_counts(engine: Engine) -> None:
    rng = random.Random(20261206)
    seeds = [history(rng, n) for n in range(300)]
    seed(engine, seeds)
    # The "by then" boundaries: of each kind of event and rung, three recorded times exactly and a second before.
    by_kind: dict[str, list[datetime]] = defaultdict(list)
    for s in seeds:
        for action, at, _ in s.events:
            by_kind[action].append(at)
        for rung, at in s.rungs:
            by_kind[rung].append(at)
    exact = [at for times in by_kind.values() for at in sorted(times)[:: max(1, len(times) // 3)][:3]]
    boundaries = sorted({*exact, *(at - timedelta(seconds=1) for at in exact)})
    # Every grouping and scope at dates through the data; the totals at every boundary.
    queries = [
        (StatisticsQuery(group_by=group_by, as_of=as_of, cutoff_year=2026), scope)
        for as_of in [START, *boundaries[:: max(1, len(boundaries) // 5)], t(2027, 3, 1)]
        for group_by in GroupBy
        for scope in SCOPES.values()
    ] + [(StatisticsQuery(group_by=GroupBy.NONE, as_of=as_of, cutoff_year=2026), None) for as_of in boundaries]
    for query, scope in queries:
        with Session(engine) as session:
            assert hazard_statistics(session=session, scope=scope, query=query) == folded(engine, scope, query)
    windowed = StatisticsQuery(
        group_by=GroupBy.STREET,
        as_of=t(2026, 8, 1),
        cutoff_year=2026,
        found_from=date(2025, 9, 1),
        found_to=date(2026, 2, 1),
    )
    with Session(engine) as session:
        assert hazard_statistics(session=session, scope=None, query=windowed) == folded(engine, None, windowed)
    # The data must exercise what it claims to: relistings, closures and rungs that saw their stage done.
    last = folded(engine, None, StatisticsQuery(group_by=GroupBy.NONE, as_of=t(2027, 3, 1), cutoff_year=2026)).total
    assert last.closed
    assert last.listed
    assert last.open
    assert last.median_days_to_close is not None
    assert any(e.stage_done for e in last.escalation_effectiveness.values())
    assert sum(1 for s in seeds if sum(1 for a, _, _ in s.events if a is Action.LIST) > 1) > 0
    assert len(by_kind) >= 12  # every action the histories take, and each rung
    # Both ways of reading a hazard's rungs: settled by the date (from its row) and escalated but still moving.
    hazards = SQLModel.metadata.tables["hazard"]
    with engine.connect() as conn:
        spans = conn.execute(
            select(hazards.c.escalated_since, hazards.c.rungs_settled_at).where(hazards.c.escalated_since.is_not(None))
        ).all()
    assert any(settled <= b for _, settled in spans for b in boundaries)
    assert any(since <= b < settled for since, settled in spans for b in boundaries)


def test_the_benchmark_dataset_carries_the_timelines_its_events_give(engine: Engine) -> None:
    """bench.dataset inserts its clones with the timeline the projection derived for their template, and its rungs
    with the time their stage was done (no update after the insert): what refresh_timelines derives from the
    clones' own events must be the same."""
    # Today: the templates' rectifications are completed today, which the rules refuse for an action on another day.
    now = datetime.now(CHINA_TZ)
    load(engine, 300, now=now)
    hazards = SQLModel.metadata.tables["hazard"]
    escalations = SQLModel.metadata.tables["escalation"]
    timeline = columns(
        hazards.c.hazard_id, *(hazards.c[name] for name in TIMELINE_COLUMNS), hazards.c.settled_rungs
    ).order_by(hazards.c.hazard_id)
    rungs = select(
        escalations.c.hazard_id, escalations.c.rung, escalations.c.stage_done_at, escalations.c.to_done_us
    ).order_by(escalations.c.hazard_id, escalations.c.rung)

    def timelines() -> list[dict[str, Any]]:
        # The order of a hazard's settled rungs is the database's: statistics count them.
        with engine.connect() as conn:
            return [
                {**row, "settled_rungs": sorted((row["settled_rungs"] or "").split(","))}
                for row in conn.execute(timeline).mappings()
            ]

    with engine.connect() as conn:
        loaded, fired = timelines(), conn.execute(rungs).all()
    with engine.begin() as conn:
        refresh_timelines(conn, None)
    with engine.connect() as conn:
        assert timelines() == loaded
        assert conn.execute(rungs).all() == fired
    assert sum(1 for row in loaded if row["ended_at"] is not None) > 50  # closed clones, with their durations
    assert sum(1 for row in fired if row.stage_done_at is not None) > 5
    assert sum(1 for row in fired if row.stage_done_at is None) > 5
    query = StatisticsQuery(group_by=GroupBy.INDUSTRY, as_of=now - timedelta(days=90), cutoff_year=now.year)
    with Session(engine) as session:
        assert hazard_statistics(session=session, scope=None, query=query) == folded(engine, None, query)


def test_read_model_connections_to_postgresql_compile_no_plan(postgres: PostgresServer) -> None:
    """JIT compiling took 267 ms of the national statistics' 440 (readmodel.db): the read model turns it off."""
    engine = make_engine(postgres.create_database())
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        engine.dispose()
