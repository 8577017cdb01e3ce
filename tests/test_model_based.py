"""Model-based tests (issue 8, item 6): random sequences of actions by random actors, and time passing.

One Hypothesis state machine, two drivers. `PureHazard` is the lifecycle's pure functions (`lifecycle.check`,
`lifecycle.apply`) with a small deadline keeper written from DESIGN.md (each open stage has one deadline; an
approved extension or the plan's date moves it; rungs fire when their time comes), on a clock the test moves. The
real driver sends the same actions as updates to a `HazardWorkflow` on a time-skipping server and lets time pass
with `env.sleep`. After every step the same invariants are checked on what the driver shows:

- closure: CLOSED is entered only by an accepted REVIEW approval in REVIEW, by a department official who is not
  the one who reported the rectification (for 立查立改 the reporter of the hazard), while no listing is active;
  the machine's own count of accepted approvals agrees;
- terminal stages absorb: CLOSED and REVOKED never change, and the only action accepted there is PUBLISH (a
  delisting is published after closure);
- rungs only climb: escalations are append-only and unique per deadline and rung; a deadline's fired rungs only
  grow, fire in their order, never before their time, and every rung whose time has come has fired;
- deadlines never move backwards: an open stage has exactly its own stage deadline (a terminal one none); within a
  stage it changes only when an extension of it is approved, and then only later; no stage deadline is ever armed
  earlier than the one of its kind before it;
- a refused action changes nothing (the whole state is equal before and after), an accepted one appends exactly
  one event (then only the service's own escalations), event numbers run 1, 2, 3, ... and the state's version is
  the last one; every change of stage is an edge of DESIGN.md's graph, and time alone changes no stage.

A finished hazard (terminal, no deadline left) completes its run: the workflow then refuses every update, and the
model must refuse it too. The machine found one bug, fixed since and kept as the two tests at the end: an
extension still pending when its stage ended could be approved in the next stage and re-armed a deadline met.

Against the real workflow it also checks the pure model's answer for the same state, actor, payload and moment
(accepted or refused with which error type; the stage and the deadlines after) against the workflow's own.
"""

import asyncio
import contextlib
import gc
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import (
    STAGE_DEADLINES,
    Deadline,
    DeadlineKind,
    EscalationRecord,
    EscalationTarget,
    ListingLevel,
    PolicyRules,
    Rung,
    ScheduleDeadlineInput,
    ScheduledRung,
)
from contracts.enums import Action, Industry, InterimControlKind, PublicationOf, ReviewDecision, Role, Source, Stage
from contracts.hazard import (
    ActionResult,
    Actor,
    ConfirmInterimControlInput,
    DecideExtensionInput,
    Delisting,
    DelistInput,
    ExtensionDecision,
    ExtensionRequest,
    HazardEvent,
    HazardRecord,
    HazardState,
    InterimControl,
    ListingOrder,
    ListInput,
    Plan,
    Publication,
    PublishInput,
    Rectification,
    ReportHazardInput,
    ReportRectificationInput,
    RequestExtensionInput,
    ReviewInput,
    ReviewOpinion,
    Revocation,
    RevokeInput,
    SubmitPlanInput,
    Transfer,
    TransferInput,
    Verification,
    VerifyInput,
    workflow_id,
)
from contracts.policy import ACTION_ROLES
from infra.ports import free_port
from infra.temporal import register_search_attributes
from scheduling import schedule_deadline
from tests.conftest import binary
from tests.figures import record
from tests.keys import CONVERTER
from tests.scenarios import (
    AUDITOR,
    COMMITTEE,
    CREDIT_CODE,
    ENTERPRISE,
    INSPECTOR,
    PATHS,
    REVIEWER,
    STREET,
    Handle,
    plan,
    report,
    start,
)
from workcalendar import WorkCalendar
from worker import build_worker
from workflows import ladder, lifecycle
from workflows.hazard import HazardWorkflow

T = TypeVar("T")

OTHER_DEPARTMENT = "南开区住房和建设委员会"
# Every kind of actor the service knows, including ones of other jurisdictions and a second user of the enterprise.
ACTORS: tuple[Actor, ...] = (
    ENTERPRISE,
    ENTERPRISE.model_copy(update={"id": "ent-002", "name": "王丽"}),
    Actor(
        id="ent-900",
        name="周涛",
        role=Role.ENTERPRISE,
        organisation="天津市南开区宏远物流有限公司",
        credit_code="91120104MA0590009X",
    ),
    STREET,
    Actor(id="street-900", name="马军", role=Role.STREET, organisation="学府街道", street="学府街道"),
    INSPECTOR,
    REVIEWER,
    Actor(
        id="dept-900",
        name="高峰",
        role=Role.DEPARTMENT,
        organisation=OTHER_DEPARTMENT,
        industries=[Industry.CONSTRUCTION],
    ),
    COMMITTEE,
    AUDITOR,
)
assert ENTERPRISE.credit_code == CREDIT_CODE

PEOPLES_ACTIONS = (
    Action.VERIFY,
    Action.SUBMIT_PLAN,
    Action.CONFIRM_INTERIM_CONTROL,
    Action.REPORT_RECTIFICATION,
    Action.REVIEW,
    Action.REVOKE,
    Action.REQUEST_EXTENSION,
    Action.DECIDE_EXTENSION,
    Action.LIST,
    Action.DELIST,
    Action.PUBLISH,
    Action.TRANSFER,
)

