"""The 调度表 as of a day is computed from what was recorded by then: a snapshot taken on that day and a table
regenerated for it after a month of further events have the same numbers, cell by cell.

Hazards walk through the real lifecycle rules (workflows.lifecycle) and are written with the real projection, so
their events carry the payloads the workflow writes (the plan's 整改时限, extensions, reminders with their due).

The data set, X = 2026-03-11 (A = 王顶堤街道 / 应急局, B = 华苑街道 / 城管委 unless said):

  H1  A  RECTIFY, plan due 03-05                       -> overdue at X; closed 03-25
  H2  A  PLAN, reminder says due 02-10                 -> overdue at X; plan submitted 03-15 (not overdue now)
  H3  A  RECTIFY (due 06-30), listed 03-01             -> listed at X; delisted 03-21, closed 03-25
  H4  B  RECTIFY (due 04-30)                           -> transferred to 住建委 03-15 (overdue now)
  H5  B  reported 03-12                                -> not in the table at X
  H6  B  PLAN                                          -> in progress at X; revoked 03-15 (out of the table now)
  H7  A  RECTIFY due 03-08, extended to 04-15 on 02-25 -> not overdue at X (overdue now)
  H8  B  RECTIFY due 03-09, extension approved 03-13   -> overdue at X (overdue now, 04-30)
  H9  A  REVIEW, reminder says due 03-05               -> overdue at X; rejected 03-16 to RECTIFY (due 06-30)
  H10 A  closed 02-25                                  -> closed at X
  H11 A  RECTIFY due 03-11, X itself                   -> not yet overdue at the end of X (overdue now)
"""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import (
    DEADLINE_OWNERS,
    Deadline,
    DeadlineKind,
    EscalationRecord,
    EscalationTarget,
    ListingLevel,
    Owner,
    PolicyRules,
    Rung,
)
from contracts.enums import Action, Industry, InterimControlKind, ReviewDecision, Stage
from contracts.hazard import (
    Delisting,
    ExtensionDecision,
    ExtensionRequest,
    HazardRecord,
    ImportedHazard,
    InterimControl,
    ListingOrder,
    ReviewOpinion,
    Revocation,
    Transfer,
)
from ledgers import queries, xlsx
from ledgers.queries import DispatchBy, DispatchLine
from readmodel.models import EscalationRow
from readmodel.projection import write_projection
from readmodel.queries import HazardFilter
from tests.scenarios import COMMITTEE, ENTERPRISE, REVIEWER, plan, rectification, report
from workcalendar import end_of_day
from workflows import ladder
from workflows.lifecycle import apply, open_hazard, open_imported, record_escalation

pytestmark = pytest.mark.databases

X = date(2026, 3, 11)
STREET_A, STREET_B = "王顶堤街道", "华苑街道"
EMERGENCY, URBAN, HOUSING = "南开区应急管理局", "南开区城市管理委员会", "南开区住房和建设委员会"


def t(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ)


