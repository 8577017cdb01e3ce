"""Scenario 4 (issue 7, item 4): an escalation storm. N open hazards whose 整改时限 all fall on the same day (a
campaign's "by year end"), taken on the time-skipping server from before their reminders to the end of the day
their notice letters (函告) go out, while an enterprise keeps acting through the API.

The ladder spreads each hazard's rungs across the office day (scheduling.schedule.office_time: one minute per
hazard, from its id). The baseline is the same storm with that spreading switched off (every rung at 09:00), in
the same run. The time-skipping server fires timers in order and skips ahead only when nothing is in flight, so
a spread storm arrives as a trickle and an unspread one as a single burst at one instant; the wall-clock time
to drain each, and the API's latency while it drains, are what this measures.

Measured: wall seconds from the first rung to the last one projected; rungs fired per kind (each hazard must
have each rung exactly once: duplicates are ESCALATE events beyond one per hazard, deadline and rung); the
simulated times of the first and last notice letter (within the office day?); API action p50/p99 and errors
during the storm.

    python -m bench.storm [--hazards 10000]
"""

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

import scheduling.schedule
from api.auth import mint_token
from api.main import create_app
from bench.common import BIN, PAYLOAD_KEY, PAYLOAD_KEY_B64, p50, percentile, record, table
from contracts.clock import CHINA_TZ
from contracts.deadlines import OFFICE_HOURS, OFFICE_OPENS_HOUR, Rung
from contracts.enums import Action, Stage
from contracts.hazard import TASK_QUEUE, WORKFLOW_VERSION, ImportedHazard, ReportHazardInput, workflow_id
from infra.codec import data_converter
from infra.logging import configure_logging
from infra.ports import free_port
from infra.temporal import register_search_attributes
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from readmodel.models import EscalationRow, HazardEventRow
from settings import Settings
from tests.scenarios import COMMITTEE, ENTERPRISE, plan, report
from workcalendar import WorkCalendar
from worker import build_worker
from workflows.hazard import HazardWorkflow

# The rungs a storm takes each hazard through that issue a document (and so an escalation row): the reminder
# 3 working days before the day and the notice letter the working day after. The overdue mark between them
# only turns the colour (workflows/hazard.py, HazardWorkflow._fire).
STORM_RUNGS = (Rung.REMINDER, Rung.NOTICE_LETTER)
OPEN_CONCURRENCY = 50
PROBE_PAUSE = 0.2
# A storm not drained in an hour is reported as it stands.
DRAIN_LIMIT_SECONDS = 3600
# The real-time window: from a few seconds before the office opens to a minute after.
LEAD_SECONDS = 5
WINDOW_SECONDS = 60
SECRET = "bench-storm-" + uuid.uuid4().hex


def storm_day(today: date, calendar: WorkCalendar) -> date:
    """The campaign's deadline: a working day far enough ahead that every hazard still gets its reminder."""
    return calendar.add_workdays(today, 8).day


@contextmanager
def unspread() -> Iterator[None]:
    """The baseline: every hazard's letters at the office's opening minute, as a ladder without spreading has it."""
    spread = scheduling.schedule.office_time
    scheduling.schedule.office_time = lambda _hazard_id, day: datetime.combine(  # type: ignore[assignment]
        day, clock_time(OFFICE_OPENS_HOUR), tzinfo=CHINA_TZ
    )
    try:
        yield
    finally:
        scheduling.schedule.office_time = spread


