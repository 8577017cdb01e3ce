"""Takes a periodic report: the 调度表 or the quarterly report written from the read model as of its day, kept as
an immutable file (named by its SHA-256) with one snapshot row, once per kind, trigger and cutoff."""

import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import IO, Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select
from temporalio import activity

from contracts.clock import CHINA_TZ
from contracts.enums import Role
from contracts.hazard import Actor
from contracts.reports import (
    GENERATE_REPORT_ACTIVITY,
    GeneratedReport,
    GenerateReportInput,
    ReportKind,
    ReportTrigger,
    quarter_number,
    quarter_start,
)
from evidence import EvidenceStore, LocalEvidenceStore, S3EvidenceStore
from ledgers import xlsx
from ledgers.queries import DispatchBy, DispatchLine, dispatch_lines
from readmodel.models import ReportSnapshot
from readmodel.projection import dialect_insert
from readmodel.queries import HazardFilter
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from settings import Settings

# Who the store records as having put the files.
REPORTER_ID = "xiaohao-reports"
# A report has a line per street or department: far below this, which only stops a runaway file.
REPORT_MAX_BYTES = 100 * 1024 * 1024
DISPATCH_BY: dict[ReportKind, DispatchBy] = {
    ReportKind.DISPATCH_STREET: "street",
    ReportKind.DISPATCH_DEPARTMENT: "department",
}


def report_store(settings: Settings) -> EvidenceStore:
    """Report files live beside the evidence: in its S3 bucket under reports/, or in data/reports."""
    if settings.evidence_s3_bucket:
        return S3EvidenceStore(
            settings.evidence_s3_bucket,
            endpoint_url=settings.evidence_s3_endpoint_url,
            region=settings.evidence_s3_region,
            prefix="reports/",
            max_size=REPORT_MAX_BYTES,
            staging_dir=settings.data_dir / "reports-staging",
        )
    return LocalEvidenceStore(settings.data_dir / "reports", max_size=REPORT_MAX_BYTES)


def report_filename(input: GenerateReportInput) -> str:
    day = f"截至{input.as_of:%Y%m%d}"
    again = "（重新生成）" if input.trigger is ReportTrigger.REGENERATED else ""
    if input.kind is ReportKind.QUARTERLY:
        first = quarter_start(input.as_of)
        return f"{first.year}年{xlsx.QUARTER_NAMES[quarter_number(first)]}报告_{day}{again}.xlsx"
    return f"{input.kind.label}_{day}{again}.xlsx"


def dispatch_summary(lines: list[DispatchLine]) -> dict[str, int]:
    found, closed, overdue, listed = xlsx.dispatch_totals(lines)
    return {"found": found, "closed": closed, "in_progress": found - closed, "overdue": overdue, "listed": listed}


class ReportActivities:
    """Writes report files and their snapshot rows; a retried or repeated run returns the snapshot first taken."""

    def __init__(self, engine: Engine, open_store: Callable[[], EvidenceStore], *, district: str) -> None:
        self._engine = engine
        self._open_store = open_store
        self._district = district
        # The whole district, as the committee office sees it: a report is not cut to anyone's jurisdiction.
        self._reader = Actor(id=REPORTER_ID, name="定期报表", role=Role.COMMITTEE_OFFICE, organisation=district)

    @cached_property
    def _store(self) -> EvidenceStore:
        # Opened on first use: a worker that never takes a report creates no directory and no S3 client.
        return self._open_store()

    @activity.defn(name=GENERATE_REPORT_ACTIVITY)
    def generate_report(self, input: GenerateReportInput) -> GeneratedReport:
        with Session(self._engine) as session:
            taken = _find(session, input)
        if taken is not None:
            return _generated(taken, created=False)
        with tempfile.TemporaryFile() as out:
            summary = self._write(out, input)
            out.seek(0)
            stored = self._store.put(out, filename=report_filename(input), uploaded_by=REPORTER_ID)
        row: dict[str, Any] = {
            "kind": input.kind,
            "trigger": input.trigger,
            "as_of": input.as_of,
            "cutoff": input.cutoff,
            "generated_at": datetime.now(CHINA_TZ),
            "requested_by": input.requested_by,
            "workflow_id": activity.info().workflow_id,
            "filename": report_filename(input),
            "sha256": stored.file.sha256,
            "size": stored.file.size,
            "summary": summary,
        }
        snapshots = SQLModel.metadata.tables[ReportSnapshot.__tablename__]
        with Session(self._engine) as session:
            inserted = session.execute(
                dialect_insert(self._engine, snapshots)
                .values(row)
                .on_conflict_do_nothing(index_elements=["kind", "trigger", "cutoff"])
                .returning(snapshots.c.id)
            ).scalar_one_or_none()
            session.commit()
            if inserted is None:
                # A concurrent attempt at the same run committed first: its snapshot stands (its file too).
                winner = _find(session, input)
                assert winner is not None, f"snapshot of {input.kind.value} at {input.cutoff} vanished"
                return _generated(winner, created=False)
        activity.logger.info("report %s as of %s taken: %s", input.kind.value, input.as_of, stored.file.sha256)
        return GeneratedReport(snapshot_id=inserted, sha256=stored.file.sha256, created=True)

    def _write(self, out: IO[bytes], input: GenerateReportInput) -> dict[str, Any]:
        """Writes the workbook; returns the totals it prints."""
        with Session(self._engine) as session:
            if input.kind in DISPATCH_BY:
                by = DISPATCH_BY[input.kind]
                lines = self._dispatch(session, input, by)
                xlsx.write_dispatch(out, lines, by=by, district=self._district, as_of=input.as_of)
                return dispatch_summary(lines)
            streets = self._dispatch(session, input, "street")
            first = quarter_start(input.as_of)
            quarter = StatisticsQuery(
                group_by=GroupBy.STREET,
                as_of=input.cutoff,
                cutoff_year=first.year,
                found_from=first,
                found_to=input.as_of + timedelta(days=1),
            )
            report = xlsx.QuarterlyReport(
                district=self._district,
                as_of=input.as_of,
                quarter_first=first,
                streets=streets,
                departments=self._dispatch(session, input, "department"),
                by_street=hazard_statistics(session=session, scope=None, query=quarter),
                by_industry=hazard_statistics(
                    session=session, scope=None, query=replace(quarter, group_by=GroupBy.INDUSTRY)
                ),
            )
            xlsx.write_quarterly(out, report)
            return {
                **dispatch_summary(streets),
                "quarter_found": report.by_street.total.found,
                "quarter_closed": report.by_street.total.closed,
            }

    def _dispatch(self, session: Session, input: GenerateReportInput, by: DispatchBy) -> list[DispatchLine]:
        return dispatch_lines(
            session=session, actor=self._reader, where=HazardFilter(), by=by, as_of=input.as_of, now=input.cutoff
        )


def _find(session: Session, input: GenerateReportInput) -> ReportSnapshot | None:
    return session.exec(
        select(ReportSnapshot).where(
            col(ReportSnapshot.kind) == input.kind,
            col(ReportSnapshot.trigger) == input.trigger,
            col(ReportSnapshot.cutoff) == input.cutoff,
        )
    ).first()


def _generated(snapshot: ReportSnapshot, *, created: bool) -> GeneratedReport:
    assert snapshot.id is not None
    return GeneratedReport(snapshot_id=snapshot.id, sha256=snapshot.sha256, created=created)
