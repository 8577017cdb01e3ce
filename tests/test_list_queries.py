"""The list's SQL (readmodel.queries) against the rule it stands for: contracts.jurisdiction.sees and the filters,
written again in Python, over a grid of hazards that differ in every column the two look at."""

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlmodel import Session

from bench.readside import captured
from contracts.clock import day_start
from contracts.deadlines import Rag
from contracts.enums import Industry, Role, Source, Stage
from contracts.hazard import Actor
from contracts.jurisdiction import sees
from readmodel import queries, search
from readmodel.db import make_engine
from readmodel.models import Hazard
from readmodel.planner_hints import rows_estimate
from readmodel.queries import HazardFilter, list_hazards
from tests.conftest import new_database_url, postgresql_plan, sqlite_plan
from web.queries import DEADLINE_FIRST

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
DEPARTMENTS = ("应急局", "住建委")
STREETS = ("街道甲", "街道乙")
CREDIT_CODES = ("91120104MA0000001X", "91120104MA0000002X")
OPEN_STAGES = (Stage.PLAN, Stage.RECTIFY, Stage.REVIEW)
ACTORS = [
    Actor(id="co", name="安委办", role=Role.COMMITTEE_OFFICE, organisation="安委办"),
    Actor(id="st", name="街道", role=Role.STREET, organisation="街道甲", street="街道甲"),
    Actor(id="en", name="企业", role=Role.ENTERPRISE, organisation="企业", credit_code=CREDIT_CODES[1]),
    Actor(id="en0", name="企业", role=Role.ENTERPRISE, organisation="企业"),  # no credit code: sees nothing
    Actor(id="d1", name="应急", role=Role.DEPARTMENT, organisation="应急局", industries=[Industry.HAZARDOUS_CHEMICALS]),
    Actor(id="d2", name="住建", role=Role.DEPARTMENT, organisation="住建委", industries=[]),
]
FILTERS = [
    HazardFilter(),
    HazardFilter(stage=Stage.RECTIFY),
    HazardFilter(overdue=True),
    HazardFilter(overdue=False),
    HazardFilter(street="街道乙", stage=Stage.PLAN),
    HazardFilter(industry=Industry.GAS),
    HazardFilter(department="住建委", overdue=True),
    HazardFilter(overdue=True, found_from=(NOW - timedelta(days=8)).date()),
    HazardFilter(found_to=(NOW - timedelta(days=8)).date()),
    HazardFilter(stage=Stage.PLAN, found_from=(NOW - timedelta(days=12)).date()),
    HazardFilter(rag=Rag.RED),
    HazardFilter(listed=True, stage=Stage.RECTIFY),
    HazardFilter(source=Source.TIP_OFF, overdue=True),
    HazardFilter(rag=Rag.YELLOW, listed=False, overdue=False),
    HazardFilter(industry=Industry.HAZARDOUS_CHEMICALS, stage=Stage.RECTIFY, overdue=True),
    HazardFilter(text="G-01"),
    HazardFilter(text="粉尘", overdue=True),
    HazardFilter(text="企业3", stage=Stage.RECTIFY),
    # Taken as typed: `_` and `%` are no wildcards (`_` would match the ids' `-`).
    HazardFilter(text="G_01"),
    HazardFilter(text="5%"),
    HazardFilter(text='报警"装置'),  # a quote, which the index's query language would read as its own
    # Two characters (found by their pair where an index of pairs is kept), and one (by a LIKE everywhere).
    HazardFilter(text="01"),
    HazardFilter(text="负荷", listed=True),
    HazardFilter(text="区"),
    HazardFilter(text="5%负荷区", overdue=False),  # no letter: its trigrams answer it exactly
]
TEXT_COLUMNS = ("title", "enterprise_name", "hazard_id", "location")


