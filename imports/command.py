"""`python cli.py import FILE` and `python cli.py demo`: the API's import path, run from a terminal against
the running stack (its Temporal server and read model), with a progress bar."""

import asyncio
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from contracts.clock import CHINA_TZ
from contracts.deadlines import ListingLevel, Rag
from contracts.enums import Role, Stage
from contracts.hazard import TASK_QUEUE, ActionResult, Actor, ListingOrder, ListInput, workflow_id
from imports import demo, jobs
from imports.district import DISTRICTS
from imports.jobs import Progress
from imports.runner import ImportRunner, ProgressListener, file_sha256
from infra.codec import data_converter, load_or_create_key
from infra.temporal import connect
from readmodel import admin_queries
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from readmodel.models import Hazard
from settings import Settings
from workcalendar import WorkCalendar
from workflows.hazard import HazardWorkflow

# Problems printed on the terminal; the job row keeps them all.
SHOWN_PROBLEMS = 50
BAR_WIDTH = 30
# The demo waits this long for the worker to open every imported hazard before it lists some.
SETTLE_SECONDS = 600


def operator(settings: Settings, name: str) -> Actor:
    """Who imports from the command line: the committee office, as the operator running the command."""
    return Actor(id="cli-import", name=name, role=Role.COMMITTEE_OFFICE, organisation=settings.issuer_name)


