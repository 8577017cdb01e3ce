"""Deadlines, the escalation ladder and the policy that sets them: shared by workflow, activities and API.

Policy defaults are the table in DESIGN.md ("Default policy"). WD = working days on the official calendar.
"""

from datetime import date, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, Field

from contracts.base import Model, Text
from contracts.enums import Industry, Stage

SCHEDULE_DEADLINE_ACTIVITY = "schedule_deadline"
LOAD_POLICY_ACTIVITY = "load_policy"
ISSUE_ESCALATION_ACTIVITY = "issue_escalation"
# Without a heartbeat for this long an escalation attempt is taken as lost (its worker died) and retried, instead
# of waiting out the whole start-to-close timeout; the activity beats well within it, lock waits included.
ESCALATION_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
# Sent to open hazards when the calendar changes: deadlines not yet passed are counted again.
RECOMPUTE_DEADLINES_SIGNAL = "recompute_deadlines"

# Letters are office business: rungs fire in office hours on a working day, each hazard at its own minute.
OFFICE_OPENS_HOUR = 9
OFFICE_HOURS = 8


class Owner(StrEnum):
    """Who must act before the deadline; decides which ladder climbs."""

    ENTERPRISE = "enterprise"
    DEPARTMENT = "department"
    COMMITTEE_OFFICE = "committee_office"


class DeadlineKind(StrEnum):
    VERIFY = "verify"
    PLAN = "plan"
    INTERIM_CONTROL = "interim_control"
    RECTIFY = "rectify"
    REVIEW = "review"
    EXTENSION_DECISION = "extension_decision"
    LISTING_PUBLICATION = "listing_publication"
    DELISTING_PUBLICATION = "delisting_publication"


DEADLINE_LABELS: dict[DeadlineKind, str] = {
    DeadlineKind.VERIFY: "举报查实",
    DeadlineKind.PLAN: "提交整改方案",
    DeadlineKind.INTERIM_CONTROL: "落实临时管控措施",
    DeadlineKind.RECTIFY: "完成整改",
    DeadlineKind.REVIEW: "审核验收",
    DeadlineKind.EXTENSION_DECISION: "延期申请审批",
    DeadlineKind.LISTING_PUBLICATION: "挂牌督办公示",
    DeadlineKind.DELISTING_PUBLICATION: "摘牌公示",
}

DEADLINE_OWNERS: dict[DeadlineKind, Owner] = {
    DeadlineKind.VERIFY: Owner.DEPARTMENT,
    DeadlineKind.PLAN: Owner.ENTERPRISE,
    DeadlineKind.INTERIM_CONTROL: Owner.ENTERPRISE,
    DeadlineKind.RECTIFY: Owner.ENTERPRISE,
    DeadlineKind.REVIEW: Owner.DEPARTMENT,
    DeadlineKind.EXTENSION_DECISION: Owner.DEPARTMENT,
    DeadlineKind.LISTING_PUBLICATION: Owner.COMMITTEE_OFFICE,
    DeadlineKind.DELISTING_PUBLICATION: Owner.COMMITTEE_OFFICE,
}

STAGE_DEADLINES: dict[Stage, DeadlineKind] = {
    Stage.VERIFY: DeadlineKind.VERIFY,
    Stage.PLAN: DeadlineKind.PLAN,
    Stage.INTERIM_CONTROL: DeadlineKind.INTERIM_CONTROL,
    Stage.RECTIFY: DeadlineKind.RECTIFY,
    Stage.REVIEW: DeadlineKind.REVIEW,
}


class Rung(StrEnum):
    REMINDER = "reminder"  # 提醒敦促: a notification, no 文号
    OVERDUE = "overdue"  # the deadline passed: RAG turns red, no letter
    NOTICE_LETTER = "notice_letter"  # 函告 / 督办函
    SUMMONS = "summons"  # 约谈
    LISTING = "listing"  # 挂牌督办 (enterprise-owned stages)
    CIRCULAR = "circular"  # 通报 (a department's overdue verification, review or decision)


RUNG_LEVELS: dict[Rung, int] = {
    Rung.REMINDER: 0,
    Rung.OVERDUE: 0,
    Rung.NOTICE_LETTER: 1,
    Rung.SUMMONS: 2,
    Rung.LISTING: 3,
    Rung.CIRCULAR: 3,
}

RUNG_LABELS: dict[Rung, str] = {
    Rung.REMINDER: "提醒敦促",
    Rung.OVERDUE: "逾期",
    Rung.NOTICE_LETTER: "函告",
    Rung.SUMMONS: "约谈",
    Rung.LISTING: "挂牌督办",
    Rung.CIRCULAR: "通报",
}