# The ways a hazard opens: who reports it, found how, and whether it was rectified on the spot (立查立改).
ROUTES: tuple[tuple[Actor, Source, bool], ...] = (
    (ENTERPRISE, Source.SELF_INSPECTION, False),
    (INSPECTOR, Source.INSPECTION, False),
    (INSPECTOR, Source.INSPECTION, True),
    (STREET, Source.TIP_OFF, False),
)

# The stage graph of DESIGN.md: every change of stage a step may make.
TRANSITIONS = frozenset(
    {
        (Stage.VERIFY, Stage.PLAN),
        (Stage.PLAN, Stage.INTERIM_CONTROL),
        (Stage.INTERIM_CONTROL, Stage.RECTIFY),
        (Stage.RECTIFY, Stage.REVIEW),
        (Stage.REVIEW, Stage.CLOSED),
        (Stage.REVIEW, Stage.RECTIFY),
        (Stage.REVIEW, Stage.PLAN),  # a rejected 立查立改 owes a proper plan
        *((stage, Stage.REVOKED) for stage in Stage if not stage.is_terminal),
    }
)

# The action that moves each open stage on.
FORWARD: dict[Stage, Action] = {
    Stage.VERIFY: Action.VERIFY,
    Stage.PLAN: Action.SUBMIT_PLAN,
    Stage.INTERIM_CONTROL: Action.CONFIRM_INTERIM_CONTROL,
    Stage.RECTIFY: Action.REPORT_RECTIFICATION,
    Stage.REVIEW: Action.REVIEW,
}

TIME_STEPS = (
    timedelta(minutes=30),
    timedelta(hours=9),
    timedelta(days=1),
    timedelta(days=3),
    timedelta(days=8),
    timedelta(days=16),
    timedelta(days=35),
)

Outcome = str | None  # None when accepted, else the refusal's error type


# --- the pure model --------------------------------------------------------------------------------------------


class PureHazard:
    """The hazard as pure functions: the lifecycle decides, the keeper below moves deadlines and fires rungs."""

    def __init__(self, record: HazardRecord) -> None:
        self.record = record

    @classmethod
    def open(cls, reporter: Actor, source: Source, on_spot: bool, now: datetime) -> "PureHazard":
        hazard_id = f"M-{uuid.uuid4().hex[:12]}"
        found = report(source, found_at=now - timedelta(days=1), on_spot=on_spot)
        hazard = cls(lifecycle.open_hazard(hazard_id, found, reporter, now))
        # As every hazard started since LAPSED_EXTENSIONS_PATCH.
        hazard.record.extensions_lapse = True
        hazard.record.state.rules = PolicyRules()
        hazard.arm_stage_deadline(now)
        return hazard

    @classmethod
    def of(cls, state: HazardState) -> "PureHazard":
        """A model that starts from a state the workflow showed (its rungs already fired count as fired)."""
        fired = [ladder.rung_key(d, r) for d in state.deadlines for r in d.rungs if r.fired_at is not None]
        return cls(HazardRecord(state=state.model_copy(deep=True), fired=fired, extensions_lapse=True))

    @property
    def state(self) -> HazardState:
        return self.record.state

    def act(self, action: Action, actor: Actor, payload: BaseModel, now: datetime) -> Outcome:
        state = self.state
        try:
            lifecycle.check_jurisdiction(state, actor)
            before = state.stage
            lifecycle.apply(self.record, action, actor, payload, now)
        except ApplicationError as refused:
            return refused.type
        if state.stage is not before:
            ladder.disarm(self.record, *STAGE_DEADLINES.values(), DeadlineKind.EXTENSION_DECISION)
            if state.stage is Stage.REVOKED:
                ladder.disarm(self.record, *DeadlineKind)
            self.arm_stage_deadline(now)
        if isinstance(payload, ExtensionRequest):
            self.arm(DeadlineKind.EXTENSION_DECISION, now)
        elif isinstance(payload, ExtensionDecision):
            ladder.disarm(self.record, DeadlineKind.EXTENSION_DECISION)
            extension = state.extensions[-1]
            if payload.approve:
                self.arm(extension.deadline_kind, now, extension.request.new_due_date)
        elif isinstance(payload, ListingOrder):
            self.arm(DeadlineKind.LISTING_PUBLICATION, now)
        elif isinstance(payload, Delisting):
            self.arm(DeadlineKind.DELISTING_PUBLICATION, now)
        elif isinstance(payload, Publication):
            ladder.disarm(
                self.record,
                DeadlineKind.LISTING_PUBLICATION
                if payload.of is PublicationOf.LISTING
                else DeadlineKind.DELISTING_PUBLICATION,
            )
        elif isinstance(payload, ReviewOpinion) and state.stage is Stage.CLOSED:
            ladder.disarm(self.record, DeadlineKind.LISTING_PUBLICATION)
        return None

    def arm_stage_deadline(self, now: datetime) -> None:
        kind = STAGE_DEADLINES.get(self.state.stage)
        if kind is None:
            return
        # A stage deadline is counted from the stage's start unless a date was set: an approved extension's, else
        # (rectification) the plan's.
        approved = [
            e.request.new_due_date
            for e in self.state.extensions
            if e.deadline_kind is kind and e.decision is not None and e.decision.approve
        ]
        plan = self.state.plan
        fixed = approved[-1] if approved else plan.deadline if kind is DeadlineKind.RECTIFY and plan else None
        self.arm(kind, now, fixed)

    def arm(self, kind: DeadlineKind, now: datetime, due_date: date | None = None) -> None:
        rules = self.state.rules
        assert rules is not None
        schedule = ScheduleDeadlineInput(
            hazard_id=self.state.hazard_id, deadline_id=kind.value, kind=kind, start=now, due_date=due_date, rules=rules
        )
        deadline = schedule_deadline(schedule, WorkCalendar())
        deadline.id = f"{kind.value}-{deadline.due_date.isoformat()}"
        ladder.arm(self.record, deadline)

    def advance(self, now: datetime) -> None:
        """Fire every rung whose time has come, in time order; the top rung of an enterprise's ladder lists."""
        while due := ladder.due_rungs(self.record, now):
            self.fire(*due[0])

    def fire(self, deadline: Deadline, rung: ScheduledRung) -> None:
        ladder.mark_fired(self.record, deadline, rung, rung.at)
        if rung.rung is Rung.OVERDUE or (rung.rung is Rung.LISTING and lifecycle.is_listed(self.state)):
            return
        escalation = EscalationRecord(
            hazard_id=self.state.hazard_id,
            deadline_id=deadline.id,
            deadline_kind=deadline.kind,
            rung=rung.rung,
            level=0,
            target=EscalationTarget(kind=deadline.owner, organisation="model"),
            issued_by="model",
            at=rung.at,
            due=deadline.due,
            working_days_late=rung.working_days_late,
            reason="model",
        )
        lifecycle.record_escalation(self.record, escalation, rung.at)
        if rung.rung is Rung.LISTING:
            order = ListingOrder(level=ListingLevel.DISTRICT, issuing_body="model", doc_number="model")
            lifecycle.apply(self.record, Action.LIST, lifecycle.SYSTEM, order, rung.at)
            self.arm(DeadlineKind.LISTING_PUBLICATION, rung.at)


