"""Issuing escalations: one record per rung whatever the retries, and 文号 without gaps or repeats."""

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.escalation import EscalationActivities, outbox_key
from contracts.clock import CHINA_TZ
from contracts.deadlines import (
    DEADLINE_OWNERS,
    Deadline,
    DeadlineKind,
    EscalationRecord,
    IssueEscalationInput,
    Owner,
    Rung,
    ScheduledRung,
)
from contracts.errors import ErrorType
from readmodel.models import DocNumberCounter, EscalationRow, OutboxRow

pytestmark = pytest.mark.databases

ISSUER = "南开区安全生产委员会办公室"
PREFIX = "南开安委办"
ENTERPRISE = "天津市南开区恒达化工有限公司"
STREET = "王顶堤街道"
DEPARTMENT = "南开区应急管理局"
# 2027-01-01 is a holiday and the 2nd and 3rd a weekend: the first working day after a 2026-12-31 deadline.
FIRST_WD_2027 = datetime(2027, 1, 4, 9, 30, tzinfo=CHINA_TZ)


def escalation_input(
    hazard_id: str,
    rung: Rung,
    at: datetime = FIRST_WD_2027,
    *,
    kind: DeadlineKind = DeadlineKind.RECTIFY,
    due_date: date = date(2026, 12, 31),
    working_days_late: int = 1,
    deadline_id: str | None = None,
) -> IssueEscalationInput:
    deadline = Deadline(
        id=deadline_id or f"{hazard_id}/{kind.value}/1",
        kind=kind,
        owner=DEADLINE_OWNERS[kind],
        due_date=due_date,
        due=datetime.combine(due_date, datetime.max.time(), tzinfo=CHINA_TZ),
        rungs=[ScheduledRung(rung=rung, at=at, working_days_late=working_days_late)],
    )
    return IssueEscalationInput(
        hazard_id=hazard_id,
        title="储罐区可燃气体报警装置失效",
        enterprise_name=ENTERPRISE,
        principal_name="王强",
        street=STREET,
        department=DEPARTMENT,
        deadline=deadline,
        rung=rung,
        scheduled_at=at,
    )


@pytest.fixture
def activities(engine: Engine) -> EscalationActivities:
    return EscalationActivities(engine, issuer_name=ISSUER, doc_number_prefix=PREFIX)


def issue(activities: EscalationActivities, input: IssueEscalationInput) -> EscalationRecord:
    return ActivityEnvironment().run(activities.issue_escalation, input)


def serial(record: EscalationRecord) -> int:
    assert record.doc_number is not None
    match = re.fullmatch(r"南开安委办(.)〔(\d{4})〕(\d+)号", record.doc_number)
    assert match is not None, record.doc_number
    return int(match[3])


