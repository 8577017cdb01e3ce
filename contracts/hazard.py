"""The hazard workflow's contract: task queue, search attributes, inputs and state.

New fields always get defaults: histories recorded with older shapes must still decode and replay.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, Field
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from contracts.base import CreditCode, LongText, Model, Phone, Text
from contracts.deadlines import (
    CountedDeadline,
    Deadline,
    DeadlineKind,
    EscalationRecord,
    HazardPolicy,
    ListingLevel,
    PolicyRules,
    Rag,
    ScheduleDeadlineInput,
)
from contracts.enums import (
    Action,
    Industry,
    InterimControlKind,
    PublicationOf,
    ReviewDecision,
    Role,
    Source,
    Stage,
)

TASK_QUEUE = "hazards"
WORKFLOW_NAME = "HazardWorkflow"
# What today's starters send as ReportHazardInput.version (workflows/hazard.py says what each version means).
WORKFLOW_VERSION = 1
PROJECT_HAZARD_ACTIVITY = "project_hazard"


def workflow_id(hazard_id: str) -> str:
    return f"hazard-{hazard_id}"


# Search attributes hold no personal data: only what ops and lists filter on.
SA_STAGE = SearchAttributeKey.for_keyword("HazardStage")
SA_STREET = SearchAttributeKey.for_keyword("HazardStreet")
SA_INDUSTRY = SearchAttributeKey.for_keyword("HazardIndustry")
SA_DEPARTMENT = SearchAttributeKey.for_keyword("HazardDepartment")
SA_SOURCE = SearchAttributeKey.for_keyword("HazardSource")
SA_NEXT_DEADLINE = SearchAttributeKey.for_datetime("HazardNextDeadline")
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    SA_STAGE,
    SA_STREET,
    SA_INDUSTRY,
    SA_DEPARTMENT,
    SA_SOURCE,
    SA_NEXT_DEADLINE,
)


class Actor(Model):
    """Who did something; taken from the verified token, never from a request body.

    The jurisdiction claims say what the actor may see: an enterprise user its own enterprise (credit code),
    a street user its street, a department user its industries (and hazards assigned to its organisation).
    """

    id: Text
    name: Text
    role: Role
    organisation: Text
    credit_code: CreditCode | None = None
    street: Text | None = None
    industries: list[Industry] = Field(default_factory=list)


class Enterprise(Model):
    name: Text
    credit_code: CreditCode
    principal_name: Text
    principal_phone: Phone


class Criterion(Model):
    standard: Text = Field(description="判定标准, e.g. 《工贸企业重大事故隐患判定标准》")
    clause: Text = Field(description="条款, e.g. 第四条第（一）项")


class Rectification(Model):
    description: LongText
    completed_on: date
    evidence: list[Text] = Field(min_length=1, max_length=100, description="佐证材料 references")


class HazardReport(Model):
    title: Text
    description: LongText
    enterprise: Enterprise
    street: Text
    industry: Industry
    department: Text
    source: Source
    criterion: Criterion
    location: Text
    found_at: AwareDatetime
    rectified_on_spot: Rectification | None = Field(
        default=None, description="立查立改: rectified at once, goes straight to review"
    )


class Plan(Model):
    measures: LongText
    responsible_person: Text
    responsible_phone: Phone
    funds_yuan: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    deadline: date
    emergency_plan: LongText | None = None

    @property
    def five_in_place(self) -> bool:
        """措施、责任、资金、时限、预案 all present."""
        return self.funds_yuan is not None and self.emergency_plan is not None


class InterimControl(Model):
    kind: InterimControlKind
    measures: LongText
    suspension_order_no: Text | None = Field(
        default=None, description="责令停产整顿 order number; required when kind is suspension"
    )


class Verification(Model):
    verified: bool
    opinion: LongText


class ReviewOpinion(Model):
    decision: ReviewDecision
    opinion: LongText


class Revocation(Model):
    reason: LongText


class Transfer(Model):
    to_department: Text = Field(description="the department that takes the hazard over, e.g. 南开区住房和建设委员会")
    reason: LongText


class ExtensionRequest(Model):
    reason: LongText
    new_due_date: date


class ExtensionDecision(Model):
    approve: bool
    opinion: LongText


class ListingOrder(Model):
    level: ListingLevel = ListingLevel.DISTRICT
    issuing_body: Text = Field(description="督办单位, e.g. 南开区安委办")
    doc_number: Text = Field(description="督办文号")


class Delisting(Model):
    opinion: LongText
    doc_number: Text | None = None


class Publication(Model):
    of: PublicationOf
    published_on: date
    channel: Text = Field(description="where it was published, e.g. 区政府网站")


class Extension(Model):
    seq: int
    deadline_id: str
    deadline_kind: DeadlineKind
    request: ExtensionRequest
    requested_by: Actor
    requested_at: AwareDatetime
    decision: ExtensionDecision | None = None
    decided_by: Actor | None = None
    decided_at: AwareDatetime | None = None
    # Still undecided when its stage ended: no longer pending, never to move a later stage's deadline.
    lapsed_at: AwareDatetime | None = None


class Listing(Model):
    order: ListingOrder
    automatic: bool
    listed_at: AwareDatetime
    listed_by: Actor
    published_on: date | None = None
    delisting: Delisting | None = None
    delisted_at: AwareDatetime | None = None
    delisted_by: Actor | None = None
    delisting_published_on: date | None = None


class ImportedHazard(Model):
    """A hazard carried over from an existing 督改台账 (imports/): the stage its row records, the data that stage
    needs, and the ledger's own dates, from which its deadlines are counted (workflows/lifecycle.imported_clock).

    Rungs of the escalation ladder whose time had passed when the hazard was imported are not issued: they did
    not happen in this system (workflows/hazard.py, HazardWorkflow._put).
    """

    stage: Stage
    key: Text = Field(description="the row's idempotency key: its 隐患编号, else a hash of credit code, name, date")
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the imported file")
    row: int = Field(ge=1, description="the row in that file, as Excel numbers it")
    plan: Plan | None = None
    plan_submitted_on: date | None = Field(default=None, description="方案提交日期: when interim controls fell due")
    interim_control: InterimControl | None = None
    rectify_deadline: date | None = Field(default=None, description="整改时限 as recorded (the plan's, with a plan)")
    funds_yuan: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    five_in_place: bool = Field(default=False, description="五到位 as recorded; computed from the plan when given")
    rectified_on: date | None = Field(default=None, description="整改完成日期: when the review fell due")
    rectification_note: LongText | None = Field(default=None, description="整改完成情况 as recorded")
    closed_on: date | None = Field(default=None, description="销号日期")
    listing: ListingOrder | None = Field(default=None, description="挂牌督办 recorded in the ledger")
    listed_on: date | None = None
    revocation: Revocation | None = None


# One input per workflow and update: the actor travels beside the payload it acts with.
class ReportHazardInput(Model):
    hazard_id: Text
    actor: Actor
    report: HazardReport
    # Set by a ledger import: the hazard opens in the recorded stage instead of the first one.
    imported: ImportedHazard | None = None
    # Set by whoever reports it (the API, a ledger import: readmodel.admin_queries.current_policy): the policy in
    # force now. A starter that leaves it out has the workflow load it, as hazards reported before it did.
    policy: HazardPolicy | None = None
    # Set by a ledger import (imports/runner.py): the recorded stage's deadline, counted from the ledger's dates
    # (workflows.lifecycle.imported_schedule). Left out, or counted from anything else, the workflow counts it.
    counted_deadline: CountedDeadline | None = None
    # Set by continue-as-new: the run goes on from where the previous one handed over.
    carried: "CarriedHazard | None" = None
    # Set by every starter of today (WORKFLOW_VERSION): the workflow code the hazard was opened for. Left out (0),
    # as by starters from before it, the workflow asks history which changes the run took.
    version: int = Field(default=0, ge=0)

    def search_attributes(self) -> TypedSearchAttributes:
        """What a starter of today's version sets with the start."""
        return found_by(self.report, self.report.department)


