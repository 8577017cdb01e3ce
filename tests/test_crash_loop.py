"""Crashes (issue 8, item 1): hazards walk their whole lifecycle while the worker is SIGKILLed again and again at
random moments and the Temporal dev server is SIGKILLed and started again on the same database file.

Afterwards no hazard is lost, every one ends where its actions say, and the read model holds each hazard's events
exactly once and in order. The worker logs each redelivered projection it absorbed ("projection redelivered"): the
run must have absorbed some, or the crashes never hit the window the idempotency exists for. The negative control
runs the same loop with a worker whose projection is a plain insert into a table without the (hazard, seq) key,
and the same check must then find doubled events. Besides the kills from outside, the worker (tests/crash_worker.py)
SIGKILLs itself right after every few projection writes, before the workflow task asking for them completes: the
one window where a redelivery can happen, which random kills hit only now and then.

Every fifth hazard is late (tests/late_clock.py: its plan was due 60 days before it was reported), so its whole plan
ladder, 提醒, 函告, 约谈 and 挂牌督办, climbs through the real escalation activity while the crashes go on; it then
publishes its listing, rectifies, is delisted, closed and publishes the delisting. Afterwards every late hazard
holds each rung once, its read-model rows carry the 文号 the workflow holds, each rung was announced once, and
every series of 文号 runs from 1 without a gap: a letter issued twice would have used a second number.
"""

import asyncio
import json
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from activities.escalation import outbox_key
from contracts.deadlines import ISSUE_ESCALATION_ACTIVITY, Rung
from contracts.enums import Action, PublicationOf, ReviewDecision, Stage
from contracts.hazard import TASK_QUEUE, ActionResult, HazardEvent, HazardState, ReportHazardInput, workflow_id
from infra.hazard_events import recorded_events
from infra.queries import answered
from infra.temporal import ensure_namespace
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from readmodel.models import EscalationRow, Hazard, HazardEventRow, OutboxRow
from readmodel.reconcile import Truth, compare, read_rows
from tests.attempts import attempts
from tests.figures import record
from tests.keys import CONVERTER, TEST_PAYLOAD_KEY
from tests.late_clock import LATE
from tests.processes import DevServerProcess, WorkerProcess, service_env
from tests.scenarios import ENTERPRISE, PATHS, STANDARD, Step, delist, publish_today, report, review
from tests.scenarios import Path as LifecyclePath
from workflows.hazard import HazardWorkflow

T = TypeVar("T")

SEED = 20261206
NAMESPACE = "xiaohao-crash-loop"
# A dead worker's workflow tasks pass to the next one when their start-to-close timeout ends; the default 10 s
# would leave a 100-kill run mostly waiting. 3 s is still far above a task's own run time here.
TASK_TIMEOUT = timedelta(seconds=3)
# How long one call may hang on a dead server before it is sent again (with the same ids).
CALL_TIMEOUT = 15.0
# Every hazard finished within this after the last crash, or the run failed.
SETTLE_SECONDS = 180.0
# One hazard in LATE_EVERY is late: its plan ladder climbs amid the crashes.
LATE_EVERY = 5
LATE_PATH = LifecyclePath(
    ENTERPRISE,
    report,
    [
        publish_today(PublicationOf.LISTING),
        *STANDARD,
        delist(),
        review(ReviewDecision.APPROVE),
        publish_today(PublicationOf.DELISTING),
    ],
    Stage.CLOSED,
)
LONGEST_PATH = max(len(path.steps) for path in PATHS.values())
# The rungs of the plan's ladder that are escalations (the overdue mark only colours).
LADDER = [Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING]
# 文号 as activities/escalation.doc_number writes them: the serial before 号.
SERIAL = re.compile(r"^(.*〕)(\d+)号$")


@dataclass(frozen=True)
class Size:
    hazards: int
    worker_kills: int
    server_restarts: int
    # Seconds between crashes: long enough for work to start between them, short enough to hit it mid-flight.
    gap: tuple[float, float]
    # Seconds a hazard waits before each action, so that lives overlap the whole crash loop.
    pause: tuple[float, float]
    # Each worker process dies right after this many projection writes (tests/crash_worker.py).
    die_after_writes: int
    # And right after this many escalations (0: never).
    die_after_escalations: int

    @property
    def scale(self) -> str:
        return f"{self.hazards} hazards, {self.worker_kills} worker kills, {self.server_restarts} server restarts"


