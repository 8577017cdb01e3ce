"""Logs: JSON lines with the ids that join them (request, actor, hazard; workflow, run, activity), uvicorn's
and Temporal's own lines in the same format, and no personal data anywhere."""

import asyncio
import io
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from fastapi import FastAPI
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.main import create_app
from contracts.hazard import Actor, workflow_id
from infra.interceptors import LogContextInterceptor
from infra.logging import QUIET, configure_logging
from infra.ports import free_port
from tests.conftest import ApiStack
from tests.scenarios import ENTERPRISE, REVIEWER, plan, rectification, report

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@dataclass
class Captured:
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        """Every line, parsed: a line that is not JSON fails here."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@contextmanager
def logging_restored() -> Iterator[None]:
    """configure_logging changes process-wide state: put the test run's own back afterwards."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved_uvicorn = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate, logging.getLogger(name).level)
        for name in UVICORN_LOGGERS
    }
    saved_quiet = {name: logging.getLogger(name).level for name in QUIET}
    saved_structlog = structlog.get_config()
    saved_flags = (activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message)
    try:
        yield
    finally:
        root.handlers[:], level = saved_root
        root.setLevel(level)
        for name, (handlers, propagate, uvicorn_level) in saved_uvicorn.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate
            logging.getLogger(name).setLevel(uvicorn_level)
        for name, quiet_level in saved_quiet.items():
            logging.getLogger(name).setLevel(quiet_level)
        structlog.configure(**saved_structlog)
        activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message = saved_flags


@pytest.fixture
def json_logs() -> Iterator[Captured]:
    """Production logging (JSON), everything down to DEBUG, into a buffer."""
    with logging_restored():
        stream = io.StringIO()
        # As any earlier uvicorn.Config(log_level="warning") in this process leaves them: ours must still win.
        for name in UVICORN_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        configure_logging(json=True, level=logging.DEBUG, stream=stream, cache_loggers=False)
        yield Captured(stream)


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a real uvicorn server, as production runs it: its access lines are uvicorn's own."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await task


def auth(api: ApiStack, actor: Actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(actor)}"}


