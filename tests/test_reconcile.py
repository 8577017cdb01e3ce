"""The self-healing read model: hazards driven through real workflows on the dev server, their rows corrupted and
deleted, then healed by the reconciler (and rebuilt from Temporal alone) back to exactly what the projection wrote.

One hazard's plan clock is started 60 days early (tests/late_clock.py), so its escalation ladder climbs at once
and it has escalation rows with real 文号 and letters.
"""

import asyncio
import base64
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlmodel import Session, SQLModel
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleRange
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.escalation import EscalationActivities
from activities.read_model import ReadModelActivities
from contracts.clock import CHINA_TZ
from contracts.deadlines import Rung
from contracts.enums import Action, Stage
from contracts.hazard import TASK_QUEUE, HazardState, Transfer, TransferInput
from contracts.reconcile import (
    RECONCILE_SCHEDULE_ID,
    RECONCILE_WORKFLOW_NAME,
    DriftKind,
    ReconcileInput,
    ReconcileReport,
)
from infra.schedules import SCHEDULES, ensure_schedules
from readmodel.models import DocNumberCounter, EscalationRow, HazardEventRow, HazardSerial, OutboxRow
from readmodel.projection import Repair, write_projection
from readmodel.queries import allocate_hazard_id
from readmodel.reconcile import NoWorker, read_serials, reconcile
from settings import Settings
from tests.conftest import isolated_client, workflow_cache_size
from tests.keys import TEST_PAYLOAD_KEY
from tests.late_clock import LATE, LateClock
from tests.scenarios import (
    COMMITTEE,
    ENTERPRISE,
    PATHS,
    Handle,
    confirm_control,
    plan,
    report,
    start,
    submit_plan,
    walk,
)
from worker import build_worker
from workflows.hazard import HazardWorkflow
from workflows.lifecycle import apply, open_hazard

pytestmark = pytest.mark.databases

DISTRICT = "120104"
EXTRA_DEADLINE = "plan-2000-01-01"
# Long enough for nothing, short enough for a test: nothing is in flight when the reconciler runs here.
FAST = {"settle_seconds": 0.1}

HAZARDS = SQLModel.metadata.tables["hazard"]
EVENTS = SQLModel.metadata.tables[HazardEventRow.__tablename__]
ESCALATIONS = SQLModel.metadata.tables[EscalationRow.__tablename__]


