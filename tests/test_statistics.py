"""Statistics against figures worked out by hand from a small seeded read model.

The data set (China time; A = 王顶堤街道, B = 华苑街道; chem = 危险化学品 / 应急局, gas = 燃气 / 城管委):

  H1 A chem self_inspection  found 2025-11-10 09:00  closed 2026-01-20 09:00 (71 days)  plan: five, 10000
  H2 A chem inspection       found 2025-12-20 09:00  open (RECTIFY), next deadline 2026-03-01  plan: 5000.50
                              notice letter 2026-01-05 09:00, interim control confirmed 2026-01-07 09:00 (48 h)
  H3 A gas  tip_off          found 2025-12-31 23:30  verified 2026-01-02, revoked 2026-02-01
  H4 A gas  self_inspection  found 2026-01-01 00:00  closed 2026-03-20 00:00 (78 days)  plan: five, 20000
                              listed (listing rung) 2026-01-05 00:00, delisted 2026-03-01,
                              rectification reported 2026-03-10 00:00 (1536 h after the listing)
  H5 B chem inspection       found 2026-02-10 09:00  open (PLAN), next deadline 2026-02-20
                              reminder 2026-02-15 (not a counted rung), summons 2026-03-01 09:00, nothing since
  H6 B gas  tip_off          found 2026-03-01 09:00  closed 2026-03-11 09:00 (10 days)  plan: five, 30000
  H7 B chem self_inspection  found 2024-06-01 09:00  open (RECTIFY), next deadline 2026-12-31  plan: 1000
                              notice letter 2024-07-01 09:00 -> interim control 2024-07-02 21:00 (36 h)
                              summons 2025-01-01 09:00 -> rectification reported 2025-01-03 09:00 (48 h)
                              circular 2025-01-05 09:00 -> review rejected 2025-01-10 09:00 (120 h)
  H8 A chem inspection       found 2026-04-01 09:00  open (PLAN), next deadline 2026-12-01
"""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from contracts.clock import CHINA_TZ, day_start
from contracts.deadlines import DeadlineKind, Owner, Rung
from contracts.enums import Action, Industry, Role, Source, Stage
from contracts.hazard import Actor
from readmodel.models import EscalationRow, Hazard, HazardEventRow
from readmodel.queries import scope_condition
from readmodel.statistics import GroupBy, StatisticsPublic, StatisticsQuery, StatisticsRow, hazard_statistics
from readmodel.timeline import refresh_timelines
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, STREET

pytestmark = pytest.mark.databases

A, B = "王顶堤街道", "华苑街道"
CHEM, GAS = Industry.HAZARDOUS_CHEMICALS, Industry.GAS
DEPT = {CHEM: "南开区应急管理局", GAS: "南开区城市管理委员会"}
NOW = datetime(2026, 6, 30, 12, tzinfo=CHINA_TZ)
PAST = datetime(2026, 1, 10, tzinfo=CHINA_TZ)
PROBLEM = "application/problem+json"


def t(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ)


@dataclass
class Seed:
    hazard_id: str
    street: str
    industry: Industry
    source: Source
    found_at: datetime
    # (action, at, stage after); the first is the report, its stage before is None.
    events: list[tuple[Action, datetime, Stage]]
    next_deadline: datetime | None = None
    five_in_place: bool = False
    funds_yuan: Decimal | None = None
    rungs: list[tuple[Rung, datetime]] = field(default_factory=list)
    # The report event's payload (a hazard imported from a ledger carries the ledger's facts in it).
    report_payload: dict[str, Any] = field(default_factory=dict)


