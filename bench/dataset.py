"""A national-scale read model, loaded directly with bulk inserts: rows cloned from hazards that went through the
real lifecycle rules (workflows.lifecycle) and the real projection (readmodel.projection), so every column and
event payload has the shape the workflow writes; only ids, places and dates vary per hazard."""

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, StaticPool, create_engine, select
from sqlmodel import SQLModel

from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import RUNG_LEVELS, STAGE_DEADLINES, Owner, Rag, Rung
from contracts.enums import Action, Industry
from contracts.hazard import Rectification
from readmodel.models import EscalationRow, Hazard, HazardEventRow, ListingPeriodRow
from readmodel.projection import event_row, hazard_row, write_projection
from tests.scenarios import PATHS
from workflows import lifecycle

PATH = PATHS["self_report_closed"]
ACTIONS = {
    "submit_plan": (Action.SUBMIT_PLAN, "plan"),
    "confirm_interim_control": (Action.CONFIRM_INTERIM_CONTROL, "control"),
    "report_rectification": (Action.REPORT_RECTIFICATION, "rectification"),
    "review": (Action.REVIEW, "review"),
}
# How far along the path each hazard is (0: PLAN ... 4: CLOSED), about as a year's hazards are.
PROGRESS_WEIGHTS = [10, 8, 20, 7, 55]
STREETS = 2000
DEPARTMENTS = 20  # 200,000 hazards: 10,000 per department, the size of the export scenario
INDUSTRIES = list(Industry)
BATCH = 5000
# Titles and places as varied as a ledger's, so the search's index (migration 0016) holds text of a real size.
TITLES = (
    "储罐区可燃气体报警装置失效",
    "涉爆粉尘作业区域未采取防爆措施",
    "有限空间作业未执行先通风再检测后作业",
    "液氨制冷车间未设置泄漏报警及紧急切断装置",
    "危险化学品仓库超量储存",
    "建筑施工深基坑未按方案支护",
    "燃气管道被违章占压",
    "矿山井下未设置双回路供电",
    "熔融金属吊运未使用冶金起重机",
    "人员密集场所安全出口被锁闭",
    "自动喷水灭火系统损坏未修复",
    "烟花爆竹生产工房超员作业",
    "锂电池仓储区未设置防火分隔",
    "高处作业平台防护栏缺失",
    "压力容器超期未检验",
    "化工装置安全阀未定期校验",
)
PLACES = ("储罐区", "生产车间", "仓库", "配电室", "锅炉房", "装卸站台", "办公楼")

Template = tuple[dict[str, Any], list[dict[str, Any]]]


# The timeline the projection keeps on the row (readmodel.timeline): its times, shifted with the clone's other
# times, and the found-to-closed duration, which a shift leaves as it is. (escalated_since is each clone's own.)
TIMELINE = ("planned_at", "ended_at", "listed_since")
TEMPLATE_TIMELINE = (*TIMELINE, "found_to_closed_us")


def templates(now: datetime) -> list[Template]:
    """One hazard per progress step, taken through lifecycle.apply and projected. Its actions are minutes apart
    and just before `now`; each clone is then shifted into the past as a whole.

    Each template is written by the real projection into a scratch database, and its row read back with the
    timeline the projection derived from its events: so the clones are inserted once, as the projection leaves
    them, not inserted and then updated (which on PostgreSQL would leave every row and index entry twice)."""
    scratch = create_engine("sqlite://", poolclass=StaticPool)
    SQLModel.metadata.create_all(scratch)
    hazards = SQLModel.metadata.tables["hazard"]
    found: list[Template] = []
    for progress in range(len(PATH.steps) + 1):
        at = now - timedelta(minutes=10 * len(PATH.steps))
        hazard_id = f"TEMPLATE-{progress}"
        record = lifecycle.open_hazard(hazard_id, PATH.report(), PATH.reporter, at)
        for step in PATH.steps[:progress]:
            at += timedelta(minutes=10)
            update = step.input()
            action, field = ACTIONS[step.update]
            payload = getattr(update, field)
            if isinstance(payload, Rectification):
                # Completed the day it is reported (the rules refuse a later day): just after midnight, the day of
                # the actions just before `now` is yesterday.
                payload = payload.model_copy(update={"completed_on": china_date(at)})
            lifecycle.apply(record, action, update.actor, payload, at)  # type: ignore[attr-defined]
        write_projection(scratch, record.state, record.events)
        with scratch.connect() as conn:
            timeline = conn.execute(
                select(*(hazards.c[name] for name in TEMPLATE_TIMELINE)).where(hazards.c.hazard_id == hazard_id)
            ).one()
            # The path taken has no listing (each clone would need its own periods).
            assert conn.execute(select(ListingPeriodRow.__table__)).first() is None  # type: ignore[attr-defined]
        row = hazard_row(record.state) | dict(zip(TEMPLATE_TIMELINE, timeline, strict=True))
        found.append((row, [event_row("TEMPLATE", e) for e in record.events]))
    return found


# The rungs fired on an overdue clone's deadline, as far as its escalation level says: the 函告 once it fell due,
# the 约谈 two weeks on (about the default policy's working days). The listing rung is left out: the clones have no
# listing events for it.
RUNG_DAYS = ((1, Rung.NOTICE_LETTER, 0), (2, Rung.SUMMONS, 14))


