"""The real worker and API as child processes, started as production starts them and stopped as a crash (SIGKILL)
or an orchestrator (SIGTERM) stops them."""

import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import httpx

from infra.ports import free_port
from infra.temporal import connect_when_serving

ROOT = Path(__file__).resolve().parent.parent
# Importing the SDK and running migrations takes a second or two; far longer means something is wrong.
STARTUP_TIMEOUT = 60.0
API_DRAIN_SECONDS = 10
# As stack.py and docker/compose.yaml run the API.
API_KEEP_ALIVE_SECONDS = 75


def service_env(
    *,
    temporal_address: str,
    namespace: str,
    database_url: str,
    data_dir: Path,
    payload_key: bytes | None = None,
    jwt_secret: str | None = None,
    **more: str,
) -> dict[str, str]:
    """The environment a worker or API process of the stack under test reads its settings from: JSON logs, no
    fixed metrics ports (a developer's running stack holds them). Keys left out are the data directory's own."""
    env = {
        "XIAOHAO_TEMPORAL_ADDRESS": temporal_address,
        "XIAOHAO_TEMPORAL_NAMESPACE": namespace,
        "DATABASE_URL": database_url,
        "XIAOHAO_DATA_DIR": str(data_dir),
        "XIAOHAO_LOG_JSON": "true",
        "XIAOHAO_WORKER_METRICS_PORT": "0",
        "XIAOHAO_WORKER_SDK_METRICS_PORT": "0",
    }
    if payload_key is not None:
        env["XIAOHAO_PAYLOAD_KEY"] = base64.b64encode(payload_key).decode()
    if jwt_secret is not None:
        env["XIAOHAO_JWT_SECRET"] = jwt_secret
    return env | {f"XIAOHAO_{name.upper()}": value for name, value in more.items()}


class ServiceProcess:
    """One process of a service at a time; every process it started is gone after `kill()` or `terminate()`."""

    name = "service"

    def __init__(self, args: list[str], env: dict[str, str], program: str = sys.executable) -> None:
        self._program = program
        self._args = args
        self._env = {**os.environ, **env}
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        # Every process's stderr, kept to explain a failure.
        self.log: list[str] = []
        # The JSON line the last process announced itself ready with, if it logs one.
        self.ready_record: dict[str, object] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start a process and return once it is ready to serve."""
        assert not self.running, f"one {self.name} at a time: stop the last one first"
        self._started = asyncio.Event()
        self._process = await asyncio.create_subprocess_exec(
            self._program,
            *self._args,
            cwd=ROOT,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.starts += 1
        self._reader = asyncio.create_task(self._read(self._process, self.starts))
        ready = asyncio.create_task(self._wait_ready())
        try:
            await asyncio.wait({ready, self._reader}, timeout=STARTUP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self._started.is_set():
            await self.kill()
            raise RuntimeError(f"{self.name} did not start within {STARTUP_TIMEOUT}s:\n{self.tail()}")

    async def _wait_ready(self) -> None:
        await self._started.wait()

    def _is_ready_line(self, record: dict[str, object]) -> bool:
        return False

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log[-lines:])

    async def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight tasks are simply abandoned.

        `kills` counts only processes that were still alive: one that died on its own is not counted.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            # It may have died on its own since: then there is nothing left to kill.
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
                self.kills += 1
        await self._reap(process)

    def terminate(self) -> asyncio.subprocess.Process:
        """SIGTERM, as an orchestrator stops a container; the process is the caller's to wait for."""
        process, self._process = self._process, None
        assert process is not None, f"no {self.name} running"
        assert process.returncode is None, f"{self.name} already exited"
        process.send_signal(signal.SIGTERM)
        return process

    async def stopped(self, process: asyncio.subprocess.Process) -> int:
        """Wait for a process `terminate()` stopped to exit and for the last of its log; its exit status."""
        await self._reap(process)
        assert process.returncode is not None
        return process.returncode

    async def _reap(self, process: asyncio.subprocess.Process) -> None:
        await process.wait()
        if self._reader is not None:
            await self._reader

    async def _read(self, process: asyncio.subprocess.Process, number: int) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(f"[{self.name} {number}] {line}")
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and self._is_ready_line(record):
                    self.ready_record = record
                    self._started.set()


class WorkerProcess(ServiceProcess):
    """`python worker.py`, ready once it has logged that it is polling."""

    name = "worker"

    def __init__(self, env: dict[str, str], args: list[str] | None = None) -> None:
        super().__init__(args or ["worker.py"], env)

    def _is_ready_line(self, record: dict[str, object]) -> bool:
        return record.get("event") == "worker started"


class ApiProcess(ServiceProcess):
    """The API under uvicorn as production runs it, ready once /readyz answers 200."""

    name = "api"

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        args = ["-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--timeout-graceful-shutdown", str(API_DRAIN_SECONDS)]
        super().__init__([*args, "--timeout-keep-alive", str(API_KEEP_ALIVE_SECONDS)], env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        self._started.set()
                        return
                await asyncio.sleep(0.2)


class DevServerProcess(ServiceProcess):
    """`temporal server start-dev` on one SQLite file, so a killed server can be started again on what it wrote;
    ready once it accepts a Temporal client."""

    name = "temporal"

    def __init__(self, database: Path, namespace: str) -> None:
        self.port = free_port()
        self.namespace = namespace
        args = ["server", "start-dev", "--db-filename", str(database), "--ip", "127.0.0.1"]
        args += ["--port", str(self.port), "--headless", "--namespace", namespace, "--log-level", "error"]
        super().__init__(args, {}, program=str(Path(sys.executable).parent / "temporal"))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _wait_ready(self) -> None:
        # A client, not the port: a client connecting as soon as the port opens was refused once (the crash loop's
        # negative control).
        await connect_when_serving(self.address, self.namespace, STARTUP_TIMEOUT)
        self._started.set()