@dataclass
class Walk:
    """One hazard through the lifecycle's own rules, projected to the read model after every step."""

    engine: Engine
    record: HazardRecord
    escalations: list[EscalationRecord] = field(default_factory=list)

    @classmethod
    def report(cls, engine: Engine, hazard_id: str, at: datetime, *, street: str, department: str) -> "Walk":
        industry = Industry.HAZARDOUS_CHEMICALS if department == EMERGENCY else Industry.GAS
        found = report(found_at=at - timedelta(hours=2)).model_copy(
            update={"street": street, "department": department, "industry": industry}
        )
        walk = cls(engine, open_hazard(hazard_id, found, ENTERPRISE, at))
        walk.record.state.rules = PolicyRules()
        walk.project()
        return walk

    def project(self) -> None:
        write_projection(self.engine, self.record.state, self.record.events)

    def act(self, action: Action, actor: Any, payload: BaseModel, at: datetime) -> "Walk":
        apply(self.record, action, actor, payload, at)
        self.project()
        return self

    def plan(self, at: datetime, due: date) -> "Walk":
        return self.act(Action.SUBMIT_PLAN, ENTERPRISE, plan(deadline=due), at)

    def control(self, at: datetime) -> "Walk":
        control = InterimControl(kind=InterimControlKind.CORDON, measures="设置警戒区，专人值守。")
        return self.act(Action.CONFIRM_INTERIM_CONTROL, ENTERPRISE, control, at)

    def rectify(self, at: datetime) -> "Walk":
        return self.act(Action.REPORT_RECTIFICATION, ENTERPRISE, rectification(china_date(at)), at)

    def review(self, at: datetime, decision: ReviewDecision = ReviewDecision.APPROVE) -> "Walk":
        return self.act(Action.REVIEW, REVIEWER, ReviewOpinion(decision=decision, opinion="审核意见。"), at)

    def to_rectify(self, at: datetime, due: date) -> "Walk":
        return self.plan(at, due).control(at + timedelta(hours=1))

    def arm(self, kind: DeadlineKind, due: date) -> "Walk":
        """The stage's deadline as the workflow arms it: extensions are checked against it."""
        deadline = Deadline(
            id=f"{kind.value}-{due.isoformat()}",
            kind=kind,
            owner=DEADLINE_OWNERS[kind],
            due_date=due,
            due=end_of_day(due),
        )
        ladder.arm(self.record, deadline)
        return self

    def remind(self, at: datetime, kind: DeadlineKind, due: date, rung: Rung = Rung.REMINDER) -> "Walk":
        """A rung of the ladder fired on the stage's deadline: its record (and event) carries the deadline."""
        escalation = EscalationRecord(
            hazard_id=self.record.state.hazard_id,
            deadline_id=f"{kind.value}-{due.isoformat()}",
            deadline_kind=kind,
            rung=rung,
            level=1 if rung is Rung.NOTICE_LETTER else 0,
            target=EscalationTarget(kind=Owner.ENTERPRISE, organisation=self.record.state.report.enterprise.name),
            issued_by="南开区安全生产委员会办公室",
            at=at,
            due=end_of_day(due),
            working_days_late=1 if rung is Rung.NOTICE_LETTER else -3,
            reason="期限提醒",
        )
        record_escalation(self.record, escalation, at)
        self.escalations.append(escalation)
        with Session(self.engine) as session:
            session.add(
                EscalationRow(
                    hazard_id=escalation.hazard_id,
                    deadline_id=escalation.deadline_id,
                    deadline_kind=kind,
                    rung=rung,
                    level=escalation.level,
                    target_kind=Owner.ENTERPRISE,
                    target_organisation=escalation.target.organisation,
                    issued_by=escalation.issued_by,
                    at=at,
                    due=escalation.due,
                    working_days_late=escalation.working_days_late,
                    reason=escalation.reason,
                )
            )
            session.commit()
        self.project()
        return self

    def extend(self, at: datetime, new_due: date) -> "Walk":
        request = ExtensionRequest(reason="设备到货延迟。", new_due_date=new_due)
        return self.act(Action.REQUEST_EXTENSION, ENTERPRISE, request, at)

    def decide(self, at: datetime, approve: bool = True) -> "Walk":
        return self.act(Action.DECIDE_EXTENSION, REVIEWER, ExtensionDecision(approve=approve, opinion="同意。"), at)

    def listing(self, at: datetime) -> "Walk":
        order = ListingOrder(
            level=ListingLevel.DISTRICT, issuing_body="南开区安委办", doc_number="南开安委办督〔2026〕1号"
        )
        return self.act(Action.LIST, COMMITTEE, order, at)

    def delist(self, at: datetime) -> "Walk":
        return self.act(Action.DELIST, COMMITTEE, Delisting(opinion="整改到位，同意摘牌。"), at)

    def transfer(self, at: datetime, to: str) -> "Walk":
        return self.act(Action.TRANSFER, COMMITTEE, Transfer(to_department=to, reason="职责调整。"), at)

    def revoke(self, at: datetime) -> "Walk":
        return self.act(Action.REVOKE, COMMITTEE, Revocation(reason="经复核不属于重大事故隐患。"), at)


@dataclass
class Scenario:
    """The data set above, in two halves: everything recorded by X, then what happened after it."""

    walks: dict[str, Walk]
    later: Callable[[], None]


