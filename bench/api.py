"""Scenario 2 (issue 7, item 2): the same lifecycle through the HTTP API (uvicorn in a process of its own,
`api.main:app` as `make run` serves it, on loopback) and by direct client updates, in the same run.

    python -m bench.api [--n1 15] [--n50 100]
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from api.auth import mint_token
from bench.common import PAYLOAD_KEY_B64, child, client_for, dev_server, p50, record, table
from bench.lifecycle import PATH, Phase, hazard_lifecycle, run_phase, start_workers
from contracts.hazard import TASK_QUEUE, Actor
from infra.ports import free_port
from readmodel.db import make_engine
from settings import Settings

# The action's path under /hazards/{id} and the field of the update input that is the request body.
ROUTES = {
    "submit_plan": ("plan", "plan"),
    "confirm_interim_control": ("interim-controls", "control"),
    "report_rectification": ("rectification", "rectification"),
    "review": ("review", "review"),
}
SECRET = "bench-secret-" + uuid.uuid4().hex


def token(actor: Actor) -> str:
    settings = Settings()
    return mint_token(
        actor, secret=SECRET, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl=timedelta(hours=2)
    )


class HttpLifecycle:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.tokens: dict[str, str] = {}
        self.failures: list[str] = []

    def auth(self, actor: Actor) -> dict[str, str]:
        if actor.id not in self.tokens:
            self.tokens[actor.id] = token(actor)
        return {"Authorization": f"Bearer {self.tokens[actor.id]}"}

    async def __call__(self, latencies: list[float]) -> None:
        started = time.perf_counter()
        response = await self.http.post(
            "/hazards",
            content=PATH.report().model_dump_json(),
            headers={
                **self.auth(PATH.reporter),
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        latencies.append(time.perf_counter() - started)
        self.check(response)
        hazard_id = response.json()["hazard_id"]
        for step in PATH.steps:
            route, field = ROUTES[step.update]
            update = step.input()
            body = getattr(update, field)
            started = time.perf_counter()
            response = await self.http.post(
                f"/hazards/{hazard_id}/{route}",
                content=body.model_dump_json(),
                headers={**self.auth(update.actor), "Content-Type": "application/json"},  # type: ignore[attr-defined]
            )
            latencies.append(time.perf_counter() - started)
            self.check(response)

    def check(self, response: httpx.Response) -> None:
        if response.status_code >= 300:
            self.failures.append(f"{response.status_code} {response.text[:200]}")
            response.raise_for_status()


async def wait_healthy(http: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not become healthy within 90 s")
        await asyncio.sleep(0.3)


async def main(n1: int, n50: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        async with dev_server(directory) as server:
            # The API starts hazards on the product's task queue, so the worker polls that one.
            workers = start_workers(stack, server, directory, hazard_queue=TASK_QUEUE)
            port = free_port()
            api = stack.enter_context(
                child(
                    [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
                    env={
                        "XIAOHAO_DATA_DIR": str(directory / "api"),
                        "XIAOHAO_DATABASE_URL": workers.database_url,
                        "XIAOHAO_TEMPORAL_ADDRESS": server.address,
                        "XIAOHAO_TEMPORAL_NAMESPACE": "xiaohao-bench",
                        "XIAOHAO_JWT_SECRET": SECRET,
                        "XIAOHAO_PAYLOAD_KEY": PAYLOAD_KEY_B64,
                        "XIAOHAO_LOG_JSON": "true",
                    },
                    ready=None,
                    log=directory / "api.log",
                )
            )
            client = await client_for(server.address)
            engine = make_engine(workers.database_url)
            stack.callback(engine.dispose)
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits) as http:
                await wait_healthy(http)
                over_http = HttpLifecycle(http)

                async def direct(latencies: list[float]) -> None:
                    await hazard_lifecycle(client, engine, TASK_QUEUE, latencies)

                pids = {"server": server.pid, "worker": workers.hazard_pid, "api": api.pid, "client": os.getpid()}
                for lifecycle in (direct, over_http):  # warm-up, not recorded
                    await run_phase("warm-up", lifecycle, hazards=3, concurrency=1, pids={})
                rows: list[dict[str, Any]] = []
                summary: dict[str, Any] = {}
                for concurrency, hazards in ((1, n1), (50, n50)):
                    phases: dict[str, Phase] = {}
                    for kind, lifecycle in (("direct", direct), ("http", over_http)):
                        over_http.failures.clear()
                        phases[kind] = await run_phase(
                            kind, lifecycle, hazards=hazards, concurrency=concurrency, pids=pids
                        )
                        if kind == "http":
                            phases[kind].extra["http_failures"] = sorted(set(over_http.failures))[:5]
                    rows += [{k: v for k, v in p.figures().items() if k != "http_failures"} for p in phases.values()]
                    added = p50(phases["http"].latencies) - p50(phases["direct"].latencies)
                    summary[f"c{concurrency}"] = {
                        "direct": phases["direct"].figures(),
                        "http": phases["http"].figures(),
                        "p50_added_ms_per_action": round(added, 1),
                        "http_errors": phases["http"].errors,
                    }
                table("api: HTTP API vs direct client updates (5 actions per hazard)", rows)
                table(
                    "api overhead (targets: p50 added <= 10 ms at c1, 0 errors at c50)",
                    [
                        {
                            "concurrency": k,
                            "p50_added_ms_per_action": v["p50_added_ms_per_action"],
                            "http_errors": v["http_errors"],
                        }
                        for k, v in summary.items()
                    ],
                )
                record("api", {"n1": n1, "n50": n50, "actions_per_hazard": 1 + len(PATH.steps)}, summary)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n1", type=int, default=15, help="hazards at concurrency 1")
    parser.add_argument("--n50", type=int, default=100, help="hazards at concurrency 50")
    args = parser.parse_args()
    asyncio.run(main(args.n1, args.n50))


if __name__ == "__main__":
    cli()
