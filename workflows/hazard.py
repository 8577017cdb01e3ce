"""One durable workflow per major hazard, from report to 销号 or 撤销, escalating when deadlines slip."""

import asyncio
from datetime import date, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.deadlines import (
        ESCALATION_HEARTBEAT_TIMEOUT,
        ISSUE_ESCALATION_ACTIVITY,
        LOAD_POLICY_ACTIVITY,
        RECOMPUTE_DEADLINES_SIGNAL,
        SCHEDULE_DEADLINE_ACTIVITY,
        STAGE_DEADLINES,
        Deadline,
        DeadlineKind,
        EscalationRecord,
        HazardPolicy,
        IssueEscalationInput,
        ListingLevel,
        LoadPolicyInput,
        Rag,
        Rung,
        ScheduleDeadlineInput,
        ScheduledRung,
    )
    from contracts.enums import Action, PublicationOf, ReviewDecision, Stage
    from contracts.hazard import (
        PROJECT_HAZARD_ACTIVITY,
        SA_DEPARTMENT,
        SA_NEXT_DEADLINE,
        SA_STAGE,
        WORKFLOW_NAME,
        ActionResult,
        Actor,
        CarriedHazard,
        ConfirmInterimControlInput,
        DecideExtensionInput,
        Delisting,
        DelistInput,
        ExtensionDecision,
        ExtensionRequest,
        HazardEvent,
        HazardEvents,
        HazardState,
        ListingOrder,
        ListInput,
        ProjectHazardInput,
        Publication,
        PublishInput,
        ReportHazardInput,
        ReportRectificationInput,
        RequestExtensionInput,
        ReviewInput,
        ReviewOpinion,
        RevokeInput,
        SubmitPlanInput,
        TransferInput,
        VerifyInput,
        found_by,
    )
    from workflows import ladder, lifecycle
    from workflows.clock import WorkflowClock

# Hazards started before deadlines existed replay without them (tests/histories/ hold such runs).
DEADLINES_PATCH = "deadlines-and-ladder"
# Hazards started before an undecided extension lapsed with its stage replay as they ran (HazardRecord).
LAPSED_EXTENSIONS_PATCH = "lapsed-extensions"
# From this ReportHazardInput.version on, the starter opened the hazard for code with both patches above, and set
# its search attributes with the start (contracts.hazard.found_by). The run takes the patches without asking
# `workflow.patched`: each ask records a marker and upserts TemporalChangeVersion, two history events and a
# visibility write per patch, for every hazard opened (bench.intake). Runs opened without a version (0) ask, and
# upsert their search attributes, as before; their histories replay unchanged, since the input is in them.
GIVEN_AT_START = 1
# Rungs that only change a hazard's colour and send no letter.
COLOUR_RUNGS = frozenset({Rung.OVERDUE, Rung.REMINDER})
LOCAL_TIMEOUT = timedelta(seconds=30)
ESCALATION_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
# A hazard sent back again and again (rejected rectifications, transfers, interim controls) has no bound on its
# history. Past either mark, or when the server suggests it, the workflow continues as new: far inside Temporal's
# limits (51,200 events, 50 MB) and issue 8's budget (10,240, 10 MB); a worst realistic hazard (20 rejections,
# every rung, tests/test_history_budget.py) stays in one run at about 770 events and 1.3 MB.
CONTINUE_AT_EVENTS = 2_000
CONTINUE_AT_BYTES = 2 * 1024 * 1024
# What a continued run keeps of the record's events (the rest are in the read model and the previous runs), and
# how many recent update ids it answers retries for: enough for any client's retries across the hand-over.
CARRIED_EVENTS = 20
RECENT_UPDATES = 20


