"""The self-healing read model: every hazard workflow compared with its rows, drift repaired by the projection.

Temporal is the source of truth. For every hazard workflow in the namespace, open and closed, the reconciler
reads the workflow's state and events and compares them with the read model: the hazard row (every projected
field), the event rows 1..n and the escalation rows. What drifted is written again through
readmodel/projection.py, the code the workflows' own projection uses; the reconciler has no row mapping of
its own. After writing, it reads the rows back: a finding counts as healed only if it is gone.

Two passes: the first checks every hazard; the second waits `settle_seconds`, checks the suspects again and
heals only what still drifts, so a projection write in flight is not mistaken for drift. The first pass reads
each open workflow's state by query (a replay if the worker has not cached it) and each closed one's from its
recorded result (no replay), and checks event rows by sequence number; a hazard's events are read from its
workflow, and compared field by field, when it looks drifted, or for every hazard under `deep` and `rebuild`.

Rows whose hazard has no workflow are never healed, only reported: ORPHAN (deleted only on request: a
reconciler pointed at the wrong namespace must not empty the read model) and EXPIRED (a closed hazard older
than the namespace's retention: its rows are the only copy left). Escalation rows are never deleted: each is
an issued document with its 文号; a stored letter is never rewritten, a missing one is composed again from the
workflow's data. The hazard serial counter is lifted (never lowered) to the highest id in use, so that a
restored or lost read model does not hand out a live hazard's id again.
"""

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import structlog
from sqlalchemy import Engine, select, union
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import TemporalError
from temporalio.service import RPCError, RPCStatusCode

from contracts.clock import china_date
from contracts.deadlines import DEADLINE_OWNERS, Deadline, EscalationRecord, IssueEscalationInput
from contracts.enums import Action, Stage
from contracts.hazard import WORKFLOW_NAME, HazardEvent, HazardState, workflow_id
from contracts.reconcile import HEALABLE, MAX_FINDINGS, DriftKind, Finding, ReconcileInput, ReconcileReport
from infra.hazard_events import recorded_events
from infra.metrics import READ_MODEL_DRIFT
from infra.queries import answered
from letters.content import compose_letter
from readmodel.models import EscalationRow, HazardEventRow, HazardSerial
from readmodel.projection import (
    Repair,
    dialect_insert,
    escalation_row,
    event_row,
    forget_hazard,
    hazard_row,
    repair_escalations,
    write_projection,
)
from workflows.hazard import HazardWorkflow

log = structlog.get_logger("readmodel.reconcile")

LIST_QUERY = f"WorkflowType = '{WORKFLOW_NAME}'"
WORKFLOW_ID_PREFIX = workflow_id("")
QUERY_TIMEOUT = timedelta(seconds=30)
TERMINAL = frozenset(s.value for s in Stage if s.is_terminal)
# What can go wrong with one hazard without ending the run: Temporal (a query refused or timed out) or the
# database (a constraint) answering no.
HAZARD_ERRORS = (TemporalError, TimeoutError, SQLAlchemyError)

# Written by write_projection; escalation rows by repair_escalations.
PROJECTED = frozenset(
    {
        DriftKind.MISSING_ROW,
        DriftKind.STALE_ROW,
        DriftKind.CORRUPTED_ROW,
        DriftKind.MISSING_EVENT,
        DriftKind.CORRUPTED_EVENT,
        DriftKind.EXTRA_EVENT,
    }
)
ESCALATIONS = frozenset({DriftKind.MISSING_ESCALATION, DriftKind.CORRUPTED_ESCALATION})


@dataclass(frozen=True)
class Truth:
    """What the workflow holds. `events` is None when they were not read (first pass, without `deep`)."""

    state: HazardState
    events: list[HazardEvent] | None


