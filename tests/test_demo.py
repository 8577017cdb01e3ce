"""The demo data set: a district's ledger that validates clean, spread as a real board is, and loaded into the
stack through the import path, with real escalations to come and hazards listed by hand."""

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, func, select

from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import Rag, Rung
from contracts.enums import Industry, InterimControlKind, Source, Stage
from contracts.hazard import HazardState, workflow_id
from imports import command, demo
from imports.district import NANKAI
from imports.parse import read_ledger
from imports.validate import Context, ImportItem, validate
from readmodel.models import EscalationRow, Hazard
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from tests.conftest import ApiStack
from tests.scenarios import COMMITTEE
from tests.statistics_fold import folded
from workcalendar import WorkCalendar
from workflows.hazard import HazardWorkflow

CALENDAR = WorkCalendar()
# A Tuesday morning, office open.
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)


def demo_items(
    tmp_path: Path, now: datetime, hazards: int = 300, seed: int = 1
) -> tuple[list[ImportItem], demo.DemoLedger]:
    ledger = demo.generate(
        hazards=hazards, seed=seed, now=now, calendar=CALENDAR, district=NANKAI, doc_prefix="南开安委办"
    )
    path = tmp_path / "demo.xlsx"
    with path.open("wb") as out:
        demo.write(out, ledger, district_name=NANKAI.name, today=china_date(now))
    header, rows = read_ledger(path)
    context = Context(
        actor=COMMITTEE, now=now, file_sha256="0" * 64, streets=frozenset(NANKAI.streets), listing_issuer="区安委办"
    )
    result = validate(rows, header, context, lambda keys: {})
    assert result.problems == []
    assert result.total_rows == hazards
    return result.items, ledger


def overdue_at(item: ImportItem, today: date) -> bool:
    """Whether the recorded stage's deadline had passed on `today`, counted as the workflow counts it."""
    imported, report = item.imported, item.report
    found = china_date(report.found_at)
    match imported.stage:
        case Stage.VERIFY:
            due = CALENDAR.add_workdays(found + timedelta(days=60), 0).day
        case Stage.PLAN:
            due = CALENDAR.add_workdays(found, 5).day
        case Stage.INTERIM_CONTROL:
            assert imported.plan_submitted_on is not None
            due = CALENDAR.add_workdays(imported.plan_submitted_on, 2).day
        case Stage.RECTIFY:
            assert imported.plan is not None
            due = CALENDAR.add_workdays(imported.plan.deadline, 0).day
        case Stage.REVIEW:
            assert imported.rectified_on is not None
            due = CALENDAR.add_workdays(imported.rectified_on, 10).day
        case _:
            return False
    return due < today


def test_the_demo_ledger_validates_clean_with_a_real_districts_spread(tmp_path: Path) -> None:
    items, ledger = demo_items(tmp_path, TUESDAY)
    today = china_date(TUESDAY)
    years = Counter(item.report.found_at.year for item in items)
    assert years[2025] >= 30
    assert years[2026] >= 200
    assert {item.report.street for item in items} == set(NANKAI.streets)
    assert len({item.report.industry for item in items}) >= 12
    assert {item.report.department for item in items} >= {
        "南开区应急管理局",
        "南开区消防救援支队",
        "南开区住房和建设委员会",
    }
    assert {item.report.source for item in items} == set(Source)
    stages = Counter(item.imported.stage for item in items)
    assert set(stages) == set(Stage)
    assert 0.25 <= stages[Stage.CLOSED] / len(items) <= 0.6
    open_ = [item for item in items if not item.imported.stage.is_terminal]
    overdue = [item for item in open_ if overdue_at(item, today)]
    # Many overdue (red), and many not: the board has every colour.
    assert 0.3 <= len(overdue) / len(open_) <= 0.85
    assert sum(1 for item in items if item.imported.listing is not None) >= 3
    assert any(item.imported.plan is not None and not item.imported.plan.five_in_place for item in items)
    assert any(
        item.imported.interim_control is not None
        and item.imported.interim_control.kind is InterimControlKind.SUSPENSION
        for item in items
    )
    # The enterprises are fictional but look real: several hazards for some, every name in the district.
    enterprises = Counter(item.report.enterprise.credit_code for item in items)
    assert max(enterprises.values()) >= 2
    assert all(item.report.enterprise.name.startswith("天津市南开区") for item in items)
    assert all(item.report.industry in Industry for item in items)
    # The same seed on the same day writes the same ledger.
    assert demo_items(tmp_path, TUESDAY)[1].rows == ledger.rows