# Outside the SDK's sandbox: the sandbox re-executes this module for every workflow it puts in the cache (a new
# hazard, or one evicted and woken by a timer or an action), about 17 ms of worker CPU each, nearly half of what
# opening an imported hazard costs (bench.intake, docs/benchmarks.md). What the sandbox would catch at run time,
# tests/test_workflow_purity.py refuses at test time: this module and every module of ours it imports reach no
# clock, randomness, I/O, settings or global state but the workflow API's own.
@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class HazardWorkflow:
    @workflow.init
    def __init__(self, input: ReportHazardInput) -> None:
        # What the next run, if any, starts from: the same report, and the record this run hands over.
        self._input = input.model_copy(update={"carried": None})
        self._clock = WorkflowClock()
        # One change at a time: an action and a firing rung never interleave their awaits.
        self._lock = asyncio.Lock()
        self._wake = False
        if input.carried is not None:
            self._record = input.carried.record
            self._with_deadlines = input.carried.with_deadlines
            self._recount = input.carried.recount
            self._started = True
            return
        # New input fields only ever take this branch: histories recorded before imports replay unchanged.
        if input.imported is not None:
            self._record = lifecycle.open_imported(
                input.hazard_id, input.report, input.actor, input.imported, self._clock.now()
            )
        else:
            self._record = lifecycle.open_hazard(input.hazard_id, input.report, input.actor, self._clock.now())
        if input.version >= GIVEN_AT_START:
            self._with_deadlines = self._record.extensions_lapse = True
        else:
            self._with_deadlines = workflow.patched(DEADLINES_PATCH)
            self._record.extensions_lapse = workflow.patched(LAPSED_EXTENSIONS_PATCH)
        self._recount = False
        self._started = False

    @workflow.run
    async def run(self, input: ReportHazardInput) -> HazardState:
        state = self._record.state
        found = found_by(state.report, state.department)
        # Opened with them (today's starters set them with the start), they cost no upsert. The test is on the start
        # event alone, so a replay decides as the run did; continued runs upsert them as they always have.
        given = workflow.info().typed_search_attributes
        if not (
            input.version >= GIVEN_AT_START
            and input.carried is None
            and all(given.get(p.key) == p.value for p in found)
        ):
            workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in found])
        if input.carried is not None:
            pass  # opened by the first run: policy, first deadline and projection are in the record
        elif self._with_deadlines:
            async with self._lock:
                # Reported with the policy in force, it opens with one local activity fewer: a ledger of 10,000
                # hazards reads the policy once, not 10,000 times (bench.intake).
                policy = input.policy or await workflow.execute_local_activity(
                    LOAD_POLICY_ACTIVITY,
                    LoadPolicyInput(industry=state.report.industry),
                    result_type=HazardPolicy,
                    start_to_close_timeout=LOCAL_TIMEOUT,
                )
                state.policy_version, state.rules = policy.version, policy.rules
                if state.imported is None:
                    await self._arm_stage_deadline()
                else:
                    await self._arm_imported_deadline()
                self._upsert_progress()
                await self._project()
        else:
            await self._act_as_before_deadlines()
        self._started = True
        if self._with_deadlines:
            await self._climb_until_done()
        await workflow.wait_condition(lambda: self._finished() and workflow.all_handlers_finished())
        return self._record.state

    def _finished(self) -> bool:
        # A delisting is published after closure: the workflow stays to track that deadline.
        return self._record.state.stage.is_terminal and not self._record.state.deadlines

    async def _climb_until_done(self) -> None:
        while not self._finished():
            if self._history_is_long():
                await self._continue_as_new()
            if self._recount:
                async with self._lock:
                    await self._recount_deadlines()
            next_at = ladder.next_rung_at(self._record)
            if next_at is not None and next_at <= self._clock.now():
                async with self._lock:
                    await self._fire_due_rungs()
                continue
            timeout = None if next_at is None else next_at - self._clock.now()
            self._wake = False
            try:
                await workflow.wait_condition(
                    lambda: self._wake or self._recount or self._finished(),
                    timeout=timeout,
                    timeout_summary="next escalation rung",
                )
            except TimeoutError:
                async with self._lock:
                    await self._fire_due_rungs()

    @workflow.signal(name=RECOMPUTE_DEADLINES_SIGNAL)
    def recompute_deadlines(self) -> None:
        """The calendar changed: count deadlines not yet passed again."""
        self._recount = True

    @workflow.update
    async def opened(self) -> HazardState:
        """Answers once the hazard is open (policy loaded, first deadline armed, read model written): the API
        reports a hazard with this update-with-start, so its answer already carries the deadline."""
        await workflow.wait_condition(lambda: self._started)
        return self._record.state

    @workflow.query
    def get_state(self) -> HazardState:
        return self._record.state

    @workflow.query
    def get_events(self) -> HazardEvents:
        return HazardEvents(events=self._record.events, previous_run_id=workflow.info().continued_run_id)

    # --- continue-as-new: a long history hands the record over to a fresh run ---------------------------------

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= CONTINUE_AT_EVENTS
            or info.get_current_history_size() >= CONTINUE_AT_BYTES
        )

    async def _continue_as_new(self) -> None:
        # Actions already accepted finish here; their answers go out before the hand-over.
        await workflow.wait_condition(workflow.all_handlers_finished)
        record = self._record
        # The latest events, and any the read model has not been sent yet.
        since = min(record.projected_seq, record.state.version - CARRIED_EVENTS)
        kept = [e for e in record.events if e.seq > since]
        first = kept[0].seq if kept else record.state.version + 1
        carried = record.model_copy(
            update={
                "events": kept,
                "recent_updates": {k: seq for k, seq in record.recent_updates.items() if seq >= first},
            }
        )
        workflow.logger.info("history long: continuing as new from event %d", first)
        workflow.continue_as_new(
            self._input.model_copy(
                update={
                    "carried": CarriedHazard(record=carried, with_deadlines=self._with_deadlines, recount=self._recount)
                }
            )
        )

    def _remember_update(self, event: HazardEvent) -> None:
        info = workflow.current_update_info()
        if info is None:
            return
        recent = self._record.recent_updates
        recent[info.id] = event.seq
        for stale in list(recent)[:-RECENT_UPDATES]:
            del recent[stale]

    def _answered(self) -> ActionResult | None:
        """The answer this update's id already got, when a retry reaches a run continued after it (within one run
        Temporal itself answers retries and they never get here)."""
        info = workflow.current_update_info()
        seq = None if info is None else self._record.recent_updates.get(info.id)
        event = next((e for e in self._record.events if e.seq == seq), None)
        return None if event is None else ActionResult(state=self._record.state, event=event)

    # --- people's actions: one update each, validated before anything reaches history -------------------------

    @workflow.update
    async def verify(self, input: VerifyInput) -> ActionResult:
        return await self._act(Action.VERIFY, input.actor, input.verification)

    @verify.validator
    def _validate_verify(self, input: VerifyInput) -> None:
        self._check(Action.VERIFY, input.actor, input.verification)

    @workflow.update
    async def submit_plan(self, input: SubmitPlanInput) -> ActionResult:
        return await self._act(Action.SUBMIT_PLAN, input.actor, input.plan)

    @submit_plan.validator
    def _validate_submit_plan(self, input: SubmitPlanInput) -> None:
        self._check(Action.SUBMIT_PLAN, input.actor, input.plan)

    @workflow.update
    async def confirm_interim_control(self, input: ConfirmInterimControlInput) -> ActionResult:
        return await self._act(Action.CONFIRM_INTERIM_CONTROL, input.actor, input.control)

    @confirm_interim_control.validator
    def _validate_confirm_interim_control(self, input: ConfirmInterimControlInput) -> None:
        self._check(Action.CONFIRM_INTERIM_CONTROL, input.actor, input.control)

    @workflow.update
    async def report_rectification(self, input: ReportRectificationInput) -> ActionResult:
        return await self._act(Action.REPORT_RECTIFICATION, input.actor, input.rectification)

    @report_rectification.validator
    def _validate_report_rectification(self, input: ReportRectificationInput) -> None:
        self._check(Action.REPORT_RECTIFICATION, input.actor, input.rectification)

    @workflow.update
    async def review(self, input: ReviewInput) -> ActionResult:
        return await self._act(Action.REVIEW, input.actor, input.review)

    @review.validator
    def _validate_review(self, input: ReviewInput) -> None:
        self._check(Action.REVIEW, input.actor, input.review)

    @workflow.update
    async def revoke(self, input: RevokeInput) -> ActionResult:
        return await self._act(Action.REVOKE, input.actor, input.revocation)

    @revoke.validator
    def _validate_revoke(self, input: RevokeInput) -> None:
        self._check(Action.REVOKE, input.actor, input.revocation)

    @workflow.update
    async def request_extension(self, input: RequestExtensionInput) -> ActionResult:
        return await self._act(Action.REQUEST_EXTENSION, input.actor, input.request)

    @request_extension.validator
    def _validate_request_extension(self, input: RequestExtensionInput) -> None:
        self._check(Action.REQUEST_EXTENSION, input.actor, input.request)

    @workflow.update
    async def decide_extension(self, input: DecideExtensionInput) -> ActionResult:
        return await self._act(Action.DECIDE_EXTENSION, input.actor, input.decision)

    @decide_extension.validator
    def _validate_decide_extension(self, input: DecideExtensionInput) -> None:
        self._check(Action.DECIDE_EXTENSION, input.actor, input.decision)

    @workflow.update
    async def list_hazard(self, input: ListInput) -> ActionResult:
        return await self._act(Action.LIST, input.actor, input.order)

    @list_hazard.validator
    def _validate_list_hazard(self, input: ListInput) -> None:
        self._check(Action.LIST, input.actor, input.order)

    @workflow.update
    async def delist(self, input: DelistInput) -> ActionResult:
        return await self._act(Action.DELIST, input.actor, input.delisting)

    @delist.validator
    def _validate_delist(self, input: DelistInput) -> None:
        self._check(Action.DELIST, input.actor, input.delisting)

    @workflow.update
    async def publish(self, input: PublishInput) -> ActionResult:
        return await self._act(Action.PUBLISH, input.actor, input.publication)

    @publish.validator
    def _validate_publish(self, input: PublishInput) -> None:
        self._check(Action.PUBLISH, input.actor, input.publication)

    @workflow.update
    async def transfer(self, input: TransferInput) -> ActionResult:
        return await self._act(Action.TRANSFER, input.actor, input.transfer)

    @transfer.validator
    def _validate_transfer(self, input: TransferInput) -> None:
        self._check(Action.TRANSFER, input.actor, input.transfer)

    def _check(self, action: Action, actor: Actor, payload: BaseModel) -> None:
        if self._answered() is not None:
            return
        lifecycle.check_jurisdiction(self._record.state, actor)
        # A validator that raised would reject the update: a stale time is refused by the handler, in the same task.
        lifecycle.check(self._record.state, action, actor, payload, workflow.now())

    async def _act(self, action: Action, actor: Actor, payload: BaseModel) -> ActionResult:
        if (answered := self._answered()) is not None:
            return answered
        if not self._with_deadlines:
            event = lifecycle.apply(self._record, action, actor, payload, self._clock.now())
            self._remember_update(event)
            await self._act_as_before_deadlines()
            return ActionResult(state=self._record.state, event=event)
        # An action arriving with the start waits for the policy and the first deadline.
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            before = self._record.state.stage
            # Checked again here: an action or rung handled while this one waited may have changed the state.
            event = lifecycle.apply(self._record, action, actor, payload, self._clock.now())
            self._remember_update(event)
            if self._with_deadlines:
                await self._follow_up(before, payload)
            self._upsert_progress()
            await self._project()
            self._wake = True
            return ActionResult(state=self._record.state, event=event)

    async def _act_as_before_deadlines(self) -> None:
        """Hazards started before DEADLINES_PATCH: the same commands in the same order as they recorded."""
        self._upsert_progress()
        async with self._lock:
            await self._project()

    # --- deadlines -----------------------------------------------------------------------------------------

    async def _follow_up(self, before: Stage, payload: BaseModel) -> None:
        """Move the deadlines an accepted action moves: the stage's, an extension's, a publication's."""
        state = self._record.state
        if state.stage is not before:
            ladder.disarm(self._record, *STAGE_DEADLINES.values(), DeadlineKind.EXTENSION_DECISION)
            await self._arm_stage_deadline()
        if state.stage is Stage.REVOKED:
            ladder.disarm(self._record, *DeadlineKind)
        elif isinstance(payload, ExtensionDecision | ExtensionRequest):
            await self._follow_extension()
        elif isinstance(payload, ListingOrder):
            await self._arm(DeadlineKind.LISTING_PUBLICATION)
        elif isinstance(payload, Delisting):
            await self._arm(DeadlineKind.DELISTING_PUBLICATION)
        elif isinstance(payload, Publication):
            kind = (
                DeadlineKind.LISTING_PUBLICATION
                if payload.of is PublicationOf.LISTING
                else DeadlineKind.DELISTING_PUBLICATION
            )
            ladder.disarm(self._record, kind)
        elif isinstance(payload, ReviewOpinion) and payload.decision is ReviewDecision.APPROVE:
            ladder.disarm(self._record, DeadlineKind.LISTING_PUBLICATION)

    async def _follow_extension(self) -> None:
        extension = self._record.state.extensions[-1]
        if extension.decision is None:
            await self._arm(DeadlineKind.EXTENSION_DECISION)
            return
        ladder.disarm(self._record, DeadlineKind.EXTENSION_DECISION)
        if extension.decision.approve:
            await self._arm(extension.deadline_kind, due_date=extension.request.new_due_date)

    async def _arm_stage_deadline(self) -> None:
        state = self._record.state
        kind = STAGE_DEADLINES.get(state.stage)
        if kind is None:
            return
        await self._arm(kind, due_date=self._stage_due_date(kind))

    async def _arm_imported_deadline(self) -> None:
        """An imported hazard's stage deadline, counted from the ledger's own dates (lifecycle.imported_clock)."""
        state = self._record.state
        schedule = lifecycle.imported_schedule(state)
        if schedule is None:
            return
        counted = self._input.counted_deadline
        if counted is not None and counted.schedule == schedule:
            # Counted by the importer on the calendar it read a moment ago: the opening runs one local activity,
            # the projection, as a bare workflow's does (bench.intake).
            deadline = _named(schedule, counted.deadline.model_copy(deep=True))
        else:
            deadline = await self._schedule(schedule)
        self._keep(schedule, deadline)
        if state.rag is Rag.RED:
            # 不予行政处罚 holds only while the enterprise is on schedule; the ledger shows it was not.
            state.penalty_exempt = False

    def _stage_due_date(self, kind: DeadlineKind) -> date | None:
        """A fixed date where one was set: the plan's, or the latest approved extension's."""
        state = self._record.state
        approved = [
            e.request.new_due_date
            for e in state.extensions
            if e.deadline_kind is kind and e.decision is not None and e.decision.approve
        ]
        if approved:
            return approved[-1]
        if kind is DeadlineKind.RECTIFY and state.plan is not None:
            return state.plan.deadline
        return None

    async def _arm(self, kind: DeadlineKind, *, due_date: date | None = None) -> None:
        schedule = lifecycle.deadline_schedule(self._record.state, kind, self._clock.now(), due_date)
        self._keep(schedule, await self._schedule(schedule))

    def _keep(self, schedule: ScheduleDeadlineInput, deadline: Deadline) -> None:
        """Arm a counted deadline, and keep what it was counted from to count it again (_recount_deadlines)."""
        self._record.schedule_inputs[deadline.id] = schedule
        self._put(deadline)

    def _put(self, deadline: Deadline) -> None:
        """Arm a deadline. For an imported hazard, the rungs whose time had passed before the import did not
        happen in this system, so they are never issued: the letters (函告, 约谈, 挂牌督办, 通报) are dropped,
        and the overdue mark and a reminder only colour the hazard (red, yellow) without sending anything. The
        ladder goes on from the first rung due after the import."""
        cutoff = lifecycle.imported_at(self._record.state)
        if cutoff is not None:
            deadline.rungs = [r for r in deadline.rungs if r.at > cutoff or r.rung in COLOUR_RUNGS]
        ladder.arm(self._record, deadline)
        if cutoff is not None:
            for rung in deadline.rungs:
                if rung.fired_at is None and rung.at <= cutoff:
                    ladder.mark_fired(self._record, deadline, rung, rung.at)

    async def _schedule(self, schedule: ScheduleDeadlineInput) -> Deadline:
        # A local activity: the working-day arithmetic runs once and its answer is recorded in history, so a
        # later calendar or policy change cannot make replay compute a different deadline.
        deadline: Deadline = await workflow.execute_local_activity(
            SCHEDULE_DEADLINE_ACTIVITY, schedule, result_type=Deadline, start_to_close_timeout=LOCAL_TIMEOUT
        )
        return _named(schedule, deadline)

    async def _recount_deadlines(self) -> None:
        """Adopt a changed calendar for deadlines that have not passed; passed ones stand as they were."""
        self._recount = False
        now = self._clock.now()
        for deadline in [d for d in self._record.state.deadlines if d.due > now]:
            schedule = self._record.schedule_inputs.get(deadline.id)
            if schedule is None:
                continue
            recounted = await self._schedule(schedule)
            if [r.at for r in recounted.rungs] == [r.at for r in deadline.rungs] and recounted.due == deadline.due:
                continue
            for rung in recounted.rungs:
                old = next((r for r in deadline.rungs if r.rung is rung.rung), None)
                if old is not None and old.fired_at is not None:
                    rung.fired_at = old.fired_at
            del self._record.schedule_inputs[deadline.id]
            self._record.schedule_inputs[recounted.id] = schedule
            self._put(recounted)
        self._upsert_progress()
        await self._project()

    # --- the ladder ----------------------------------------------------------------------------------------

    async def _fire_due_rungs(self) -> None:
        now = self._clock.now()
        for deadline, rung in ladder.due_rungs(self._record, now):
            if deadline not in self._record.state.deadlines:
                continue  # an earlier rung's consequence closed it
            await self._fire(deadline, rung)
        self._upsert_progress()
        await self._project()

    async def _fire(self, deadline: Deadline, rung: ScheduledRung) -> None:
        state = self._record.state
        if rung.rung is Rung.OVERDUE or (rung.rung is Rung.LISTING and lifecycle.is_listed(state)):
            # Overdue only turns the colour; a hazard the committee office already listed is not listed twice.
            ladder.mark_fired(self._record, deadline, rung, rung.at)
            return
        try:
            escalation = await self._issue(deadline, rung)
        except ActivityError as err:
            # Retryable failures retry without end; what arrives here was refused for good (a rung this
            # deadline's owner has no letter for). The hazard must go on: log it loudly and climb on.
            workflow.logger.error("rung %s of %s refused: %s", rung.rung.value, deadline.id, err.cause)
            ladder.mark_fired(self._record, deadline, rung, rung.at)
            return
        ladder.mark_fired(self._record, deadline, rung, rung.at)
        lifecycle.record_escalation(self._record, escalation, self._clock.now())
        if rung.rung is Rung.LISTING:
            order = ListingOrder(
                level=ListingLevel.DISTRICT,
                issuing_body=escalation.issued_by,
                doc_number=escalation.doc_number or "",
            )
            lifecycle.apply(self._record, Action.LIST, lifecycle.SYSTEM, order, self._clock.now())
            await self._arm(DeadlineKind.LISTING_PUBLICATION)

    async def _issue(self, deadline: Deadline, rung: ScheduledRung) -> EscalationRecord:
        state = self._record.state
        escalation: EscalationRecord = await workflow.execute_activity(
            ISSUE_ESCALATION_ACTIVITY,
            IssueEscalationInput(
                hazard_id=state.hazard_id,
                title=state.report.title,
                enterprise_name=state.report.enterprise.name,
                principal_name=state.report.enterprise.principal_name,
                street=state.report.street,
                department=state.department,
                deadline=deadline,
                rung=rung.rung,
                scheduled_at=rung.at,
            ),
            result_type=EscalationRecord,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=ESCALATION_HEARTBEAT_TIMEOUT,
            retry_policy=ESCALATION_RETRY,
            summary=f"{rung.rung.value} for {deadline.id}",
        )
        return escalation

    # --- projection ----------------------------------------------------------------------------------------

    def _upsert_progress(self) -> None:
        state = self._record.state
        progress = [SA_DEPARTMENT.value_set(state.department)] if state.transferred else []
        workflow.upsert_search_attributes(
            [
                *progress,
                SA_STAGE.value_set(state.stage.value),
                SA_NEXT_DEADLINE.value_set(state.next_deadline)
                if state.next_deadline
                else SA_NEXT_DEADLINE.value_unset(),
            ]
        )

    async def _project(self) -> None:
        """Send the read model what it has not seen; callers hold the lock, so projections go in order."""
        pending: list[HazardEvent] = [e for e in self._record.events if e.seq > self._record.projected_seq]
        if not pending:
            return
        await workflow.execute_local_activity(
            PROJECT_HAZARD_ACTIVITY,
            ProjectHazardInput(state=self._record.state, events=pending),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        self._record.projected_seq = pending[-1].seq


def _named(schedule: ScheduleDeadlineInput, deadline: Deadline) -> Deadline:
    # The id names the due date: the same deadline armed again (a rejected review's RECTIFY) keeps its fired rungs,
    # a moved one (an extension, a new calendar) climbs its ladder afresh.
    deadline.id = f"{schedule.kind.value}-{deadline.due_date.isoformat()}"
    return deadline