@dataclass(frozen=True)
class Rows:
    hazard: dict[str, Any] | None
    events: dict[int, dict[str, Any]]
    escalations: dict[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class Progress:
    phase: str  # "check", then "heal" (the suspects again, and what drifted written)
    done: int
    total: int
    drift: int


ProgressFn = Callable[[Progress], None]


# --- reading both sides ----------------------------------------------------------------------------------


def hazard_id_of(id: str) -> str | None:
    return id.removeprefix(WORKFLOW_ID_PREFIX) if id.startswith(WORKFLOW_ID_PREFIX) else None


class NoWorker(Exception):
    """Nothing polls a task queue hazard workflows run on: their queries would wait out their timeouts."""


@dataclass(frozen=True)
class Listed:
    hazards: dict[str, bool]  # hazard id -> whether its latest run completed
    task_queues: set[str]


async def hazard_workflows(client: Client) -> Listed:
    """Every hazard workflow in the namespace, open and closed, and the task queues they run on."""
    latest: dict[str, tuple[datetime, bool]] = {}
    task_queues: set[str] = set()
    async for execution in client.list_workflows(LIST_QUERY):
        hazard_id = hazard_id_of(execution.id)
        if hazard_id is None:
            continue
        task_queues.add(execution.task_queue)
        seen = latest.get(hazard_id)
        if seen is None or execution.start_time > seen[0]:
            latest[hazard_id] = (execution.start_time, execution.status is WorkflowExecutionStatus.COMPLETED)
    return Listed({hazard_id: completed for hazard_id, (_, completed) in latest.items()}, task_queues)


async def require_workers(client: Client, task_queues: Iterable[str]) -> None:
    """Queries are answered by a worker: fail at once, naming the queue, rather than time out hazard by hazard."""
    for name in sorted(task_queues):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=name),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if not described.pollers:
            raise NoWorker(f"no worker polls task queue {name!r}: start one (python worker.py) and run this again")


async def described(client: Client, hazard_id: str) -> bool | None:
    """Whether the hazard's workflow completed; None if Temporal has no such workflow (any more)."""
    try:
        description = await client.get_workflow_handle(workflow_id(hazard_id)).describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    if description.workflow_type != WORKFLOW_NAME:
        return None
    return description.status is WorkflowExecutionStatus.COMPLETED


async def read_truth(client: Client, hazard_id: str, *, completed: bool, with_events: bool) -> Truth:
    handle = client.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id))
    if completed:
        # The state it returned, from its last history event: no replay on the worker.
        state = await handle.result(rpc_timeout=QUERY_TIMEOUT)
    else:
        state = await answered(lambda: handle.query(HazardWorkflow.get_state, rpc_timeout=QUERY_TIMEOUT))
    if not with_events:
        return Truth(state, None)
    recorded = await recorded_events(client, hazard_id, rpc_timeout=QUERY_TIMEOUT)
    # Asked after the state, so they hold at least its events; any later ones belong to a newer state.
    return Truth(state, [e for e in recorded if e.seq <= state.version])


def _tables() -> tuple[Any, Any, Any]:
    tables = SQLModel.metadata.tables
    return tables["hazard"], tables[HazardEventRow.__tablename__], tables[EscalationRow.__tablename__]


def read_rows(engine: Engine, hazard_id: str) -> Rows:
    hazards, events, escalations = _tables()
    with engine.connect() as conn:
        hazard = conn.execute(select(hazards).where(hazards.c.hazard_id == hazard_id)).mappings().first()
        event_rows = conn.execute(select(events).where(events.c.hazard_id == hazard_id)).mappings().all()
        escalation_rows = conn.execute(select(escalations).where(escalations.c.hazard_id == hazard_id)).mappings().all()
    return Rows(
        hazard=dict(hazard) if hazard is not None else None,
        events={row["seq"]: dict(row) for row in event_rows},
        escalations={(row["deadline_id"], row["rung"]): dict(row) for row in escalation_rows},
    )


def read_model_ids(engine: Engine) -> set[str]:
    """Every hazard id the read model holds a row of: hazard, event or escalation."""
    hazards, events, escalations = _tables()
    ids = union(select(hazards.c.hazard_id), select(events.c.hazard_id), select(escalations.c.hazard_id))
    with engine.connect() as conn:
        return set(conn.execute(ids).scalars())


# The ids the API hands out: <district>-<year>-<serial> (readmodel/queries.allocate_hazard_id).
SERIAL_ID = re.compile(r"^(\d{6}-\d{4})-(\d+)$")


def serial_floors(hazard_ids: Iterable[str]) -> dict[str, int]:
    """The highest serial in use per district and year prefix."""
    floors: dict[str, int] = {}
    for hazard_id in hazard_ids:
        if match := SERIAL_ID.match(hazard_id):
            floors[match[1]] = max(int(match[2]), floors.get(match[1], 0))
    return floors