def hazard_worker(client: Client, engine: Engine, task_queue: str) -> Worker:
    settings = Settings()
    read_model = ReadModelActivities(engine)
    clock = LateClock(engine)
    escalation = EscalationActivities(
        engine, issuer_name=settings.issuer_name, doc_number_prefix=settings.doc_number_prefix
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[HazardWorkflow],
        activities=[
            read_model.project_hazard,
            clock.schedule_deadline,
            clock.load_policy,
            escalation.issue_escalation,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=4),
        max_cached_workflows=workflow_cache_size(),
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@dataclass
class Hazards:
    client: Client
    closed: str  # completed workflow: read from its result
    revoked: str  # an unfounded tip-off, completed
    rejected: str  # closed after a rejected review: more events
    open: str  # in RECTIFY
    late: str  # PLAN overdue: 提醒, 函告, 约谈, 挂牌督办 issued; then transferred

    @property
    def ids(self) -> list[str]:
        return sorted([self.closed, self.revoked, self.rejected, self.open, self.late])


async def state_of(client: Client, hazard_id: str) -> HazardState:
    handle: Handle = client.get_workflow_handle_for(HazardWorkflow.run, f"hazard-{hazard_id}")
    return await handle.query(HazardWorkflow.get_state)


async def drive_hazards(client: Client, engine: Engine, task_queue: str) -> Hazards:
    """Five hazards through their real workflows, each left once its last projection is written. The first has
    an id as the API hands them out (district, year, serial); the others ids of their own."""

    async def run(path: str, steps: int | None = None, hazard_id: str | None = None) -> str:
        handle = await start(client, PATHS[path], task_queue, hazard_id)
        chosen = PATHS[path]
        await walk(handle, chosen if steps is None else replace(chosen, steps=chosen.steps[:steps]))
        return handle.id.removeprefix("hazard-")

    with Session(engine) as session:
        allocated = allocate_hazard_id(session=session, district=DISTRICT, now=datetime.now(CHINA_TZ), request_id=None)
    closed = await run("self_report_closed", hazard_id=allocated.hazard_id)
    revoked = await run("tip_off_unfounded")
    rejected = await run("review_rejected_then_closed")
    open_ = await run("self_report_closed", steps=2)

    late = f"{LATE}{uuid.uuid4().hex[:10]}"
    handle = await start(client, PATHS["self_report_closed"], task_queue, late)

    async def listed() -> bool:
        state = await state_of(client, late)
        return state.listing is not None and state.escalation_level == 3

    await eventually(listed, "the late hazard climbed to 挂牌督办")
    # Moved to another department after its letters went out: they must name the department of their day.
    transfer = Transfer(to_department="南开区住房和建设委员会", reason="涉及在建工程，由住建部门负责监管。")
    await handle.execute_update(HazardWorkflow.transfer, TransferInput(actor=COMMITTEE, transfer=transfer))
    for step in (submit_plan(), confirm_control()):
        await handle.execute_update(step.update, step.input())

    for hazard_id in (closed, revoked, rejected):
        await client.get_workflow_handle(f"hazard-{hazard_id}").result()
    hazards = Hazards(client=client, closed=closed, revoked=revoked, rejected=rejected, open=open_, late=late)

    async def all_listed() -> bool:
        count = await client.count_workflows("WorkflowType = 'HazardWorkflow'")
        return count.count == len(hazards.ids)

    await eventually(all_listed, "every hazard workflow visible to listing")
    return hazards


@asynccontextmanager
async def hazard_stack(dev_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Hazards]:
    """A namespace of its own (the reconciler lists every hazard workflow in it), a worker, five hazards."""
    client = await isolated_client(dev_env.client, f"reconcile-{uuid.uuid4().hex[:8]}")
    task_queue = f"hazards-{uuid.uuid4()}"
    async with hazard_worker(client, engine, task_queue):
        yield await drive_hazards(client, engine, task_queue)


def dump(engine: Engine, hazard_ids: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every row of the derived tables in a stable order, surrogate ids left out."""
    tables = {
        "hazard": (HAZARDS, [HAZARDS.c.hazard_id]),
        "hazard_event": (EVENTS, [EVENTS.c.hazard_id, EVENTS.c.seq]),
        "escalation": (ESCALATIONS, [ESCALATIONS.c.hazard_id, ESCALATIONS.c.deadline_id, ESCALATIONS.c.rung]),
    }
    result: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name, (table, order) in tables.items():
            query = select(table).order_by(*order)
            if hazard_ids is not None:
                query = query.where(table.c.hazard_id.in_(hazard_ids))
            result[name] = [{k: v for k, v in row.items() if k != "id"} for row in conn.execute(query).mappings()]
    return result


def execute(engine: Engine, *statements: Any) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def drift_metric(kind: DriftKind, outcome: str) -> float:
    labels = {"kind": kind.value, "outcome": outcome}
    return REGISTRY.get_sample_value("xiaohao_read_model_drift_total", labels) or 0.0


def kinds_of(report: ReconcileReport) -> dict[DriftKind, int]:
    return {kind: n for kind, n in report.found.items() if n}


async def test_clean_projection_has_no_drift_and_each_kind_of_drift_heals_exactly(
    dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    async with hazard_stack(dev_env, engine) as hazards:
        client = hazards.client
        clean = await reconcile(client, engine, ReconcileInput(deep=True, **FAST))
        assert (clean.workflows, clean.rows, clean.found, clean.errors) == (5, 5, {}, [])
        snapshot = dump(engine)
        late_escalations = [row for row in snapshot["escalation"] if row["hazard_id"] == hazards.late]
        assert sorted(row["rung"] for row in late_escalations) == sorted(
            r.value for r in (Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING)
        )
        assert all(row["letter"] for row in late_escalations if row["doc_number"] is not None)
        late_version = next(r["version"] for r in snapshot["hazard"] if r["hazard_id"] == hazards.late)
        notice = next(r for r in late_escalations if r["rung"] == Rung.NOTICE_LETTER.value)
        # Issued before the transfer: the letter names the department of its day, not today's.
        assert "南开区应急管理局" in " ".join(notice["letter"]["paragraphs"])
        outbox_before = count(engine, OutboxRow)

        now = datetime.now(UTC)
        bogus = f"BOGUS-{uuid.uuid4().hex[:6]}"
        expired = f"OLD-{uuid.uuid4().hex[:6]}"
        template = next(r for r in snapshot["hazard"] if r["hazard_id"] == hazards.closed)
        execute(
            engine,
            # corrupted: same version, other stage and street
            update(HAZARDS)
            .where(HAZARDS.c.hazard_id == hazards.open)
            .values(stage=Stage.CLOSED.value, street="长虹街道"),
            # corrupted: a version ahead of its workflow
            update(HAZARDS).where(HAZARDS.c.hazard_id == hazards.late).values(version=late_version + 40),
            # stale: an older version (of a completed workflow, read from its result)
            update(HAZARDS)
            .where(HAZARDS.c.hazard_id == hazards.closed)
            .values(version=HAZARDS.c.version - 1, stage=Stage.REVIEW.value),
            # missing row
            delete(HAZARDS).where(HAZARDS.c.hazard_id == hazards.revoked),
            # missing events of a completed workflow (found without replaying it)
            delete(EVENTS).where(EVENTS.c.hazard_id == hazards.rejected, EVENTS.c.seq.in_([2, 3])),
            # a corrupted and an extra event of an open one
            update(EVENTS)
            .where(EVENTS.c.hazard_id == hazards.open, EVENTS.c.seq == 2)
            .values(actor_name="某某", payload={"measures": "篡改"}),
            insert(EVENTS).values(
                hazard_id=hazards.open,
                seq=99,
                action="submit_plan",
                actor_id="x",
                actor_name="x",
                actor_role="enterprise",
                actor_organisation="x",
                at=now,
                stage_before=None,
                stage_after="plan",
                payload={},
            ),
            # a missing escalation (its letter recomposed) and a corrupted one
            delete(ESCALATIONS).where(
                ESCALATIONS.c.hazard_id == hazards.late, ESCALATIONS.c.rung == Rung.NOTICE_LETTER.value
            ),
            update(ESCALATIONS)
            .where(ESCALATIONS.c.hazard_id == hazards.late, ESCALATIONS.c.rung == Rung.SUMMONS.value)
            .values(working_days_late=3, target_organisation="别的单位"),
            # an escalation the workflow never issued
            insert(ESCALATIONS).values(
                {**{k: v for k, v in notice.items()}, "deadline_id": EXTRA_DEADLINE, "doc_number": None}
            ),
            # rows of a hazard that never had a workflow, and of one closed long before retention
            insert(HAZARDS).values({**template, "hazard_id": bogus, "stage": Stage.PLAN.value}),
            insert(EVENTS).values({**snapshot["hazard_event"][0], "hazard_id": bogus}),
            insert(HAZARDS).values({**template, "hazard_id": expired, "updated_at": now - timedelta(days=4000)}),
        )
        corrupted = dump(engine)
        before = {kind: drift_metric(kind, "found") for kind in DriftKind}
        healed_before = {kind: drift_metric(kind, "healed") for kind in DriftKind}

        dry = await reconcile(client, engine, ReconcileInput(dry_run=True, **FAST))
        expected = {
            DriftKind.CORRUPTED_ROW: 2,
            DriftKind.STALE_ROW: 1,
            DriftKind.MISSING_ROW: 1,
            DriftKind.MISSING_EVENT: 2,
            DriftKind.CORRUPTED_EVENT: 1,
            DriftKind.EXTRA_EVENT: 1,
            DriftKind.MISSING_ESCALATION: 1,
            DriftKind.CORRUPTED_ESCALATION: 1,
            DriftKind.EXTRA_ESCALATION: 1,
            DriftKind.ORPHAN: 1,
            DriftKind.EXPIRED: 1,
        }
        assert kinds_of(dry) == expected
        assert (dry.drift, dry.unhealed, dry.healed) == (10, 10, {})
        assert dump(engine) == corrupted, "a dry run wrote"
        by_kind = {(f.hazard_id, f.kind): f for f in dry.findings}
        assert by_kind[(hazards.open, DriftKind.CORRUPTED_ROW)].detail == "fields: street, stage"
        assert by_kind[(hazards.rejected, DriftKind.MISSING_EVENT)].detail == "seq 2, 3"
        assert by_kind[(hazards.open, DriftKind.EXTRA_EVENT)].detail == "seq 99"
        assert by_kind[(hazards.late, DriftKind.CORRUPTED_ROW)].detail == "fields: version"
        assert (bogus, DriftKind.ORPHAN) in by_kind
        assert (expired, DriftKind.EXPIRED) in by_kind

        healing = await reconcile(client, engine, ReconcileInput(**FAST))
        assert kinds_of(healing) == expected
        assert healing.healed == {kind: n for kind, n in expected.items() if kind not in KEPT}
        assert (healing.drift, healing.unhealed, healing.errors) == (10, 0, [])
        healed_rows = dump(engine, hazards.ids)
        extra = [r for r in healed_rows["escalation"] if r["deadline_id"] == EXTRA_DEADLINE]
        assert len(extra) == 1, "an escalation row was deleted"
        healed_rows["escalation"].remove(extra[0])
        # Kept, it is one of its hazard's rungs for statistics too: a second 函告 fired when the first did.
        (late,) = [row for row in healed_rows["hazard"] if row["hazard_id"] == hazards.late]
        (written,) = [row for row in snapshot["hazard"] if row["hazard_id"] == hazards.late]
        rungs = written["settled_rungs"].split(",")
        notice = next(item for item in rungs if item.startswith(Rung.NOTICE_LETTER.value))
        assert Counter(late["settled_rungs"].split(",")) == Counter([*rungs, notice])
        late["settled_rungs"] = written["settled_rungs"]
        assert healed_rows == snapshot, "healed rows differ from what the projection wrote"
        assert count(engine, OutboxRow) == outbox_before, "healing an escalation announced it again"
        for kind, n in expected.items():
            # found twice (the dry run, then the healing run), healed once
            assert drift_metric(kind, "found") - before[kind] == 2 * n
            healed = 0 if kind in KEPT else n
            assert drift_metric(kind, "healed") - healed_before[kind] == healed

        again = await reconcile(client, engine, ReconcileInput(deep=True, **FAST))
        assert (again.drift, again.errors) == (0, [])
        assert kinds_of(again) == {kind: expected[kind] for kind in KEPT}

        orphans = await reconcile(client, engine, ReconcileInput(delete_orphans=True, **FAST))
        assert orphans.healed == {DriftKind.ORPHAN: 1}
        rows = dump(engine)
        assert [r["hazard_id"] for r in rows["hazard"]] == sorted([*hazards.ids, expired])
        assert bogus not in {r["hazard_id"] for r in rows["hazard_event"]}
        final = await reconcile(client, engine, ReconcileInput(deep=True, **FAST))
        assert kinds_of(final) == {DriftKind.EXPIRED: 1, DriftKind.EXTRA_ESCALATION: 1}

        # An event row's content alone is compared only under `deep` (or once the hazard looks drifted).
        execute(
            engine,
            update(EVENTS).where(EVENTS.c.hazard_id == hazards.closed, EVENTS.c.seq == 1).values(actor_name="某某"),
        )
        assert (await reconcile(client, engine, ReconcileInput(**FAST))).drift == 0
        deep = await reconcile(client, engine, ReconcileInput(deep=True, **FAST))
        assert (deep.drift, deep.healed) == (1, {DriftKind.CORRUPTED_EVENT: 1})
        assert dump(engine, [hazards.closed])["hazard_event"] == [
            row for row in snapshot["hazard_event"] if row["hazard_id"] == hazards.closed
        ]


KEPT = frozenset({DriftKind.EXTRA_ESCALATION, DriftKind.ORPHAN, DriftKind.EXPIRED})


def count(engine: Engine, model: type[SQLModel]) -> int:
    table = SQLModel.metadata.tables[str(model.__tablename__)]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


async def cli(*args: str, settings: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).parent.parent / "cli.py"),
        *args,
        env={**os.environ, **settings},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_rebuild_read_model_restores_an_emptied_read_model_from_temporal_alone(
    dev_env: WorkflowEnvironment, engine: Engine, tmp_path: Path
) -> None:
    async with hazard_stack(dev_env, engine) as hazards:
        snapshot = dump(engine)
        kept = (count(engine, OutboxRow), count(engine, DocNumberCounter))
        assert kept[0] > 0
        assert kept[1] > 0
        serials = read_serials(engine)
        assert serials == {f"{DISTRICT}-{datetime.now(CHINA_TZ).year}": 1}
        # Everything Temporal holds lost, and the serial counter with it: the next report would reuse an id.
        serial_table = SQLModel.metadata.tables[HazardSerial.__tablename__]
        execute(engine, delete(ESCALATIONS), delete(EVENTS), delete(HAZARDS), delete(serial_table))
        env = {
            "XIAOHAO_TEMPORAL_ADDRESS": hazards.client.service_client.config.target_host,
            "XIAOHAO_TEMPORAL_NAMESPACE": hazards.client.namespace,
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "XIAOHAO_PAYLOAD_KEY": base64.b64encode(TEST_PAYLOAD_KEY).decode(),
            "XIAOHAO_DATA_DIR": str(tmp_path),
            "XIAOHAO_LOG_JSON": "true",
        }

        code, out, err = await cli("reconcile", "--dry-run", settings=env)
        assert code == 1, out + err
        assert "missing_row: found 5, healed 0" in out
        assert "serial_behind: found 1, healed 0" in out
        assert dump(engine) == {"hazard": [], "hazard_event": [], "escalation": []}

        code, out, err = await cli("rebuild-read-model", settings=env)
        assert code == 0, out + err
        assert "rewritten from their workflow: 5" in out
        assert "heal: 5/5 hazards" in err
        assert dump(engine) == snapshot
        assert read_serials(engine) == serials
        # What Temporal does not hold stays as it was: notifications sent, 文号 handed out.
        assert (count(engine, OutboxRow), count(engine, DocNumberCounter)) == kept

        code, out, err = await cli("reconcile", settings=env)
        assert code == 0, out + err
        assert "drift: found 0, left unhealed 0" in out


async def test_the_nightly_schedule_runs_the_reconciler_on_the_worker(
    dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    async with hazard_stack(dev_env, engine) as hazards:
        client = hazards.client
        execute(engine, delete(HAZARDS).where(HAZARDS.c.hazard_id == hazards.open))
        entry = next(e for e in SCHEDULES if e.id == RECONCILE_SCHEDULE_ID)
        await ensure_schedules(client, schedules=(entry,))
        schedule = client.get_schedule_handle(RECONCILE_SCHEDULE_ID)
        try:
            spec = (await schedule.describe()).schedule.spec
            assert [list(c.hour) for c in spec.calendars] == [[ScheduleRange(2)]]
            assert spec.time_zone_name == "Asia/Shanghai"
            # The worker every deployment runs (worker.py) has the reconciler's workflow and activity.
            async with build_worker(client, engine, task_queue=TASK_QUEUE, max_cached_workflows=workflow_cache_size()):
                await schedule.trigger()

                async def started() -> bool:
                    return bool((await schedule.describe()).info.recent_actions)

                await eventually(started, "the schedule started a run")
                action = (await schedule.describe()).info.recent_actions[-1].action
                assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                run = client.get_workflow_handle(action.workflow_id, result_type=ReconcileReport)
                report = await run.result()
        finally:
            await schedule.delete()
        assert (await run.describe()).workflow_type == RECONCILE_WORKFLOW_NAME
        assert (report.found, report.healed, report.errors) == (
            {DriftKind.MISSING_ROW: 1},
            {DriftKind.MISSING_ROW: 1},
            [],
        )
        assert [r["hazard_id"] for r in dump(engine)["hazard"]] == hazards.ids


def test_a_repair_overwrites_only_the_row_it_saw(engine: Engine) -> None:
    """Healing goes through the projection: what the reconciler saw is overwritten, a newer write never is."""
    now = datetime.now(UTC)
    record = open_hazard("R-1", report(), ENTERPRISE, now)
    reported = record.state.model_copy(deep=True)
    first_events = list(record.events)
    write_projection(engine, record.state, record.events)
    apply(record, Action.SUBMIT_PLAN, ENTERPRISE, plan(), now)
    write_projection(engine, record.state, record.events)
    clean = dump(engine)

    # The reconciler saw v1 and heals from the v1 state, but the workflow's v2 was written meanwhile.
    late = write_projection(engine, reported, first_events, repair=Repair(seen_version=1))
    assert late.row_written is False
    assert dump(engine) == clean, "a repair from an older state overwrote a newer row or removed its events"
    # Nor does a repair that saw no row at all replace one.
    assert write_projection(engine, reported, first_events, repair=Repair(seen_version=None)).row_written is False
    assert dump(engine) == clean

    # Same version, other content, and an event the workflow never recorded: the row it saw is made the workflow's.
    execute(
        engine,
        update(HAZARDS).values(street="长虹街道", version=7),
        update(EVENTS).where(EVENTS.c.seq == 1).values(actor_name="某某"),
        insert(EVENTS).values({**clean["hazard_event"][1], "seq": 3}),
    )
    healed = write_projection(engine, record.state, record.events, repair=Repair(seen_version=7))
    assert (healed.row_written, healed.events_inserted) == (True, 2)
    assert dump(engine) == clean


async def test_without_a_worker_it_stops_at_once_naming_the_queue(dev_env: WorkflowEnvironment, engine: Engine) -> None:
    client = await isolated_client(dev_env.client, f"reconcile-{uuid.uuid4().hex[:8]}")
    handle = await start(client, PATHS["self_report_closed"], "nobody-polls")

    async def listed() -> bool:
        return (await client.count_workflows("WorkflowType = 'HazardWorkflow'")).count == 1

    await eventually(listed, "the hazard visible to listing")
    try:
        with pytest.raises(NoWorker, match="'nobody-polls'"):
            await reconcile(client, engine, ReconcileInput(**FAST))
    finally:
        await handle.terminate()
