"""Writes a hazard's state and new events so that any repeat or reordering of deliveries is harmless."""

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Integer, Select, Table, and_, bindparam, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

from contracts.deadlines import EscalationRecord
from contracts.hazard import HazardEvent, HazardState, ProjectionResult
from readmodel.models import EscalationRow, HazardEventRow, ListingPeriodRow
from readmodel.timeline import changes_timeline, refresh_timelines


def hazard_row(state: HazardState) -> dict[str, Any]:
    report = state.report
    imported = state.imported
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
        "reporter_organisation": state.reporter.organisation,
        "transferred": state.transferred,
        "stage": state.stage,
        "five_in_place": state.five_in_place,
        # An imported hazard without a plan (closed or in review per its ledger) keeps the ledger's figures.
        "funds_yuan": state.plan.funds_yuan if state.plan else imported.funds_yuan if imported else None,
        "rectify_deadline": state.plan.deadline if state.plan else imported.rectify_deadline if imported else None,
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


def insert_for(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT with the dialect's ON CONFLICT clauses."""
    return sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)


def dialect_insert(engine: Engine, table: Table) -> sqlite.Insert | postgresql.Insert:
    return insert_for(engine.dialect.name, table)


@dataclass(frozen=True)
class Repair:
    """The reconciler found this hazard's rows drifting from its workflow: make them the workflow's.

    A row still holding `seen_version` (the version the reconciler read, None if it found no row) is
    overwritten even by the same or a lower version: corrupted content, or a version ahead of the workflow.
    A row another write moved on since is only replaced by a newer version, as always. Event rows are
    overwritten with the workflow's, and rows past the state's version are removed once the row is ours.
    """

    seen_version: int | None


@dataclass(frozen=True)
class ProjectionStatements:
    """write_projection's statements for one dialect, built once and executed with each call's rows as parameters:
    built per call they cost their construction, and statements carrying multi-row VALUES (a JSON payload among
    them) are compiled again on every call, SQLAlchemy having no cache key for them."""

    # New events; a row already present (a redelivery) is left to `restamp_events`.
    insert_events: Any
    # Already present: rewritten only by a later-stamped delivery (a later attempt at the same workflow task).
    restamp_events: Any
    # The reconciler's repair: the workflow's events replace whatever the rows hold.
    overwrite_events: Any
    # The hazard row: an older delivery arriving late never replaces a newer state. The same version with a later
    # clock does: it comes from a later attempt at the workflow task (the one before died after writing, before it
    # completed), the attempt Temporal keeps. Under repair, so does any state while the row still holds the version
    # the reconciler read (`seen_version`; NULL otherwise, which matches nothing).
    upsert_row: Any


@functools.cache
def projection_statements(dialect: str, columns: tuple[str, ...]) -> ProjectionStatements:
    """For `dialect`, writing hazard rows of `columns` (hazard_row's keys)."""
    hazards = SQLModel.metadata.tables["hazard"]
    event_table = SQLModel.metadata.tables[HazardEventRow.__tablename__]
    key = ["hazard_id", "seq"]
    seq = event_table.c.seq
    events = insert_for(dialect, event_table)
    overwrite = {c.name: events.excluded[c.name] for c in event_table.c if c.name not in {"id", *key}}
    row = insert_for(dialect, hazards)
    replaces = or_(
        hazards.c.version < row.excluded.version,
        and_(hazards.c.version == row.excluded.version, hazards.c.updated_at < row.excluded.updated_at),
        hazards.c.version == bindparam("seen_version", type_=Integer),
    )
    return ProjectionStatements(
        insert_events=events.on_conflict_do_nothing(index_elements=key).returning(seq),
        restamp_events=events.on_conflict_do_update(
            index_elements=key, set_=overwrite, where=event_table.c.at < events.excluded.at
        ).returning(seq),
        overwrite_events=events.on_conflict_do_update(index_elements=key, set_=overwrite).returning(seq),
        upsert_row=row.on_conflict_do_update(
            index_elements=[hazards.c.hazard_id],
            set_={k: row.excluded[k] for k in columns if k != "hazard_id"},
            where=replaces,
        ).returning(hazards.c.version),
    )