def read_serials(engine: Engine) -> dict[str, int]:
    table = SQLModel.metadata.tables[HazardSerial.__tablename__]
    with engine.connect() as conn:
        return {prefix: last for prefix, last in conn.execute(select(table.c.prefix, table.c["last"]))}


def raise_serial(engine: Engine, prefix: str, floor: int) -> bool:
    """Lift the prefix's last serial to `floor`, never lowering it (the API may have handed out more since).
    Whether it is now at least `floor`."""
    table = SQLModel.metadata.tables[HazardSerial.__tablename__]
    upsert = dialect_insert(engine, table).values(prefix=prefix, last=floor)
    upsert = upsert.on_conflict_do_update(
        index_elements=[table.c.prefix], set_={"last": upsert.excluded["last"]}, where=table.c["last"] < floor
    )
    with engine.begin() as conn:
        conn.execute(upsert)
        return int(conn.execute(select(table.c["last"]).where(table.c.prefix == prefix)).scalar_one()) >= floor


async def namespace_retention(client: Client) -> timedelta:
    response = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    return response.config.workflow_execution_retention_ttl.ToTimedelta()


# --- comparing -------------------------------------------------------------------------------------------


def _same(expected: Any, actual: Any) -> bool:
    # Enums are stored as their values; datetimes compare as instants whatever their zone.
    if isinstance(expected, Enum):
        expected = expected.value
    return bool(expected == actual)


def differing(expected: dict[str, Any], actual: dict[str, Any], *, skip: Iterable[str] = ()) -> list[str]:
    """Names of the fields whose stored value is not the expected one (names only: values may be personal)."""
    left_out = set(skip)
    return [k for k, v in expected.items() if k not in left_out and not _same(v, actual.get(k))]


def _seqs(seqs: Iterable[int]) -> str:
    return "seq " + ", ".join(str(s) for s in sorted(seqs))


def compare(truth: Truth, rows: Rows) -> list[Finding]:
    """What differs between a workflow and its rows, by kind. Pure: the same inputs give the same findings."""
    state = truth.state
    hazard_id = state.hazard_id
    found: list[Finding] = []

    def add(kind: DriftKind, count: int, detail: str) -> None:
        found.append(Finding(hazard_id=hazard_id, kind=kind, count=count, detail=detail))

    if rows.hazard is None:
        add(DriftKind.MISSING_ROW, 1, f"version {state.version}")
    elif rows.hazard["version"] < state.version:
        add(DriftKind.STALE_ROW, 1, f"version {rows.hazard['version']} < {state.version}")
    elif fields := differing(hazard_row(state), rows.hazard):
        add(DriftKind.CORRUPTED_ROW, 1, "fields: " + ", ".join(fields))

    if truth.events is None:
        # Events not read: every change is one event, numbered from 1, so the rows must be 1..version.
        expected_seqs = set(range(1, state.version + 1))
        corrupted: list[int] = []
    else:
        expected_events = {e.seq: event_row(hazard_id, e) for e in truth.events}
        expected_seqs = set(expected_events)
        corrupted = [
            seq
            for seq in sorted(expected_seqs & rows.events.keys())
            if differing(expected_events[seq], rows.events[seq])
        ]
    if missing := expected_seqs - rows.events.keys():
        add(DriftKind.MISSING_EVENT, len(missing), _seqs(missing))
    if corrupted:
        add(DriftKind.CORRUPTED_EVENT, len(corrupted), _seqs(corrupted))
    if extra := rows.events.keys() - expected_seqs:
        add(DriftKind.EXTRA_EVENT, len(extra), _seqs(extra))

    expected_escalations = {(r.deadline_id, r.rung.value): escalation_row(r, {}) for r in state.escalations}
    missing_escalations = sorted(expected_escalations.keys() - rows.escalations.keys())
    corrupted_escalations = [
        key
        for key in sorted(expected_escalations.keys() & rows.escalations.keys())
        if differing(expected_escalations[key], rows.escalations[key], skip={"letter"})
    ]
    extra_escalations = sorted(rows.escalations.keys() - expected_escalations.keys())
    for kind, keys in (
        (DriftKind.MISSING_ESCALATION, missing_escalations),
        (DriftKind.CORRUPTED_ESCALATION, corrupted_escalations),
        (DriftKind.EXTRA_ESCALATION, extra_escalations),
    ):
        if keys:
            add(kind, len(keys), ", ".join(f"{deadline}/{rung}" for deadline, rung in keys))
    return found


