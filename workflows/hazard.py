"""One durable workflow per major hazard, from report to 销号 or 撤销."""

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.enums import Action
    from contracts.hazard import (
        PROJECT_HAZARD_ACTIVITY,
        SA_DEPARTMENT,
        SA_INDUSTRY,
        SA_NEXT_DEADLINE,
        SA_SOURCE,
        SA_STAGE,
        SA_STREET,
        WORKFLOW_NAME,
        ActionResult,
        Actor,
        ConfirmInterimControlInput,
        HazardEvents,
        HazardState,
        ProjectHazardInput,
        ReportHazardInput,
        ReportRectificationInput,
        ReviewInput,
        RevokeInput,
        SubmitPlanInput,
        VerifyInput,
    )
    from workflows import lifecycle


@workflow.defn(name=WORKFLOW_NAME)
class HazardWorkflow:
    @workflow.init
    def __init__(self, input: ReportHazardInput) -> None:
        self._record = lifecycle.open_hazard(input.hazard_id, input.report, input.actor, workflow.now())
        # Projections are written one at a time, in sequence order.
        self._projection_lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: ReportHazardInput) -> HazardState:
        report = self._record.state.report
        workflow.upsert_search_attributes(
            [
                SA_STREET.value_set(report.street),
                SA_INDUSTRY.value_set(report.industry.value),
                SA_DEPARTMENT.value_set(self._record.state.department),
                SA_SOURCE.value_set(report.source.value),
            ]
        )
        self._upsert_progress()
        await self._project()
        await workflow.wait_condition(lambda: self._record.state.stage.is_terminal and workflow.all_handlers_finished())
        return self._record.state

    @workflow.query
    def get_state(self) -> HazardState:
        return self._record.state

    @workflow.query
    def get_events(self) -> HazardEvents:
        return HazardEvents(events=self._record.events)

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

    def _check(self, action: Action, actor: Actor, payload: BaseModel) -> None:
        lifecycle.check(self._record.state, action, actor, payload, workflow.now())

    async def _act(self, action: Action, actor: Actor, payload: BaseModel) -> ActionResult:
        # Checked again here: another update accepted in the same task may have moved the stage.
        event = lifecycle.apply(self._record, action, actor, payload, workflow.now())
        self._upsert_progress()
        await self._project()
        return ActionResult(state=self._record.state, event=event)

    def _upsert_progress(self) -> None:
        state = self._record.state
        workflow.upsert_search_attributes(
            [
                SA_STAGE.value_set(state.stage.value),
                SA_NEXT_DEADLINE.value_set(state.next_deadline)
                if state.next_deadline
                else SA_NEXT_DEADLINE.value_unset(),
            ]
        )

    async def _project(self) -> None:
        async with self._projection_lock:
            pending = [e for e in self._record.events if e.seq > self._record.projected_seq]
            if not pending:
                return
            await workflow.execute_local_activity(
                PROJECT_HAZARD_ACTIVITY,
                ProjectHazardInput(state=self._record.state, events=pending),
                start_to_close_timeout=timedelta(seconds=30),
            )
            self._record.projected_seq = pending[-1].seq