def write_projection(
    engine: Engine,
    state: HazardState,
    events: list[HazardEvent],
    *,
    repair: Repair | None = None,
    new_events: list[HazardEvent] | None = None,
) -> ProjectionResult:
    """Under `repair`, `events_inserted` counts the event rows written, inserted or overwritten.

    `new_events`, when given, receives the events whose rows this call wrote: none on a redelivery.
    """
    row = hazard_row(state)
    statements = projection_statements(engine.dialect.name, tuple(row))
    event_table = SQLModel.metadata.tables[HazardEventRow.__tablename__]
    # RETURNING counts what was really written on both databases (rowcount is -1 on psycopg here).
    inserted = replaced = 0
    with engine.begin() as conn:
        if events:
            rows = [event_row(state.hazard_id, e) for e in events]
            first = statements.insert_events if repair is None else statements.overwrite_events
            seqs = set(conn.execute(first, rows).scalars())
            inserted = len(seqs)
            if new_events is not None:
                new_events.extend(e for e in events if e.seq in seqs)
            if present := [r for r in rows if r["seq"] not in seqs]:
                # Redelivered events: as the row below, a later attempt's (later-stamped) events are the kept ones.
                replaced = len(conn.execute(statements.restamp_events, present).all())
        seen_version = repair.seen_version if repair is not None else None
        written = conn.execute(statements.upsert_row, {**row, "seen_version": seen_version}).first() is not None
        if repair is not None and written:
            # Only once the row holds this state: a newer write that won the race may have added events.
            conn.execute(
                delete(event_table).where(event_table.c.hazard_id == state.hazard_id, event_table.c.seq > state.version)
            )
        if repair is not None or any(changes_timeline(e) for e in events):
            refresh_timelines(conn, [state.hazard_id])
    return ProjectionResult(
        events_inserted=inserted,
        events_already_present=len(events) - inserted,
        events_replaced=replaced,
        row_written=written,
    )


def escalation_row(record: EscalationRecord, letter: dict[str, Any]) -> dict[str, Any]:
    return {
        "hazard_id": record.hazard_id,
        "deadline_id": record.deadline_id,
        "deadline_kind": record.deadline_kind.value,
        "rung": record.rung.value,
        "level": record.level,
        "target_kind": record.target.kind.value,
        "target_organisation": record.target.organisation,
        "copied_to": record.copied_to,
        "issued_by": record.issued_by,
        "doc_number": record.doc_number,
        "at": record.at,
        "due": record.due,
        "working_days_late": record.working_days_late,
        "reason": record.reason,
        "letter": letter,
    }


def repair_escalations(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Insert the escalation rows that are missing and set the others' fields to the workflow's record.

    Never touches a stored letter or a row's id: the letter is the document as it was issued (its wording
    is not kept in Temporal), the id is in its download link. Allocates no 文号 and queues no notification:
    the record already carries its number, and it was announced when it was issued. Returns rows written.
    """
    if not rows:
        return 0
    table = SQLModel.metadata.tables[EscalationRow.__tablename__]
    key = ["hazard_id", "deadline_id", "rung"]
    insert = dialect_insert(engine, table).values(rows)
    insert = insert.on_conflict_do_update(
        index_elements=key, set_={k: insert.excluded[k] for k in rows[0] if k not in {"letter", *key}}
    )
    with engine.begin() as conn:
        written = len(conn.execute(insert.returning(table.c.id)).all())
        refresh_timelines(conn, sorted({row["hazard_id"] for row in rows}))
    return written


def forget_hazard(engine: Engine, hazard_id: str) -> int:
    """Delete a hazard's row, events and timeline (escalations stay: issued documents). For rows no workflow owns."""
    hazards = SQLModel.metadata.tables["hazard"]
    event_table = SQLModel.metadata.tables[HazardEventRow.__tablename__]
    periods = SQLModel.metadata.tables[ListingPeriodRow.__tablename__]
    with engine.begin() as conn:
        conn.execute(delete(periods).where(periods.c.hazard_id == hazard_id))
        events = len(
            conn.execute(
                delete(event_table).where(event_table.c.hazard_id == hazard_id).returning(event_table.c.seq)
            ).all()
        )
        rows = len(
            conn.execute(delete(hazards).where(hazards.c.hazard_id == hazard_id).returning(hazards.c.hazard_id)).all()
        )
    return events + rows


@functools.cache
def _stage_entries_query() -> Select[int, str, datetime]:
    # Built once: the worker reads it for each change of stage it projects; built anew, it took 100 of a read's 140 µs.
    table = SQLModel.metadata.tables[HazardEventRow.__tablename__]
    return (
        select(table.c.seq, table.c.stage_after, table.c.at)
        .where(
            table.c.hazard_id == bindparam("hazard_id"),
            or_(table.c.stage_before.is_(None), table.c.stage_before != table.c.stage_after),
        )
        .order_by(table.c.seq)
    )


def stage_entries(engine: Engine, hazard_id: str) -> list[tuple[int, str, datetime]]:
    """(seq, stage, at) of each event that moved the hazard into a stage, in order: when it entered each one."""
    with engine.connect() as conn:
        return [(seq, stage, at) for seq, stage, at in conn.execute(_stage_entries_query(), {"hazard_id": hazard_id})]