class Bar:
    """A one-line progress bar on a terminal; one line per phase anywhere else (logs, CI)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._phase: str | None = None

    def __call__(self, progress: Progress) -> None:
        if progress.status == "validating" and not progress.total_rows:
            label, done, total = "读取", 0, 0
        elif progress.status == "validating":
            label, done, total = "校验", progress.checked_rows, progress.total_rows
        elif progress.status == "importing":
            label, done, total = "建档", progress.imported + progress.skipped + progress.failed, progress.valid_rows
        else:
            return
        self.show(label, done, total)

    def show(self, label: str, done: int, total: int) -> None:
        if not self._tty:
            if label != self._phase:
                print(f"{label}：共 {total} 行" if total else f"{label}……", file=self._stream, flush=True)
            self._phase = label
            return
        if label != self._phase and self._phase is not None:
            self._stream.write("\n")
        self._phase = label
        if not total:
            self._stream.write(f"\r{label}……")
        else:
            filled = BAR_WIDTH * done // total
            self._stream.write(f"\r{label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._phase is not None:
            self._stream.write("\n")
            self._stream.flush()
        self._phase = None


async def _client(settings: Settings) -> Client:
    key = load_or_create_key(settings.payload_key, settings.payload_key_file)
    return await connect(settings.temporal_address, settings.temporal_namespace, data_converter(key))


async def import_ledger(
    settings: Settings,
    engine: Engine,
    client: Client,
    path: Path,
    *,
    actor: Actor,
    only_valid: bool,
    task_queue: str = TASK_QUEUE,
    listener: ProgressListener | None = None,
) -> Progress:
    """Import the file as a job of its own, its progress shown by `listener` (a bar on the terminal)."""
    digest = await asyncio.to_thread(file_sha256, path)
    job_id = jobs.new_job_id()
    await asyncio.to_thread(
        lambda: jobs.create_job(
            engine,
            job_id=job_id,
            filename=path.name,
            file_sha256=digest,
            only_valid=only_valid,
            actor=actor,
            now=datetime.now(CHINA_TZ),
        )
    )
    runner = ImportRunner(
        engine,
        client,
        district_code=settings.district_code,
        listing_issuer=settings.issuer_name,
        task_queue=task_queue,
    )
    bar = None if listener else Bar()
    try:
        return await runner.run(
            job_id, path, actor=actor, file_sha256=digest, only_valid=only_valid, listener=listener or bar
        )
    finally:
        if bar is not None:
            bar.close()


def report(progress: Progress) -> None:
    print(
        f"共 {progress.total_rows} 行，有效 {progress.valid_rows} 行；"
        f"新建档 {progress.imported} 件，跳过 {progress.skipped} 件（已在系统中）"
    )
    for problem in progress.errors[:SHOWN_PROBLEMS]:
        where = f"第 {problem.row} 行" if problem.row else "文件"
        column = f"「{problem.column}」" if problem.column else ""
        print(f"  {where}{column}：{problem.message}")
    if len(progress.errors) > SHOWN_PROBLEMS:
        print(f"  ……另有 {len(progress.errors) - SHOWN_PROBLEMS} 个问题")
    if progress.status == "invalid":
        print("台账有问题，未导入任何隐患。修改后重新导入，或加 --only-valid 只导入无误的行。")


def run_import(settings: Settings, path: Path, *, only_valid: bool, operator_name: str) -> int:
    if not path.is_file():
        print(f"找不到文件 {path}", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)

    async def run() -> Progress:
        client = await _client(settings)
        actor = operator(settings, operator_name)
        return await import_ledger(settings, engine, client, path, actor=actor, only_valid=only_valid)

    try:
        progress = asyncio.run(run())
    except RuntimeError as err:  # the SDK's connection failure
        print(f"无法连接 Temporal（{settings.temporal_address}）：{err}。请先 make run。", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    report(progress)
    if progress.status == "done":
        print("导入完成：新建档的隐患已在列表和看板中。")
        return 0
    return 1


def run_demo(settings: Settings, *, hazards: int, seed: int, listings: int) -> int:
    district = DISTRICTS.get(settings.district_code)
    if district is None:
        print(f"演示数据只有这些区：{'、'.join(d.name for d in DISTRICTS.values())}", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        return asyncio.run(load_demo(settings, engine, hazards=hazards, seed=seed, listings=listings))
    except RuntimeError as err:
        print(f"无法连接 Temporal（{settings.temporal_address}）：{err}。请先 make run。", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


async def load_demo(settings: Settings, engine: Engine, *, hazards: int, seed: int, listings: int) -> int:
    """Write the demo ledger, import it, wait for the worker to open every hazard, then list a few by hand."""
    client = await _client(settings)
    district = DISTRICTS[settings.district_code]
    district_name = district.name
    with Session(engine) as session:
        calendar = WorkCalendar(admin_queries.calendar_overrides(session=session))
    now = datetime.now(CHINA_TZ)
    ledger = demo.generate(
        hazards=hazards, seed=seed, now=now, calendar=calendar, district=district, doc_prefix=settings.doc_number_prefix
    )
    path = settings.data_dir / "demo" / f"{district_name}重大隐患督改台账_演示_{seed}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        demo.write(out, ledger, district_name=district_name, today=now.date())
    print(f"演示台账：{path}（{len(ledger.rows)} 行）")
    actor = operator(settings, "演示数据导入")
    progress = await import_ledger(settings, engine, client, path, actor=actor, only_valid=False)
    report(progress)
    if progress.status != "done":
        return 1
    opened = await _settle(engine, actor, now, progress.imported)
    listed = await _list(settings, engine, client, ledger, actor, now, listings)
    _summary(engine, actor, now, opened, listed, ledger)
    return 0


def _opened(engine: Engine, actor: Actor, since: datetime) -> int:
    with Session(engine) as session:
        query = select(func.count()).where(col(Hazard.reporter_id) == actor.id, col(Hazard.reported_at) >= since)
        return int(session.exec(query).one())


async def _settle(engine: Engine, actor: Actor, since: datetime, expected: int) -> int:
    """Wait (with a bar) until the worker has opened every hazard this run imported."""
    bar = Bar()
    deadline = time.monotonic() + SETTLE_SECONDS
    opened = 0
    try:
        while time.monotonic() < deadline:
            opened = await asyncio.to_thread(_opened, engine, actor, since)
            bar.show("开启", opened, expected)
            if opened >= expected:
                break
            await asyncio.sleep(1)
    finally:
        bar.close()
    return opened


async def _list(
    settings: Settings,
    engine: Engine,
    client: Client,
    ledger: demo.DemoLedger,
    actor: Actor,
    since: datetime,
    count: int,
) -> list[str]:
    """The committee office lists (挂牌督办) the longest-overdue hazards that are not listed yet, by hand."""
    with Session(engine) as session:
        chosen = session.exec(
            select(Hazard.hazard_id)
            .where(
                col(Hazard.reporter_id) == actor.id,
                col(Hazard.reported_at) >= since,
                col(Hazard.stage) == Stage.RECTIFY.value,
                col(Hazard.rag) == Rag.RED.value,
                col(Hazard.listed).is_(False),
            )
            .order_by(col(Hazard.next_deadline))
            .limit(count)
        ).all()
    year = since.year
    series = f"{settings.doc_number_prefix}挂〔{year}〕"
    used = [
        int(m[1])
        for r in ledger.rows
        if (m := re.search(rf"{re.escape(series)}(\d+)号", r.get("listing_doc_number") or ""))
    ]
    office = Actor(id="demo-co", name="陈静", role=Role.COMMITTEE_OFFICE, organisation=settings.issuer_name)
    listed: list[str] = []
    for n, hazard_id in enumerate(chosen, max(used, default=0) + 1):
        order = ListingOrder(
            level=ListingLevel.DISTRICT, issuing_body=settings.issuer_name, doc_number=f"{series}{n}号"
        )
        handle = client.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id))
        try:
            await handle.execute_update("list_hazard", ListInput(actor=office, order=order), result_type=ActionResult)
        except (RPCError, WorkflowUpdateFailedError) as err:
            print(f"挂牌 {hazard_id} 未成功：{err}", file=sys.stderr)
            continue
        listed.append(hazard_id)
    return listed


def _summary(
    engine: Engine, actor: Actor, since: datetime, opened: int, listed: list[str], ledger: demo.DemoLedger
) -> None:
    with Session(engine) as session:
        mine = [col(Hazard.reporter_id) == actor.id, col(Hazard.reported_at) >= since]
        open_ = [*mine, col(Hazard.stage).not_in([Stage.CLOSED.value, Stage.REVOKED.value])]
        by_rag = dict(session.exec(select(Hazard.rag, func.count()).where(*open_).group_by(col(Hazard.rag))).all())
        listed_total = session.exec(select(func.count()).where(*open_, col(Hazard.listed).is_(True))).one()
    red, yellow, green = (by_rag.get(rag.value, 0) for rag in (Rag.RED, Rag.YELLOW, Rag.GREEN))
    print(
        f"已建档 {opened} 件，其中未销号 {sum(by_rag.values())} 件：红 {red}、黄 {yellow}、绿 {green}；"
        f"挂牌督办 {listed_total} 件（其中本次由区安委办挂牌 {len(listed)} 件）"
    )
    for hazard_id, at in ledger.escalating:
        print(f"  {hazard_id}：整改逾期，{at:%m月%d日 %H:%M} 自动函告")
    print("导入前已过的督办节点不补发；逾期隐患显示为红色，督办从导入后下一个节点继续。")