def pending_extension(state: HazardState) -> bool:
    return any(e.decision is None and e.lapsed_at is None for e in state.extensions)


# --- what is drawn ---------------------------------------------------------------------------------------------


def stage_deadline_date(state: HazardState) -> date | None:
    kind = STAGE_DEADLINES.get(state.stage)
    return next((d.due_date for d in state.deadlines if d.kind == kind), None)


@dataclass(frozen=True)
class Choices:
    """Everything one action draws, in one shape whatever the state: Hypothesis replays and shrinks a sequence
    only if each step draws the same kinds of values, and the real workflow's state is not the model's."""

    legal_action: bool  # an action the stage allows (revoking aside), else any
    action: int
    allowed_actor: bool  # someone whose role may take the action (of any jurisdiction), else anyone
    actor: int
    near: bool  # a date near its base (today, the due date), else near 365 days after the found date
    near_days: int
    far_days: int
    around_days: int  # around today or the found date: the edges of "not in the future" and "not before found"
    option: int  # the enum member, department or base date an action picks
    flag: bool  # verified, complete, approved, with a suspension order

    def pick(self, items: Sequence[T], index: int) -> T:
        return items[index % len(items)]


CHOICES = st.builds(
    Choices,
    legal_action=st.booleans(),
    action=st.integers(0, len(PEOPLES_ACTIONS) - 1),
    allowed_actor=st.booleans(),
    actor=st.integers(0, len(ACTORS) - 1),
    near=st.booleans(),
    near_days=st.integers(-10, 40),
    far_days=st.integers(355, 370),
    around_days=st.integers(-2, 1),
    option=st.integers(0, 5),
    flag=st.booleans(),
)
TEXTS = ("经现场核查。", "整改到位。", "设备到货延迟。")


def choose_action(choices: Choices, stage: Stage) -> Action:
    legal = [a for a in PEOPLES_ACTIONS if stage in lifecycle.STAGES_FOR[a] and a is not Action.REVOKE]
    return choices.pick(legal, choices.action) if choices.legal_action and legal else PEOPLES_ACTIONS[choices.action]


def choose_actor(choices: Choices, action: Action, *, allowed_only: bool = False) -> Actor:
    allowed = [a for a in ACTORS if a.role in ACTION_ROLES[action]]
    if allowed and (allowed_only or choices.allowed_actor):
        return choices.pick(allowed, choices.actor)
    return ACTORS[choices.actor]