# --- healing ---------------------------------------------------------------------------------------------


def department_when_issued(state: HazardState, events: list[HazardEvent], record: EscalationRecord) -> str:
    """The department in charge when the rung fired: the report's, moved by every transfer before it."""
    department = state.report.department
    for event in sorted(events, key=lambda e: e.seq):
        if (
            event.action is Action.ESCALATE
            and event.payload.get("deadline_id") == record.deadline_id
            and event.payload.get("rung") == record.rung.value
        ):
            return department
        if event.action is Action.TRANSFER:
            department = str(event.payload["to_department"])
    return department


def issued_letter(state: HazardState, events: list[HazardEvent], record: EscalationRecord) -> dict[str, Any]:
    """The letter of a document rung, composed from what the workflow sent the escalation activity.

    Only written where the row is missing: a stored letter is what was issued and is never rewritten. With the
    wording in letters/content.py unchanged since, this is the letter that was issued, word for word.
    """
    if record.doc_number is None:
        return {}
    report = state.report
    input = IssueEscalationInput(
        hazard_id=state.hazard_id,
        title=report.title,
        enterprise_name=report.enterprise.name,
        principal_name=report.enterprise.principal_name,
        street=report.street,
        department=department_when_issued(state, events, record),
        deadline=Deadline(
            id=record.deadline_id,
            kind=record.deadline_kind,
            owner=DEADLINE_OWNERS[record.deadline_kind],
            due_date=china_date(record.due),
            due=record.due,
        ),
        rung=record.rung,
        scheduled_at=record.at,
    )
    letter = compose_letter(
        input,
        issuer=record.issued_by,
        doc_number=record.doc_number,
        copied_to=record.copied_to,
        working_days_late=record.working_days_late,
    )
    return letter.model_dump(mode="json")


def heal(engine: Engine, truth: Truth, rows: Rows, kinds: set[DriftKind], *, rebuild: bool) -> None:
    """Write the workflow's rows where they drifted (everything under `rebuild`), through the projection."""
    state, events = truth.state, truth.events
    assert events is not None, "healing needs the workflow's events"
    if rebuild or kinds & PROJECTED:
        seen = rows.hazard["version"] if rows.hazard is not None else None
        write_projection(engine, state, events, repair=Repair(seen_version=seen))
    if rebuild or kinds & ESCALATIONS:
        repair_escalations(engine, [escalation_row(r, issued_letter(state, events, r)) for r in state.escalations])


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Tally:
    found: Counter[DriftKind] = field(default_factory=Counter)
    healed: Counter[DriftKind] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rewritten: int = 0

    def record(self, finding: Finding, *, attempted: bool = False) -> None:
        """`attempted`: a heal was written for this finding; if it is still there, that heal failed."""
        self.found[finding.kind] += finding.count
        READ_MODEL_DRIFT.labels(kind=finding.kind.value, outcome="found").inc(finding.count)
        if finding.healed:
            self.healed[finding.kind] += finding.count
            READ_MODEL_DRIFT.labels(kind=finding.kind.value, outcome="healed").inc(finding.count)
        elif attempted:
            READ_MODEL_DRIFT.labels(kind=finding.kind.value, outcome="failed").inc(finding.count)
        # Counts stay complete; the list and the log stop at MAX_FINDINGS (a lost read model drifts everywhere).
        if len(self.findings) >= MAX_FINDINGS:
            return
        self.findings.append(finding)
        log.warning(
            "read-model drift",
            hazard_id=finding.hazard_id,
            kind=finding.kind.value,
            count=finding.count,
            detail=finding.detail,
            healed=finding.healed,
        )

    def error(self, hazard_id: str, err: Exception) -> None:
        # The exception's type and Temporal's or the database's message: no hazard content.
        if len(self.errors) < MAX_FINDINGS:
            self.errors.append(f"{hazard_id}: {type(err).__name__}: {err}")
        log.error("hazard not reconciled", hazard_id=hazard_id, error=type(err).__name__)

    @property
    def drift(self) -> int:
        return sum(n for kind, n in self.found.items() if kind in HEALABLE)