P = Action.SUBMIT_PLAN
SEEDS = [
    Seed(
        "H1",
        A,
        CHEM,
        Source.SELF_INSPECTION,
        t(2025, 11, 10, 9),
        [
            (Action.REPORT, t(2025, 11, 10, 10), Stage.PLAN),
            (P, t(2025, 11, 12), Stage.INTERIM_CONTROL),
            (Action.CONFIRM_INTERIM_CONTROL, t(2025, 11, 13), Stage.RECTIFY),
            (Action.REPORT_RECTIFICATION, t(2025, 12, 1), Stage.REVIEW),
            (Action.REVIEW, t(2026, 1, 20, 9), Stage.CLOSED),
        ],
        five_in_place=True,
        funds_yuan=Decimal("10000"),
    ),
    Seed(
        "H2",
        A,
        CHEM,
        Source.INSPECTION,
        t(2025, 12, 20, 9),
        [
            (Action.REPORT, t(2025, 12, 20, 9), Stage.PLAN),
            (P, t(2025, 12, 22), Stage.INTERIM_CONTROL),
            (Action.ESCALATE, t(2026, 1, 5, 9), Stage.INTERIM_CONTROL),
            (Action.CONFIRM_INTERIM_CONTROL, t(2026, 1, 7, 9), Stage.RECTIFY),
        ],
        next_deadline=t(2026, 3, 1),
        funds_yuan=Decimal("5000.50"),
        rungs=[(Rung.NOTICE_LETTER, t(2026, 1, 5, 9))],
    ),
    Seed(
        "H3",
        A,
        GAS,
        Source.TIP_OFF,
        t(2025, 12, 31, 23, 30),
        [
            (Action.REPORT, t(2025, 12, 31, 23, 45), Stage.VERIFY),
            (Action.VERIFY, t(2026, 1, 2), Stage.PLAN),
            (Action.REVOKE, t(2026, 2, 1), Stage.REVOKED),
        ],
    ),
    Seed(
        "H4",
        A,
        GAS,
        Source.SELF_INSPECTION,
        t(2026, 1, 1),
        [
            (Action.REPORT, t(2026, 1, 1, 8), Stage.PLAN),
            (P, t(2026, 1, 3), Stage.INTERIM_CONTROL),
            (Action.CONFIRM_INTERIM_CONTROL, t(2026, 1, 4), Stage.RECTIFY),
            (Action.ESCALATE, t(2026, 1, 5), Stage.RECTIFY),
            (Action.LIST, t(2026, 1, 5), Stage.RECTIFY),
            (Action.DELIST, t(2026, 3, 1), Stage.RECTIFY),
            (Action.REPORT_RECTIFICATION, t(2026, 3, 10), Stage.REVIEW),
            (Action.REVIEW, t(2026, 3, 20), Stage.CLOSED),
        ],
        five_in_place=True,
        funds_yuan=Decimal("20000"),
        rungs=[(Rung.LISTING, t(2026, 1, 5))],
    ),
    Seed(
        "H5",
        B,
        CHEM,
        Source.INSPECTION,
        t(2026, 2, 10, 9),
        [
            (Action.REPORT, t(2026, 2, 10, 9), Stage.PLAN),
            (Action.ESCALATE, t(2026, 3, 1, 9), Stage.PLAN),
        ],
        next_deadline=t(2026, 2, 20),
        rungs=[(Rung.REMINDER, t(2026, 2, 15)), (Rung.SUMMONS, t(2026, 3, 1, 9))],
    ),
    Seed(
        "H6",
        B,
        GAS,
        Source.TIP_OFF,
        t(2026, 3, 1, 9),
        [
            (Action.REPORT, t(2026, 3, 1, 9), Stage.VERIFY),
            (Action.VERIFY, t(2026, 3, 2), Stage.PLAN),
            (P, t(2026, 3, 3), Stage.INTERIM_CONTROL),
            (Action.CONFIRM_INTERIM_CONTROL, t(2026, 3, 4), Stage.RECTIFY),
            (Action.REPORT_RECTIFICATION, t(2026, 3, 5), Stage.REVIEW),
            (Action.REVIEW, t(2026, 3, 11, 9), Stage.CLOSED),
        ],
        five_in_place=True,
        funds_yuan=Decimal("30000"),
    ),
    Seed(
        "H7",
        B,
        CHEM,
        Source.SELF_INSPECTION,
        t(2024, 6, 1, 9),
        [
            (Action.REPORT, t(2024, 6, 1, 9), Stage.PLAN),
            (P, t(2024, 6, 5), Stage.INTERIM_CONTROL),
            (Action.ESCALATE, t(2024, 7, 1, 9), Stage.INTERIM_CONTROL),
            (Action.CONFIRM_INTERIM_CONTROL, t(2024, 7, 2, 21), Stage.RECTIFY),
            (Action.ESCALATE, t(2025, 1, 1, 9), Stage.RECTIFY),
            (Action.REPORT_RECTIFICATION, t(2025, 1, 3, 9), Stage.REVIEW),
            (Action.ESCALATE, t(2025, 1, 5, 9), Stage.REVIEW),
            (Action.REVIEW, t(2025, 1, 10, 9), Stage.RECTIFY),
        ],
        next_deadline=t(2026, 12, 31),
        funds_yuan=Decimal("1000"),
        rungs=[
            (Rung.NOTICE_LETTER, t(2024, 7, 1, 9)),
            (Rung.SUMMONS, t(2025, 1, 1, 9)),
            (Rung.CIRCULAR, t(2025, 1, 5, 9)),
        ],
    ),
    Seed(
        "H8",
        A,
        CHEM,
        Source.INSPECTION,
        t(2026, 4, 1, 9),
        [(Action.REPORT, t(2026, 4, 1, 9), Stage.PLAN)],
        next_deadline=t(2026, 12, 1),
    ),
]


