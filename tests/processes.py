"""The real worker as a child process, started as production starts it and killed as a crash kills it."""

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Importing the SDK and running migrations takes a second or two; far longer means something is wrong.
STARTUP_TIMEOUT = 30.0


class WorkerProcess:
    """One `python worker.py` at a time; every process it started is gone after `kill()`."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = {**os.environ, **env}
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        # Every process's stderr, kept to explain a failure.
        self.log: list[str] = []
        self.starts = 0
        self.kills = 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start a worker and return once it has logged that it is polling."""
        assert not self.running, "one worker at a time: kill the last one first"
        self._started = asyncio.Event()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "worker.py",
            cwd=ROOT,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.starts += 1
        self._reader = asyncio.create_task(self._read(self._process, self.starts))
        started = asyncio.create_task(self._started.wait())
        try:
            await asyncio.wait({started, self._reader}, timeout=STARTUP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
        if not self._started.is_set():
            await self.kill()
            raise RuntimeError(f"worker did not start within {STARTUP_TIMEOUT}s:\n{self.tail()}")

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
        await process.wait()
        if self._reader is not None:
            await self._reader

    async def _read(self, process: asyncio.subprocess.Process, number: int) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(f"[worker {number}] {line}")
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == "worker started":
                    self._started.set()