def make_payload(choices: Choices, action: Action, state: HazardState, now: datetime) -> BaseModel:
    """A valid-ish payload: dates on both sides of what the lifecycle allows, optional parts present or not."""
    today = china_date(now)
    found = china_date(state.report.found_at)
    text = choices.pick(TEXTS, choices.option)

    def near_or_far(base: date) -> date:
        return base + timedelta(days=choices.near_days) if choices.near else found + timedelta(days=choices.far_days)

    match action:
        case Action.VERIFY:
            return Verification(verified=choices.flag, opinion=text)
        case Action.SUBMIT_PLAN:
            return Plan(
                measures=text,
                responsible_person="王强",
                responsible_phone="13800000000",
                funds_yuan=Decimal("58000.00") if choices.flag else None,
                deadline=near_or_far(today),
                emergency_plan=text if choices.flag else None,
            )
        case Action.CONFIRM_INTERIM_CONTROL:
            return InterimControl(
                kind=choices.pick(list(InterimControlKind), choices.option),
                measures=text,
                suspension_order_no="南开应急责停〔2026〕7号" if choices.flag else None,
            )
        case Action.REPORT_RECTIFICATION:
            base = choices.pick([found, today], choices.option)
            completed_on = base + timedelta(days=choices.around_days)
            return Rectification(description=text, completed_on=completed_on, evidence=["sha256:4f2a9c0d"])
        case Action.REVIEW:
            decision = ReviewDecision.APPROVE if choices.flag else ReviewDecision.REJECT
            return ReviewOpinion(decision=decision, opinion=text)
        case Action.REVOKE:
            return Revocation(reason=text)
        case Action.REQUEST_EXTENSION:
            due = stage_deadline_date(state) or today
            return ExtensionRequest(reason=text, new_due_date=near_or_far(due))
        case Action.DECIDE_EXTENSION:
            return ExtensionDecision(approve=choices.flag, opinion=text)
        case Action.LIST:
            return ListingOrder(issuing_body="南开区安委办", doc_number="南开安委办督〔2026〕1号")
        case Action.DELIST:
            return Delisting(opinion=text)
        case Action.PUBLISH:
            return Publication(
                of=choices.pick(list(PublicationOf), choices.option),
                published_on=today + timedelta(days=choices.around_days),
                channel="区政府网站",
            )
        case Action.TRANSFER:
            department = choices.pick([OTHER_DEPARTMENT, INSPECTOR.organisation], choices.option)
            return Transfer(to_department=department, reason=text)
    raise AssertionError(f"no payload for {action}")


# --- the invariants --------------------------------------------------------------------------------------------


class Stats(Counter[str]):
    """What the runs did, for the figures."""


Step = tuple[Action, Actor, BaseModel, Outcome] | None  # None: time passed


def rung_keys(state: HazardState) -> dict[str, set[Rung]]:
    return {d.id: {r.rung for r in d.rungs if r.fired_at is not None} for d in state.deadlines}


class Reference:
    """What must hold between two observations of a hazard, and the little the machine itself remembers."""

    def __init__(self, state: HazardState, events: list[HazardEvent]) -> None:
        self.state, self.events = state, events
        self.approvals = 0
        self.latest_due: dict[DeadlineKind, datetime] = {}
        self.check_alone(state, events)

    def check_alone(self, state: HazardState, events: list[HazardEvent]) -> None:
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), "event numbers skip or repeat"
        assert state.version == len(events)
        stage_deadlines = [d for d in state.deadlines if d.kind in STAGE_DEADLINES.values()]
        if state.stage.is_terminal:
            assert not stage_deadlines, f"{state.stage} keeps a stage deadline: {[d.id for d in stage_deadlines]}"
        else:
            assert [d.kind for d in stage_deadlines] == [STAGE_DEADLINES[state.stage]], (
                f"in {state.stage} the stage deadlines are {[d.id for d in stage_deadlines]}"
            )
        for deadline in stage_deadlines:
            last = self.latest_due.get(deadline.kind)
            assert last is None or deadline.due >= last, f"{deadline.id} is earlier than the {deadline.kind} before"
            self.latest_due[deadline.kind] = deadline.due
        keys = [(e.deadline_id, e.rung) for e in state.escalations]
        assert len(keys) == len(set(keys)), "a rung was issued twice"
        for deadline in state.deadlines:
            fired = [r.fired_at is not None for r in sorted(deadline.rungs, key=lambda r: r.at)]
            assert fired == sorted(fired, reverse=True), f"{deadline.id} fired a rung before an earlier one"
            assert all(r.fired_at is None or r.fired_at >= r.at for r in deadline.rungs), "a rung fired early"
        if state.stage is Stage.CLOSED:
            closing = [e for e in events if e.stage_after is Stage.CLOSED and e.stage_before is not Stage.CLOSED]
            assert len(closing) == 1, "closed other than once"
            event = closing[0]
            assert event.action is Action.REVIEW
            assert event.stage_before is Stage.REVIEW
            assert event.payload["decision"] == ReviewDecision.APPROVE.value
            assert event.actor.role is Role.DEPARTMENT
            assert state.rectified_by is not None
            assert state.rectified_by.id != event.actor.id, "the rectification's reporter closed it"
            assert state.closed_by == event.actor
            assert not lifecycle.is_listed(state), "closed while listed"
            assert self.approvals == 1, "closed without the machine seeing an approval accepted"

    def observe(self, step: Step, state: HazardState, events: list[HazardEvent]) -> None:
        before, old_events = self.state, self.events
        assert events[: len(old_events)] == old_events, "history was rewritten"
        new = events[len(old_events) :]
        if step is None:
            assert all(e.actor == lifecycle.SYSTEM and e.action in (Action.ESCALATE, Action.LIST) for e in new)
            assert state.stage is before.stage, "time alone changed the stage"
        else:
            action, actor, payload, outcome = step
            if outcome is not None:
                assert state == before, f"refused {action} ({outcome}) changed the state"
            else:
                assert [(e.action, e.actor) for e in new[:1]] == [(action, actor)], "an accepted action is one event"
                # Then rungs already due fire at once (a stage entered after its fixed deadline has passed).
                assert all(e.actor == lifecycle.SYSTEM and e.action in (Action.ESCALATE, Action.LIST) for e in new[1:])
                if before.stage.is_terminal:
                    assert action is Action.PUBLISH, f"{before.stage} accepted {action}"
                if action is Action.REVIEW and isinstance(payload, ReviewOpinion):
                    self.approvals += payload.decision is ReviewDecision.APPROVE
        if before.stage is not state.stage:
            assert not before.stage.is_terminal, f"left {before.stage}"
            assert (before.stage, state.stage) in TRANSITIONS, f"{before.stage} -> {state.stage}"
            assert step is not None
        assert state.escalations[: len(before.escalations)] == before.escalations, "an escalation disappeared"
        old_rungs, new_rungs = rung_keys(before), rung_keys(state)
        for deadline_id, fired in old_rungs.items():
            assert fired <= new_rungs.get(deadline_id, fired), f"{deadline_id} un-fired a rung"
        coloured = {d.id for d in before.deadlines if d.kind not in ladder.COLOURLESS}
        if coloured <= {d.id for d in state.deadlines}:
            assert state.escalation_level >= before.escalation_level, "escalation level fell"
        self.check_deadline_moves(step, before, state)
        self.state, self.events = state, events
        self.check_alone(state, events)

    def check_deadline_moves(self, step: Step, before: HazardState, state: HazardState) -> None:
        kind = STAGE_DEADLINES.get(state.stage)
        if before.stage is not state.stage or kind is None:
            return
        old = next((d for d in before.deadlines if d.kind == kind), None)
        now = next((d for d in state.deadlines if d.kind == kind), None)
        if old is None or now is None or old.due == now.due:
            return
        approved = (
            step is not None
            and step[3] is None
            and isinstance(step[2], ExtensionDecision)
            and step[2].approve
            and state.extensions[-1].deadline_kind is kind
        )
        assert approved, f"{kind} moved from {old.due_date} to {now.due_date} without an approved extension"
        assert now.due > old.due, f"an approved extension moved {kind} earlier"