QUICK = Size(
    hazards=6,
    worker_kills=2,
    server_restarts=1,
    gap=(0.5, 2.0),
    pause=(0.0, 4.0),
    die_after_writes=8,
    die_after_escalations=2,
)
FULL = Size(
    hazards=50,
    worker_kills=100,
    server_restarts=5,
    gap=(0.5, 3.0),
    pause=(0.0, 200.0),
    die_after_writes=25,
    die_after_escalations=3,
)
CONTROL = Size(
    hazards=10,
    worker_kills=8,
    server_restarts=0,
    gap=(0.3, 1.5),
    pause=(0.0, 4.0),
    die_after_writes=6,
    die_after_escalations=0,
)


@dataclass
class Stack:
    server: DevServerProcess
    worker: WorkerProcess
    database_url: str
    client: Client | None = None
    in_flight: int = 0
    climbing: int = 0  # late hazards whose ladder is climbing
    retries: Counter[str] = field(default_factory=Counter)

    async def connect(self) -> Client:
        if self.client is None:
            self.client = await Client.connect(self.server.address, namespace=NAMESPACE, data_converter=CONVERTER)
        return self.client

    async def stop(self) -> None:
        await self.worker.kill()
        await self.server.kill()


def stack_for(tmp_path: Path, size: "Size", *, plain_insert: bool = False) -> Stack:
    server = DevServerProcess(tmp_path / "temporal.db", NAMESPACE)
    url = f"sqlite:///{tmp_path / 'readmodel.db'}"
    env = service_env(
        temporal_address=server.address,
        namespace=NAMESPACE,
        database_url=url,
        data_dir=tmp_path,
        payload_key=TEST_PAYLOAD_KEY,
        test_die_after_writes=str(size.die_after_writes),
        test_die_after_escalations=str(size.die_after_escalations),
    )
    args = ["-m", "tests.crash_worker", *(["--plain-insert"] if plain_insert else [])]
    return Stack(server=server, worker=WorkerProcess(env, args), database_url=url)


async def persistently(
    stack: Stack, what: str, call: Callable[[Client], Awaitable[T]], until: float, *, acts: bool = True
) -> T:
    """`call` until it answers, through dead workers and a dead server. Every retry carries the same workflow and
    update ids, so a first attempt that did land is found, not repeated. `acts`: a start or an action (what a
    crash should interrupt), not a wait for the result."""
    stack.in_flight += acts
    try:
        while True:
            try:
                return await asyncio.wait_for(call(await stack.connect()), CALL_TIMEOUT)
            except WorkflowUpdateFailedError:
                raise
            # An update's wait cut short (by our timeout, or a server going away) says so with its own error.
            except (RPCError, TimeoutError, RuntimeError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
                if time.monotonic() > until:
                    raise AssertionError(f"{what} still failing at the deadline: {err!r}") from err
                stack.retries[type(err).__name__] += 1
                await asyncio.sleep(0.5)
    finally:
        stack.in_flight -= acts


def climbed(hazard_id: str) -> Callable[[Client], Awaitable[HazardState]]:
    """Asks until the late hazard is listed (挂牌督办, the last rung of its plan's ladder)."""

    async def ask(client: Client) -> HazardState:
        handle = client.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id))
        while True:
            state = await answered(lambda: handle.query(HazardWorkflow.get_state))
            if state.listing is not None:
                return state
            await asyncio.sleep(0.2)

    return ask


async def live(stack: Stack, hazard_id: str, path: LifecyclePath, pause: random.Random, size: Size) -> HazardState:
    """One hazard's whole life, pausing before each action so that lives overlap the crashes. A late hazard also
    pauses before its report, so that ladders climb all through the loop, not all at its start."""
    until = time.monotonic() + 3600
    late = hazard_id.startswith(LATE)
    # A life no longer, on average, than the longest lifecycle path's: the late path's 8 pauses are shortened.
    scale = min(1.0, LONGEST_PATH / (len(path.steps) + late))

    async def wait() -> None:
        await asyncio.sleep(pause.uniform(*size.pause) * scale)

    if late:
        await wait()

    async def start(client: Client) -> None:
        await client.start_workflow(
            HazardWorkflow.run,
            ReportHazardInput(hazard_id=hazard_id, actor=path.reporter, report=path.report()),
            id=workflow_id(hazard_id),
            task_queue=TASK_QUEUE,
            task_timeout=TASK_TIMEOUT,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    await persistently(stack, f"start {hazard_id}", start, until)
    # The events before the first action: the report, and a late hazard's escalations.
    before = 1
    if late:
        stack.climbing += 1
        try:
            before = (await persistently(stack, f"{hazard_id} ladder", climbed(hazard_id), until)).version
        finally:
            stack.climbing -= 1
    for number, step in enumerate(path.steps):
        await wait()

        async def act(client: Client, step: Step = step, number: int = number) -> ActionResult:
            handle = client.get_workflow_handle(workflow_id(hazard_id))
            result: ActionResult = await handle.execute_update(
                step.update, step.input(), id=f"{hazard_id}-{number}", result_type=ActionResult
            )
            return result

        result = await persistently(stack, f"{hazard_id} action {number + 1}", act, until)
        seq = before + number + 1
        assert result.event.seq == seq, f"{hazard_id} action {number + 1} made event {result.event.seq}, not {seq}"

    async def finish(client: Client) -> HazardState:
        handle = client.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id))
        return await handle.result()

    return await persistently(stack, f"{hazard_id} result", finish, until, acts=False)


