"""Every lifecycle path from report to 销号 or 撤销, on the time-skipping test server."""

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.worker import Worker

from contracts.enums import Action, Stage
from readmodel.models import Hazard, HazardEventRow
from tests.scenarios import PATHS, start, walk
from workflows.hazard import HazardWorkflow


@pytest.mark.parametrize("name", sorted(PATHS))
async def test_path_reaches_its_end(name: str, time_env_client: Client, time_worker: Worker, engine: Engine) -> None:
    path = PATHS[name]
    handle = await start(time_env_client, path, time_worker.task_queue)
    results = await walk(handle, path)

    final = await handle.result()
    assert final.stage is path.final
    assert [r.event.seq for r in results] == list(range(2, len(path.steps) + 2))
    assert results[-1].state.stage is path.final
    assert final.version == len(path.steps) + 1

    events = (await handle.query(HazardWorkflow.get_events)).events
    assert events[0].action is Action.REPORT
    assert [e.action.value for e in events[1:]] == [s.update for s in path.steps]

    with Session(engine) as session:
        row = session.get(Hazard, final.hazard_id)
        assert row is not None
        assert row.stage == path.final
        assert row.version == final.version
        seqs = session.exec(
            select(HazardEventRow.seq)
            .where(HazardEventRow.hazard_id == final.hazard_id)
            .order_by(col(HazardEventRow.seq))
        ).all()
        assert list(seqs) == list(range(1, final.version + 1))


async def test_rejection_counts_and_closure_records_reviewer(time_env_client: Client, time_worker: Worker) -> None:
    path = PATHS["review_rejected_then_closed"]
    handle = await start(time_env_client, path, time_worker.task_queue)
    await walk(handle, path)
    final = await handle.result()
    assert final.rejection_count == 1
    assert final.closed_by is not None
    assert final.closed_by.id == "dept-002"
    assert final.closed_at is not None
    assert final.five_in_place is True


async def test_tip_off_starts_in_verify_and_on_spot_in_review(time_env_client: Client, time_worker: Worker) -> None:
    tip = await start(time_env_client, PATHS["tip_off_unfounded"], time_worker.task_queue)
    assert (await tip.query(HazardWorkflow.get_state)).stage is Stage.VERIFY
    spot = await start(time_env_client, PATHS["rectified_on_spot_closed"], time_worker.task_queue)
    state = await spot.query(HazardWorkflow.get_state)
    assert state.stage is Stage.REVIEW
    assert state.rectification is not None