# --- the machine -----------------------------------------------------------------------------------------------


class HazardMachine(RuleBasedStateMachine):
    """Rules and invariants; a driver subclass says how a hazard opens, how actions reach it and how time passes."""

    def __init__(self, stats: Stats) -> None:
        super().__init__()
        self.stats = stats
        self.reference: Reference | None = None

    def open(self, reporter: Actor, source: Source, on_spot: bool) -> None:
        raise NotImplementedError

    def now(self) -> datetime:
        raise NotImplementedError

    def observe(self) -> tuple[HazardState, list[HazardEvent]]:
        raise NotImplementedError

    def send(self, action: Action, actor: Actor, payload: BaseModel) -> Outcome:
        raise NotImplementedError

    def skip(self, delta: timedelta) -> datetime:
        """Let `delta` pass; return the moment up to which every rung due must have fired."""
        raise NotImplementedError

    @initialize(route=st.sampled_from(ROUTES))
    def start(self, route: tuple[Actor, Source, bool]) -> None:
        self.open(*route)
        self.reference = Reference(*self.observe())
        self.stats["sequences"] += 1

    @rule(choices=CHOICES)
    def move_on(self, choices: Choices) -> None:
        """The action that moves the hazard's stage on (or asks for more time), by someone whose role may take it."""
        assert self.reference is not None
        state = self.reference.state
        action = FORWARD.get(state.stage) or PEOPLES_ACTIONS[choices.action]
        if state.stage in lifecycle.STAGES_FOR[Action.REQUEST_EXTENSION]:
            # An open request for more time is decided first; now and then time is asked for.
            if pending_extension(state):
                action = Action.DECIDE_EXTENSION
            elif choices.option == 0:
                action = Action.REQUEST_EXTENSION
        self.act(choices, action, choose_actor(choices, action, allowed_only=True))

    @rule(choices=CHOICES)
    def anything(self, choices: Choices) -> None:
        """Any action, most often one the stage allows, by anyone."""
        assert self.reference is not None
        action = choose_action(choices, self.reference.state.stage)
        self.act(choices, action, choose_actor(choices, action))

    def act(self, choices: Choices, action: Action, actor: Actor) -> None:
        assert self.reference is not None
        state = self.reference.state
        payload = make_payload(choices, action, state, self.now())
        outcome = self.send(action, actor, payload)
        self.stats["actions"] += 1
        self.stats["refused" if outcome else "accepted"] += 1
        self.stats[f"{action.value}: {outcome or 'accepted'}"] += 1
        self.reference.observe((action, actor, payload, outcome), *self.observe())

    @rule(delta=st.sampled_from(TIME_STEPS))
    def time_passes(self, delta: timedelta) -> None:
        assert self.reference is not None
        until = self.skip(delta)
        self.stats["time steps"] += 1
        before = len(self.reference.state.escalations)
        self.reference.observe(None, *self.observe())
        late = [r.rung for d in self.reference.state.deadlines for r in d.rungs if r.fired_at is None and r.at <= until]
        assert not late, f"rungs {late} are due by {until} and have not fired"
        self.stats["rungs issued"] += len(self.reference.state.escalations) - before

    def teardown(self) -> None:
        if self.reference is not None:
            self.stats[f"ended {self.reference.state.stage.value}"] += 1


class PureMachine(HazardMachine):
    def __init__(self, stats: Stats) -> None:
        super().__init__(stats)
        self.clock = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA_TZ)
        self.hazard: PureHazard | None = None

    def open(self, reporter: Actor, source: Source, on_spot: bool) -> None:
        self.hazard = PureHazard.open(reporter, source, on_spot, self.clock)

    def now(self) -> datetime:
        return self.clock

    def observe(self) -> tuple[HazardState, list[HazardEvent]]:
        assert self.hazard is not None
        # Events are never changed once appended; the state is.
        return self.hazard.state.model_copy(deep=True), list(self.hazard.record.events)

    def send(self, action: Action, actor: Actor, payload: BaseModel) -> Outcome:
        assert self.hazard is not None
        outcome = self.hazard.act(action, actor, payload, self.clock)
        # As in the workflow, the rungs already due when an action is taken fire right after it.
        self.hazard.advance(self.clock)
        return outcome

    def skip(self, delta: timedelta) -> datetime:
        assert self.hazard is not None
        self.clock += delta
        self.hazard.advance(self.clock)
        return self.clock