def seed(engine: Engine, seeds: list[Seed], prefix: str = "") -> None:
    with Session(engine) as session:
        for s in seeds:
            hazard_id = prefix + s.hazard_id
            stage = s.events[-1][2]
            session.add(
                Hazard(
                    hazard_id=hazard_id,
                    title=f"隐患 {hazard_id}",
                    description="统计测试",
                    enterprise_name="恒达化工",
                    enterprise_credit_code="91120104MA0500001K",
                    street=s.street,
                    industry=s.industry,
                    department=DEPT[s.industry],
                    source=s.source,
                    criterion_standard="判定标准",
                    criterion_clause="第一条",
                    location="一号车间",
                    found_at=s.found_at,
                    reported_at=s.events[0][1],
                    reporter_id="r",
                    reporter_name="报告人",
                    stage=stage,
                    five_in_place=s.five_in_place,
                    funds_yuan=s.funds_yuan,
                    next_deadline=s.next_deadline,
                    closed_at=closed_at(s) if stage is Stage.CLOSED else None,
                    listed=False,
                    version=len(s.events),
                    updated_at=s.events[-1][1],
                )
            )
            before: Stage | None = None
            for seq, (action, at, after) in enumerate(s.events, start=1):
                session.add(
                    HazardEventRow(
                        hazard_id=hazard_id,
                        seq=seq,
                        action=action.value,
                        actor_id="a",
                        actor_name="操作人",
                        actor_role=Role.DEPARTMENT.value,
                        actor_organisation=DEPT[s.industry],
                        at=at,
                        stage_before=before,
                        stage_after=after,
                        payload=s.report_payload if seq == 1 else {},
                    )
                )
                before = after
            for rung, at in s.rungs:
                session.add(
                    EscalationRow(
                        hazard_id=hazard_id,
                        deadline_id=f"{hazard_id}-{rung.value}",
                        deadline_kind=DeadlineKind.RECTIFY,
                        rung=rung,
                        level=1,
                        target_kind=Owner.ENTERPRISE,
                        target_organisation="恒达化工",
                        issued_by="南开区安委办",
                        at=at,
                        due=at,
                        working_days_late=1,
                        reason="逾期",
                    )
                )
        session.commit()
    with engine.begin() as conn:
        refresh_timelines(conn, [prefix + s.hazard_id for s in seeds])


def closed_at(s: Seed) -> datetime:
    """As the workflow sets it: the closing event's time, or for a hazard imported closed its ledger's 销号日期."""
    closed_on = s.report_payload.get("imported", {}).get("closed_on")
    return day_start(date.fromisoformat(closed_on)) if closed_on else s.events[-1][1]


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(engine, SEEDS)
    return engine


def stats(engine: Engine, scope: Any = None, **changes: Any) -> StatisticsPublic:
    defaults: dict[str, Any] = {"group_by": GroupBy.NONE, "as_of": NOW, "cutoff_year": 2026}
    with Session(engine) as session:
        return hazard_statistics(session=session, scope=scope, query=StatisticsQuery(**(defaults | changes)))


