"""Migrations that fill new columns from what the read model already holds."""

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from contracts.enums import Action, ReviewDecision, Stage
from contracts.hazard import HazardRecord, ListingOrder, Transfer
from readmodel.migrate import alembic_config, upgrade
from readmodel.projection import write_projection
from tests.scenarios import (
    COMMITTEE,
    ENTERPRISE,
    INSPECTOR,
    PATHS,
    Path,
    confirm_control,
    delist,
    report,
    report_rectification,
    review,
    submit_plan,
)
from workflows.lifecycle import apply, open_hazard

pytestmark = pytest.mark.databases

HAZARDS = SQLModel.metadata.tables["hazard"]
PERIODS = SQLModel.metadata.tables["listing_period"]


def hazard_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(HAZARDS).order_by(HAZARDS.c.hazard_id)).mappings()]


def period_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(row) for row in conn.execute(select(PERIODS).order_by(PERIODS.c.hazard_id, PERIODS.c.seq)).mappings()
        ]


def walked(hazard_id: str, path: Path, at: datetime) -> HazardRecord:
    record = open_hazard(hazard_id, path.report(), path.reporter, at)
    for step in path.steps:
        take(record, Action(step.update), step.input(), at)
    return record


def take(record: HazardRecord, action: Action, update: BaseModel, at: datetime) -> None:
    """An update input (its actor and one payload) applied by the rules, as the workflow applies it."""
    fields = dict(update)
    actor = fields.pop("actor")
    (payload,) = fields.values()
    apply(record, action, actor, payload, at)


def test_0007_fills_the_department_scope_columns_of_older_rows_from_their_events(
    database_url: str, engine: Engine
) -> None:
    now = datetime.now(UTC)
    transferred = open_hazard("M-1", report(), INSPECTOR, now)
    to_housing = Transfer(to_department="南开区住房和建设委员会", reason="涉及在建工程，由住建部门负责监管。")
    apply(transferred, Action.TRANSFER, INSPECTOR, to_housing, now)
    reported_by_enterprise = open_hazard("M-2", report(), ENTERPRISE, now)
    for record in (transferred, reported_by_enterprise):
        write_projection(engine, record.state, record.events)
    written = hazard_rows(engine)
    assert [(r["reporter_organisation"], r["transferred"]) for r in written] == [
        (INSPECTOR.organisation, True),
        (ENTERPRISE.organisation, False),
    ]

    engine.dispose()
    command.downgrade(alembic_config(database_url), "0006")
    upgrade(database_url)

    assert hazard_rows(engine) == written, "the migration filled them otherwise than the projection writes them"


def test_0009_fills_the_timelines_of_older_rows_from_their_events(database_url: str, engine: Engine) -> None:
    now = datetime.now(UTC)
    closed = walked("M-1", PATHS["self_report_closed"], now)
    revoked = walked("M-2", PATHS["revoked_in_rectify"], now)
    # Listed, delisted once its rectification was reported, sent back by the review, and listed again.
    relisted = walked("M-3", Path(ENTERPRISE, report, [submit_plan()], Stage.INTERIM_CONTROL), now)
    listing = ListingOrder(issuing_body="南开区安委办", doc_number="南开安委办督〔2026〕3号")
    apply(relisted, Action.LIST, COMMITTEE, listing, now)
    for step in [confirm_control(), report_rectification(), delist(), review(ReviewDecision.REJECT)]:
        take(relisted, Action(step.update), step.input(), now)
    apply(relisted, Action.LIST, COMMITTEE, listing, now)
    for record in (closed, revoked, relisted):
        write_projection(engine, record.state, record.events)
    written, periods = hazard_rows(engine), period_rows(engine)
    assert [(r["planned_at"] is not None, r["ended_at"] is not None) for r in written] == [
        (True, True),
        (True, True),
        (True, False),
    ]
    assert [(p["hazard_id"], p["delisted_at"] is not None) for p in periods] == [("M-3", True), ("M-3", False)]

    engine.dispose()
    command.downgrade(alembic_config(database_url), "0008")
    upgrade(database_url)

    assert hazard_rows(engine) == written, "the migration filled them otherwise than the projection writes them"
    assert period_rows(engine) == periods