def pure_machine(stats: Stats) -> type[HazardMachine]:
    class Machine(PureMachine):
        def __init__(self) -> None:
            super().__init__(stats)

    return Machine


def run(machine: type[HazardMachine], examples: int, steps: int, *, derandomize: bool, shrink: bool = True) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=derandomize,
            database=None,
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow],
            phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if shrink else [])],
        ),
    )


@pytest.mark.parametrize(
    ("examples", "steps", "scale"),
    [
        pytest.param(300, 30, "quick", id="quick"),
        pytest.param(3000, 50, "full", id="full", marks=pytest.mark.reliability),
    ],
)
def test_pure_model_keeps_its_invariants(examples: int, steps: int, scale: str) -> None:
    stats = Stats()
    started = datetime.now(CHINA_TZ)
    run(pure_machine(stats), examples, steps, derandomize=scale == "quick")
    seconds = (datetime.now(CHINA_TZ) - started).total_seconds()
    assert stats["sequences"] >= examples // 2
    assert stats["accepted"] > 0
    assert stats["refused"] > 0
    assert stats["rungs issued"] > 0
    assert stats["ended CLOSED"] > 0
    assert stats["ended REVOKED"] > 0
    record(6, "pure model: sequences / actions / refused / rungs issued", _counts(stats), scale=scale)
    record(6, "pure model: ended closed / revoked", f"{stats['ended CLOSED']} / {stats['ended REVOKED']}", scale=scale)
    record(6, "pure model: invariant violations", 0, scale=scale)
    record(6, "pure model: run time", round(seconds, 1), "s", scale=scale)


def _counts(stats: Stats) -> str:
    return f"{stats['sequences']} / {stats['actions']} / {stats['refused']} / {stats['rungs issued']}"


# --- the real workflow ------------------------------------------------------------------------------------------

UPDATES: dict[Action, tuple[str, type[BaseModel], str]] = {
    Action.VERIFY: ("verify", VerifyInput, "verification"),
    Action.SUBMIT_PLAN: ("submit_plan", SubmitPlanInput, "plan"),
    Action.CONFIRM_INTERIM_CONTROL: ("confirm_interim_control", ConfirmInterimControlInput, "control"),
    Action.REPORT_RECTIFICATION: ("report_rectification", ReportRectificationInput, "rectification"),
    Action.REVIEW: ("review", ReviewInput, "review"),
    Action.REVOKE: ("revoke", RevokeInput, "revocation"),
    Action.REQUEST_EXTENSION: ("request_extension", RequestExtensionInput, "request"),
    Action.DECIDE_EXTENSION: ("decide_extension", DecideExtensionInput, "decision"),
    Action.LIST: ("list_hazard", ListInput, "order"),
    Action.DELIST: ("delist", DelistInput, "delisting"),
    Action.PUBLISH: ("publish", PublishInput, "publication"),
    Action.TRANSFER: ("transfer", TransferInput, "transfer"),
}


WORKFLOW_COMPLETED = "WorkflowCompleted"


class Loop:
    """An event loop in a thread of its own: Hypothesis runs a state machine synchronously, and the session's
    loop (pytest-asyncio) is not running while a plain test function runs, so Temporal gets this one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="model-based-temporal", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@dataclass
class Server:
    loop: Loop
    env: WorkflowEnvironment
    task_queue: str

    @property
    def client(self) -> Client:
        return self.env.client


@contextlib.contextmanager
def time_skipping_server(engine: Engine) -> Iterator[Server]:
    """A time-skipping server and a real worker, both on a `Loop`."""
    loop = Loop()
    stack = contextlib.AsyncExitStack()
    task_queue = f"hazards-{uuid.uuid4()}"

    async def open_server() -> WorkflowEnvironment:
        env = await WorkflowEnvironment.start_time_skipping(
            port=free_port(), data_converter=CONVERTER, test_server_existing_path=binary("temporal-test-server")
        )
        await stack.enter_async_context(env)
        await register_search_attributes(env.client, env.client.namespace)
        await stack.enter_async_context(build_worker(env.client, engine, task_queue=task_queue))
        return env

    try:
        yield Server(loop, loop.run(open_server()), task_queue)
    finally:
        loop.run(stack.aclose())
        loop.close()


async def status(client: Client, workflow_id: str) -> "WorkflowExecutionStatus.ValueType":
    """The run's status, read raw: the test server's datetime search attribute breaks `handle.describe()`."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    return described.workflow_execution_info.status