def effectiveness(row: StatisticsRow) -> dict[str, tuple[int, int, float | None]]:
    return {
        rung.value: (e.fired, e.stage_done, e.median_hours_to_done) for rung, e in row.escalation_effectiveness.items()
    }


def counts(row: StatisticsRow) -> dict[str, Any]:
    return row.model_dump(exclude={"escalation_effectiveness", "by_source", "key"})


def test_by_street_now(seeded: Engine) -> None:
    result = stats(seeded, group_by=GroupBy.STREET)
    rows = {row.key: row for row in result.rows}
    assert list(rows) == sorted([A, B])  # rows come in key order

    a, b, total = rows[A], rows[B], result.total
    # A: H1 H2 H3 H4 H8. Closed H1 H4; open H2 H8; H3 revoked is neither. H2's deadline (3-01) has passed.
    # Stock: found before 2026 and open = H2. Increment: H4 (found 2026-01-01 00:00) and H8.
    assert counts(a) == {
        "found": 5,
        "closed": 2,
        "open": 2,
        "overdue": 1,
        "listed": 0,  # H4 was delisted on 3-01
        "five_in_place": 2,  # H1, H4
        "rectification_rate": 0.4,
        "funds_yuan": Decimal("35000.50"),  # 10000 + 5000.50 + 20000
        "stock": 1,
        "increment": 2,
        "median_days_to_close": 74.5,  # (71 + 78) / 2
    }
    assert a.by_source == {Source.SELF_INSPECTION: 2, Source.INSPECTION: 2, Source.TIP_OFF: 1}
    assert effectiveness(a) == {
        "notice_letter": (1, 1, 48.0),
        "summons": (0, 0, None),
        "listing": (1, 1, 1536.0),  # 1-05 00:00 to 3-10 00:00: 64 days
        "circular": (0, 0, None),
    }

    # B: H5 H6 H7. Closed H6; open H5 (overdue since 2-20) and H7 (found 2024: stock).
    assert counts(b) == {
        "found": 3,
        "closed": 1,
        "open": 2,
        "overdue": 1,
        "listed": 0,
        "five_in_place": 1,
        "rectification_rate": 0.3333,
        "funds_yuan": Decimal("31000"),
        "stock": 1,
        "increment": 2,
        "median_days_to_close": 10.0,
    }
    assert b.by_source == {Source.SELF_INSPECTION: 1, Source.INSPECTION: 1, Source.TIP_OFF: 1}
    # The reminder on H5 is not counted; its summons has had no stage change since.
    assert effectiveness(b) == {
        "notice_letter": (1, 1, 36.0),
        "summons": (2, 1, 48.0),
        "listing": (0, 0, None),
        "circular": (1, 1, 120.0),
    }

    assert total.key is None
    assert counts(total) == {
        "found": 8,
        "closed": 3,
        "open": 4,
        "overdue": 2,
        "listed": 0,
        "five_in_place": 3,
        "rectification_rate": 0.375,
        "funds_yuan": Decimal("66000.50"),
        "stock": 2,
        "increment": 4,
        "median_days_to_close": 71.0,  # of 10, 71, 78
    }
    assert total.by_source == {Source.SELF_INSPECTION: 3, Source.INSPECTION: 3, Source.TIP_OFF: 2}
    assert effectiveness(total) == {
        "notice_letter": (2, 2, 42.0),  # 48 and 36
        "summons": (2, 1, 48.0),
        "listing": (1, 1, 1536.0),
        "circular": (1, 1, 120.0),
    }


