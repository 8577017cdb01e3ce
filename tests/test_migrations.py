"""Migrations that fill new columns from what the read model already holds."""

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from contracts.enums import Action
from contracts.hazard import Transfer
from readmodel.migrate import alembic_config, upgrade
from readmodel.projection import write_projection
from tests.scenarios import ENTERPRISE, INSPECTOR, report
from workflows.lifecycle import apply, open_hazard

pytestmark = pytest.mark.databases

HAZARDS = SQLModel.metadata.tables["hazard"]


def hazard_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(HAZARDS).order_by(HAZARDS.c.hazard_id)).mappings()]


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