def test_hazards_chosen_to_escalate_get_their_letter_minutes_after_the_import(tmp_path: Path) -> None:
    items, ledger = demo_items(tmp_path, TUESDAY)
    escalating = dict(ledger.escalating)
    assert len(escalating) == demo.ESCALATING
    previous_workday = CALENDAR.add_workdays(china_date(TUESDAY), -1).day
    for item in items:
        if item.hazard_id not in escalating:
            continue
        assert item.imported.stage is Stage.RECTIFY
        assert item.imported.plan is not None
        assert item.imported.plan.deadline == previous_workday
        assert TUESDAY + demo.SOON[0] <= escalating[item.hazard_id] <= TUESDAY + demo.SOON[1]
    # Out of office hours the letters go out when the office next opens.
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=CHINA_TZ)
    _, weekend = demo_items(tmp_path, saturday)
    monday = date(2026, 11, 30)
    assert {china_date(at) for _, at in weekend.escalating} == {monday}


async def test_the_demo_loads_into_the_stack_through_the_import(api: ApiStack, tmp_path: Path) -> None:
    since = datetime.now(CHINA_TZ)
    code = await command.load_demo(api.settings, api.engine, hazards=60, seed=11, listings=2)
    assert code == 0
    mine = [col(Hazard.reporter_id) == "cli-import", col(Hazard.reported_at) >= since]
    with Session(api.engine) as session:
        count = session.exec(select(func.count()).where(*mine)).one()
        by_rag = dict(
            session.exec(
                select(Hazard.rag, func.count())
                .where(*mine, col(Hazard.stage).not_in([Stage.CLOSED.value, Stage.REVOKED.value]))
                .group_by(col(Hazard.rag))
            ).all()
        )
        listed = session.exec(select(func.count()).where(*mine, col(Hazard.listed).is_(True))).one()
        ids = session.exec(select(Hazard.hazard_id).where(*mine)).all()
        letters = session.exec(select(func.count()).where(col(EscalationRow.hazard_id).in_(ids))).one()
    assert count == 60
    assert by_rag.get(Rag.RED.value, 0) >= 5
    assert listed >= 2
    # Nothing was issued for the time before the import.
    assert letters == 0
    # The hazards chosen to escalate have their 函告 still to come, at the minute the demo announced.
    escalating = [hazard_id for hazard_id in ids if hazard_id.startswith("NK")]
    assert escalating
    for hazard_id in escalating:
        handle = api.temporal.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id))
        state: HazardState = await handle.query(HazardWorkflow.get_state)
        (deadline,) = state.deadlines
        rungs = {r.rung: r for r in deadline.rungs}
        # Due the working day before the letter: passed (red) unless that day is today (yellow, red at midnight).
        assert state.rag is (Rag.RED if deadline.due < since else Rag.YELLOW)
        assert rungs[Rung.NOTICE_LETTER].fired_at is None
        assert rungs[Rung.NOTICE_LETTER].at > since
    # The ledger it imported is kept beside the data, for people to open.
    written = list((api.settings.data_dir / "demo").glob("*_11.xlsx"))
    assert len(written) == 1
    assert len(read_ledger(written[0])[1]) == 60
    # Statistics read the timelines the projection kept for these imports (readmodel.timeline): they count what
    # folding the imports' events counts, ledger plans, listings and closings included.
    scope = col(Hazard.hazard_id).in_(ids)
    query = StatisticsQuery(group_by=GroupBy.STREET, as_of=datetime.now(CHINA_TZ), cutoff_year=since.year)
    with Session(api.engine) as session:
        counted = hazard_statistics(session=session, scope=scope, query=query)
    assert counted == folded(api.engine, scope, query)
    assert counted.total.found == 60
    assert counted.total.listed >= 2
    assert counted.total.closed > 0
