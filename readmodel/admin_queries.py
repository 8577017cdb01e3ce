"""The committee office's settings in the read model: calendar overrides and policy versions.

Like `queries`, every function takes the session by keyword, but for `calendar_override_fields`, which the worker
reads for every deadline it counts: it takes a connection.
"""

from datetime import date, datetime

from pydantic import Field
from sqlalchemy import Connection, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from contracts.base import Model
from contracts.deadlines import Policy, PolicyRules
from contracts.enums import Industry, Stage
from readmodel.models import CalendarOverrideRow, Hazard, PolicyVersionRow
from workcalendar import CalendarSource, WorkCalendar, YearOverride

# Version 1 is the built-in defaults of DESIGN.md and is never stored: hazards started before anyone saved a
# policy carry version 1, so the first saved policy must be version 2 or two different policies would share it.
BUILTIN_POLICY_VERSION = 1
BUILTIN_POLICY_NOTE = "内置默认策略"

SOURCE_LABELS: dict[CalendarSource, str] = {
    CalendarSource.BUILTIN: "国务院办公厅节假日安排（系统内置）",
    CalendarSource.OVERRIDE: "区安委办录入",
    CalendarSource.FALLBACK: "尚未录入：暂按周一至周五计算，相关期限为临时期限",
}


class PolicyVersionPublic(Policy):
    note: str | None = None
    created_at: datetime | None = Field(default=None, description="absent for the built-in defaults")
    created_by: str | None = None


class PolicyVersionsPublic(Model):
    data: list[PolicyVersionPublic] = Field(description="newest first; the built-in defaults last")
    count: int


class CalendarOverridePublic(Model):
    year: int
    holidays: list[date]
    workdays: list[date]
    label: str | None
    updated_at: datetime
    updated_by: str


class CalendarYearPublic(Model):
    year: int
    source: CalendarSource
    label: str


class CalendarPublic(Model):
    overrides: list[CalendarOverridePublic]
    years: list[CalendarYearPublic] = Field(description="which table each year is counted on")


# (year, holidays, workdays, label) of one override, as stored.
OverrideFields = tuple[int, list[str], list[str], str | None]

# Built once, without the ORM: the worker reads it for every deadline it counts, and the ORM query cost it about
# four times the plain statement.
_OVERRIDE_FIELDS = select(
    col(CalendarOverrideRow.year),
    col(CalendarOverrideRow.holidays),
    col(CalendarOverrideRow.workdays),
    col(CalendarOverrideRow.label),
).order_by(col(CalendarOverrideRow.year))


def year_override(fields: OverrideFields) -> YearOverride:
    year, holidays, workdays, label = fields
    return YearOverride(
        year=year,
        holidays=frozenset(map(date.fromisoformat, holidays)),
        workdays=frozenset(map(date.fromisoformat, workdays)),
        version=label,
    )


def _year_override(row: CalendarOverrideRow) -> YearOverride:
    return year_override((row.year, row.holidays, row.workdays, row.label))


def _override_public(row: CalendarOverrideRow) -> CalendarOverridePublic:
    return CalendarOverridePublic(
        year=row.year,
        holidays=[date.fromisoformat(d) for d in row.holidays],
        workdays=[date.fromisoformat(d) for d in row.workdays],
        label=row.label,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _override_rows(session: Session) -> list[CalendarOverrideRow]:
    return list(session.exec(select(CalendarOverrideRow).order_by(col(CalendarOverrideRow.year))).all())


def calendar_overrides(*, session: Session) -> list[YearOverride]:
    return [year_override(fields) for fields in calendar_override_fields(session.connection())]


def calendar_override_fields(conn: Connection) -> tuple[OverrideFields, ...]:
    """The overrides' fields by year, as stored: cheap to read, and to compare with the last read's."""
    return tuple(
        (year, holidays, workdays, label) for year, holidays, workdays, label in conn.execute(_OVERRIDE_FIELDS)
    )


def _year_public(year: int, source: CalendarSource) -> CalendarYearPublic:
    return CalendarYearPublic(year=year, source=source, label=SOURCE_LABELS[source])


def calendar(*, session: Session, years: range) -> CalendarPublic:
    """The overrides entered, and the source of every year in `years` or overridden."""
    rows = _override_rows(session)
    work_calendar = WorkCalendar(_year_override(row) for row in rows)
    shown = sorted(set(years) | {row.year for row in rows})
    return CalendarPublic(
        overrides=[_override_public(row) for row in rows],
        years=[_year_public(year, work_calendar.source_of(year)) for year in shown],
    )


def save_calendar_override(
    *, session: Session, override: YearOverride, actor_name: str, now: datetime
) -> CalendarOverridePublic:
    """Enters or replaces one year of the official calendar."""
    row = session.get(CalendarOverrideRow, override.year) or CalendarOverrideRow(
        year=override.year, updated_at=now, updated_by=actor_name
    )
    row.holidays = [d.isoformat() for d in sorted(override.holidays)]
    row.workdays = [d.isoformat() for d in sorted(override.workdays)]
    row.label = override.version
    row.updated_at = now
    row.updated_by = actor_name
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        # The same year entered at the same moment by someone else: replace theirs, as a save a second later would.
        session.rollback()
        return save_calendar_override(session=session, override=override, actor_name=actor_name, now=now)
    session.refresh(row)
    return _override_public(row)


def open_hazard_ids(*, session: Session) -> list[str]:
    closed = [Stage.CLOSED.value, Stage.REVOKED.value]
    return list(session.exec(select(Hazard.hazard_id).where(col(Hazard.stage).not_in(closed))).all())


def _builtin_policy() -> PolicyVersionPublic:
    return PolicyVersionPublic(version=BUILTIN_POLICY_VERSION, note=BUILTIN_POLICY_NOTE)


def _policy(row: PolicyVersionRow) -> PolicyVersionPublic:
    return PolicyVersionPublic.model_validate(
        {
            "version": row.version,
            "rules": row.rules,
            "industry_overrides": row.industry_overrides,
            "note": row.note,
            "created_at": row.created_at,
            "created_by": row.created_by,
        }
    )


def current_policy(*, session: Session) -> PolicyVersionPublic:
    """The policy in force for new hazards: the newest version, or the built-in defaults."""
    row = session.exec(select(PolicyVersionRow).order_by(col(PolicyVersionRow.version).desc()).limit(1)).first()
    return _builtin_policy() if row is None else _policy(row)


def policy_versions(*, session: Session) -> PolicyVersionsPublic:
    rows = session.exec(select(PolicyVersionRow).order_by(col(PolicyVersionRow.version).desc())).all()
    data = [*map(_policy, rows), _builtin_policy()]
    return PolicyVersionsPublic(data=data, count=len(data))


def save_policy(
    *,
    session: Session,
    rules: PolicyRules,
    industry_overrides: dict[Industry, PolicyRules],
    note: str | None,
    actor_name: str,
    now: datetime,
) -> PolicyVersionPublic:
    """Adds a new version; old versions are never changed, since running hazards name the one they follow."""
    while True:
        latest = session.exec(select(func.max(col(PolicyVersionRow.version)))).one()
        row = PolicyVersionRow(
            version=max(latest or 0, BUILTIN_POLICY_VERSION) + 1,
            rules=rules.model_dump(mode="json"),
            industry_overrides={
                industry.value: override.model_dump(mode="json") for industry, override in industry_overrides.items()
            },
            note=note,
            created_at=now,
            created_by=actor_name,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            # Another save took this version number between our read and our insert: take the next one.
            session.rollback()
            continue
        return _policy(row)