def test_as_of_a_past_date(seeded: Engine) -> None:
    # 2026-01-10 00:00: H5, H6, H8 not yet reported; nothing closed yet (H1 on 1-20, H4 on 3-20); H3 not yet
    # revoked; H4 listed since 1-05. Plans by then: H1 (five), H2, H4 (five), H7.
    total = stats(seeded, as_of=PAST).total
    assert counts(total) == {
        "found": 5,
        "closed": 0,
        "open": 5,
        # Approximate for a past instant: only the current next deadlines are known, none before 1-10.
        "overdue": 0,
        "listed": 1,
        "five_in_place": 2,
        "rectification_rate": 0.0,
        "funds_yuan": Decimal("36000.50"),  # 10000 + 5000.50 + 20000 + 1000
        "stock": 4,  # H1 H2 H3 H7: found before 2026 and open then
        "increment": 1,  # H4
        "median_days_to_close": None,
    }
    assert total.by_source == {Source.SELF_INSPECTION: 3, Source.INSPECTION: 1, Source.TIP_OFF: 1}
    assert effectiveness(total) == {
        "notice_letter": (2, 2, 42.0),  # H2's letter was answered on 1-07, before 1-10
        "summons": (1, 1, 48.0),  # H5's summons comes later
        "listing": (1, 0, None),  # H4's rectification was reported only on 3-10
        "circular": (1, 1, 120.0),
    }


def test_the_year_boundary_is_midnight_china_time(seeded: Engine) -> None:
    # H3 was found at 23:30 on New Year's Eve, H4 at 00:00 on New Year's Day (16:00 UTC the day before).
    eve = stats(seeded, found_from=date(2025, 12, 31), found_to=date(2026, 1, 1)).total
    assert (eve.found, eve.by_source[Source.TIP_OFF], eve.increment) == (1, 1, 0)
    assert eve.stock == 0  # revoked on 2-01
    assert stats(seeded, found_from=date(2025, 12, 31), found_to=date(2026, 1, 1), as_of=PAST).total.stock == 1

    new_year = stats(seeded, found_from=date(2026, 1, 1), found_to=date(2026, 1, 2)).total
    assert (new_year.found, new_year.by_source[Source.SELF_INSPECTION], new_year.increment) == (1, 1, 1)
    assert new_year.stock == 0

    # With 2025 as the cut-off only H7 (2024) is stock; every hazard found since 2025-01-01 is increment.
    earlier = stats(seeded, cutoff_year=2025).total
    assert (earlier.stock, earlier.increment) == (1, 7)


def test_by_industry_and_department(seeded: Engine) -> None:
    by_industry = {row.key: (row.found, row.closed, row.open) for row in stats(seeded, group_by=GroupBy.INDUSTRY).rows}
    # chem: H1 H2 H5 H7 H8 (H1 closed); gas: H3 H4 H6 (H4 H6 closed, H3 revoked).
    assert by_industry == {CHEM.value: (5, 1, 4), GAS.value: (3, 2, 0)}
    by_department = {row.key: row.found for row in stats(seeded, group_by=GroupBy.DEPARTMENT).rows}
    assert by_department == {DEPT[CHEM]: 5, DEPT[GAS]: 3}


def test_a_street_sees_only_its_own(seeded: Engine) -> None:
    result = stats(seeded, scope=scope_condition(STREET), group_by=GroupBy.STREET)
    assert [row.key for row in result.rows] == [A]
    assert result.total.found == 5
    assert result.total.funds_yuan == Decimal("35000.50")
    assert effectiveness(result.total)["summons"] == (0, 0, None)  # B's summonses are not counted


# The API tests need the router registered in api/main.py: app.include_router(statistics.router).


async def test_statistics_api_answers_within_the_jurisdiction(api: ApiStack) -> None:
    # The shared API database holds other tests' hazards: seed under a street of our own.
    street = f"统计街道-{uuid.uuid4().hex[:8]}"
    mine = [Seed(**{**s.__dict__, "street": street}) for s in SEEDS if s.street == A]
    seed(api.engine, mine, prefix=f"{street}-")
    seed(api.engine, [s for s in SEEDS if s.street == B], prefix=f"{street}-")
    officer = Actor(id="street-stat", name="统计员", role=Role.STREET, organisation=street, street=street)

    params = {"group_by": "street", "as_of": NOW.isoformat(), "cutoff_year": "2026"}
    response = await api.http.get("/statistics", params=params, headers=api.auth(officer))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [row["key"] for row in body["rows"]] == [street]
    total = body["total"]
    assert (total["found"], total["closed"], total["open"], total["stock"], total["increment"]) == (5, 2, 2, 1, 2)
    assert total["by_source"] == {"self_inspection": 2, "inspection": 2, "tip_off": 1}
    assert Decimal(total["funds_yuan"]) == Decimal("35000.50")
    assert total["escalation_effectiveness"]["listing"] == {
        "fired": 1,
        "stage_done": 1,
        "median_hours_to_done": 1536.0,
    }

    everyone = await api.http.get("/statistics", params=params, headers=api.auth(AUDITOR))
    assert street in {row["key"] for row in everyone.json()["rows"]}


