import asyncio

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, text

from api.errors import Problem
from infra.temporal import TemporalConnection
from readmodel.migrate import is_current

router = APIRouter(tags=["ops"])

CHECK_TIMEOUT = 3.0


def _database_answers(engine: Engine) -> bool:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


async def failing(request: Request, *, migrations: bool) -> list[str]:
    """The dependencies that do not answer, named; with `migrations`, also a schema behind the code's."""
    connection: TemporalConnection = request.app.state.temporal
    engine: Engine = request.app.state.engine
    found = []
    # Whatever the failure (refused, timed out, bad answer), the dependency is not usable: say which.
    try:
        client = await asyncio.wait_for(connection.client(), timeout=CHECK_TIMEOUT)
        await asyncio.wait_for(client.service_client.check_health(), timeout=CHECK_TIMEOUT)
    except Exception:
        found.append("temporal")
    check = is_current if migrations else _database_answers
    try:
        if not await asyncio.wait_for(run_in_threadpool(check, engine), timeout=CHECK_TIMEOUT):
            found.append("migrations")
    except Exception:
        found.append("database")
    return found


@router.get("/healthz", summary="API, Temporal and the database answer", responses={503: {}})
async def healthz(request: Request) -> dict[str, str]:
    if down := await failing(request, migrations=False):
        raise Problem(503, "Unhealthy", f"依赖不可用：{', '.join(down)}", failing=down)
    return {"status": "ok", "temporal": "ok", "database": "ok"}


@router.get("/readyz", summary="Ready to serve: Temporal, the database and its migrations", responses={503: {}})
async def readyz(request: Request) -> dict[str, str]:
    if down := await failing(request, migrations=True):
        raise Problem(503, "NotReady", f"尚未就绪：{', '.join(down)}", failing=down)
    return {"status": "ready", "temporal": "ok", "database": "ok", "migrations": "ok"}
