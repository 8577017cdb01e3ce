"""`make run`'s embedded stack, as a developer runs it: start, stop with Ctrl-C, start again on the same data."""

import asyncio
import os
import signal
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import WorkflowExecutionStatus

from infra.ports import free_port
from infra.temporal import connect

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "xiaohao"
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 45.0
TEN_YEARS = timedelta(days=3652)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the stack's children through /proc"),
]


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line of every live process whose parent is `pid`."""
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # The command name in field 2 may hold spaces; the fields after its closing parenthesis do not.
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, ppid = stat[0], int(stat[1])
        if ppid == pid and state != "Z":
            found[int(proc.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def clean_env() -> dict[str, str]:
    """The developer's own XIAOHAO_*/DATABASE_URL must not point the stack under test at their data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOHAO_") and k != "DATABASE_URL"}
    # A developer's running stack holds the worker's default metrics port.
    return {**env, "XIAOHAO_WORKER_METRICS_PORT": "0"}


class RunningStack:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.api_port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "stack.py",
                "--data-dir",
                str(self.data_dir),
                "--api-port",
                str(self.api_port),
                "--temporal-port",
                str(self.temporal_port),
                "--ui-port",
                str(self.ui_port),
                cwd=ROOT,
                env=clean_env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )

    async def wait_healthy(self) -> None:
        assert self.process is not None
        url = f"http://127.0.0.1:{self.api_port}/healthz"
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    pytest.fail(f"stack exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
        pytest.fail(f"{url} did not answer 200 within {READY_TIMEOUT:.0f}s:\n{self.log_tail()}")

    async def interrupt(self) -> int:
        """Ctrl-C, as a developer would; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"stack still running {STOP_TIMEOUT:.0f}s after SIGINT:\n{self.log_tail()}")

    async def kill_if_running(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def stop_and_check_no_orphans(stack: RunningStack) -> None:
    assert stack.process is not None
    children = children_of(stack.process.pid)
    commands = " | ".join(children.values())
    assert "temporal server start-dev" in commands, commands
    assert "worker.py" in commands, commands
    assert "uvicorn api.main:app" in commands, commands

    assert await stack.interrupt() == 0, stack.log_tail()
    left = {pid: cmd for pid, cmd in children.items() if alive(pid)}
    assert not left, f"left running after the stack stopped: {left}"


async def test_stack_starts_stops_cleanly_and_keeps_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stack = RunningStack(data_dir, tmp_path / "stack.log")
    probe_id = f"stack-probe-{uuid.uuid4()}"
    try:
        await stack.start()
        await stack.wait_healthy()

        client = await connect(stack.temporal_address, NAMESPACE)
        described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=NAMESPACE))
        assert described.config.workflow_execution_retention_ttl.ToTimedelta() >= TEN_YEARS
        # No worker polls this queue, so the execution stays open: the next start must still know it.
        await client.start_workflow("StackProbe", id=probe_id, task_queue=f"stack-probe-{uuid.uuid4()}")

        await stop_and_check_no_orphans(stack)
        assert (data_dir / "temporal.db").exists()
        assert (data_dir / "readmodel.db").exists()

        await stack.start()
        await stack.wait_healthy()
        client = await connect(stack.temporal_address, NAMESPACE)
        probe = await client.get_workflow_handle(probe_id).describe()
        assert probe.status == WorkflowExecutionStatus.RUNNING

        await stop_and_check_no_orphans(stack)
    finally:
        await stack.kill_if_running()