class WorkflowMachine(HazardMachine):
    """Each action an update of a real `HazardWorkflow`, time skipped on the test server; and the pure model asked
    first, from the state the workflow showed, what the workflow must answer.

    A sequence's hazard is left running when the sequence ends: terminating one while its escalation activity runs
    leaves the test server's time skipping locked (the next `env.sleep` times out). Its ladder climbs to the top
    in later sequences' skipped time and then waits, a bounded cost.
    """

    def __init__(self, stats: Stats, server: Server) -> None:
        super().__init__(stats)
        self.server = server
        self.handle: Handle | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.server.loop.run(coroutine)

    def open(self, reporter: Actor, source: Source, on_spot: bool) -> None:
        hazard_id = f"M-{uuid.uuid4().hex[:12]}"
        found = report(source, found_at=self.now() - timedelta(days=1), on_spot=on_spot)
        start = ReportHazardInput(hazard_id=hazard_id, actor=reporter, report=found)

        async def open_hazard() -> Handle:
            handle = await self.server.client.start_workflow(
                HazardWorkflow.run, start, id=workflow_id(hazard_id), task_queue=self.server.task_queue
            )
            await handle.execute_update(HazardWorkflow.opened)
            return handle

        self.handle = self.run(open_hazard())

    def now(self) -> datetime:
        return self.run(self.server.env.get_current_time())

    def observe(self) -> tuple[HazardState, list[HazardEvent]]:
        assert self.handle is not None
        handle = self.handle

        async def both() -> tuple[HazardState, list[HazardEvent]]:
            # Two queries: a rung firing between them is seen as a version the events do not reach yet; ask again.
            while True:
                state = await handle.query(HazardWorkflow.get_state)
                events = (await handle.query(HazardWorkflow.get_events)).events
                if state.version == len(events):
                    return state, events

        return self.run(both())

    def send(self, action: Action, actor: Actor, payload: BaseModel) -> Outcome:
        assert self.handle is not None
        assert self.reference is not None
        model = PureHazard.of(self.reference.state)
        expected = model.act(action, actor, payload, self.now())
        name, input_type, field = UPDATES[action]
        update = input_type.model_validate({"actor": actor, field: payload})
        result, outcome = self.run(self.update(self.handle, name, update))
        # A stage entered after its fixed deadline passed fires the rungs already due right after the action.
        self.settle(self.now())
        self.stats["compared"] += 1
        if outcome == WORKFLOW_COMPLETED:
            # A terminal hazard with no deadline left has finished its run: every action is refused, and the model
            # must refuse it too (what it answers then, the API decides from the closed workflow).
            assert self.reference.state.stage.is_terminal
            assert not self.reference.state.deadlines
            assert expected is not None, f"{action} by {actor.id}: the model accepts what a finished hazard refused"
            return outcome
        assert outcome == expected, f"{action} by {actor.id}: the workflow answered {outcome}, the model {expected}"
        if result is not None:
            assert differences(model.state, result.state) == [], f"{action}: the workflow and the model differ"
        return outcome

    async def update(self, handle: Handle, name: str, update: BaseModel) -> tuple[ActionResult | None, Outcome]:
        try:
            return await handle.execute_update(name, update, result_type=ActionResult), None
        except WorkflowUpdateFailedError as failed:
            cause = failed.cause
        except RPCError:
            if (
                await status(self.server.client, handle.id)
                != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
            ):
                raise
            return None, WORKFLOW_COMPLETED
        if not isinstance(cause, ApplicationError):
            raise AssertionError(f"{name} failed other than by a business refusal: {cause!r}")
        return None, cause.type

    def skip(self, delta: timedelta) -> datetime:
        assert self.handle is not None
        until = self.now() + delta
        self.run(self.server.env.sleep(delta))
        self.settle(until)
        return until

    def teardown(self) -> None:
        super().teardown()
        gc.collect()

    def settle(self, until: datetime) -> None:
        """Timers fire on the server's clock, their activities on ours: wait (bounded) for the rungs due by `until`
        to show, so the next action meets the state the model is given."""
        for _ in range(400):
            state, _events = self.observe()
            if all(r.fired_at is not None or r.at > until for d in state.deadlines for r in d.rungs):
                return
            time.sleep(0.05)


