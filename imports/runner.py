"""One import from start to end: read and validate every row, then start one HazardWorkflow per new hazard.

Nothing is started unless every row is valid, or the caller asked for the valid rows only. Hazards are
opened a bounded number at a time (CONCURRENCY): each start waits until its workflow has opened (policy
loaded, first deadline armed, read model written), so the import goes at the pace the workers keep and
never buries them under thousands of first workflow tasks at once (a burst of 150 made those tasks exceed
their 10 s timeout and retry, here). Each row's workflow id comes from its key, and a start finding the
workflow already there (running or finished) counts the row as skipped: importing a file twice, or again
after an interruption, creates nothing twice.
"""

import asyncio
import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import Engine, case
from sqlmodel import Session, SQLModel, col, select
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from contracts.clock import CHINA_TZ
from contracts.deadlines import CountedDeadline, Policy
from contracts.hazard import TASK_QUEUE, WORKFLOW_VERSION, Actor, ReportHazardInput, workflow_id
from imports import jobs
from imports.district import DISTRICTS
from imports.jobs import Progress
from imports.parse import LedgerUnreadable, Problem, read_ledger
from imports.validate import Context, ImportItem, Known, validate
from infra.deadline_counter import CalendarReader, DeadlineCounter
from readmodel import admin_queries, queries
from readmodel.models import Hazard, HazardSerial, ReportRequest
from readmodel.projection import dialect_insert
from workcalendar import WorkCalendar
from workflows import lifecycle
from workflows.hazard import HazardWorkflow

log = structlog.get_logger("imports")

# Hazards being opened at once: enough to keep a worker's local-activity slots busy, few enough that no
# first workflow task waits long for one.
CONCURRENCY = 20
# How old the calendar a row's first deadline is counted on may be. A calendar year saved during an import signals
# the hazards the read model holds as open to count again (api/routers/admin.py); a row counted on the calendar of
# before and projected after that list was read would miss it, so the window is kept to about a second.
CALENDAR_SECONDS = 1.0
# How often a running import writes its progress (and so shows it is alive: jobs.STALE_AFTER).
FLUSH_SECONDS = 0.5
# Keys looked up per query.
LOOKUP_BATCH = 500
# 隐患编号 that the ledger gives are taken over as they are; the request ids of keys without one.
REQUEST_PREFIX = "import:"

ProgressListener = Callable[[Progress], None]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def _batches(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), LOOKUP_BATCH):
        yield values[start : start + LOOKUP_BATCH]


def counted_first_deadline(
    input: ReportHazardInput, counter: DeadlineCounter, calendar: WorkCalendar
) -> CountedDeadline | None:
    """An imported hazard's first deadline, counted as its workflow counts it (lifecycle.imported_schedule), which
    then arms it without a local activity of its own. None where its stage has none, or where the workflow's own
    count is to refuse the row."""
    if input.imported is None or input.policy is None:
        return None
    state = lifecycle.open_imported(
        input.hazard_id, input.report, input.actor, input.imported, datetime.now(CHINA_TZ)
    ).state
    state.rules = input.policy.rules
    schedule = lifecycle.imported_schedule(state)
    if schedule is None:
        return None
    try:
        deadline = counter.count(schedule, calendar)
    except ValueError:
        return None
    return CountedDeadline(schedule=schedule, deadline=deadline)