def grid() -> list[dict[str, Any]]:
    """One hazard per combination of the columns the jurisdiction and the filters read."""
    rows = []
    industries = (Industry.HAZARDOUS_CHEMICALS, Industry.GAS)
    combinations = itertools.product(DEPARTMENTS, DEPARTMENTS, (False, True), industries, (*OPEN_STAGES, Stage.CLOSED))
    for number, (department, reporter, transferred, industry, stage) in enumerate(combinations):
        # Deadlines passed and not, and none; reports at times that tie, so the id breaks them.
        deadline = None if number % 5 == 0 else NOW + timedelta(days=number % 3 - 1, minutes=number)
        reported = NOW - timedelta(days=number // 3)
        rows.append(
            {
                "hazard_id": f"G-{number:03d}",
                "title": ("储罐区可燃气体报警装置失效", "粉尘除尘系统未采取防爆措施", "有限空间作业未审批")[number % 3],
                "description": "说明",
                "enterprise_name": f"企业{number % 7}有限公司",
                "enterprise_credit_code": CREDIT_CODES[number % 2],
                "street": STREETS[number // 2 % 2],
                "industry": industry,
                "department": department,
                "reporter_organisation": reporter,
                "transferred": transferred,
                "source": (Source.SELF_INSPECTION, Source.TIP_OFF)[number // 7 % 2],
                "criterion_standard": "标准",
                "criterion_clause": "第一条",
                "location": f"{number % 11 * 5}%负荷区",
                "found_at": reported,
                "reported_at": reported,
                "reporter_id": "x",
                "reporter_name": "x",
                "stage": stage,
                "next_deadline": deadline,
                "rag": (Rag.GREEN, Rag.YELLOW, Rag.RED)[number % 3],
                "listed": number // 4 % 3 == 0,
                "version": 1,
                "updated_at": reported,
            }
        )
    return rows


def matches(row: dict[str, Any], actor: Actor, where: HazardFilter) -> bool:
    seen = sees(
        actor,
        credit_code=row["enterprise_credit_code"],
        street=row["street"],
        industry=row["industry"],
        department=row["department"],
        reporter_organisation=row["reporter_organisation"],
        transferred=row["transferred"],
    )
    overdue = row["stage"] is not Stage.CLOSED and row["next_deadline"] is not None and row["next_deadline"] < NOW
    return (
        seen
        and where.stage in (None, row["stage"])
        and where.street in (None, row["street"])
        and where.industry in (None, row["industry"])
        and where.department in (None, row["department"])
        and where.overdue in (None, overdue)
        and where.source in (None, row["source"])
        and where.rag in (None, row["rag"])
        and where.listed in (None, row["listed"])
        and (where.found_from is None or row["found_at"] >= day_start(where.found_from))
        and (where.found_to is None or row["found_at"] < day_start(where.found_to + timedelta(days=1)))
        and (where.text is None or any(where.text in row[column] for column in TEXT_COLUMNS))
    )


def newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (row["reported_at"], row["hazard_id"]), reverse=True)


def deadline_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (row["next_deadline"] is None, row["next_deadline"] or NOW, row["hazard_id"]))


@pytest.mark.databases
@pytest.mark.parametrize("many_matches", [10**9, 1], ids=["sorted", "walked"])
@pytest.mark.parametrize("few_holding", [search.FEW_HOLDING, 0], ids=["looked-up", "held-by-many"])
def test_every_page_of_the_list_holds_what_the_jurisdiction_and_the_filters_allow(
    engine: Engine, many_matches: int, few_holding: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways to a page newest first: by the filter's indexes, and walked newest first (which the grid's few
    hazards take only when the counts that choose it are lowered: every page but a closed window's). A search, looked
    up in its index, or as a text many hazards hold (FEW_HOLDING lowered): on SQLite, one or two characters tested by
    the hazard's number in their index (migration 0020)."""
    monkeypatch.setattr(queries, "MANY_MATCHES", many_matches)
    monkeypatch.setattr(search, "FEW_HOLDING", few_holding)
    monkeypatch.setattr(queries, "rows_estimate", lambda session, model: 0)
    rows = grid()
    with engine.begin() as conn:
        conn.execute(insert(Hazard), rows)
    checked = 0
    with Session(engine) as session:
        for actor, where, (order, ordered) in itertools.product(
            ACTORS, FILTERS, [((), newest_first), (DEADLINE_FIRST, deadline_first)]
        ):
            expected = [r["hazard_id"] for r in ordered(rows) if matches(r, actor, where)]
            pages: list[str] = []
            for offset in range(0, len(expected) + 7, 7):
                page = list_hazards(
                    session=session,
                    actor=actor,
                    where=where,
                    now=NOW,
                    offset=offset,
                    limit=7,
                    **({"order": order} if order else {}),
                )
                assert page.count == len(expected), (actor.id, where)
                pages += [hazard.hazard_id for hazard in page.data]
            assert pages == expected, (actor.id, where, order)
            checked += len(expected)
    assert checked > 500  # the grid gives every actor and filter something to find


def test_sqlite_answers_a_departments_hazards_in_a_stage_and_the_overdue_page_from_indexes(engine: Engine) -> None:
    """Guards the reason hazard_conditions repeats the filters in each way into the jurisdiction, and migration
    0008's covering index: without them SQLite reads every hazard of the stage, or every overdue row, to sort.
    (This test runs on SQLite only.)"""
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    department, committee = ACTORS[4], ACTORS[0]

    for plan in page_plans(engine, department, HazardFilter(stage=Stage.REVIEW)):
        searches = [step for step in plan if step.startswith("SEARCH hazard USING") and "autoindex" not in step]
        assert "MULTI-INDEX OR" in plan, plan
        assert len(searches) == 3, plan
        assert all("stage=?" in step for step in searches), plan
    for plan in page_plans(engine, committee, HazardFilter(overdue=True)):
        assert any("COVERING INDEX ix_hazard_overdue_filters" in step for step in plan), plan


@pytest.mark.parametrize(
    ("actor", "where", "ways_in"),
    [
        (ACTORS[4], HazardFilter(stage=Stage.RECTIFY, overdue=True), 3),
        (ACTORS[4], HazardFilter(listed=True), 3),
        (ACTORS[4], HazardFilter(rag=Rag.RED, stage=Stage.PLAN), 3),
        (ACTORS[0], HazardFilter(listed=True, stage=Stage.RECTIFY), 1),
        (ACTORS[0], HazardFilter(source=Source.TIP_OFF, overdue=True), 1),
        (ACTORS[4], HazardFilter(industry=Industry.GAS, overdue=False), 3),
        (ACTORS[0], HazardFilter(industry=Industry.HAZARDOUS_CHEMICALS, stage=Stage.RECTIFY, overdue=True), 1),
        (ACTORS[0], HazardFilter(found_to=(NOW - timedelta(days=8)).date()), 1),
        (ACTORS[0], HazardFilter(stage=Stage.PLAN, found_from=(NOW - timedelta(days=12)).date()), 1),
        (ACTORS[4], HazardFilter(found_from=(NOW - timedelta(days=12)).date(), overdue=False), 3),
    ],
)
def test_sqlite_takes_a_filtered_page_by_its_ways_in_not_by_a_filters_own_index(
    engine: Engine, actor: Actor, where: HazardFilter, ways_in: int
) -> None:
    """Guards migration 0015 and the few-valued filters kept out of look-ups (readmodel.queries.hazard_conditions):
    each way in (a stage, the next deadline, each branch of a department's jurisdiction) holds the filters, where
    SQLite took `listed`'s, the industry's or the stage's own index and read a large part of the national table (a
    department's overdue hazards in 整改: 240-530 ms). (This test runs on SQLite only.)"""
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    for plan in page_plans(engine, actor, where):
        ways = [step for step in plan if step.startswith(("SEARCH hazard USING", "SCAN hazard USING"))]
        ways = [step for step in ways if "autoindex" not in step]
        assert len(ways) == ways_in, plan
        assert all("_filters (" in step for step in ways), plan
        if ways_in == 1:  # one way in reads no row (SQLite says so of a single index, not of an OR of them)
            assert all("COVERING INDEX" in step for step in ways), plan


def test_sqlite_looks_a_search_up_in_its_index_when_few_hazards_hold_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards migrations 0016, 0018 and 0019 and readmodel.search: a text that few hazards hold is found by its index
    (the trigrams, or for one or two characters the characters or the pairs), and the hazards it names by their key;
    any other is found by one read of the table, where SQLite walked the newest-first index and looked up every
    hazard's row (an enterprise's 4 hazards at national scale: 513 ms; one read of the table 221 ms; looked up,
    2.1-2.5 ms). A search alone over every hazard is counted from that index alone where it answers exactly: one or two
    characters, or a longer text with no letter of either case. (This test runs on SQLite only.)"""
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    committee, street = ACTORS[0], ACTORS[1]
    trigrams = "SCAN hazard_text VIRTUAL TABLE INDEX 0:M4"
    # The texts whose index answers exactly (readmodel.search._exact). G-01 has a letter, so LIKE decides for it: FTS5
    # folds the case of every letter, SQLite's LIKE of ASCII letters alone.
    exact = {
        "粉尘": "SCAN hazard_pairs VIRTUAL TABLE INDEX 0:M1",
        "粉": "SCAN hazard_chars VIRTUAL TABLE INDEX 0:M1",
        "粉尘除尘": trigrams,
    }

    def plans(text: str, actor: Actor = committee) -> list[list[str]]:
        statements = page_statements(engine, actor, HazardFilter(text=text))
        return [sqlite_plan(engine, statement, parameters) for statement, parameters in statements]

    looked_up, count, page = plans("G-01")
    assert looked_up == ["CO-ROUTINE anon_1", trigrams, "SCAN anon_1"], looked_up
    for plan in (count, page):
        assert trigrams in plan, plan
        assert not any(step.startswith("SCAN hazard") and "hazard_text" not in step for step in plan), plan
    # Answered exactly: the committee's count from the index alone, which also tells that few hold the text; a street's
    # count, as each page, by the hazards it names.
    for text, index in exact.items():
        count, page = plans(text)
        assert count == [index], count
        looked_up, *statements = plans(text, street)
        assert looked_up == ["CO-ROUTINE anon_1", index, "SCAN anon_1"], looked_up
        for plan in (page, *statements):
            assert index in plan, plan
            assert not any(step.startswith("SCAN hazard ") for step in plan), plan
    # Held by many (FEW_HOLDING lowered): not looked up, the hazards read (the committee's: the table, once). Answered
    # exactly: the committee's count still the index's alone, and its page tests the rows it passes; a street's count
    # and page test each hazard's number against the index (migration 0020).
    monkeypatch.setattr(search, "FEW_HOLDING", 1)
    indexes = ("hazard_text", "hazard_pairs", "hazard_chars")
    for statements in (plans("G-01", street)[1:], plans("G-01")[1:], *(plans(text)[1:] for text in exact)):
        for plan in statements:
            assert any(step.startswith(("SCAN hazard", "SEARCH hazard")) for step in plan), plan
            assert not any(index in step for step in plan for index in indexes), plan
    assert "SCAN hazard" in plans("G-01")[-1]
    for text, index in exact.items():
        assert plans(text)[0] == [index]
        for plan in plans(text, street)[1:]:
            assert "LIST SUBQUERY 1" in plan, plan
            assert index in plan, plan


@pytest.mark.parametrize(
    ("actor", "where"),
    [
        (ACTORS[0], HazardFilter(text="储罐", overdue=True)),
        (ACTORS[0], HazardFilter(text="粉", stage=Stage.RECTIFY)),
        (ACTORS[0], HazardFilter(text="粉尘", overdue=False, listed=True)),
        (ACTORS[4], HazardFilter(text="粉尘")),
        (ACTORS[4], HazardFilter(text="储", overdue=True)),
        (ACTORS[0], HazardFilter(text="报警装置", overdue=True)),
        (ACTORS[4], HazardFilter(text="5%负荷区", stage=Stage.RECTIFY)),
    ],
    ids=[
        "overdue",
        "stage",
        "not-overdue-listed",
        "department",
        "department-overdue",
        "trigrams",
        "department-trigrams",
    ],
)
@pytest.mark.parametrize("many_matches", [10**9, 1], ids=["sorted", "walked"])
def test_sqlite_tests_a_text_many_hold_by_the_hazards_number_in_the_ways_in_alone(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, actor: Actor, where: HazardFilter, many_matches: int
) -> None:
    """Guards migration 0020: a text many hazards hold whose index answers exactly (one or two characters, or more
    with no letter of either case), with other filters or in a jurisdiction, is tested by each hazard's number
    (`text_rowid`) against its index, in the way-in index, where each hazard's row was read for its LIKE (the
    committee's overdue hazards holding 仓库 at national scale: 220 ms, by number 52)."""
    monkeypatch.setattr(search, "FEW_HOLDING", 0)
    monkeypatch.setattr(queries, "MANY_MATCHES", many_matches)
    monkeypatch.setattr(queries, "rows_estimate", lambda session, model: 0)
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    index = {1: "hazard_chars", 2: "hazard_pairs"}.get(len(where.text or ""), "hazard_text")
    statements = page_statements(engine, actor, where)
    # How many hold the text (from its index alone), the count, the page.
    assert len(statements) == 3, statements
    for statement, parameters in statements[1:]:
        plan = sqlite_plan(engine, statement, parameters)
        assert any(step.startswith(f"SCAN {index} VIRTUAL TABLE INDEX") for step in plan), plan
        # Searched by a way in, or walked newest first; the page's own rows, found by their ids, aside.
        ways = [
            step for step in plan if step.startswith(("SEARCH hazard ", "SCAN hazard ")) and "autoindex" not in step
        ]
        assert ways, plan
        assert all(" USING " in step and "INDEX" in step for step in ways), plan
        if actor.role is Role.COMMITTEE_OFFICE:  # one way in reads no row (SQLite says so of a single index)
            assert all("COVERING INDEX" in step for step in ways), plan


def test_an_empty_page_is_not_looked_for(engine: Engine) -> None:
    """Past the last match, the page's statement would test every hazard for nothing: the count answers it."""
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    committee = ACTORS[0]

    def statements(where: HazardFilter, offset: int) -> int:
        return len(page_statements(engine, committee, where, offset))

    assert statements(HazardFilter(stage=Stage.RECTIFY), offset=0) == 2  # the count, then the page
    assert statements(HazardFilter(stage=Stage.RECTIFY), offset=10_000) == 1
    assert statements(HazardFilter(stage=Stage.VERIFY), offset=0) == 1  # the grid has none in 核查


def page_statements(engine: Engine, actor: Actor, where: HazardFilter, offset: int = 0) -> list[tuple[str, Any]]:
    """The statements (with their parameters) a page of 50 sends: the count, then, unless it is empty, the page."""

    def page() -> None:
        with Session(engine) as session:
            list_hazards(session=session, actor=actor, where=where, now=NOW, offset=offset, limit=50)

    return captured(engine, page)


def page_plans(engine: Engine, actor: Actor, where: HazardFilter) -> list[list[str]]:
    """SQLite's plans of the first page's statements: the count, then the page."""
    plans = [
        sqlite_plan(engine, statement, parameters) for statement, parameters in page_statements(engine, actor, where)
    ]
    assert len(plans) == 2, plans
    return plans


def test_sqlite_walks_a_page_of_many_overdue_hazards_newest_first_and_sorts_a_few(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards migration 0011 and what `list_hazards` tells SQLite: with many overdue, the page's ids come from the
    index of hazards with a deadline, walked in the page's order, whatever other filter or jurisdiction narrows
    them; with a few, from the deadline index, sorted, where SQLite would otherwise walk every hazard with a
    deadline. (This test runs on SQLite only.)"""
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    committee, department = ACTORS[0], ACTORS[4]

    def page_plan(actor: Actor, where: HazardFilter) -> tuple[str, list[str]]:
        _, (statement, parameters) = page_statements(engine, actor, where)  # the count, then the page
        return statement, sqlite_plan(engine, statement, parameters)

    statement, plan = page_plan(committee, HazardFilter(overdue=True))  # the grid's 12 overdue hazards are few
    assert "ORDER BY +hazard.reported_at DESC, +hazard.hazard_id DESC" in statement
    assert (
        "SEARCH hazard USING COVERING INDEX ix_hazard_overdue_filters (next_deadline>? AND next_deadline<?)" in plan
    ), plan
    monkeypatch.setattr(queries, "MANY_MATCHES", 1)
    monkeypatch.setattr(queries, "rows_estimate", lambda session, model: 0)
    statement, plan = page_plan(committee, HazardFilter(overdue=True))
    assert "+hazard.next_deadline < ?" in statement
    assert "ORDER BY +" not in statement
    assert "SCAN hazard USING COVERING INDEX ix_hazard_with_deadline_newest" in plan, plan
    assert plan.count("USE TEMP B-TREE FOR ORDER BY") == 1, plan  # the page's rows only, not the ids
    # Before the walk, a stage's index took these and sorted them (46-140 ms nationally), and a department's three
    # ways in each took theirs (55-80 ms).
    for actor, where in [
        (committee, HazardFilter(overdue=True, stage=Stage.RECTIFY)),
        (department, HazardFilter(overdue=True)),
    ]:
        statement, plan = page_plan(actor, where)
        assert any(
            step.startswith("SCAN hazard USING") and "ix_hazard_with_deadline_newest" in step for step in plan
        ), plan
        assert "MULTI-INDEX OR" not in plan, plan
        assert plan.count("USE TEMP B-TREE FOR ORDER BY") == 1, plan


def test_sqlite_walks_a_page_of_many_matches_newest_first_whatever_narrows_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With many matching, a page of any list newest first is walked down the index of every hazard in that order,
    not taken by the filter's or the jurisdiction's indexes and sorted (22-68 ms at national scale for a
    department's hazards, an industry's or a stage's). A closed window is not walked. (This test runs on SQLite
    only.)"""
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    monkeypatch.setattr(queries, "MANY_MATCHES", 1)
    monkeypatch.setattr(queries, "rows_estimate", lambda session, model: 0)
    committee, department = ACTORS[0], ACTORS[4]

    def page_plan(actor: Actor, where: HazardFilter) -> list[str]:
        _, (statement, parameters) = page_statements(engine, actor, where)  # the count, then the page
        return sqlite_plan(engine, statement, parameters)

    # The committee's filters are tested in the walked index (migration 0015); a jurisdiction's columns are read from
    # each hazard passed.
    for actor, where, walked in [
        (department, HazardFilter(), "SCAN hazard USING INDEX ix_hazard_newest_filters"),
        (department, HazardFilter(overdue=False), "SCAN hazard USING INDEX ix_hazard_newest_filters"),
        (committee, HazardFilter(stage=Stage.RECTIFY), "SCAN hazard USING COVERING INDEX ix_hazard_newest_filters"),
        (committee, HazardFilter(industry=Industry.GAS), "SCAN hazard USING COVERING INDEX ix_hazard_newest_filters"),
        (
            committee,
            HazardFilter(stage=Stage.RECTIFY, listed=True, rag=Rag.YELLOW),
            "SCAN hazard USING COVERING INDEX ix_hazard_newest_filters",
        ),
    ]:
        plan = page_plan(actor, where)
        assert walked in plan, (where, plan)
        assert "MULTI-INDEX OR" not in plan, plan
        assert plan.count("USE TEMP B-TREE FOR ORDER BY") == 1, plan  # the page's rows only, not the ids
    plan = page_plan(department, HazardFilter(found_to=NOW.date()))
    assert "MULTI-INDEX OR" in plan, plan
    assert plan.count("USE TEMP B-TREE FOR ORDER BY") == 2, plan


def test_a_page_is_walked_when_passing_hazards_costs_less_than_sorting_its_matches(engine: Engine) -> None:
    assert queries.walks(HazardFilter(), count=13_886, end=50, hazards=lambda: 200_000)  # a department's, nationally
    assert not queries.walks(
        HazardFilter(), count=1_572, end=50, hazards=lambda: 200_000
    )  # sorted in 7 ms, walked in 14
    assert not queries.walks(
        HazardFilter(), count=13_886, end=5_000, hazards=lambda: 200_000
    )  # a deep page passes too many
    assert queries.walks(HazardFilter(), count=1_000, end=50, hazards=lambda: 0)  # no estimate (PostgreSQL): from 1,000
    assert not queries.walks(HazardFilter(), count=999, end=50, hazards=lambda: 0)
    assert not queries.walks(HazardFilter(found_to=NOW.date()), count=100_000, end=50, hazards=lambda: 200_000)
    rows = grid()
    with engine.begin() as conn:
        conn.execute(insert(Hazard), rows)
    with Session(engine) as session:
        assert rows_estimate(session, Hazard) == (len(rows) if engine.dialect.name == "sqlite" else 0)


def test_postgresql_reads_each_way_into_a_jurisdiction_from_its_own_index(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Guards readmodel.queries.selected_by_ways_in and newest_page_of_ways: a department's page (three ways in: its
    own hazards, those it reported, its industries') is counted and sorted from one index-only scan per way, joined
    by UNION, where an OR of the ways made PostgreSQL read every matching hazard's row from the table (a BitmapOr);
    the page from each way's newest alone."""
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
        conn.exec_driver_sql("ANALYZE hazard")
    # Autovacuum's work: an index-only scan reads no row of a page the visibility map marks all-visible.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM hazard")
    department = ACTORS[4]
    statements = page_statements(engine, department, HazardFilter(overdue=True, listed=True))
    plans = [postgresql_plan(engine, sql, parameters) for sql, parameters in statements]
    assert len(plans) == 2, plans
    ways = (
        "ix_hazard_department_filters",
        "ix_hazard_reporter_organisation_filters",
        "ix_hazard_industry_transferred_filters",
    )
    for plan in plans:
        assert "BitmapOr" not in plan, plan
        for index in ways:
            assert f"Index Only Scan using {index}" in plan, plan
    # The page from each way's newest hazards, as many as the page's end, not from every match sorted: a limit on
    # each way, and on the page.
    assert plans[1].count("->  Limit") == len(ways) + 1, plans[1]


def test_postgresql_reads_a_searched_jurisdiction_by_a_union_only_when_the_search_is_looked_up(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search not looked up in its index is tested on each hazard's row, so the ways in gain nothing from their
    indexes alone, and the UNION would sort every match where the OR's page stops at 50 (a department's search for
    a word 39,287 hazards hold, at national scale: page 1 in 57 ms against 6)."""
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())
    department = ACTORS[4]

    def unions() -> list[bool]:
        return ["UNION" in sql for sql, _ in page_statements(engine, department, HazardFilter(text="粉尘"))]

    assert unions() == [False, True, True]  # the index's estimate, then the count and the page by the ways in
    monkeypatch.setattr(search, "FEW_HOLDING", 0)  # held by too many to look up
    assert unions() == [False, False, False]