@contextlib.contextmanager
def collected_between_sequences() -> Iterator[None]:
    """The worker shares this process with Hypothesis's heap: a full collection started inside a workflow activation
    once took longer than the SDK's 2 s deadlock limit. Collect only between sequences (WorkflowMachine.teardown)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def workflow_machine(stats: Stats, server: Server) -> type[HazardMachine]:
    class Machine(WorkflowMachine):
        def __init__(self) -> None:
            super().__init__(stats, server)

    return Machine


def differences(model: HazardState, workflow: HazardState) -> list[str]:
    """What the pure model and the workflow disagree on after the same accepted action."""

    def deadlines(state: HazardState) -> list[tuple[DeadlineKind, date]]:
        return sorted((d.kind, d.due_date) for d in state.deadlines)

    def extensions(state: HazardState) -> list[tuple[DeadlineKind, date, bool | None]]:
        return [
            (e.deadline_kind, e.request.new_due_date, None if e.decision is None else e.decision.approve)
            for e in state.extensions
        ]

    checks: dict[str, Callable[[HazardState], object]] = {
        "stage": lambda s: s.stage,
        "version": lambda s: s.version,
        "department": lambda s: s.department,
        "deadlines": deadlines,
        "extensions": extensions,
        "listed": lifecycle.is_listed,
        "rejections": lambda s: s.rejection_count,
        "closed by": lambda s: s.closed_by,
        "rectified by": lambda s: s.rectified_by,
    }
    return [
        f"{name}: {get(model)!r} != {get(workflow)!r}" for name, get in checks.items() if get(model) != get(workflow)
    ]


@pytest.mark.parametrize(
    ("examples", "steps", "scale"),
    [
        pytest.param(25, 15, "quick", id="quick"),
        pytest.param(200, 30, "full", id="full", marks=pytest.mark.reliability),
    ],
)
def test_real_workflow_keeps_the_invariants_and_agrees_with_the_model(
    examples: int, steps: int, scale: str, engine: Engine
) -> None:
    stats = Stats()
    started = datetime.now(CHINA_TZ)
    with time_skipping_server(engine) as server, collected_between_sequences():
        # No shrinking: a real workflow's timing varies between runs, so a failing sequence seldom replays exactly.
        run(workflow_machine(stats, server), examples, steps, derandomize=scale == "quick", shrink=False)
    seconds = (datetime.now(CHINA_TZ) - started).total_seconds()
    assert stats["sequences"] >= examples // 2
    assert stats["accepted"] > 0
    assert stats["refused"] > 0
    assert stats["compared"] == stats["actions"]
    record(6, "real workflow: sequences / actions sent / refused / rungs issued", _counts(stats), scale=scale)
    record(
        6,
        "real workflow: decisions compared with the pure model / disagreements",
        f"{stats['compared']} / 0",
        scale=scale,
    )
    record(6, "real workflow: invariant violations", 0, scale=scale)
    record(6, "real workflow: run time", round(seconds, 1), "s", scale=scale)


# --- negative controls: a broken lifecycle is caught -----------------------------------------------------------


def _terminal_does_not_absorb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lifecycle.STAGES_FOR, Action.REVOKE, frozenset(Stage))


def _rectifier_may_review(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "_check_reviewer", lambda state, actor: None)


def _extensions_may_shorten(monkeypatch: pytest.MonkeyPatch) -> None:
    original = lifecycle._check_extension_request

    def shorter_allowed(request: ExtensionRequest, state: HazardState, now: datetime) -> None:
        current = lifecycle._stage_deadline(state)
        later = (
            request.model_copy(update={"new_due_date": current.due_date + timedelta(days=1)}) if current else request
        )
        original(later, state, now)

    monkeypatch.setattr(lifecycle, "_check_extension_request", shorter_allowed)


@pytest.mark.parametrize("breakage", [_terminal_does_not_absorb, _rectifier_may_review, _extensions_may_shorten])
def test_a_broken_lifecycle_is_caught(
    breakage: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    breakage(monkeypatch)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(
            pure_machine(Stats()),
            settings=settings(
                max_examples=300,
                stateful_step_count=30,
                deadline=None,
                derandomize=True,
                database=None,
                report_multiple_bugs=False,
                phases=[Phase.generate],
            ),
        )


# --- a bug the machine found, fixed: an extension still pending when its stage ended lapses -----------------------


def stage_deadline_kinds(state: HazardState) -> list[DeadlineKind]:
    return [d.kind for d in state.deadlines if d.kind in STAGE_DEADLINES.values()]


def test_an_extension_pending_when_its_stage_ended_moves_nothing() -> None:
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA_TZ)
    hazard = PureHazard.open(ENTERPRISE, Source.SELF_INSPECTION, False, monday)
    plan_due = stage_deadline_date(hazard.state)
    assert plan_due is not None
    ask = ExtensionRequest(reason="设备到货延迟。", new_due_date=plan_due + timedelta(days=3))
    assert hazard.act(Action.REQUEST_EXTENSION, ENTERPRISE, ask, monday) is None
    on_time = plan(deadline=china_date(monday) + timedelta(days=30))
    assert hazard.act(Action.SUBMIT_PLAN, ENTERPRISE, on_time, monday) is None
    approve = ExtensionDecision(approve=True, opinion="同意延期。")
    assert hazard.act(Action.DECIDE_EXTENSION, REVIEWER, approve, monday + timedelta(hours=1)) is not None
    assert stage_deadline_kinds(hazard.state) == [DeadlineKind.INTERIM_CONTROL]
    assert [e.lapsed_at for e in hazard.state.extensions] == [monday]


async def test_a_workflow_extension_pending_when_its_stage_ended_moves_nothing(
    time_env: WorkflowEnvironment, time_worker: Worker
) -> None:
    # A plan deadline may be extended only up to 5 working days before it: on the report day of a Monday.
    now = (await time_env.get_current_time()).astimezone(CHINA_TZ)
    monday = datetime.combine(china_date(now) + timedelta(days=7 - now.weekday()), dt_time(10), CHINA_TZ)
    await time_env.sleep(monday - now)
    handle = await start(time_env.client, PATHS["self_report_closed"], time_worker.task_queue)
    opened = await handle.execute_update(HazardWorkflow.opened)
    plan_due = stage_deadline_date(opened)
    assert plan_due is not None
    ask = ExtensionRequest(reason="设备到货延迟。", new_due_date=plan_due + timedelta(days=3))
    await handle.execute_update(HazardWorkflow.request_extension, RequestExtensionInput(actor=ENTERPRISE, request=ask))
    on_time = plan(deadline=china_date(monday) + timedelta(days=30))
    await handle.execute_update(HazardWorkflow.submit_plan, SubmitPlanInput(actor=ENTERPRISE, plan=on_time))
    approve = DecideExtensionInput(actor=REVIEWER, decision=ExtensionDecision(approve=True, opinion="同意延期。"))
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(HazardWorkflow.decide_extension, approve)
    state = await handle.query(HazardWorkflow.get_state)
    assert state.stage is Stage.INTERIM_CONTROL
    assert stage_deadline_kinds(state) == [DeadlineKind.INTERIM_CONTROL]