class ImportRunner:
    """Runs imports against one read model and one Temporal namespace; shared by the API and the CLI."""

    def __init__(
        self,
        engine: Engine,
        client: Client,
        *,
        district_code: str,
        listing_issuer: str,
        task_queue: str = TASK_QUEUE,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._engine = engine
        self._client = client
        self._district_code = district_code
        self._listing_issuer = listing_issuer
        self._task_queue = task_queue
        self._concurrency = concurrency
        self._calendar = CalendarReader(engine)
        self._counter = DeadlineCounter()

    async def run(
        self,
        job_id: str,
        path: Path,
        *,
        actor: Actor,
        file_sha256: str,
        only_valid: bool,
        listener: ProgressListener | None = None,
    ) -> Progress:
        """Run the job to its end and return its final progress; the job row follows it all the way."""
        progress = Progress()
        errors_saved = 0

        def flush() -> None:
            nonlocal errors_saved
            errors = len(progress.errors)
            jobs.save_progress(
                self._engine, job_id, progress, datetime.now(CHINA_TZ), with_errors=errors != errors_saved
            )
            errors_saved = errors
            if listener is not None:
                listener(progress)

        async def keep_flushing() -> None:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                await asyncio.to_thread(flush)

        flusher = asyncio.create_task(keep_flushing())
        try:
            await self._run(path, progress, actor=actor, file_sha256=file_sha256, only_valid=only_valid)
        except Exception:
            log.exception("import failed", job_id=job_id)
            progress.status = "failed"
            progress.errors.append(Problem(0, "", "导入失败：服务内部错误，请联系运维人员后重新导入"))
        finally:
            flusher.cancel()
            await asyncio.to_thread(flush)
        log.info(
            "import finished",
            job_id=job_id,
            status=progress.status,
            total_rows=progress.total_rows,
            imported=progress.imported,
            skipped=progress.skipped,
            problems=len(progress.errors),
        )
        return progress

    async def _run(self, path: Path, progress: Progress, *, actor: Actor, file_sha256: str, only_valid: bool) -> None:
        try:
            header, rows = await asyncio.to_thread(read_ledger, path)
        except LedgerUnreadable as err:
            progress.errors = err.problems
            progress.status = "invalid"
            return
        progress.total_rows = len(rows)
        if not rows:
            progress.errors = [Problem(header.row, "", "表头下没有数据行")]
            progress.status = "invalid"
            return
        now = datetime.now(CHINA_TZ)
        context = Context(
            actor=actor,
            now=now,
            file_sha256=file_sha256,
            streets=await asyncio.to_thread(self._streets),
            listing_issuer=self._listing_issuer,
        )

        def checked(done: int, valid: int) -> None:
            progress.checked_rows, progress.valid_rows = done, valid

        validation = await asyncio.to_thread(validate, rows, header, context, self._lookup, checked)
        progress.valid_rows = validation.valid_rows
        progress.errors = validation.problems
        if validation.problems and not only_valid:
            progress.status = "invalid"
            return
        progress.status = "importing"
        progress.skipped = len(validation.known_rows)
        # One policy for the whole ledger: the one in force when its import began.
        policy = await asyncio.to_thread(self._policy)
        await self._start_all(validation.items, actor, now, policy, progress)
        progress.status = "failed" if progress.failed else "done"

    async def _start_all(
        self, items: list[ImportItem], actor: Actor, now: datetime, policy: Policy, progress: Progress
    ) -> None:
        hazard_ids = await asyncio.to_thread(self._number, items, now)
        pending = iter(zip(items, hazard_ids, strict=True))

        async def starter() -> None:
            for item, hazard_id in pending:
                await self._start(item, hazard_id, actor, policy, progress)

        await asyncio.gather(*(starter() for _ in range(min(self._concurrency, len(items)))))

    async def _start(self, item: ImportItem, hazard_id: str, actor: Actor, policy: Policy, progress: Progress) -> None:
        input = ReportHazardInput(
            hazard_id=hazard_id,
            actor=actor,
            report=item.report,
            imported=item.imported,
            policy=policy.for_hazard(item.report.industry),
            version=WORKFLOW_VERSION,
        )
        input.counted_deadline = counted_first_deadline(input, self._counter, await self._current_calendar())
        opening = WithStartWorkflowOperation(
            HazardWorkflow.run,
            input,
            id=workflow_id(hazard_id),
            search_attributes=input.search_attributes(),
            task_queue=self._task_queue,
            # The key's workflow, running or finished, is the same hazard: never a second one.
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        try:
            # Started with its `opened` update, which rides on the first workflow task and answers once the
            # hazard is open: one round trip, and the pace of the workers.
            await self._client.execute_update_with_start_workflow(
                HazardWorkflow.opened, start_workflow_operation=opening
            )
        except WorkflowAlreadyStartedError:
            progress.skipped += 1
        except (RPCError, WorkflowUpdateFailedError) as err:
            log.error("import start failed", hazard_id=hazard_id, row=item.row, error=str(err))
            progress.failed += 1
            progress.errors.append(Problem(item.row, "", "建档失败，请稍后重新导入该文件（已建档的隐患会被跳过）"))
        else:
            progress.imported += 1

    async def _current_calendar(self) -> WorkCalendar:
        calendar = self._calendar.read_within(CALENDAR_SECONDS)
        if calendar is None:
            calendar = await asyncio.to_thread(self._calendar.read)
        return calendar

    # --- the read model ------------------------------------------------------------------------------------

    def _policy(self) -> Policy:
        with Session(self._engine) as session:
            return admin_queries.current_policy(session=session)

    def _streets(self) -> frozenset[str] | None:
        district = DISTRICTS.get(self._district_code)
        if district is not None:
            return frozenset(district.streets)
        with Session(self._engine) as session:
            known = set(session.exec(select(Hazard.street).distinct()).all())
        return frozenset(known) or None

    def _lookup(self, keys: Collection[str]) -> Mapping[str, Known]:
        """Which keys name hazards already in this system (in its read model)."""
        by_hazard: dict[str, str] = {key.removeprefix("ledger:"): key for key in keys if key.startswith("ledger:")}
        requests = [REQUEST_PREFIX + key for key in keys if key.startswith("hash:")]
        found: dict[str, Known] = {}
        with Session(self._engine) as session:
            for batch in _batches(requests):
                for request_id, hazard_id in session.exec(
                    select(ReportRequest.request_id, ReportRequest.hazard_id).where(
                        col(ReportRequest.request_id).in_(batch)
                    )
                ):
                    by_hazard[hazard_id] = request_id.removeprefix(REQUEST_PREFIX)
            for batch in _batches(list(by_hazard)):
                for hazard_id, credit_code in session.exec(
                    select(Hazard.hazard_id, Hazard.enterprise_credit_code).where(col(Hazard.hazard_id).in_(batch))
                ):
                    found[by_hazard[hazard_id]] = Known(hazard_id=hazard_id, credit_code=credit_code)
        return found

    def _number(self, items: list[ImportItem], now: datetime) -> list[str]:
        """Each item's hazard id, in order, before any is started: the ledger's own 隐患编号, or one allocated for
        its key (as a report's Idempotency-Key is: once, the same on every later import of the row), a batch of
        rows per transaction. An id numbered by an import that stopped before starting its hazard is the id the
        next import of the file starts it under."""
        self._reserve_serials([item.hazard_id for item in items if item.hazard_id is not None])
        keys = [REQUEST_PREFIX + item.key for item in items if item.hazard_id is None]
        allocated: dict[str, str] = {}
        with Session(self._engine) as session:
            for batch in _batches(keys):
                allocated |= queries.allocate_hazard_ids(
                    session=session, district=self._district_code, now=now, request_ids=batch
                )
        return [item.hazard_id or allocated[REQUEST_PREFIX + item.key] for item in items]

    def _reserve_serials(self, hazard_ids: list[str]) -> None:
        """A ledger 隐患编号 in this system's own form (120104-2026-00042) takes its serial: the next report
        must not be numbered into it. Reserved before any id is allocated, so no allocation takes one of them."""
        highest: dict[str, int] = {}
        for hazard_id in hazard_ids:
            match = re.fullmatch(rf"{re.escape(self._district_code)}-(\d{{4}})-(\d{{5}})", hazard_id)
            if match is not None:
                prefix = f"{self._district_code}-{match[1]}"
                highest[prefix] = max(highest.get(prefix, 0), int(match[2]))
        table = SQLModel.metadata.tables[HazardSerial.__tablename__]
        with self._engine.begin() as conn:
            for prefix, serial in highest.items():
                insert = dialect_insert(self._engine, table).values(prefix=prefix, last=serial)
                insert = insert.on_conflict_do_update(
                    index_elements=["prefix"],
                    set_={"last": case((table.c.last < serial, serial), else_=table.c.last)},
                )
                conn.execute(insert)