def count(engine: Engine, table: type[EscalationRow] | type[OutboxRow]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def counter(engine: Engine, series: str, year: int) -> int | None:
    with Session(engine) as session:
        row = session.get(DocNumberCounter, (PREFIX, series, year))
        return None if row is None else row.last


def all_at_once(n: int, call: Callable[[int], EscalationRecord]) -> list[EscalationRecord]:
    """Runs `call(i)` for i in range(n) on n threads released together, so the writes really collide."""
    start = threading.Barrier(n)

    def run(i: int) -> EscalationRecord:
        start.wait()
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_a_rung_issued_twice_is_one_record_with_one_number(engine: Engine, activities: EscalationActivities) -> None:
    first = issue(activities, escalation_input("H-1", Rung.NOTICE_LETTER))
    again = issue(activities, escalation_input("H-1", Rung.NOTICE_LETTER))

    assert again == first
    assert first.doc_number == "南开安委办函〔2027〕1号"
    assert first.level == 1
    assert (first.target.kind, first.target.organisation) == (Owner.ENTERPRISE, ENTERPRISE)
    assert first.copied_to == [STREET, DEPARTMENT]
    assert first.issued_by == ISSUER
    assert first.working_days_late == 1
    assert first.at == FIRST_WD_2027
    assert first.reason == f"完成整改期限为2026年12月31日，已逾期 1 个工作日，函告{ENTERPRISE}。"
    assert (count(engine, EscalationRow), count(engine, OutboxRow), counter(engine, "函", 2027)) == (1, 1, 1)
    with Session(engine) as session:
        outbox = session.exec(select(OutboxRow)).one()
    assert (
        outbox.key
        == outbox_key("H-1", "H-1/rectify/1", Rung.NOTICE_LETTER)
        == "escalation:H-1:H-1/rectify/1:notice_letter"
    )
    assert outbox.topic == "escalation"
    assert EscalationRecord.model_validate(outbox.payload) == first
    assert outbox.delivered_at is None


def test_numbers_run_per_series_and_year_without_gaps(activities: EscalationActivities) -> None:
    letters = [issue(activities, escalation_input(f"H-{i}", Rung.NOTICE_LETTER)) for i in range(3)]
    summonses = [issue(activities, escalation_input(f"H-{i}", Rung.SUMMONS, working_days_late=10)) for i in range(2)]
    listing = issue(activities, escalation_input("H-0", Rung.LISTING, working_days_late=20))
    circular = issue(activities, escalation_input("H-0", Rung.CIRCULAR, kind=DeadlineKind.REVIEW))

    assert [r.doc_number for r in letters] == [f"南开安委办函〔2027〕{n}号" for n in (1, 2, 3)]
    assert [r.doc_number for r in summonses] == ["南开安委办约〔2027〕1号", "南开安委办约〔2027〕2号"]
    assert listing.doc_number == "南开安委办督〔2027〕1号"
    assert circular.doc_number == "南开安委办通〔2027〕1号"
    assert [r.level for r in (letters[0], summonses[0], listing, circular)] == [1, 2, 3, 3]


def test_the_year_of_the_number_is_the_year_in_shanghai(activities: EscalationActivities) -> None:
    in_2026 = [
        issue(activities, escalation_input(f"H-{day}", Rung.NOTICE_LETTER, datetime(2026, 12, day, 9, tzinfo=CHINA_TZ)))
        for day in (1, 2)
    ]
    first_of_2027 = issue(activities, escalation_input("H-3", Rung.NOTICE_LETTER, FIRST_WD_2027))
    # Still 2026 in UTC, already 1 January in Beijing.
    new_years_night = issue(
        activities, escalation_input("H-4", Rung.NOTICE_LETTER, datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    )

    assert [r.doc_number for r in in_2026] == ["南开安委办函〔2026〕1号", "南开安委办函〔2026〕2号"]
    assert first_of_2027.doc_number == "南开安委办函〔2027〕1号"
    assert new_years_night.doc_number == "南开安委办函〔2027〕2号"


def test_fifty_hazards_escalated_at_once_get_numbers_1_to_50(engine: Engine, activities: EscalationActivities) -> None:
    records = all_at_once(50, lambda i: issue(activities, escalation_input(f"H-{i}", Rung.NOTICE_LETTER)))

    assert sorted(serial(r) for r in records) == list(range(1, 51))
    assert (count(engine, EscalationRow), count(engine, OutboxRow), counter(engine, "函", 2027)) == (50, 50, 50)


def test_one_rung_issued_from_ten_threads_at_once_is_one_record(
    engine: Engine, activities: EscalationActivities
) -> None:
    records = all_at_once(10, lambda _: issue(activities, escalation_input("H-1", Rung.SUMMONS)))

    assert {r.doc_number for r in records} == {"南开安委办约〔2027〕1号"}
    assert all(r == records[0] for r in records)
    assert (count(engine, EscalationRow), count(engine, OutboxRow), counter(engine, "约", 2027)) == (1, 1, 1)
    # The losers' numbers were rolled back: the next summons is the second, not the eleventh.
    assert serial(issue(activities, escalation_input("H-2", Rung.SUMMONS))) == 2


def test_a_reminder_has_no_number_and_goes_out_as_a_reminder(engine: Engine, activities: EscalationActivities) -> None:
    at = datetime(2026, 12, 28, 9, 30, tzinfo=CHINA_TZ)
    record = issue(activities, escalation_input("H-1", Rung.REMINDER, at, working_days_late=-3))
    issue(activities, escalation_input("H-1", Rung.REMINDER, at, working_days_late=-3))

    assert record.doc_number is None
    assert record.level == 0
    assert (record.target.kind, record.copied_to) == (Owner.ENTERPRISE, [])
    assert record.reason == "完成整改期限为2026年12月31日，3 个工作日后到期，提醒按期办理。"
    with Session(engine) as session:
        row = session.exec(select(EscalationRow)).one()
        outbox = session.exec(select(OutboxRow)).one()
        counters = session.exec(select(DocNumberCounter)).all()
    assert row.letter == {}
    assert (outbox.topic, outbox.key) == ("reminder", "escalation:H-1:H-1/rectify/1:reminder")
    assert counters == []


def test_department_and_committee_office_deadlines_are_addressed_to_their_owner(
    activities: EscalationActivities,
) -> None:
    summons = issue(activities, escalation_input("H-1", Rung.SUMMONS, kind=DeadlineKind.REVIEW, working_days_late=10))
    circular = issue(activities, escalation_input("H-1", Rung.CIRCULAR, kind=DeadlineKind.REVIEW, working_days_late=20))
    publication = issue(
        activities,
        escalation_input("H-1", Rung.REMINDER, kind=DeadlineKind.LISTING_PUBLICATION, working_days_late=-1),
    )

    assert (summons.target.kind, summons.target.organisation, summons.copied_to) == (
        Owner.DEPARTMENT,
        DEPARTMENT,
        [STREET],
    )
    assert summons.reason == f"审核验收期限为2026年12月31日，已逾期 10 个工作日，约谈{DEPARTMENT}主要负责同志。"
    assert circular.reason.endswith(f"对{DEPARTMENT}予以通报。")
    assert (publication.target.kind, publication.target.organisation) == (Owner.COMMITTEE_OFFICE, ISSUER)


def test_an_enterprise_summons_names_the_principal(activities: EscalationActivities) -> None:
    record = issue(activities, escalation_input("H-1", Rung.SUMMONS, working_days_late=10))
    assert record.reason.endswith(f"约谈{ENTERPRISE}主要负责人王强。")


@pytest.mark.parametrize(
    ("rung", "kind"),
    [
        (Rung.OVERDUE, DeadlineKind.RECTIFY),
        (Rung.CIRCULAR, DeadlineKind.RECTIFY),
        (Rung.LISTING, DeadlineKind.REVIEW),
        (Rung.NOTICE_LETTER, DeadlineKind.LISTING_PUBLICATION),
    ],
)
def test_rungs_off_the_owners_ladder_are_refused_for_good(
    engine: Engine, activities: EscalationActivities, rung: Rung, kind: DeadlineKind
) -> None:
    with pytest.raises(ApplicationError) as refused:
        issue(activities, escalation_input("H-1", rung, kind=kind))
    assert refused.value.non_retryable
    assert refused.value.type == ErrorType.INVALID_PAYLOAD
    assert (count(engine, EscalationRow), count(engine, OutboxRow)) == (0, 0)


def test_a_rung_the_deadline_never_scheduled_is_refused(activities: EscalationActivities) -> None:
    input = escalation_input("H-1", Rung.NOTICE_LETTER)
    input.rung = Rung.SUMMONS
    with pytest.raises(ApplicationError) as refused:
        issue(activities, input)
    assert refused.value.non_retryable


def test_a_failed_write_takes_its_number_back(engine: Engine, activities: EscalationActivities) -> None:
    # A stray outbox row with the same key makes the last insert of the transaction fail.
    key = outbox_key("H-1", "H-1/rectify/1", Rung.NOTICE_LETTER)
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(OutboxRow(key=key, topic="escalation", payload={}, created_at=now, next_attempt_at=now))
        session.commit()

    with pytest.raises(IntegrityError):
        issue(activities, escalation_input("H-1", Rung.NOTICE_LETTER))
    assert count(engine, EscalationRow) == 0
    assert counter(engine, "函", 2027) is None

    with Session(engine) as session:
        session.delete(session.exec(select(OutboxRow)).one())
        session.commit()
    assert issue(activities, escalation_input("H-1", Rung.NOTICE_LETTER)).doc_number == "南开安委办函〔2027〕1号"


def test_a_rung_queueing_behind_another_writers_lock_keeps_heartbeating(engine: Engine) -> None:
    """The wait for a lock is longer than the heartbeat interval: without beats from its own thread, the server
    would take the attempt as lost and retry it (issue 8: no retry storms)."""
    every = 0.1
    hold = 1.0
    activities = EscalationActivities(engine, issuer_name=ISSUER, doc_number_prefix=PREFIX, heartbeat_every=every)
    issue(activities, escalation_input("H-1", Rung.NOTICE_LETTER))
    beats: list[float] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())

    with engine.connect() as holder:
        # The series' counter row, locked by another writer (SQLite: the database's write lock).
        holder.execute(update(DocNumberCounter).values(last=DocNumberCounter.last))
        release = threading.Timer(hold, holder.commit)
        # Timed from before the timer starts, so the wait cannot read shorter than the hold (it read 0.9986 s once).
        started = time.monotonic()
        release.start()
        record = env.run(activities.issue_escalation, escalation_input("H-2", Rung.NOTICE_LETTER))
        waited = time.monotonic() - started
        release.join()

    assert serial(record) == 2
    assert waited >= hold
    assert len([beat for beat in beats if beat <= started + hold]) >= hold / every / 2


def test_the_letter_is_stored_with_the_escalation(engine: Engine, activities: EscalationActivities) -> None:
    issue(activities, escalation_input("H-1", Rung.LISTING, FIRST_WD_2027 + timedelta(days=30), working_days_late=20))
    with Session(engine) as session:
        letter = session.exec(select(EscalationRow)).one().letter
    assert letter["doc_number"] == "南开安委办督〔2027〕1号"
    assert letter["title"] == "挂牌督办通知书"
    assert letter["addressee"] == f"{ENTERPRISE}："
    assert letter["date"] == "2027-02-03"
    assert letter["copied_to"] == [STREET, DEPARTMENT]
    assert any("督办单位为南开区应急管理局" in p for p in letter["paragraphs"])