async def open_hazards(client: Client, hazards: int, due: date, prefix: str) -> float:
    """`hazards` hazards imported in 整改 with one 整改时限, `OPEN_CONCURRENCY` at a time; seconds taken."""
    remaining = iter(range(hazards))
    found = datetime.now(CHINA_TZ) - timedelta(days=30)

    async def opener() -> None:
        for n in remaining:
            hazard_id = f"{prefix}-{n:05d}"
            imported = ImportedHazard(
                stage=Stage.RECTIFY, key=hazard_id, file_sha256="0" * 64, row=n + 4, plan=plan(deadline=due)
            )
            input = ReportHazardInput(
                hazard_id=hazard_id,
                actor=COMMITTEE,
                report=report(found_at=found),
                imported=imported,
                version=WORKFLOW_VERSION,
            )
            opening = WithStartWorkflowOperation(
                HazardWorkflow.run,
                input,
                id=workflow_id(hazard_id),
                search_attributes=input.search_attributes(),
                task_queue=TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            await client.execute_update_with_start_workflow(HazardWorkflow.opened, start_workflow_operation=opening)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(OPEN_CONCURRENCY):
            tasks.create_task(opener())
    return time.perf_counter() - started


def projected(engine: Engine, prefix: str, rung: Rung) -> int:
    with Session(engine) as session:
        query = select(func.count()).where(
            col(EscalationRow.hazard_id).startswith(prefix), col(EscalationRow.rung) == rung.value
        )
        return int(session.exec(query).one())


def fired(engine: Engine, prefix: str) -> dict[str, Any]:
    """Rungs projected per kind, ESCALATE events beyond one per (hazard, deadline, rung), and the simulated
    times of the first and last notice letter."""
    with Session(engine) as session:
        by_rung = dict(
            session.exec(
                select(EscalationRow.rung, func.count())
                .where(col(EscalationRow.hazard_id).startswith(prefix))
                .group_by(col(EscalationRow.rung))
            ).all()
        )
        events = session.exec(
            select(HazardEventRow.hazard_id, HazardEventRow.payload).where(
                col(HazardEventRow.hazard_id).startswith(prefix), col(HazardEventRow.action) == Action.ESCALATE.value
            )
        ).all()
        letters = session.exec(
            select(func.min(EscalationRow.at), func.max(EscalationRow.at)).where(
                col(EscalationRow.hazard_id).startswith(prefix), col(EscalationRow.rung) == Rung.NOTICE_LETTER.value
            )
        ).one()
    keys = [(hazard_id, payload.get("deadline_id"), payload.get("rung")) for hazard_id, payload in events]
    first, last = (at.astimezone(CHINA_TZ) if at else None for at in letters)
    return {
        "by_rung": {str(rung): count for rung, count in by_rung.items()},
        "duplicates": len(keys) - len(set(keys)),
        "first_letter": first.strftime("%m-%d %H:%M") if first else None,
        "last_letter": last.strftime("%m-%d %H:%M") if last else None,
        "letters_in_office_day": bool(
            first
            and last
            and first.date() == last.date()
            and first.time() >= clock_time(OFFICE_OPENS_HOUR)
            and last.time() < clock_time(OFFICE_OPENS_HOUR + OFFICE_HOURS)
        ),
    }


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real API app in this process, on the storm's server and read model."""
    app = create_app(settings, process_setup=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=60) as http,
    ):
        yield http


async def probe(http: httpx.AsyncClient, settings: Settings, stop: asyncio.Event) -> tuple[list[float], int]:
    """An enterprise reporting hazards and submitting their plans through the API until `stop`."""
    token = mint_token(
        ENTERPRISE, secret=SECRET, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl=timedelta(hours=2)
    )
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0
    while not stop.is_set():
        started = time.perf_counter()
        answer = await http.post("/hazards", json=report().model_dump(mode="json", exclude_none=True), headers=headers)
        latencies.append(time.perf_counter() - started)
        if answer.status_code != 201:
            errors += 1
            continue
        hazard_id = answer.json()["hazard_id"]
        started = time.perf_counter()
        answer = await http.post(f"/hazards/{hazard_id}/plan", json=plan().model_dump(mode="json"), headers=headers)
        latencies.append(time.perf_counter() - started)
        errors += answer.status_code != 200
        await asyncio.sleep(PROBE_PAUSE)
    return latencies, errors