async def test_statistics_api_rejects_a_window_that_ends_before_it_starts(api: ApiStack) -> None:
    params = {"found_from": "2026-02-01", "found_to": "2026-01-01"}
    response = await api.http.get("/statistics", params=params, headers=api.auth(AUDITOR))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "InvalidPayload"
    assert response.json()["detail"] == "found_to：结束日期不能早于开始日期"

    bad_group = await api.http.get("/statistics", params={"group_by": "city"}, headers=api.auth(AUDITOR))
    assert bad_group.status_code == 422
    assert bad_group.json()["errors"][0]["field"] == "group_by"


IMPORTED_AT = t(2026, 5, 1, 10)
IMPORTED = [
    # Closed per its ledger on 2025-10-01, 61 days after it was found; plan 五到位 with 8,000 yuan.
    Seed(
        "I1",
        A,
        CHEM,
        Source.INSPECTION,
        t(2025, 8, 1),
        [(Action.REPORT, IMPORTED_AT, Stage.CLOSED)],
        five_in_place=True,
        funds_yuan=Decimal("8000"),
        report_payload={
            "imported": {
                "stage": "closed",
                "plan": {"deadline": "2025-09-30"},
                "funds_yuan": "8000",
                "five_in_place": True,
                "closed_on": "2025-10-01",
            }
        },
    ),
    # Being rectified per its ledger, listed (挂牌督办) before the import, 3,000 yuan recorded without a plan.
    Seed(
        "I2",
        B,
        GAS,
        Source.SELF_INSPECTION,
        t(2025, 9, 1),
        [(Action.REPORT, IMPORTED_AT, Stage.RECTIFY)],
        next_deadline=t(2026, 5, 31),
        funds_yuan=Decimal("3000"),
        report_payload={
            "imported": {
                "stage": "rectify",
                "rectify_deadline": "2026-05-31",
                "funds_yuan": "3000",
                "five_in_place": False,
                "listing": {"doc_number": "津南安委〔2025〕7号"},
            }
        },
    ),
]


def test_hazards_imported_from_a_ledger_count_with_the_ledgers_dates_and_plans(engine: Engine) -> None:
    seed(engine, IMPORTED)
    total = stats(engine).total
    assert counts(total) == {
        "found": 2,
        "closed": 1,
        "open": 1,
        "overdue": 1,  # I2's 整改时限 2026-05-31 has passed by 6-30
        "listed": 1,  # I2, listed in the ledger
        "five_in_place": 1,  # I1's plan, as the ledger recorded it
        "rectification_rate": 0.5,
        "funds_yuan": Decimal("11000"),  # 8000 + 3000: the ledgers' funds count though no plan was submitted here
        "stock": 1,  # I2, found in 2025, open
        "increment": 0,
        "median_days_to_close": 61.0,  # the ledger's 销号日期, not the day of the import
    }
    # Before the import this system knew neither.
    assert stats(engine, as_of=t(2026, 4, 30)).total.found == 0


def test_a_hazard_reported_between_the_two_reads_is_left_out_not_a_500(seeded: Engine) -> None:
    """Found by the load test (tests/test_load.py): statistics read hazards, then their events, in two statements
    each with its own snapshot; a hazard reported in between had events and no entry (KeyError, a 500)."""
    reads: list[str] = []

    def report_one_after_the_hazards_are_read(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        reads.append(statement)
        if len(reads) == 1 and "FROM hazard" in statement:
            seed(seeded, [SEEDS[0]], prefix="late-")

    before = stats(seeded)
    event.listen(seeded, "after_cursor_execute", report_one_after_the_hazards_are_read)
    try:
        during = stats(seeded)
    finally:
        event.remove(seeded, "after_cursor_execute", report_one_after_the_hazards_are_read)
    assert counts(during.total) == counts(before.total)
    assert stats(seeded).total.found == before.total.found + 1
