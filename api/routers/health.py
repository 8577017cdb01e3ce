import asyncio

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import EngineDep
from api.errors import Problem
from infra.temporal import TemporalConnection

router = APIRouter(tags=["ops"])

CHECK_TIMEOUT = 3.0


def _database_answers(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/healthz", summary="API, Temporal and the database answer", responses={503: {}})
async def healthz(request: Request, engine: EngineDep) -> dict[str, str]:
    connection: TemporalConnection = request.app.state.temporal
    failing = []
    # Whatever the failure (refused, timed out, bad answer), the dependency is not usable: say which.
    try:
        client = await asyncio.wait_for(connection.client(), timeout=CHECK_TIMEOUT)
        await asyncio.wait_for(client.workflow_service.get_system_info(GetSystemInfoRequest()), timeout=CHECK_TIMEOUT)
    except Exception:
        failing.append("temporal")
    try:
        await asyncio.wait_for(run_in_threadpool(_database_answers, engine), timeout=CHECK_TIMEOUT)
    except Exception:
        failing.append("database")
    if failing:
        raise Problem(503, "Unhealthy", f"依赖不可用：{', '.join(failing)}", failing=failing)
    return {"status": "ok", "temporal": "ok", "database": "ok"}