@dataclass
class Crashes:
    worker_kills: int = 0
    kills_with_calls_in_flight: int = 0
    kills_while_hazards_lived: int = 0
    kills_while_ladders_climbed: int = 0
    deaths_in_write_window: int = 0
    server_restarts: int = 0


async def crash_loop(stack: Stack, size: Size, rng: random.Random, lives: list["asyncio.Task[HazardState]"]) -> Crashes:
    """SIGKILL the worker size.worker_kills times; at evenly spaced kills, the server too, then start both again."""
    crashes = Crashes()
    restart_at = {round((i + 1) * size.worker_kills / (size.server_restarts + 1)) for i in range(size.server_restarts)}
    for number in range(1, size.worker_kills + 1):
        await asyncio.sleep(rng.uniform(*size.gap))
        # Then, for a bounded while, until a start or an action is out: a kill should land on work.
        for _ in range(250):
            if stack.in_flight > 0 or all(life.done() for life in lives):
                break
            await asyncio.sleep(0.02)
        crashes.kills_with_calls_in_flight += stack.in_flight > 0
        crashes.kills_while_hazards_lived += not all(life.done() for life in lives)
        crashes.kills_while_ladders_climbed += stack.climbing > 0
        crashes.deaths_in_write_window += not stack.worker.running
        await stack.worker.kill()
        crashes.worker_kills += 1
        if number in restart_at:
            await stack.server.kill()
            crashes.server_restarts += 1
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            await stack.server.start()
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        await stack.worker.start()
    return crashes


async def keep_alive(worker: WorkerProcess) -> None:
    """After the loop: a worker that died in the write window is started again, until the hazards are done."""
    while True:
        if not worker.running:
            await worker.kill()
            await worker.start()
        await asyncio.sleep(0.5)


def log_entries(worker: WorkerProcess) -> Iterator[dict[str, Any]]:
    """The worker's JSON log entries, across every process it was."""
    for line in worker.log:
        _, _, body = line.partition("] ")
        if body.startswith("{"):
            yield json.loads(body)


def redeliveries(worker: WorkerProcess) -> tuple[int, int]:
    """Summed over the projection's redeliveries: the events already present (absorbed by the idempotent write, not
    doubled), and of those the ones rewritten with the later attempt's timestamps."""
    absorbed = replaced = 0
    for entry in log_entries(worker):
        if entry["event"] == "projection redelivered":
            absorbed += int(entry["events_already_present"])
            replaced += int(entry["events_replaced"])
    return absorbed, replaced


Finals = dict[str, tuple[HazardState, list[HazardEvent]]]


def read_model_problems(engine: Engine, finals: Finals) -> list[str]:
    """Everything the read model holds that the workflows do not say: lost hazards, lost, doubled or reordered
    events, a row, event or escalation whose content is not the workflow's (the reconciler's own comparison,
    every field). Empty when it is exactly right."""
    problems: list[str] = []
    with Session(engine) as session:
        reported = set(session.exec(select(Hazard.hazard_id)).all())
        written: dict[str, list[int]] = {}
        for hazard_id, seq in session.exec(
            select(HazardEventRow.hazard_id, HazardEventRow.seq).order_by(col(HazardEventRow.id))
        ).all():
            written.setdefault(hazard_id, []).append(seq)
    for hazard_id, (final, events) in finals.items():
        seqs = written.get(hazard_id, [])
        if doubled := sum(n - 1 for n in Counter(seqs).values()):
            problems.append(f"{hazard_id}: {doubled} events doubled")
        elif seqs != sorted(seqs):
            problems.append(f"{hazard_id}: events written out of order {seqs}")
        for finding in compare(Truth(final, events), read_rows(engine, hazard_id)):
            problems.append(f"{hazard_id}: {finding.kind.value} ({finding.detail})")
    if missing := reported - set(finals):
        problems.append(f"rows for hazards nobody reported: {sorted(missing)}")
    return problems