def build(engine: Engine, prefix: str = "", a: str = STREET_A, b: str = STREET_B) -> Scenario:
    def new(name: str, at: datetime, street: str, department: str) -> Walk:
        return Walk.report(engine, f"{prefix}{name}", at, street=street, department=department)

    w: dict[str, Walk] = {}
    w["H1"] = new("H1", t(2, 2), a, EMERGENCY).to_rectify(t(2, 4), date(2026, 3, 5))
    w["H2"] = new("H2", t(2, 3), a, EMERGENCY).remind(t(2, 6), DeadlineKind.PLAN, date(2026, 2, 10))
    w["H3"] = new("H3", t(2, 4), a, EMERGENCY).to_rectify(t(2, 5), date(2026, 6, 30)).listing(t(3, 1))
    w["H4"] = new("H4", t(2, 5), b, URBAN).to_rectify(t(2, 6), date(2026, 4, 30))
    w["H6"] = new("H6", t(2, 10), b, URBAN)
    w["H7"] = (
        new("H7", t(2, 11), a, EMERGENCY)
        .to_rectify(t(2, 12), date(2026, 3, 8))
        .arm(DeadlineKind.RECTIFY, date(2026, 3, 8))
        .extend(t(2, 20), date(2026, 4, 15))
        .decide(t(2, 25))
    )
    w["H8"] = (
        new("H8", t(2, 12), b, URBAN)
        .to_rectify(t(2, 13), date(2026, 3, 9))
        .arm(DeadlineKind.RECTIFY, date(2026, 3, 9))
        .extend(t(2, 27), date(2026, 4, 30))
    )
    w["H9"] = (
        new("H9", t(2, 13), a, EMERGENCY)
        .to_rectify(t(2, 14), date(2026, 6, 30))
        .rectify(t(2, 20))
        .remind(t(3, 2), DeadlineKind.REVIEW, date(2026, 3, 5))
    )
    w["H10"] = new("H10", t(2, 14), a, EMERGENCY).to_rectify(t(2, 15), date(2026, 6, 30)).rectify(t(2, 20))
    w["H10"].review(t(2, 25))
    w["H11"] = new("H11", t(2, 16), a, EMERGENCY).to_rectify(t(2, 17), X)

    def later() -> None:
        w["H1"].rectify(t(3, 20)).review(t(3, 25))
        w["H2"].plan(t(3, 15), date(2026, 5, 31))
        w["H3"].rectify(t(3, 20)).delist(t(3, 21)).review(t(3, 25))
        w["H4"].transfer(t(3, 15), HOUSING)
        w["H5"] = new("H5", t(3, 12), b, URBAN)
        w["H6"].revoke(t(3, 15))
        w["H8"].decide(t(3, 13))
        w["H9"].review(t(3, 16), ReviewDecision.REJECT)

    return Scenario(w, later)


def lines(
    engine: Engine, by: DispatchBy, as_of: date, now: datetime, where: HazardFilter | None = None
) -> list[DispatchLine]:
    with Session(engine) as session:
        return queries.dispatch_lines(
            session=session, actor=COMMITTEE, where=where or HazardFilter(), by=by, as_of=as_of, now=now
        )


def cells(rows: list[DispatchLine], by: DispatchBy, as_of: date) -> list[list[Any]]:
    out = io.BytesIO()
    xlsx.write_dispatch(out, rows, by=by, district="南开区", as_of=as_of)
    out.seek(0)
    sheet = load_workbook(out).active
    assert isinstance(sheet, Worksheet)
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def counts(rows: list[DispatchLine]) -> dict[str, tuple[int, int, int, int, int]]:
    return {r.name: (r.found, r.closed, r.in_progress, r.overdue, r.listed) for r in rows}


# The moment a scheduled run takes X's table (just after X ended), and a moment long after (the real now).
SNAPSHOT_AT = end_of_day(X) + timedelta(hours=1)
NOW = datetime.now(CHINA_TZ)
TODAY = china_date(NOW)


@pytest.mark.parametrize("by", ["street", "department"])
def test_a_day_regenerated_later_has_the_same_numbers_cell_by_cell(engine: Engine, by: DispatchBy) -> None:
    scenario = build(engine)
    snapshot = cells(lines(engine, by, X, SNAPSHOT_AT), by, X)

    scenario.later()
    regenerated = cells(lines(engine, by, X, NOW), by, X)
    today = cells(lines(engine, by, TODAY, NOW), by, TODAY)

    assert regenerated == snapshot
    assert today[3:] != snapshot[3:]