async def storm(hazards: int, *, spread: bool, directory: Path) -> dict[str, Any]:
    """One storm on a fresh time-skipping server and read model."""
    database_url = f"sqlite:///{directory / ('spread' if spread else 'unspread')}.db"
    upgrade(database_url)
    engine = make_engine(database_url)
    env = await WorkflowEnvironment.start_time_skipping(
        port=free_port(),
        data_converter=data_converter(PAYLOAD_KEY),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    settings = Settings(
        data_dir=directory,
        database_url=database_url,
        temporal_address=env.client.service_client.config.target_host,
        temporal_namespace=env.client.namespace,
        jwt_secret=SECRET,
        payload_key=PAYLOAD_KEY_B64,
        worker_metrics_port=None,
    )
    prefix = f"S{uuid.uuid4().hex[:6]}"
    label = "spread" if spread else "unspread"
    try:
        async with env:
            await register_search_attributes(env.client, env.client.namespace)
            worker = build_worker(env.client, engine, settings=settings)
            with nullcontext() if spread else unspread():
                async with worker, api_client(settings) as http:
                    now = await env.get_current_time()
                    calendar = WorkCalendar()
                    due = storm_day(now.astimezone(CHINA_TZ).date(), calendar)
                    letters_day = calendar.add_workdays(due, 1).day
                    opens = datetime.combine(letters_day, clock_time(OFFICE_OPENS_HOUR), tzinfo=CHINA_TZ)
                    print(f"  {label}: opening {hazards} hazards due {due}", file=sys.stderr, flush=True)
                    open_seconds = await open_hazards(env.client, hazards, due, prefix)

                    # 1. Skipped: the reminders, the deadline, the overdue marks, up to just before the office
                    # opens on the letters' day.
                    await skip(env, opens - timedelta(seconds=LEAD_SECONDS))
                    await wait_for(engine, prefix, Rung.REMINDER, hazards)

                    # 2. Real time (nothing skips while no one sleeps on the server): the office opens, the
                    # letters due fire, and an enterprise keeps acting through the API all the while.
                    print(f"  {label}: {opens:%m-%d %H:%M}, the office opens", file=sys.stderr, flush=True)
                    stop = asyncio.Event()
                    probing = asyncio.create_task(probe(http, settings, stop))
                    letter_times = scheduled_letters(prefix, hazards, letters_day)
                    server = env.get_current_time

                    async def letters_due() -> int:
                        at = await server()
                        return sum(1 for t in letter_times if t <= at)

                    await asyncio.sleep(LEAD_SECONDS)
                    backlog = await watch_backlog(engine, prefix, letters_due)
                    window_due = await letters_due()
                    stop.set()
                    latencies, errors = await probing

                    # 3. Skipped: the rest of the day.
                    await skip(env, datetime.combine(letters_day, clock_time(23, 59), tzinfo=CHINA_TZ))
                    await wait_for(engine, prefix, Rung.NOTICE_LETTER, hazards)
    finally:
        result = await asyncio.to_thread(fired, engine, prefix)
        engine.dispose()
    return {
        "storm": label,
        "hazards": hazards,
        "opened_per_s": round(hazards / open_seconds, 1),
        "letters_due_in_window": window_due,
        "max_backlog": backlog.most,
        "backlog_cleared_s": round(backlog.cleared, 1),
        "api_actions": len(latencies),
        "api_p50_ms": round(p50(latencies), 1) if latencies else None,
        "api_p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "api_errors": errors,
        **{f"{rung}": result["by_rung"].get(rung.value, 0) for rung in STORM_RUNGS},
        "duplicates": result["duplicates"],
        "first_letter": result["first_letter"],
        "last_letter": result["last_letter"],
        "letters_in_office_day": result["letters_in_office_day"],
    }


async def skip(env: WorkflowEnvironment, until: datetime) -> None:
    """The server's clock to `until`, firing every timer on the way. As env.sleep, but with room for a storm: the
    server only moves past a timer once the work it started is done, and that can take longer than an RPC's
    default timeout."""
    request = SleepRequest()
    request.duration.FromTimedelta(until - await env.get_current_time())
    await env.client.test_service.unlock_time_skipping_with_sleep(
        request, timeout=timedelta(seconds=DRAIN_LIMIT_SECONDS)
    )


def scheduled_letters(prefix: str, hazards: int, day: date) -> list[datetime]:
    """When each hazard's letter is due, as the ladder in force (spread or not) schedules it."""
    return [scheduling.schedule.office_time(f"{prefix}-{n:05d}", day) for n in range(hazards)]


@dataclass
class Backlog:
    most: int = 0
    # Seconds after the office opened when letters were last seen due but not yet projected.
    cleared: float = 0.0


async def watch_backlog(engine: Engine, prefix: str, letters_due: Callable[[], Awaitable[int]]) -> Backlog:
    """From the office's opening, for the window and then until nothing is left: letters due but not projected."""
    backlog = Backlog()
    opened = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - opened
        waiting = await letters_due() - await asyncio.to_thread(projected, engine, prefix, Rung.NOTICE_LETTER)
        backlog.most = max(backlog.most, waiting)
        if waiting > 0:
            backlog.cleared = elapsed
        elif elapsed >= WINDOW_SECONDS:
            return backlog
        if elapsed > DRAIN_LIMIT_SECONDS:
            raise RuntimeError(f"{waiting} letters still waiting after {DRAIN_LIMIT_SECONDS} s")
        await asyncio.sleep(0.2)


async def wait_for(engine: Engine, prefix: str, rung: Rung, count: int) -> None:
    """Until `count` rows of `rung` of this storm are projected (the skipped phases' work may still be in flight)."""
    started = time.perf_counter()
    while await asyncio.to_thread(projected, engine, prefix, rung) < count:
        if time.perf_counter() - started > DRAIN_LIMIT_SECONDS:
            raise RuntimeError(f"{rung.value}: fewer than {count} after {DRAIN_LIMIT_SECONDS} s")
        await asyncio.sleep(0.2)


async def main(hazards: int) -> None:
    # The fallback-calendar warning of every 2027 deadline would bury the table: errors only.
    configure_logging(json=True, level=logging.ERROR)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        for spread in (True, False):
            rows.append(await storm(hazards, spread=spread, directory=Path(tmp)))
            # Each storm's line as soon as it is known: a long run stopped half-way keeps the first.
            print(json.dumps(rows[-1], ensure_ascii=False), file=sys.stderr, flush=True)
    table("escalation storm: one deadline day for every hazard (time-skipping server)", rows)
    record("storm", {"hazards": hazards}, {"runs": rows})


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hazards", type=int, default=10_000, help="hazards sharing the deadline day")
    args = parser.parse_args()
    asyncio.run(main(args.hazards))


if __name__ == "__main__":
    cli()