def rungs(row: dict[str, Any], events: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """An overdue clone's escalation rows, each with the time its stage was done (the first later event that
    changed the stage, as readmodel.timeline derives it: tests/test_statistics_fold.py checks they agree)."""
    due = row["next_deadline"]
    found = []
    for level, rung, days in RUNG_DAYS:
        at = max(due, row["reported_at"]) + timedelta(days=days)
        if row["escalation_level"] < level or at > now:
            continue
        done = min((e["at"] for e in events if e["stage_before"] != e["stage_after"] and e["at"] > at), default=None)
        found.append(
            {
                "hazard_id": row["hazard_id"],
                "deadline_id": f"{row['hazard_id']}-{STAGE_DEADLINES[row['stage']].value}",
                "deadline_kind": STAGE_DEADLINES[row["stage"]],
                "rung": rung,
                "level": RUNG_LEVELS[rung],
                "target_kind": Owner.ENTERPRISE,
                "target_organisation": row["enterprise_name"],
                "copied_to": [],
                "issued_by": "基准区安委办",
                "doc_number": None,
                "at": at,
                "due": due,
                "working_days_late": days,
                "reason": "逾期未完成",
                "letter": {},
                "stage_done_at": done,
                "to_done_us": (done - at) // timedelta(microseconds=1) if done else None,
            }
        )
    return found


def escalation_timeline(fired: list[dict[str, Any]]) -> dict[str, Any]:
    """What readmodel.timeline keeps on the row of a hazard with these rungs, all of them counted ones."""
    return {
        "escalated_since": min((r["at"] for r in fired), default=None),
        "rungs_settled_at": max((r["stage_done_at"] or r["at"] for r in fired), default=None),
        "settled_rungs": ",".join(
            f"{r['rung'].value}:{r['to_done_us']}" if r["stage_done_at"] else r["rung"].value for r in fired
        )
        or None,
    }


def hazards(
    count: int, *, now: datetime, seed: int = 7
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    rng = random.Random(seed)
    base = templates(now)
    for i in range(count):
        progress = rng.choices(range(len(base)), PROGRESS_WEIGHTS)[0]
        hazard, events = base[progress]
        shift = -timedelta(seconds=rng.randrange(365 * 86400))
        hazard_id = f"{110000 + i % 3000:06d}-{now.year}-{i:06d}"
        row = dict(hazard)
        street = f"街道{i % STREETS:04d}"
        row.update(
            hazard_id=hazard_id,
            title=TITLES[i % len(TITLES)],
            location=f"{street} {i % 300 + 1} 号{PLACES[i % len(PLACES)]}",
            street=street,
            department=f"部门{i % DEPARTMENTS:02d}",
            industry=INDUSTRIES[i % len(INDUSTRIES)],
            enterprise_name=f"企业{i % 50000:05d}有限公司",
            enterprise_credit_code=f"91{i % 50000:016d}",
            found_at=hazard["found_at"] + shift,
            reported_at=hazard["reported_at"] + shift,
            updated_at=hazard["updated_at"] + shift,
            closed_at=hazard["closed_at"] + shift if hazard["closed_at"] else None,
            **{name: hazard[name] + shift for name in TIMELINE if hazard[name] is not None},
        )
        if progress < len(base) - 1:
            # The workflow arms deadlines (not the pure rules): an open hazard's next deadline, some passed.
            due = row["reported_at"] + timedelta(days=rng.randrange(-30, 90))
            overdue_days = (now - due).days
            row["next_deadline"] = due
            row["rag"] = Rag.RED if overdue_days > 0 else Rag.YELLOW if overdue_days > -3 else Rag.GREEN
            row["escalation_level"] = (
                0 if overdue_days <= 0 else 1 if overdue_days < 14 else 2 if overdue_days < 28 else 3
            )
            row["listed"] = row["escalation_level"] == 3
        clone_events = [dict(e, hazard_id=hazard_id, at=e["at"] + shift) for e in events]
        fired = rungs(row, clone_events, now) if progress < len(base) - 1 else []
        row.update(escalation_timeline(fired))
        yield row, clone_events, fired


def load(engine: Engine, count: int, *, now: datetime | None = None) -> dict[str, float]:
    """Bulk-insert `count` hazards, their events and escalations; returns rows and seconds."""
    now = now or datetime.now(CHINA_TZ)
    started = time.perf_counter()
    hazard_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    escalation_rows: list[dict[str, Any]] = []
    events_total = escalations_total = 0

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(Hazard.__table__.insert(), hazard_rows)  # type: ignore[attr-defined]
            conn.execute(HazardEventRow.__table__.insert(), event_rows)  # type: ignore[attr-defined]
            if escalation_rows:
                conn.execute(EscalationRow.__table__.insert(), escalation_rows)  # type: ignore[attr-defined]
        hazard_rows.clear()
        event_rows.clear()
        escalation_rows.clear()

    for row, events, fired in hazards(count, now=now):
        hazard_rows.append(row)
        event_rows.extend(events)
        escalation_rows.extend(fired)
        events_total += len(events)
        escalations_total += len(fired)
        if len(hazard_rows) >= BATCH:
            flush()
    if hazard_rows:
        flush()
    return {
        "hazards": count,
        "events": events_total,
        "escalations": escalations_total,
        "load_seconds": round(time.perf_counter() - started, 1),
    }