# Rungs that are official documents: each gets a 文号 and a downloadable letter.
DOCUMENT_RUNGS = frozenset({Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING, Rung.CIRCULAR})


class Rag(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class ListingLevel(StrEnum):
    DISTRICT = "区级"
    CITY = "市级"
    PROVINCE = "省级"


class PolicyRules(Model):
    """One industry's rules. Calendar days unless the name says wd (working days)."""

    verify_days: int = Field(default=60, ge=1, le=365)
    verify_extension_days: int = Field(default=30, ge=0, le=365)
    plan_wd: int = Field(default=5, ge=1, le=60)
    interim_control_wd: int = Field(default=2, ge=1, le=60)
    rectify_max_days: int = Field(default=365, ge=1, le=1095)
    extension_min_wd_before: int = Field(default=5, ge=0, le=60)
    extension_decision_wd: int = Field(default=10, ge=1, le=60)
    extension_max: int = Field(default=2, ge=0, le=10)
    review_wd: int = Field(default=10, ge=1, le=60)
    reminder_wd_before: int = Field(default=3, ge=0, le=30)
    # At least 1: a letter on the due day itself would go out before the deadline has passed.
    notice_letter_wd_after: int = Field(default=1, ge=1, le=60)
    summons_wd_after: int = Field(default=10, ge=1, le=120)
    listing_wd_after: int = Field(default=20, ge=1, le=240)
    publication_wd: int = Field(default=5, ge=1, le=60)


class Policy(Model):
    """A version of the whole policy: defaults plus per-industry overrides. Versions are never edited."""

    version: int = 1
    rules: PolicyRules = Field(default_factory=PolicyRules)
    industry_overrides: dict[Industry, PolicyRules] = Field(default_factory=dict)

    def for_industry(self, industry: Industry) -> PolicyRules:
        return self.industry_overrides.get(industry, self.rules)

    def for_hazard(self, industry: Industry) -> "HazardPolicy":
        return HazardPolicy(version=self.version, rules=self.for_industry(industry))


class ScheduledRung(Model):
    rung: Rung
    at: AwareDatetime
    working_days_late: int = Field(default=0, description="negative for a reminder before the deadline")
    fired_at: AwareDatetime | None = None


class Deadline(Model):
    """One deadline and the moments its ladder climbs. A moved deadline gets a new id (its ladder restarts)."""

    id: Text
    kind: DeadlineKind
    owner: Owner
    due_date: date
    due: AwareDatetime = Field(description="end of the due date, Asia/Shanghai")
    # Years counted on the Monday-Friday fallback because nobody has published their calendar yet.
    fallback_years: list[int] = Field(default_factory=list)
    extension_cutoff: AwareDatetime | None = Field(
        default=None, description="last moment an extension of this deadline may be requested"
    )
    rungs: list[ScheduledRung] = Field(default_factory=list)
    done_at: AwareDatetime | None = None

    @property
    def provisional(self) -> bool:
        return bool(self.fallback_years)


class ScheduleDeadlineInput(Model):
    hazard_id: Text
    deadline_id: Text
    kind: DeadlineKind
    start: AwareDatetime = Field(description="when the clock starts (the stage was entered)")
    due_date: date | None = Field(default=None, description="a fixed due date (the plan's), else from the rules")
    rules: PolicyRules


class CountedDeadline(Model):
    """A deadline its starter counted, with what it counted it from: the workflow arms it without counting it again
    (a local activity, and its marker in history) when that is what it would have counted."""

    schedule: ScheduleDeadlineInput
    deadline: Deadline


class LoadPolicyInput(Model):
    industry: Industry


class HazardPolicy(Model):
    """What a hazard follows for its whole life: the policy version in force when it was reported, and the rules
    that version sets for its industry."""

    version: int
    rules: PolicyRules


class EscalationTarget(Model):
    kind: Owner
    organisation: Text


class IssueEscalationInput(Model):
    hazard_id: Text
    title: Text
    enterprise_name: Text
    principal_name: Text
    street: Text
    department: Text
    deadline: Deadline
    rung: Rung
    scheduled_at: AwareDatetime


class EscalationRecord(Model):
    hazard_id: str
    deadline_id: str
    deadline_kind: DeadlineKind
    rung: Rung
    level: int
    target: EscalationTarget
    copied_to: list[str] = Field(default_factory=list)
    issued_by: str
    doc_number: str | None = None
    at: AwareDatetime
    due: AwareDatetime
    working_days_late: int
    reason: str
