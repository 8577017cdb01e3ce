"""The read model's writer: any repeat or reordering of deliveries leaves the same rows."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from contracts.enums import Action, Stage
from readmodel.models import Hazard, HazardEventRow
from readmodel.projection import write_projection
from tests.scenarios import ENTERPRISE, plan, report
from workflows.lifecycle import apply, open_hazard

pytestmark = pytest.mark.databases


def rows(engine: Engine, hazard_id: str) -> tuple[Hazard | None, list[int]]:
    with Session(engine) as session:
        seqs = session.exec(
            select(HazardEventRow.seq).where(HazardEventRow.hazard_id == hazard_id).order_by(col(HazardEventRow.seq))
        ).all()
        return session.get(Hazard, hazard_id), list(seqs)


def test_redelivery_and_stale_states_change_nothing(engine: Engine) -> None:
    now = datetime.now(UTC)
    record = open_hazard("P-1", report(), ENTERPRISE, now)
    first = write_projection(engine, record.state, record.events)
    assert (first.events_inserted, first.events_already_present, first.row_written) == (1, 0, True)

    reported = record.state.model_copy(deep=True)
    apply(record, Action.SUBMIT_PLAN, ENTERPRISE, plan(), now)
    second = write_projection(engine, record.state, record.events)
    assert (second.events_inserted, second.events_already_present, second.row_written) == (1, 1, True)

    again = write_projection(engine, record.state, record.events)
    assert (again.events_inserted, again.events_already_present, again.row_written) == (0, 2, False)
    stale = write_projection(engine, reported, record.events[:1])
    assert (stale.events_inserted, stale.row_written) == (0, False)

    row, seqs = rows(engine, "P-1")
    assert row is not None
    assert row.stage == Stage.INTERIM_CONTROL
    assert row.version == 2
    assert row.found_at.tzinfo is not None
    assert seqs == [1, 2]