def escalation_problems(engine: Engine, finals: Finals) -> list[str]:
    """What read_model_problems cannot see of exactly-once escalations: a late hazard without each rung of its
    ladder once, a rung announced other than once, a 文号 series with a gap (a number taken by an attempt that did
    not count) or a number twice. Empty when it is exactly right."""
    problems: list[str] = []
    with Session(engine) as session:
        numbers = session.exec(select(EscalationRow.doc_number)).all()
        announced = Counter(session.exec(select(OutboxRow.key)).all())
    for hazard_id, (final, _) in finals.items():
        fired = [e.rung for e in final.escalations]
        if hazard_id.startswith(LATE) and fired != LADDER:
            problems.append(f"{hazard_id}: rungs {[r.value for r in fired]}, not the plan's ladder")
        for e in final.escalations:
            key = outbox_key(hazard_id, e.deadline_id, e.rung)
            if announced[key] != 1:
                problems.append(f"{key} announced {announced[key]} times")
    serials: dict[str, list[int]] = {}
    for number in numbers:
        if number is not None and (match := SERIAL.match(number)):
            serials.setdefault(match[1], []).append(int(match[2]))
    for series, serial in serials.items():
        if sorted(serial) != list(range(1, len(serial) + 1)):
            problems.append(f"{series}: numbers {sorted(serial)}")
    return problems


async def escalations_attempted_again(client: Client, hazard_ids: Iterable[str]) -> int:
    """Escalations whose activity ran more than once (its attempt, as the history recorded it): a worker died
    during it, most often right after issuing it (tests/crash_worker.py), and the next attempt found it issued."""
    again = 0
    for hazard_id in hazard_ids:
        history = await client.get_workflow_handle(workflow_id(hazard_id)).fetch_history()
        again += sum(1 for kind, attempt in attempts(history) if kind == ISSUE_ESCALATION_ACTIVITY and attempt > 1)
    return again


@dataclass
class Outcome:
    crashes: Crashes
    finals: Finals
    paths: dict[str, LifecyclePath]
    problems: list[str]
    escalation_problems: list[str]
    absorbed: int
    replaced: int
    escalations_again: int
    retries: int
    seconds: float


