"""The read model's writer: any repeat or reordering of deliveries leaves the same rows."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from contracts.enums import Action, Stage
from contracts.hazard import HazardEvent, HazardRecord
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


def test_a_later_attempt_at_the_same_task_restamps_its_rows_and_an_earlier_one_never_does(engine: Engine) -> None:
    """A worker that dies after the projection wrote, before its workflow task completed, leaves rows stamped with
    that attempt's workflow.now(); Temporal keeps the next attempt, which runs the same actions seconds later.
    Its delivery (same version, same events, later clock) must leave its timestamps, and the dead attempt's, should
    it land last, must not."""
    then = datetime.now(UTC)
    record = open_hazard("P-2", report(), ENTERPRISE, then)
    write_projection(engine, record.state, record.events)

    def attempt(at: datetime) -> HazardRecord:
        attempted = record.model_copy(deep=True)
        apply(attempted, Action.SUBMIT_PLAN, ENTERPRISE, plan(), at)
        return attempted

    died, kept = attempt(then + timedelta(seconds=1)), attempt(then + timedelta(seconds=5))
    new_events: list[HazardEvent] = []
    assert write_projection(engine, died.state, died.events[1:], new_events=new_events).events_inserted == 1

    redelivered: list[HazardEvent] = []
    again = write_projection(engine, kept.state, kept.events[1:], new_events=redelivered)
    assert (again.events_inserted, again.events_already_present, again.events_replaced, again.row_written) == (
        0,
        1,
        1,
        True,
    )
    assert redelivered == [], "a restamped event is not a new one (its metrics were counted once)"
    late = write_projection(engine, died.state, died.events[1:])
    assert (late.events_replaced, late.row_written) == (0, False)

    with Session(engine) as session:
        row = session.get(Hazard, "P-2")
        event = session.exec(select(HazardEventRow).where(HazardEventRow.hazard_id == "P-2", HazardEventRow.seq == 2))
        assert row is not None
        assert row.updated_at == kept.state.updated_at
        assert event.one().at == kept.events[1].at