def found_by(report: HazardReport, department: str) -> TypedSearchAttributes:
    """The search attributes a hazard keeps from its report on. A starter of today's version sets them with the
    start, and the workflow then upserts them only if they differ (workflows/hazard.py)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SA_STREET, report.street),
            SearchAttributePair(SA_INDUSTRY, report.industry.value),
            SearchAttributePair(SA_DEPARTMENT, department),
            SearchAttributePair(SA_SOURCE, report.source.value),
        ]
    )


class VerifyInput(Model):
    actor: Actor
    verification: Verification


class SubmitPlanInput(Model):
    actor: Actor
    plan: Plan


class ConfirmInterimControlInput(Model):
    actor: Actor
    control: InterimControl


class ReportRectificationInput(Model):
    actor: Actor
    rectification: Rectification


class ReviewInput(Model):
    actor: Actor
    review: ReviewOpinion


class RevokeInput(Model):
    actor: Actor
    revocation: Revocation


class TransferInput(Model):
    actor: Actor
    transfer: Transfer


class RequestExtensionInput(Model):
    actor: Actor
    request: ExtensionRequest


class DecideExtensionInput(Model):
    actor: Actor
    decision: ExtensionDecision


class ListInput(Model):
    actor: Actor
    order: ListingOrder


class DelistInput(Model):
    actor: Actor
    delisting: Delisting


class PublishInput(Model):
    actor: Actor
    publication: Publication


class HazardEvent(Model):
    seq: int
    action: Action
    actor: Actor
    at: AwareDatetime
    stage_before: Stage | None
    stage_after: Stage
    payload: dict[str, Any] = Field(default_factory=dict)


class HazardState(Model):
    """The current state of one hazard, as answered to every accepted action."""

    hazard_id: str
    report: HazardReport
    reporter: Actor
    reported_at: AwareDatetime
    stage: Stage
    department: str
    version: int = Field(default=0, description="sequence number of the last accepted event")
    updated_at: AwareDatetime
    plan: Plan | None = None
    five_in_place: bool = False
    interim_controls: list[InterimControl] = Field(default_factory=list)
    rectification: Rectification | None = None
    rectified_by: Actor | None = None
    rejection_count: int = 0
    verification: Verification | None = None
    revocation: Revocation | None = None
    closed_at: AwareDatetime | None = None
    closed_by: Actor | None = None
    next_deadline: AwareDatetime | None = None
    # Deadlines and escalation (issue 3). Defaults keep histories recorded before them decodable.
    policy_version: int = 0
    rules: PolicyRules | None = None
    deadlines: list[Deadline] = Field(default_factory=list, description="open deadlines, earliest first")
    rag: Rag = Rag.GREEN
    escalation_level: int = 0
    escalations: list[EscalationRecord] = Field(default_factory=list)
    extensions: list[Extension] = Field(default_factory=list)
    listing: Listing | None = None
    penalty_exempt: bool = False
    # 移送: once transferred, the hazard belongs to its named department, not to every department of its industry.
    transferred: bool = False
    # Carried over from an existing ledger: what the row recorded (None for hazards reported here).
    imported: ImportedHazard | None = None


class HazardRecord(Model):
    """Everything a hazard workflow holds: one object, so continue-as-new can carry it whole."""

    state: HazardState
    events: list[HazardEvent] = Field(default_factory=list)
    projected_seq: int = 0
    # What each open deadline was computed from, so a calendar change can count it again.
    schedule_inputs: dict[str, ScheduleDeadlineInput] = Field(default_factory=dict)
    # "<deadline id>/<rung>" of every rung already fired: a re-armed deadline never fires one twice.
    fired: list[str] = Field(default_factory=list)
    # Update id (the API's Idempotency-Key) -> the event its action made, for the latest actions: a retry that
    # reaches a continued run is answered as the first attempt was, as Temporal does within one run.
    recent_updates: dict[str, int] = Field(default_factory=dict)
    # An undecided extension lapses when its stage ends (workflows/lifecycle.py). Off for hazards started before
    # the rule (their histories replay as recorded): workflows/hazard.py sets it from LAPSED_EXTENSIONS_PATCH.
    extensions_lapse: bool = False


class CarriedHazard(Model):
    """What a hazard workflow hands to its next run when its history has grown long (continue-as-new). `record`
    keeps only its latest events: the earlier ones are in the read model and in the previous runs."""

    record: HazardRecord
    with_deadlines: bool
    recount: bool = False


class ActionResult(Model):
    state: HazardState
    event: HazardEvent


class HazardEvents(Model):
    """The events this run holds. A continued run holds only the latest; the run before it holds the earlier ones
    (infra.hazard_events.recorded_events follows the chain)."""

    events: list[HazardEvent]
    previous_run_id: str | None = None


class ProjectHazardInput(Model):
    """The current state and the events the read model has not been sent yet."""

    state: HazardState
    events: list[HazardEvent]


class ProjectionResult(Model):
    events_inserted: int
    events_already_present: int
    # Of those present, the ones rewritten with this delivery's: it came from a later attempt at the workflow task.
    events_replaced: int = 0
    row_written: bool


ReportHazardInput.model_rebuild()
