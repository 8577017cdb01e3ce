"""Writes a hazard's state and new events so that any repeat or reordering of deliveries is harmless."""

from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

from contracts.hazard import HazardEvent, HazardState, ProjectionResult
from readmodel.models import HazardEventRow


def hazard_row(state: HazardState) -> dict[str, Any]:
    report = state.report
    return {
        "hazard_id": state.hazard_id,
        "title": report.title,
        "description": report.description,
        "enterprise_name": report.enterprise.name,
        "enterprise_credit_code": report.enterprise.credit_code,
        "street": report.street,
        "industry": report.industry,
        "department": state.department,
        "source": report.source,
        "criterion_standard": report.criterion.standard,
        "criterion_clause": report.criterion.clause,
        "location": report.location,
        "found_at": report.found_at,
        "reported_at": state.reported_at,
        "reporter_id": state.reporter.id,
        "reporter_name": state.reporter.name,
        "stage": state.stage,
        "five_in_place": state.five_in_place,
        "funds_yuan": state.plan.funds_yuan if state.plan else None,
        "rectify_deadline": state.plan.deadline if state.plan else None,
        "rejection_count": state.rejection_count,
        "next_deadline": state.next_deadline,
        "closed_at": state.closed_at,
        "rag": state.rag,
        "escalation_level": state.escalation_level,
        "listed": state.listing is not None and state.listing.delisted_at is None,
        "penalty_exempt": state.penalty_exempt,
        "policy_version": state.policy_version,
        "deadline_provisional": bool(state.deadlines) and state.deadlines[0].provisional,
        "version": state.version,
        "updated_at": state.updated_at,
    }


def event_row(hazard_id: str, event: HazardEvent) -> dict[str, Any]:
    return {
        "hazard_id": hazard_id,
        "seq": event.seq,
        "action": event.action.value,
        "actor_id": event.actor.id,
        "actor_name": event.actor.name,
        "actor_role": event.actor.role.value,
        "actor_organisation": event.actor.organisation,
        "at": event.at,
        "stage_before": event.stage_before,
        "stage_after": event.stage_after,
        "payload": event.payload,
    }


def dialect_insert(engine: Engine, table: Table) -> sqlite.Insert | postgresql.Insert:
    return sqlite.insert(table) if engine.dialect.name == "sqlite" else postgresql.insert(table)


def write_projection(engine: Engine, state: HazardState, events: list[HazardEvent]) -> ProjectionResult:
    hazards = SQLModel.metadata.tables["hazard"]
    event_table = SQLModel.metadata.tables[HazardEventRow.__tablename__]
    row = hazard_row(state)
    upsert = dialect_insert(engine, hazards).values(row)
    # An older delivery arriving late must never overwrite a newer state.
    upsert = upsert.on_conflict_do_update(
        index_elements=[hazards.c.hazard_id],
        set_={k: upsert.excluded[k] for k in row if k != "hazard_id"},
        where=hazards.c.version < upsert.excluded.version,
    )
    # RETURNING counts what was really written on both databases (rowcount is -1 on psycopg here).
    inserted = 0
    with engine.begin() as conn:
        if events:
            inserted = len(
                conn.execute(
                    dialect_insert(engine, event_table)
                    .values([event_row(state.hazard_id, e) for e in events])
                    .on_conflict_do_nothing(index_elements=["hazard_id", "seq"])
                    .returning(event_table.c.seq)
                ).all()
            )
        written = conn.execute(upsert.returning(hazards.c.version)).first() is not None
    return ProjectionResult(
        events_inserted=inserted, events_already_present=len(events) - inserted, row_written=written
    )