async def _each(items: list[str], concurrency: int, work: Callable[[str], Awaitable[None]]) -> None:
    """`work` on every item, at most `concurrency` at a time."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(items)))))


class Reconciler:
    def __init__(
        self, client: Client, engine: Engine, input: ReconcileInput, progress: ProgressFn | None = None
    ) -> None:
        self._client = client
        self._engine = engine
        self._input = input
        self._progress = progress
        self._tally = Tally()
        # hazard id -> whether its workflow completed (its result can stand in for a replay)
        self._workflows: dict[str, bool] = {}

    async def run(self) -> ReconcileReport:
        started = datetime.now(UTC)
        input = self._input
        listed = await hazard_workflows(self._client)
        await require_workers(self._client, listed.task_queues)
        self._workflows = listed.hazards
        in_read_model = await asyncio.to_thread(read_model_ids, self._engine)
        # Listing lags a workflow's start a little: ask for each unlisted hazard by its id before judging.
        gone: list[str] = []

        async def look_up(hazard_id: str) -> None:
            try:
                completed = await described(self._client, hazard_id)
            except HAZARD_ERRORS as err:
                self._tally.error(hazard_id, err)
                return
            if completed is None:
                gone.append(hazard_id)
            else:
                self._workflows[hazard_id] = completed

        await _each(sorted(in_read_model - self._workflows.keys()), input.concurrency, look_up)
        if gone:
            await self._judge_rows_without_workflow(sorted(gone))
        try:
            await asyncio.to_thread(self._check_serials, [*self._workflows, *in_read_model])
        except SQLAlchemyError as err:
            self._tally.error("hazard serials", err)

        hazard_ids = sorted(self._workflows)
        suspects = hazard_ids if input.rebuild else await self._first_pass(hazard_ids)
        if suspects and not input.rebuild:
            await asyncio.sleep(input.settle_seconds)
        await self._second_pass(suspects)

        tally = self._tally
        findings = sorted(tally.findings, key=lambda f: (f.hazard_id, f.kind.value))
        return ReconcileReport(
            started_at=started,
            finished_at=datetime.now(UTC),
            dry_run=input.dry_run,
            rebuild=input.rebuild,
            workflows=len(self._workflows),
            rows=len(in_read_model),
            found=dict(tally.found),
            healed=dict(tally.healed),
            rewritten=tally.rewritten,
            findings=findings,
            errors=tally.errors,
        )

    def _report_progress(self, phase: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(Progress(phase=phase, done=done, total=total, drift=self._tally.drift))

    async def _first_pass(self, hazard_ids: list[str]) -> list[str]:
        """Every hazard checked once; returns those that look drifted."""
        suspects: list[str] = []
        done = 0

        async def check(hazard_id: str) -> None:
            nonlocal done
            completed = self._workflows[hazard_id]
            try:
                truth = await read_truth(self._client, hazard_id, completed=completed, with_events=self._input.deep)
                rows = await asyncio.to_thread(read_rows, self._engine, hazard_id)
            except HAZARD_ERRORS as err:
                self._tally.error(hazard_id, err)
            else:
                if findings := compare(truth, rows):
                    suspects.append(hazard_id)
                    log.debug("suspected drift", hazard_id=hazard_id, kinds=[f.kind.value for f in findings])
            done += 1
            self._report_progress("check", done, len(hazard_ids))

        await _each(hazard_ids, self._input.concurrency, check)
        return sorted(suspects)

    async def _second_pass(self, hazard_ids: list[str]) -> None:
        """Each suspect read again (events included): what still drifts is recorded and, unless a dry run,
        healed and read back."""
        input = self._input
        done = 0

        async def confirm(hazard_id: str) -> None:
            nonlocal done
            try:
                truth = await read_truth(
                    self._client, hazard_id, completed=self._workflows[hazard_id], with_events=True
                )
                rows = await asyncio.to_thread(read_rows, self._engine, hazard_id)
                findings = compare(truth, rows)
                kinds = {f.kind for f in findings}
                attempted = not input.dry_run and (input.rebuild or bool(kinds & HEALABLE))
                if attempted:
                    await asyncio.to_thread(heal, self._engine, truth, rows, kinds, rebuild=input.rebuild)
                    after = await asyncio.to_thread(read_rows, self._engine, hazard_id)
                    left = {f.kind for f in compare(truth, after)}
                    for finding in findings:
                        finding.healed = finding.kind in HEALABLE and finding.kind not in left
                    if input.rebuild:
                        self._tally.rewritten += 1
            except HAZARD_ERRORS as err:
                self._tally.error(hazard_id, err)
            else:
                for finding in findings:
                    self._tally.record(finding, attempted=attempted and finding.kind in HEALABLE)
            done += 1
            self._report_progress("heal", done, len(hazard_ids))

        await _each(hazard_ids, input.concurrency, confirm)

    def _check_serials(self, hazard_ids: list[str]) -> None:
        writing = not self._input.dry_run
        last = read_serials(self._engine)
        for prefix, floor in sorted(serial_floors(hazard_ids).items()):
            if last.get(prefix, 0) >= floor:
                continue
            finding = Finding(
                hazard_id=prefix,
                kind=DriftKind.SERIAL_BEHIND,
                detail=f"last serial {last.get(prefix, 0)}, ids in use up to {floor}",
                healed=writing and raise_serial(self._engine, prefix, floor),
            )
            self._tally.record(finding, attempted=writing)

    async def _judge_rows_without_workflow(self, hazard_ids: list[str]) -> None:
        retention = await namespace_retention(self._client)
        expired_before = datetime.now(UTC) - retention
        delete = self._input.delete_orphans and not self._input.dry_run

        def judge(hazard_id: str) -> None:
            rows = read_rows(self._engine, hazard_id)
            hazard = rows.hazard
            if hazard is not None and hazard["stage"] in TERMINAL and hazard["updated_at"] < expired_before:
                detail = f"closed {hazard['updated_at']:%Y-%m-%d}, retention {retention.days} days"
                self._tally.record(Finding(hazard_id=hazard_id, kind=DriftKind.EXPIRED, detail=detail))
                return
            if hazard is not None or rows.events:
                detail = f"{'a hazard row' if hazard is not None else 'no hazard row'}, {len(rows.events)} events"
                healed = delete and forget_hazard(self._engine, hazard_id) > 0
                self._tally.record(
                    Finding(hazard_id=hazard_id, kind=DriftKind.ORPHAN, detail=detail, healed=healed), attempted=delete
                )
            if rows.escalations:
                keys = ", ".join(f"{deadline}/{rung}" for deadline, rung in sorted(rows.escalations))
                self._tally.record(
                    Finding(
                        hazard_id=hazard_id,
                        kind=DriftKind.EXTRA_ESCALATION,
                        count=len(rows.escalations),
                        detail=keys,
                    )
                )

        for hazard_id in hazard_ids:
            try:
                await asyncio.to_thread(judge, hazard_id)
            except SQLAlchemyError as err:
                self._tally.error(hazard_id, err)


async def reconcile(
    client: Client, engine: Engine, input: ReconcileInput, *, progress: ProgressFn | None = None
) -> ReconcileReport:
    """Compare every hazard workflow with its read-model rows and heal what drifted (see the module's doc)."""
    return await Reconciler(client, engine, input, progress).run()


def summary(report: ReconcileReport) -> list[str]:
    """The report as lines for an operator (cli.py reconcile, rebuild-read-model)."""
    what = "重建 / rebuilt" if report.rebuild else "核对 / reconciled"
    lines = [
        f"读模型{what}: {report.workflows} hazard workflows in Temporal, {report.rows} hazards in the read model"
        + (" (dry run: nothing written)" if report.dry_run else "")
    ]
    if report.rebuild:
        lines.append(f"  rewritten from their workflow: {report.rewritten}")
    for kind in DriftKind:
        if found := report.found.get(kind, 0):
            outcome = f"healed {report.healed.get(kind, 0)}" if kind in HEALABLE or kind is DriftKind.ORPHAN else "kept"
            lines.append(f"  {kind.value}: found {found}, {outcome}")
    lines.append(f"偏差 / drift: found {report.drift}, left unhealed {report.unhealed}")
    for finding in report.findings:
        if finding.healed or finding.kind not in HEALABLE:
            state = "healed" if finding.healed else "kept"
        else:
            state = "to heal" if report.dry_run else "NOT healed"
        lines.append(f"  {finding.hazard_id} {finding.kind.value} x{finding.count} [{state}] {finding.detail}")
    if len(report.findings) == MAX_FINDINGS:
        lines.append(f"  (the first {MAX_FINDINGS} findings; the counts above are complete)")
    for error in report.errors:
        lines.append(f"  ERROR {error}")
    return lines