def test_the_figures_as_of_x_and_as_of_today(engine: Engine) -> None:
    scenario = build(engine)
    at_x = counts(lines(engine, "street", X, SNAPSHOT_AT))
    scenario.later()

    # found, closed, in progress, overdue, listed
    assert at_x == {
        # H1 H2 H3 H7 H9 H10 H11: H10 closed; H1 (plan date), H2 (reminder), H9 (review reminder) overdue; H3 listed.
        # H7 was extended before X; H11 falls due at the very end of X, not before it.
        STREET_A: (7, 1, 6, 3, 1),
        # H4 H6 H8 (H5 comes later; H6 is revoked only later): H8's extension was approved only after X.
        STREET_B: (3, 0, 3, 1, 0),
    }
    assert counts(lines(engine, "street", X, NOW)) == at_x
    assert counts(lines(engine, "street", TODAY, NOW)) == {
        # H1 H3 H10 closed; H7 (04-15), H9 (back to RECTIFY, 06-30), H11 overdue; H2 in INTERIM_CONTROL: no due known.
        STREET_A: (7, 3, 4, 3, 0),
        # H4 (04-30), H8 (extended to 04-30) overdue; H5 in PLAN; H6 revoked, so never a major hazard.
        STREET_B: (3, 0, 3, 2, 0),
    }


def test_departments_as_they_were_then(engine: Engine) -> None:
    scenario = build(engine)
    scenario.later()

    assert counts(lines(engine, "department", X, NOW)) == {EMERGENCY: (7, 1, 6, 3, 1), URBAN: (3, 0, 3, 1, 0)}
    assert counts(lines(engine, "department", TODAY, NOW)) == {
        EMERGENCY: (7, 3, 4, 3, 0),
        HOUSING: (1, 0, 1, 1, 0),  # H4, transferred after X
        URBAN: (2, 0, 2, 1, 0),  # H5, H8
    }


def test_a_deadline_is_overdue_from_the_day_after(engine: Engine) -> None:
    build(engine)
    day_after = counts(lines(engine, "street", X + timedelta(days=1), NOW))
    assert day_after[STREET_A][3] == 4  # H11, due on X, is overdue the next day


def test_filters_choose_hazards_and_the_figures_stay_as_of(engine: Engine) -> None:
    scenario = build(engine)
    scenario.later()
    # The list's filters select on the hazards' current data (closed now: H1 H3 H10), counted as they were at X.
    closed_now = lines(engine, "street", X, NOW, HazardFilter(stage=Stage.CLOSED))
    assert counts(closed_now) == {STREET_A: (3, 1, 2, 1, 1)}


def test_the_title_and_the_totals_row(engine: Engine) -> None:
    scenario = build(engine)
    scenario.later()
    sheet = cells(lines(engine, "street", X, NOW), "street", X)
    assert sheet[1][0] == "截至3月11日（2026年3月11日）累计"
    assert sheet[-1] == ["合计", None, 10, 1, 9, 4, 1, pytest.approx(10.0)]


def test_a_hazard_imported_from_a_ledger_counts_as_its_row_recorded(engine: Engine) -> None:
    # Imported on 3-01 in RECTIFY, listed in the ledger, its plan due 3-05: the report event carries all of it.
    found = report(found_at=t(1, 5)).model_copy(update={"street": STREET_B, "department": URBAN})
    imported = ImportedHazard(
        stage=Stage.RECTIFY,
        key="台账-0001",
        file_sha256="0" * 64,
        row=4,
        plan=plan(deadline=date(2026, 3, 5)),
        listing=ListingOrder(issuing_body="南开区安委办", doc_number="南开安委办督〔2026〕9号"),
        listed_on=date(2026, 2, 1),
    )
    record = open_imported("IMP-1", found, COMMITTEE, imported, t(3, 1))
    write_projection(engine, record.state, record.events)

    assert counts(lines(engine, "street", date(2026, 3, 4), NOW)) == {STREET_B: (1, 0, 1, 0, 1)}
    assert counts(lines(engine, "street", X, NOW)) == {STREET_B: (1, 0, 1, 1, 1)}
    assert counts(lines(engine, "street", date(2026, 2, 28), NOW)) == {}  # not in this system yet
