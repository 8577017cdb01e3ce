"""Migrations that fill new columns from what the read model already holds."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, func, inspect, select
from sqlmodel import Session, SQLModel

from bench.readside import captured
from contracts.deadlines import RUNG_LEVELS, DeadlineKind, Owner, Rung
from contracts.enums import Action, ReviewDecision, Source, Stage
from contracts.hazard import HazardRecord, ListingOrder, Transfer
from readmodel import search
from readmodel.migrate import alembic_config, upgrade
from readmodel.projection import repair_escalations, write_projection
from readmodel.queries import HazardFilter, hazard_conditions, list_hazards
from readmodel.search import holds, phrase
from readmodel.text_grams import ascii_folded, token
from tests.conftest import postgresql_plan, sqlite_plan
from tests.scenarios import (
    COMMITTEE,
    ENTERPRISE,
    INSPECTOR,
    PATHS,
    Path,
    confirm_control,
    delist,
    report,
    report_rectification,
    review,
    submit_plan,
)
from workflows.lifecycle import apply, open_hazard

pytestmark = pytest.mark.databases

HAZARDS = SQLModel.metadata.tables["hazard"]
PERIODS = SQLModel.metadata.tables["listing_period"]
RUNGS = SQLModel.metadata.tables["escalation"]
SEARCHED = ("hazard_id", "title", "enterprise_name", "location")


def hazard_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(HAZARDS).order_by(HAZARDS.c.hazard_id)).mappings()]


def period_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(row) for row in conn.execute(select(PERIODS).order_by(PERIODS.c.hazard_id, PERIODS.c.seq)).mappings()
        ]


def rung_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(RUNGS).order_by(RUNGS.c.id)).mappings()]


def counted_plan(engine: Engine, *conditions: ColumnElement[bool]) -> str:
    """PostgreSQL's plan for counting the hazards meeting `conditions`, told to take an index where one serves: the
    tables here are too small for the planner to choose one by itself."""
    counted = select(func.count()).select_from(HAZARDS).where(*conditions)
    return postgresql_plan(engine, str(counted.compile(engine, compile_kwargs={"literal_binds": True})))


def walked(hazard_id: str, path: Path, at: datetime) -> HazardRecord:
    record = open_hazard(hazard_id, path.report(), path.reporter, at)
    for step in path.steps:
        take(record, Action(step.update), step.input(), at)
    return record


def take(record: HazardRecord, action: Action, update: BaseModel, at: datetime) -> None:
    """An update input (its actor and one payload) applied by the rules, as the workflow applies it."""
    fields = dict(update)
    actor = fields.pop("actor")
    (payload,) = fields.values()
    apply(record, action, actor, payload, at)


def test_0007_fills_the_department_scope_columns_of_older_rows_from_their_events(
    database_url: str, engine: Engine
) -> None:
    now = datetime.now(UTC)
    transferred = open_hazard("M-1", report(), INSPECTOR, now)
    to_housing = Transfer(to_department="南开区住房和建设委员会", reason="涉及在建工程，由住建部门负责监管。")
    apply(transferred, Action.TRANSFER, INSPECTOR, to_housing, now)
    reported_by_enterprise = open_hazard("M-2", report(), ENTERPRISE, now)
    for record in (transferred, reported_by_enterprise):
        write_projection(engine, record.state, record.events)
    written = hazard_rows(engine)
    assert [(r["reporter_organisation"], r["transferred"]) for r in written] == [
        (INSPECTOR.organisation, True),
        (ENTERPRISE.organisation, False),
    ]

    engine.dispose()
    command.downgrade(alembic_config(database_url), "0006")
    upgrade(database_url)

    assert hazard_rows(engine) == written, "the migration filled them otherwise than the projection writes them"


def rung(hazard_id: str, name: Rung, at: datetime) -> dict[str, Any]:
    return {
        "hazard_id": hazard_id,
        "deadline_id": f"{hazard_id}-rectify",
        "deadline_kind": DeadlineKind.RECTIFY.value,
        "rung": name.value,
        "level": RUNG_LEVELS[name],
        "target_kind": Owner.ENTERPRISE.value,
        "target_organisation": "恒达化工",
        "copied_to": [],
        "issued_by": "南开区安委办",
        "doc_number": None,
        "at": at,
        "due": at,
        "working_days_late": 1,
        "reason": "逾期未整改",
        "letter": {},
    }


def test_0009_and_0010_fill_the_timelines_of_older_rows_from_their_events(database_url: str, engine: Engine) -> None:
    now = datetime.now(UTC)
    closed = walked("M-1", PATHS["self_report_closed"], now)
    revoked = walked("M-2", PATHS["revoked_in_rectify"], now)
    # Listed, delisted once its rectification was reported, sent back by the review, and listed again.
    relisted = walked("M-3", Path(ENTERPRISE, report, [submit_plan()], Stage.INTERIM_CONTROL), now)
    listing = ListingOrder(issuing_body="南开区安委办", doc_number="南开安委办督〔2026〕3号")
    apply(relisted, Action.LIST, COMMITTEE, listing, now)
    for step in [confirm_control(), report_rectification(), delist(), review(ReviewDecision.REJECT)]:
        take(relisted, Action(step.update), step.input(), now)
    apply(relisted, Action.LIST, COMMITTEE, listing, now)
    for record in (closed, revoked, relisted):
        write_projection(engine, record.state, record.events)
    # A 函告 whose stage was done an hour later (the closed hazard's events are all at `now`), and one still open.
    repair_escalations(
        engine, [rung("M-1", Rung.NOTICE_LETTER, now - timedelta(hours=1)), rung("M-3", Rung.SUMMONS, now)]
    )
    written, periods, rungs = hazard_rows(engine), period_rows(engine), rung_rows(engine)
    assert [(r["rungs_settled_at"], r["settled_rungs"]) for r in written] == [
        (now, "notice_letter:3600000000"),
        (None, None),
        (now, "summons"),
    ]
    assert [(r["planned_at"] is not None, r["ended_at"] is not None) for r in written] == [
        (True, True),
        (True, True),
        (True, False),
    ]
    assert [(p["hazard_id"], p["delisted_at"] is not None) for p in periods] == [("M-3", True), ("M-3", False)]

    engine.dispose()
    command.downgrade(alembic_config(database_url), "0008")
    upgrade(database_url)

    assert hazard_rows(engine) == written, "the migration filled them otherwise than the projection writes them"
    assert period_rows(engine) == periods
    assert rung_rows(engine) == rungs


def test_0014_leaves_a_hazards_events_to_their_unique_key(database_url: str, engine: Engine) -> None:
    def event_indexes() -> dict[str, list[str]]:
        found = inspect(engine)
        named = {
            ix["name"]: list(map(str, ix["column_names"])) for ix in found.get_indexes("hazard_event") if ix["name"]
        }
        keys = {uq["name"]: list(uq["column_names"]) for uq in found.get_unique_constraints("hazard_event")}
        return {**named, **{str(name): columns for name, columns in keys.items()}}

    assert event_indexes() == {"uq_hazard_event_seq": ["hazard_id", "seq"]}
    if engine.dialect.name == "sqlite":
        # The look-ups by hazard take the unique key's index, which leads with it.
        plan = sqlite_plan(engine, "SELECT seq, at FROM hazard_event WHERE hazard_id = ? ORDER BY seq", ("H-1",))
        assert plan == ["SEARCH hazard_event USING INDEX sqlite_autoindex_hazard_event_1 (hazard_id=?)"], plan

    command.downgrade(alembic_config(database_url), "0013")
    engine.dispose()
    assert event_indexes()["ix_hazard_event_hazard_id"] == ["hazard_id"]
    upgrade(database_url)
    engine.dispose()
    assert "ix_hazard_event_hazard_id" not in event_indexes()


def test_0015_gives_each_way_into_the_list_its_filters(database_url: str, engine: Engine) -> None:
    def hazard_indexes() -> dict[str, list[str]]:
        ends = ("_filters", "_stage_deadline", "_overdue", "_board", "_stage", "_reported_at_id", "_found_at")
        return {
            str(ix["name"]): list(map(str, ix["column_names"]))
            for ix in inspect(engine).get_indexes("hazard")
            if str(ix["name"]).endswith(ends)
        }

    few, order = ["rag", "listed", "source"], ["reported_at", "hazard_id"]
    filters = ["industry", *few, "found_at"]
    # On SQLite each ends with the hazard's number in the search's indexes (migration 0020).
    numbered = ["text_rowid"] if engine.dialect.name == "sqlite" else []
    assert hazard_indexes() == {
        "ix_hazard_stage_filters": ["stage", "next_deadline", *filters, *order, *numbered],
        "ix_hazard_overdue_filters": ["next_deadline", "stage", *filters, *order, *numbered],
        "ix_hazard_newest_filters": [*order, "stage", "next_deadline", *filters, *numbered],
        "ix_hazard_found_filters": ["found_at", "stage", "next_deadline", "industry", *few, *order, *numbered],
        "ix_hazard_department_filters": [
            "department",
            "stage",
            "next_deadline",
            "escalation_level",
            *filters,
            *order,
            *numbered,
        ],
        "ix_hazard_reporter_organisation_filters": [
            "reporter_organisation",
            "stage",
            "next_deadline",
            *filters,
            *order,
            *numbered,
        ],
        "ix_hazard_industry_transferred_filters": [
            "industry",
            "transferred",
            "stage",
            "next_deadline",
            *filters[1:],
            *order,
            *numbered,
        ],
        "ix_hazard_street_board": ["street", "stage", "industry", "rag", "escalation_level", "listed"],
    }

    command.downgrade(alembic_config(database_url), "0014")
    engine.dispose()
    assert hazard_indexes() == {
        "ix_hazard_stage_deadline": ["stage", "next_deadline"],
        "ix_hazard_overdue": ["next_deadline", "stage", *order],
        "ix_hazard_reported_at_id": order,
        "ix_hazard_found_at": ["found_at"],
        "ix_hazard_department_board": ["department", "stage", "rag", "escalation_level", "listed"],
        "ix_hazard_reporter_organisation_stage": ["reporter_organisation", "stage"],
        "ix_hazard_industry_transferred_stage": ["industry", "transferred", "stage"],
        "ix_hazard_street_board": ["street", "stage", "industry", "rag", "escalation_level", "listed"],
    }
    upgrade(database_url)
    engine.dispose()
    assert "ix_hazard_department_board" not in hazard_indexes()


def searched(engine: Engine, text: str, *, overdue: bool | None = None) -> list[str]:
    """The committee's first page of the search for `text` (among the overdue or not, if `overdue` says): the ids,
    newest first."""
    where = HazardFilter(text=text, overdue=overdue)
    with Session(engine) as session:
        page = list_hazards(session=session, actor=COMMITTEE, where=where, now=datetime.now(UTC), offset=0, limit=50)
    assert page.count == len(page.data)
    return [hazard.hazard_id for hazard in page.data]


def searched_hazards_written_before(database_url: str, engine: Engine, revision: str) -> None:
    """S-1 and S-2 (of 恒达化工, 华苑路) written at `revision`, before the migrations after it."""
    command.downgrade(alembic_config(database_url), revision)
    engine.dispose()
    now = datetime.now(UTC)
    for hazard_id in ("S-1", "S-2"):
        record = open_hazard(hazard_id, report(), ENTERPRISE, now)
        write_projection(engine, record.state, record.events)
    upgrade(database_url)
    engine.dispose()


def searched_hazards_written_after(engine: Engine) -> None:
    """S-3 written, S-1 moved to 北辰区, S-2 deleted."""
    record = open_hazard("S-3", report(), ENTERPRISE, datetime.now(UTC))
    write_projection(engine, record.state, record.events)
    with engine.begin() as conn:
        conn.execute(HAZARDS.update().where(HAZARDS.c.hazard_id == "S-1").values(location="北辰区 1 号仓库"))
        conn.execute(HAZARDS.delete().where(HAZARDS.c.hazard_id == "S-2"))


def test_0016_indexes_the_search_by_trigrams_and_keeps_the_index_in_step(database_url: str, engine: Engine) -> None:
    sqlite = engine.dialect.name == "sqlite"

    def indexed(text: str) -> list[str]:
        """What SQLite's index finds (readmodel.search); on PostgreSQL, whether the search can go by a trigram index
        of each column."""
        if not sqlite:
            plan = counted_plan(engine, holds(text))
            return ["trigram indexes"] if all(f"ix_hazard_{c}_trigrams" in plan for c in SEARCHED) else [plan]
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT hazard_id FROM hazard_text WHERE hazard_text MATCH ?", (phrase(text),))
            return sorted(found.scalars())

    searched_hazards_written_before(database_url, engine, "0015")
    # Hazards written before the migration are in the index.
    assert indexed("恒达化工") == (["S-1", "S-2"] if sqlite else ["trigram indexes"])
    assert searched(engine, "恒达化工") == ["S-2", "S-1"]  # newest first; the ids break the tie
    assert searched(engine, "S-1") == ["S-1"]
    # Written, changed and deleted after it: the index follows.
    searched_hazards_written_after(engine)
    assert searched(engine, "北辰区") == ["S-1"]
    assert searched(engine, "华苑路") == ["S-3"]
    assert searched(engine, "恒达化工") == ["S-3", "S-1"]
    if sqlite:
        assert indexed("北辰区") == ["S-1"]
        assert indexed("华苑路") == ["S-3"]
        assert indexed("恒达化工") == ["S-1", "S-3"]

    command.downgrade(alembic_config(database_url), "0015")
    engine.dispose()
    assert not ({"hazard_text", "hazard_text_rowid"} & set(inspect(engine).get_table_names()))
    assert not any(str(ix["name"]).endswith("_trigrams") for ix in inspect(engine).get_indexes("hazard"))
    upgrade(database_url)
    engine.dispose()
    assert searched(engine, "华苑路") == ["S-3"]
    assert indexed("恒达化工") == (["S-1", "S-3"] if sqlite else ["trigram indexes"])


def test_0017_counts_a_sources_hazards_from_its_index_on_postgresql_and_drops_three_unused(
    database_url: str, engine: Engine
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    unused = {"ix_hazard_source", "ix_hazard_enterprise_name", "ix_hazard_escalation_level"}
    counted = "ix_hazard_source_stage_next_deadline"

    def hazard_indexes() -> dict[str, list[str]]:
        return {str(ix["name"]): list(map(str, ix["column_names"])) for ix in inspect(engine).get_indexes("hazard")}

    indexes = hazard_indexes()
    assert not unused & set(indexes), indexes
    if sqlite:
        assert counted not in indexes
    else:
        assert indexes[counted] == ["source", "stage", "next_deadline"]
        # The committee's count of a source's hazards not overdue can be answered from the index alone.
        where = HazardFilter(source=Source.SELF_INSPECTION, overdue=False)
        plan = counted_plan(engine, *hazard_conditions(COMMITTEE, where, datetime.now(UTC)))
        assert f"Index Only Scan using {counted}" in plan, plan

    command.downgrade(alembic_config(database_url), "0016")
    engine.dispose()
    indexes = hazard_indexes()
    assert {name: indexes[name] for name in unused} == {
        "ix_hazard_source": ["source"],
        "ix_hazard_enterprise_name": ["enterprise_name"],
        "ix_hazard_escalation_level": ["escalation_level"],
    }
    assert counted not in indexes
    upgrade(database_url)
    engine.dispose()
    assert not unused & set(hazard_indexes())


def grams_indexed(engine: Engine, text: str) -> list[str]:
    """The hazards the index of characters (a text of one) or of pairs (of two) finds; on PostgreSQL, checking that
    the index is what finds them."""
    if engine.dialect.name == "sqlite":
        grams = "hazard_chars" if len(text) == 1 else "hazard_pairs"
        found = (
            f"SELECT n.hazard_id FROM {grams} JOIN hazard_text_rowid AS n ON n.id = {grams}.rowid WHERE {grams} MATCH ?"
        )
        key: str | list[str] = phrase(token(ascii_folded(text)))
    else:
        function, index = ("text_chars", "chars") if len(text) == 1 else ("text_pairs", "pairs")
        found = (
            "SELECT hazard_id FROM hazard_search"
            f" WHERE {function}(hazard_id, title, enterprise_name, location) @> %s::text[]"
        )
        key = [text]
        plan = postgresql_plan(engine, found, (key,))
        assert f"ix_hazard_search_{index}" in plan, plan
    with engine.connect() as conn:
        return sorted(conn.exec_driver_sql(found, (key,)).scalars())


def test_0018_indexes_the_search_of_two_characters_by_pairs_and_keeps_the_index_in_step(
    database_url: str, engine: Engine
) -> None:
    sqlite = engine.dialect.name == "sqlite"

    searched_hazards_written_before(database_url, engine, "0017")
    # Hazards written before the migration are in the index.
    assert grams_indexed(engine, "恒达") == ["S-1", "S-2"]
    assert searched(engine, "恒达") == ["S-2", "S-1"]
    # SQLite's LIKE, and so its pairs, take ASCII letters in either case; PostgreSQL's take them as typed.
    assert searched(engine, "s-") == (["S-2", "S-1"] if sqlite else [])
    assert searched(engine, "S-") == ["S-2", "S-1"]
    # Written, changed and deleted after it: the index follows.
    searched_hazards_written_after(engine)
    assert searched(engine, "北辰") == ["S-1"]
    assert searched(engine, "华苑") == ["S-3"]
    assert searched(engine, "恒达") == ["S-3", "S-1"]
    assert grams_indexed(engine, "北辰") == ["S-1"]
    assert grams_indexed(engine, "华苑") == ["S-3"]
    assert grams_indexed(engine, "恒达") == ["S-1", "S-3"]
    assert grams_indexed(engine, "s-") == (["S-1", "S-3"] if sqlite else [])

    command.downgrade(alembic_config(database_url), "0017")
    engine.dispose()
    assert not ({"hazard_pairs", "hazard_search"} & set(inspect(engine).get_table_names()))
    # 0016's triggers are back: its index follows a hazard written now (searched by a trigram: no pairs to look in).
    record = open_hazard("S-4", report(), ENTERPRISE, datetime.now(UTC))
    write_projection(engine, record.state, record.events)
    assert searched(engine, "恒达化工") == ["S-4", "S-3", "S-1"]
    upgrade(database_url)
    engine.dispose()
    assert grams_indexed(engine, "恒达") == ["S-1", "S-3", "S-4"]
    assert searched(engine, "华苑") == ["S-4", "S-3"]


def test_0019_indexes_the_search_of_one_character_and_keeps_the_index_in_step(
    database_url: str, engine: Engine
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    searched_hazards_written_before(database_url, engine, "0018")
    # Hazards written before the migration are in the index.
    assert grams_indexed(engine, "恒") == ["S-1", "S-2"]
    assert searched(engine, "恒") == ["S-2", "S-1"]
    # SQLite's LIKE, and so its index, takes ASCII letters in either case; PostgreSQL's takes them as typed.
    assert searched(engine, "s") == (["S-2", "S-1"] if sqlite else [])
    assert searched(engine, "S") == ["S-2", "S-1"]
    # Written, changed and deleted after it: the index follows.
    searched_hazards_written_after(engine)
    assert searched(engine, "北") == ["S-1"]
    assert searched(engine, "华") == ["S-3"]
    assert searched(engine, "恒") == ["S-3", "S-1"]
    assert grams_indexed(engine, "北") == ["S-1"]
    assert grams_indexed(engine, "华") == ["S-3"]
    assert grams_indexed(engine, "恒") == ["S-1", "S-3"]
    assert grams_indexed(engine, "s") == (["S-1", "S-3"] if sqlite else [])

    command.downgrade(alembic_config(database_url), "0018")
    engine.dispose()
    if sqlite:
        assert "hazard_chars" not in inspect(engine).get_table_names()
    else:
        assert "ix_hazard_search_chars" not in {str(ix["name"]) for ix in inspect(engine).get_indexes("hazard_search")}
    # 0018's triggers are back: its index of pairs follows a hazard written now.
    record = open_hazard("S-4", report(), ENTERPRISE, datetime.now(UTC))
    write_projection(engine, record.state, record.events)
    assert grams_indexed(engine, "恒达") == ["S-1", "S-3", "S-4"]
    upgrade(database_url)
    engine.dispose()
    assert grams_indexed(engine, "恒") == ["S-1", "S-3", "S-4"]
    assert searched(engine, "华") == ["S-4", "S-3"]


# Two of the ways in migration 0020 adds the hazard's number to: 0015's for overdue hazards, 0011's newest first.
OVERDUE_FILTERS = [
    "next_deadline",
    "stage",
    "industry",
    "rag",
    "listed",
    "source",
    "found_at",
    "reported_at",
    "hazard_id",
]
WITH_DEADLINE_NEWEST = ["reported_at", "hazard_id", "stage", "next_deadline"]


def unnumbered(engine: Engine) -> list[str]:
    """The hazards whose `text_rowid` is not their number in `hazard_text_rowid` (migration 0020)."""
    with engine.connect() as conn:
        return list(
            conn.exec_driver_sql(
                "SELECT h.hazard_id FROM hazard AS h LEFT JOIN hazard_text_rowid AS n ON n.hazard_id = h.hazard_id"
                " WHERE h.text_rowid IS NOT n.id OR n.id IS NULL"
            ).scalars()
        )


def test_0020_numbers_each_hazard_in_the_ways_in_for_a_search_many_hold(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched_hazards_written_before(database_url, engine, "0019")
    if engine.dialect.name != "sqlite":
        # PostgreSQL's search indexes are keyed by the hazard's id: nothing to number.
        assert "text_rowid" not in {column["name"] for column in inspect(engine).get_columns("hazard")}
        return
    monkeypatch.setattr(search, "FEW_HOLDING", 0)  # every text held by many: tested by the hazard's number

    def ways_in() -> dict[str, list[str]]:
        indexes = {
            str(ix["name"]): [str(c) for c in ix["column_names"]] for ix in inspect(engine).get_indexes("hazard")
        }
        return {name: indexes[name] for name in ("ix_hazard_overdue_filters", "ix_hazard_with_deadline_newest")}

    # Hazards written before the migration are numbered, and the ways in hold the number.
    assert unnumbered(engine) == []
    assert ways_in() == {
        "ix_hazard_overdue_filters": [*OVERDUE_FILTERS, "text_rowid"],
        "ix_hazard_with_deadline_newest": [*WITH_DEADLINE_NEWEST, "text_rowid"],
    }
    assert searched(engine, "恒达", overdue=False) == ["S-2", "S-1"]
    assert searched(engine, "恒", overdue=False) == ["S-2", "S-1"]
    assert searched(engine, "恒达化工", overdue=False) == ["S-2", "S-1"]  # by its trigrams: it has no letter
    statements = captured(engine, lambda: searched(engine, "恒", overdue=False))
    assert any("hazard.text_rowid IN" in statement for statement, _ in statements), statements
    # Written, changed and deleted after it: a new hazard is numbered, and the search follows.
    searched_hazards_written_after(engine)
    assert unnumbered(engine) == []
    assert searched(engine, "北辰", overdue=False) == ["S-1"]
    assert searched(engine, "华", overdue=False) == ["S-3"]
    assert searched(engine, "恒达", overdue=False) == ["S-3", "S-1"]

    command.downgrade(alembic_config(database_url), "0019")
    engine.dispose()
    assert "text_rowid" not in {column["name"] for column in inspect(engine).get_columns("hazard")}
    assert ways_in() == {
        "ix_hazard_overdue_filters": OVERDUE_FILTERS,
        "ix_hazard_with_deadline_newest": WITH_DEADLINE_NEWEST,
    }
    # 0019's triggers are back (they number nothing): a hazard written now is searched by its LIKE.
    record = open_hazard("S-4", report(), ENTERPRISE, datetime.now(UTC))
    write_projection(engine, record.state, record.events)
    monkeypatch.setattr(search, "FEW_HOLDING", 5_000)
    assert searched(engine, "恒达", overdue=False) == ["S-4", "S-3", "S-1"]
    upgrade(database_url)
    engine.dispose()
    monkeypatch.setattr(search, "FEW_HOLDING", 0)
    assert unnumbered(engine) == []
    assert searched(engine, "华苑", overdue=False) == ["S-4", "S-3"]
    assert searched(engine, "华苑路", overdue=False) == ["S-4", "S-3"]