async def test_request_lines_carry_request_actor_and_hazard_ids(api: ApiStack, json_logs: Captured) -> None:
    async with served(create_app(api.settings, process_setup=False)) as http:
        report_id = f"report-{uuid.uuid4()}"
        reported = await http.post(
            "/hazards",
            json=report().model_dump(mode="json", exclude_none=True),
            headers=auth(api, ENTERPRISE) | {"X-Request-ID": report_id},
        )
        assert reported.status_code == 201, reported.text
        hazard_id = reported.json()["hazard_id"]
        request_id = f"plan-{uuid.uuid4()}"
        planned = await http.post(
            f"/hazards/{hazard_id}/plan",
            json=plan().model_dump(mode="json"),
            headers=auth(api, ENTERPRISE) | {"X-Request-ID": request_id},
        )
        assert planned.status_code == 200, planned.text
        assert planned.headers["X-Request-ID"] == request_id
        # No id given: one is made, answered, and logged.
        listed = await http.get("/hazards", params={"q": "王顶堤"}, headers=auth(api, REVIEWER))
        assert listed.status_code == 200
        made = listed.headers["X-Request-ID"]

    records = json_logs.records()
    # A report's hazard id is allocated inside the request: its access line carries it all the same.
    report_access = [r for r in records if r.get("request_id") == report_id and r["logger"] == "uvicorn.access"]
    assert [(r["path"], r["status"], r.get("hazard_id")) for r in report_access] == [("/hazards", 201, hazard_id)]
    plan_lines = [r for r in records if r.get("request_id") == request_id]
    assert plan_lines, json_logs.text[-3000:]
    assert all(r["actor_id"] == ENTERPRISE.id and r["hazard_id"] == hazard_id for r in plan_lines), plan_lines
    access = [r for r in plan_lines if r["logger"] == "uvicorn.access"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [("POST", f"/hazards/{hazard_id}/plan", 200)]

    list_lines = [r for r in records if r.get("request_id") == made]
    assert [r["logger"] for r in list_lines] == ["uvicorn.access"]
    (line,) = list_lines
    assert line["actor_id"] == REVIEWER.id
    assert "hazard_id" not in line  # the next request does not inherit the last one's hazard
    # uvicorn's access line, as fields: neither the client's address nor the query string (a search may name a person).
    assert line["event"] == "GET /hazards 200"
    assert line["path"] == "/hazards"
    assert "127.0.0.1" not in json.dumps(line, ensure_ascii=False)
    assert "王顶堤" not in json.dumps(line, ensure_ascii=False)


@activity.defn(name="log_a_line")
def log_a_line(note: str) -> str:
    structlog.get_logger("tests.activity").info("our line in an activity", note=note)
    activity.logger.info("the SDK's activity logger")
    return note


@workflow.defn(name="LoggingWorkflow")
class LoggingWorkflow:
    @workflow.run
    async def run(self, note: str) -> None:
        workflow.logger.info("the SDK's workflow logger")
        await workflow.execute_activity(log_a_line, note, start_to_close_timeout=timedelta(seconds=10))
        await workflow.execute_local_activity(log_a_line, note, start_to_close_timeout=timedelta(seconds=10))


async def test_activity_lines_carry_workflow_run_and_activity(
    dev_env: WorkflowEnvironment, task_queue: str, json_logs: Captured
) -> None:
    hazard_id = f"LOG-{uuid.uuid4().hex[:12]}"
    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=[LoggingWorkflow],
        activities=[log_a_line],
        # Sync activities run in threads, as the service's do: the context must reach them.
        activity_executor=ThreadPoolExecutor(max_workers=2),
        interceptors=[LogContextInterceptor()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await dev_env.client.start_workflow(
            LoggingWorkflow.run, "note", id=workflow_id(hazard_id), task_queue=task_queue
        )
        await handle.result()
    run_id = handle.result_run_id
    records = [r for r in json_logs.records() if r.get("workflow_id") == workflow_id(hazard_id)]

    ours = [r for r in records if r["event"] == "our line in an activity"]
    assert len(ours) == 2  # once as an activity, once as a local activity
    for line in ours:
        assert (line["run_id"], line["activity"], line["hazard_id"], line["logger"]) == (
            run_id,
            "log_a_line",
            hazard_id,
            "tests.activity",
        )
    sdk = [r for r in records if r["event"] == "the SDK's activity logger"]
    assert len(sdk) == 2
    assert all((r["run_id"], r["activity"]) == (run_id, "log_a_line") for r in sdk)
    (from_workflow,) = [r for r in records if r["event"] == "the SDK's workflow logger"]
    assert from_workflow["run_id"] == run_id
    assert from_workflow["logger"].startswith("temporalio")


async def test_no_personal_data_in_the_logs_of_a_whole_lifecycle(api: ApiStack, json_logs: Captured) -> None:
    principal, phone = "欧阳明远", "13912345678"
    enterprise = ENTERPRISE.model_copy(update={"name": "司马青山"})
    reviewer = REVIEWER.model_copy(update={"name": "诸葛文静"})
    body = report().model_copy(
        update={
            "enterprise": report().enterprise.model_copy(update={"principal_name": principal, "principal_phone": phone})
        }
    )
    the_plan = plan().model_copy(update={"responsible_person": principal, "responsible_phone": phone})
    headers = {actor.id: auth(api, actor) for actor in (enterprise, reviewer)}
    steps: list[tuple[str, Actor, dict[str, Any], str]] = [
        ("plan", enterprise, the_plan.model_dump(mode="json"), "INTERIM_CONTROL"),
        ("interim-controls", enterprise, {"kind": "cordon", "measures": "设置警戒区"}, "RECTIFY"),
        ("rectification", enterprise, rectification().model_dump(mode="json"), "REVIEW"),
        ("review", reviewer, {"decision": "reject", "opinion": "联锁未调试"}, "RECTIFY"),
        ("rectification", enterprise, rectification().model_dump(mode="json"), "REVIEW"),
        ("review", reviewer, {"decision": "approve", "opinion": "同意销号"}, "CLOSED"),
    ]
    async with served(create_app(api.settings, process_setup=False)) as http:
        reported = await http.post("/hazards", json=body.model_dump(mode="json"), headers=headers[enterprise.id])
        assert reported.status_code == 201, reported.text
        hazard_id = reported.json()["hazard_id"]
        # Refused requests carry personal data too: a plan in the wrong shape, a wrong token.
        refused = await http.post(
            f"/hazards/{hazard_id}/plan", json={"responsible_phone": phone}, headers=headers[enterprise.id]
        )
        assert refused.status_code == 422
        assert (
            await http.get(f"/hazards/{hazard_id}", headers={"Authorization": f"Bearer {phone}"})
        ).status_code == 401
        for action, actor, payload, stage in steps:
            answer = await http.post(f"/hazards/{hazard_id}/{action}", json=payload, headers=headers[actor.id])
            assert answer.status_code == 200, answer.text
            assert answer.json()["state"]["stage"] == stage
        assert (await http.get(f"/hazards/{hazard_id}/events", headers=headers[reviewer.id])).status_code == 200

    records = json_logs.records()
    # The capture saw both processes' sides of this hazard: the API's requests and the worker's projections.
    mine = [r for r in records if r.get("hazard_id") == hazard_id]
    assert any(r["logger"] == "uvicorn.access" for r in mine)
    assert len([r for r in mine if r.get("activity") == "project_hazard"]) >= 7
    text = json_logs.text
    for secret in (
        principal,
        phone,
        enterprise.name,
        reviewer.name,
        *(h["Authorization"][7:] for h in headers.values()),
    ):
        assert secret not in text, secret
    # Nothing even tried to log a phone number or a token: the masking below had nothing to mask.
    assert "[phone]" not in text
    assert "[token]" not in text


def test_phone_numbers_and_tokens_are_masked_even_in_tracebacks(json_logs: Captured) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlbnQtMDAxIn0.c2lnbmF0dXJl"
    try:
        raise ValueError(f"input_value='13800000000' Authorization: Bearer {token}")
    except ValueError:
        logging.getLogger("some.library").exception("call failed for +8613900000000")
        structlog.get_logger("ours").exception("ours failed", contact="联系电话13700000000")
    structlog.get_logger("ours").info("not phone numbers", sha256="a13800000000b", seq=13800000000123)
    first, second, third = json_logs.records()
    assert first["event"] == "call failed for [phone]"
    assert "input_value='[phone]'" in first["exception"]
    assert "Bearer [token]" in first["exception"]
    assert token not in json_logs.text
    assert "13800000000'" not in json_logs.text
    assert second["contact"] == "联系电话[phone]"
    assert "ValueError" in second["exception"]
    assert (third["sha256"], third["seq"]) == ("a13800000000b", 13800000000123)


def test_console_on_a_terminal_json_otherwise() -> None:
    with logging_restored():
        console = io.StringIO()
        configure_logging(json=False, stream=console, cache_loggers=False)
        structlog.get_logger("worker").info("worker started", task_queue="hazards")
        line = console.getvalue()
        assert "worker started" in line
        assert "task_queue" in line
        assert "hazards" in line
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
        # Not told: JSON unless stderr is a terminal (under pytest it is captured, so not one).
        assert not sys.stderr.isatty()
        piped = io.StringIO()
        configure_logging(stream=piped)
        structlog.get_logger("worker").info("worker started", task_queue="hazards")
        assert json.loads(piped.getvalue())["task_queue"] == "hazards"