async def run_loop(stack: Stack, size: Size) -> Outcome:
    rng = random.Random(SEED)
    names = sorted(PATHS)
    late = {n for n in range(size.hazards) if n % LATE_EVERY == LATE_EVERY - 1}
    # The others take every lifecycle path in turn.
    regular = iter(PATHS[names[i % len(names)]] for i in range(size.hazards))
    paths = {
        f"{LATE}CRASH-{n:03d}" if n in late else f"CRASH-{n:03d}": LATE_PATH if n in late else next(regular)
        for n in range(size.hazards)
    }
    began = time.monotonic()
    await stack.server.start()
    try:
        # start-dev made the namespace bare: our retention and search attributes, as `make run` does.
        await ensure_namespace(await stack.connect(), NAMESPACE)
        await stack.worker.start()
        lives = [
            asyncio.create_task(live(stack, hazard_id, path, random.Random(f"{SEED}-{hazard_id}"), size))
            for hazard_id, path in paths.items()
        ]
        crashes = await crash_loop(stack, size, rng, lives)
        keeper = asyncio.create_task(keep_alive(stack.worker))
        _, pending = await asyncio.wait(lives, timeout=SETTLE_SECONDS)
        keeper.cancel()
        for task in pending:
            task.cancel()
        assert not pending, (
            f"{len(pending)} hazards unfinished {SETTLE_SECONDS}s after the last crash:\n{stack.worker.tail()}"
        )
        states = [task.result() for task in lives]
        client = await stack.connect()
        finals: Finals = {}
        for state in states:
            finals[state.hazard_id] = (state, await recorded_events(client, state.hazard_id))
        engine = make_engine(stack.database_url)
        try:
            problems = read_model_problems(engine, finals)
            escalations = escalation_problems(engine, finals)
        finally:
            engine.dispose()
        escalated = [hazard_id for hazard_id, (state, _) in finals.items() if state.escalations]
        escalations_again = await escalations_attempted_again(client, escalated)
    finally:
        await stack.stop()
    absorbed, replaced = redeliveries(stack.worker)
    return Outcome(
        crashes=crashes,
        finals=finals,
        paths=paths,
        problems=problems,
        escalation_problems=escalations,
        absorbed=absorbed,
        replaced=replaced,
        escalations_again=escalations_again,
        retries=stack.retries.total(),
        seconds=time.monotonic() - began,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "size", [pytest.param(QUICK, id="quick"), pytest.param(FULL, id="full", marks=pytest.mark.reliability)]
)
async def test_hazards_survive_killed_workers_and_a_killed_server_with_nothing_lost_or_doubled(
    tmp_path: Path, size: Size
) -> None:
    outcome = await run_loop(stack_for(tmp_path, size), size)

    assert outcome.problems == [], "\n".join(outcome.problems)
    assert outcome.escalation_problems == []
    for hazard_id, (state, events) in outcome.finals.items():
        path = outcome.paths[hazard_id]
        assert state.stage is path.final, hazard_id
        assert [e.action for e in events].count(Action.ESCALATE) == len(state.escalations), hazard_id
        # The report, each action, each rung, and the listing the last rung made.
        automatic_listing = state.listing is not None and state.listing.automatic
        assert state.version == 1 + len(path.steps) + len(state.escalations) + automatic_listing, hazard_id
    assert len(outcome.finals) == size.hazards
    # The crashes happened as planned and came while work was in flight.
    assert (outcome.crashes.worker_kills, outcome.crashes.server_restarts) == (size.worker_kills, size.server_restarts)
    assert outcome.crashes.kills_while_hazards_lived >= size.worker_kills * 3 // 4, outcome.crashes
    # Lives pause between actions, so many kills fall between calls; enough must land on one.
    assert outcome.crashes.kills_with_calls_in_flight >= max(1, size.worker_kills // 10), outcome.crashes
    # The idempotent projection and escalation were really exercised.
    assert outcome.absorbed > 0, "no redelivered projection: the kills never hit the window between write and commit"
    assert outcome.escalations_again > 0, "no escalation attempted again: no death between issuing and reporting"

    recorded = sum(state.version for state, _ in outcome.finals.values())
    escalations = sum(len(state.escalations) for state, _ in outcome.finals.values())
    late = sum(hazard_id.startswith(LATE) for hazard_id in outcome.finals)
    record(1, "hazards lost", size.hazards - len(outcome.finals), scale=size.scale)
    what = "rows, events or escalations lost, doubled, out of order or not as the workflow holds them"
    record(1, what, len(outcome.problems), scale=size.scale)
    record(1, "events recorded", recorded, scale=size.scale)
    record(1, "worker kills with calls in flight", outcome.crashes.kills_with_calls_in_flight, scale=size.scale)
    record(1, f"escalations issued ({late} late hazards' ladders)", escalations, scale=size.scale)
    record(1, "escalations lost, doubled or misnumbered", len(outcome.escalation_problems), scale=size.scale)
    record(1, "worker kills while a ladder climbed", outcome.crashes.kills_while_ladders_climbed, scale=size.scale)
    again = outcome.escalations_again
    record(1, "escalation activities attempted again after a worker died", again, scale=size.scale)
    deaths = outcome.crashes.deaths_in_write_window
    record(
        1, "worker deaths right after a projection write or an escalation (its own SIGKILL)", deaths, scale=size.scale
    )
    record(1, "redelivered events absorbed by the idempotent projection", outcome.absorbed, scale=size.scale)
    record(1, "of those, rewritten with the kept attempt's timestamps", outcome.replaced, scale=size.scale)
    record(1, "client calls sent again through the crashes", outcome.retries, scale=size.scale)
    record(1, "wall time", round(outcome.seconds), "s", scale=size.scale)


def without_event_key(database_url: str) -> None:
    """The events table as a naive schema would have it: no unique (hazard, seq)."""
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        (ddl,) = db.execute("select sql from sqlite_master where name = 'hazard_event'").fetchone()
        keyless = ddl.replace(", \n\tCONSTRAINT uq_hazard_event_seq UNIQUE (hazard_id, seq)", "")
        assert keyless != ddl, ddl
        db.executescript(
            f"drop table hazard_event; {keyless}; create index ix_hazard_event_hazard_id on hazard_event (hazard_id);"
        )


@pytest.mark.slow
@pytest.mark.reliability
async def test_negative_control_a_plain_insert_doubles_events_and_the_check_finds_them(tmp_path: Path) -> None:
    stack = stack_for(tmp_path, CONTROL, plain_insert=True)
    upgrade(stack.database_url)
    without_event_key(stack.database_url)
    outcome = await run_loop(stack, CONTROL)
    doubled = [p for p in outcome.problems if "doubled" in p]
    assert doubled, f"the plain insert doubled nothing in {CONTROL.worker_kills} kills: {outcome.problems}"
    record(1, "negative control (plain insert): hazards with doubled events", len(doubled), scale=CONTROL.scale)
