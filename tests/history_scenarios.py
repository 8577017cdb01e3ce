"""Scenarios whose recorded histories tests/histories/ keeps, beyond the plain lifecycle paths: deadlines lapsing
rung by rung, extensions, listing, transfer, a calendar recount, the API's update-with-start. Shared by the
recorder (tests/record_histories.py), the replay test and the history-budget test.

A scenario is a report and a list of moves. A move acts on a running hazard: an update, a signal, or the clock
skipped until a rung of a deadline has fired, which only a time-skipping server can do (`skips_time`).
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from contracts.clock import china_date
from contracts.deadlines import RECOMPUTE_DEADLINES_SIGNAL, Deadline, DeadlineKind, Policy, Rung
from contracts.enums import InterimControlKind, PublicationOf, ReviewDecision, Role, Source, Stage
from contracts.hazard import (
    WORKFLOW_VERSION,
    ActionResult,
    Actor,
    DecideExtensionInput,
    ExtensionDecision,
    ExtensionRequest,
    HazardReport,
    HazardState,
    ImportedHazard,
    ListingOrder,
    ListInput,
    ReportHazardInput,
    ReportRectificationInput,
    RequestExtensionInput,
    ReviewInput,
    ReviewOpinion,
    SubmitPlanInput,
    Transfer,
    TransferInput,
    workflow_id,
)
from imports.runner import counted_first_deadline
from infra.deadline_counter import DeadlineCounter
from tests.scenarios import (
    COMMITTEE,
    ENTERPRISE,
    INSPECTOR,
    PATHS,
    REVIEWER,
    STANDARD,
    STREET,
    Handle,
    Step,
    confirm_control,
    delist,
    plan,
    publication,
    rectification,
    report,
    report_rectification,
    review,
    verify,
)
from workcalendar import WorkCalendar
from workflows.hazard import DEADLINES_PATCH, HazardWorkflow

HISTORIES = Path(__file__).parent / "histories"
# Histories are kept per deployed shape of the workflow, never re-recorded. The files directly in HISTORIES were
# recorded before deadlines existed (they replay through the unpatched branch); DEADLINES_PATCH's directory holds
# every scenario recorded with that patch taken through `workflow.patched`, and this one every scenario opened
# with today's ReportHazardInput.version, which takes the patches as given. A change that needs a new
# `workflow.patched` or a new version records its scenarios into a new directory named after it, and keeps these.
PATCHED = HISTORIES / DEADLINES_PATCH
CURRENT = HISTORIES / f"version-{WORKFLOW_VERSION}"

# The department a transfer (移送) hands the hazard to, and its reviewer.
HOUSING = "南开区住房和建设委员会"
HOUSING_REVIEWER = Actor(id="dept-101", name="周磊", role=Role.DEPARTMENT, organisation=HOUSING)


@dataclass(frozen=True)
class Run:
    env: WorkflowEnvironment
    handle: Handle

    async def today(self) -> date:
        """The server's date in China: on a time-skipping server, later than the real one."""
        return china_date(await self.env.get_current_time())

    async def state(self) -> HazardState:
        return await self.handle.query(HazardWorkflow.get_state)

    async def update(self, name: str, input: BaseModel) -> ActionResult:
        result: ActionResult = await self.handle.execute_update(name, input, result_type=ActionResult)
        return result


Move = Callable[[Run], Awaitable[object]]


@dataclass(frozen=True)
class Scenario:
    reporter: Actor
    report: Callable[[], HazardReport]
    moves: list[Move]
    final: Stage
    skips_time: bool = False
    # The API opens a hazard with update-with-start (`opened`); tests and the recorder usually just start it.
    opened_by_update: bool = False
    # The API and the importer send the policy in force with the report; hazards reported before did not.
    policy: Policy | None = None
    # A ledger row's hazard (imports/): opened in the stage the row records, keyed by the hazard's id.
    imported: Callable[[str], ImportedHazard] | None = None
    # The importer counts an imported hazard's first deadline and sends it (imports.runner.counted_first_deadline).
    counted: bool = False


def act(step: Step) -> Move:
    return lambda run: run.update(step.update, step.input())


def act_today(update: str, make: Callable[[date], BaseModel]) -> Move:
    """An action whose data depends on the server's date (a plan's deadline, an extension, a publication)."""

    async def move(run: Run) -> ActionResult:
        return await run.update(update, make(await run.today()))

    return move


def signal(name: str) -> Move:
    return lambda run: run.handle.signal(name)


def lapse(kind: DeadlineKind, *rungs: Rung) -> Move:
    """Skip the clock past each rung of the open deadline of `kind` in turn, and wait until the hazard shows it
    fired (timers fire on the server's clock, their activities on ours)."""

    async def move(run: Run) -> None:
        for rung in rungs:
            deadline = await open_deadline(run, kind)
            scheduled = [r.at for r in deadline.rungs if r.rung is rung]
            if not scheduled:
                raise AssertionError(f"{deadline.id} has no {rung.value} rung: {[r.rung for r in deadline.rungs]}")
            at = scheduled[0]
            now = await run.env.get_current_time()
            if at + timedelta(minutes=1) > now:
                await run.env.sleep(at + timedelta(minutes=1) - now)
            await fired(run, deadline.id, rung)

    return move


async def open_deadline(run: Run, kind: DeadlineKind) -> Deadline:
    """The open deadline of `kind`, once armed: a hazard just started arms its first one in its first task."""
    for _ in range(200):
        state = await run.state()
        found = [d for d in state.deadlines if d.kind is kind]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no open {kind.value} deadline: {[d.id for d in state.deadlines]}")


async def fired(run: Run, deadline_id: str, rung: Rung) -> None:
    for _ in range(600):
        state = await run.state()
        if any(r.rung is rung and r.fired_at for d in state.deadlines if d.id == deadline_id for r in d.rungs):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{rung.value} of {deadline_id} never fired")


# --- the actions the scenarios take, on the server's date -------------------------------------------------------


def plan_due_in(days: int) -> Move:
    return act_today(
        "submit_plan", lambda today: SubmitPlanInput(actor=ENTERPRISE, plan=plan(deadline=today + timedelta(days=days)))
    )


def request_extension(days_after_today: int) -> Move:
    return act_today(
        "request_extension",
        lambda today: RequestExtensionInput(
            actor=ENTERPRISE,
            request=ExtensionRequest(
                reason="防爆报警器到货延迟。", new_due_date=today + timedelta(days=days_after_today)
            ),
        ),
    )


def decide_extension(approve: bool) -> Step:
    opinion = "同意延期。" if approve else "理由不充分，不同意延期。"
    return Step(
        "decide_extension",
        lambda: DecideExtensionInput(actor=REVIEWER, decision=ExtensionDecision(approve=approve, opinion=opinion)),
    )


def list_hazard() -> Step:
    order = ListingOrder(issuing_body="南开区安委办", doc_number="南开安委办督〔2026〕3号")
    return Step("list_hazard", lambda: ListInput(actor=COMMITTEE, order=order))


def publish(of: PublicationOf) -> Move:
    return act_today("publish", lambda today: publication(of, today))


def transfer() -> Step:
    return Step(
        "transfer",
        lambda: TransferInput(
            actor=INSPECTOR, transfer=Transfer(to_department=HOUSING, reason="隐患位于在建工程，属住建部门监管。")
        ),
    )


def review_by(actor: Actor, decision: ReviewDecision) -> Step:
    opinion = "整改到位，同意销号。" if decision is ReviewDecision.APPROVE else "联锁未调试完成，不予通过。"
    return Step("review", lambda: ReviewInput(actor=actor, review=ReviewOpinion(decision=decision, opinion=opinion)))


def report_rectification_with(evidence: int) -> Step:
    """A rectification citing `evidence` uploaded files: the files live in the evidence store, history holds
    their "sha256:<hex>" references only."""
    refs = [f"sha256:{n:064x}" for n in range(1, evidence + 1)]
    return Step(
        "report_rectification",
        lambda: ReportRectificationInput(
            actor=ENTERPRISE, rectification=rectification().model_copy(update={"evidence": refs})
        ),
    )


PLAN_LADDER = (Rung.REMINDER, Rung.OVERDUE, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING)
DEPARTMENT_LADDER = (Rung.REMINDER, Rung.OVERDUE, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.CIRCULAR)
# The committee office's own chores are reminded and marked overdue, no letters.
PUBLICATION_LADDER = (Rung.REMINDER, Rung.OVERDUE)


def path_scenario(name: str) -> Scenario:
    path = PATHS[name]
    return Scenario(path.reporter, path.report, [act(s) for s in path.steps], path.final)


# As the API opened a hazard before it sent the policy with the report.
OPENED_BY_THE_API = Scenario(
    ENTERPRISE,
    report,
    [act(s) for s in [*STANDARD, review(ReviewDecision.APPROVE)]],
    Stage.CLOSED,
    opened_by_update=True,
)


def in_rectify(hazard_id: str) -> ImportedHazard:
    """A 督改台账 row in 整改 with its plan, as the importer reads it."""
    return ImportedHazard(stage=Stage.RECTIFY, key=hazard_id, file_sha256="0" * 64, row=4, plan=plan())


# As the importer opens a ledger's hazard in 整改: with the policy, by update-with-start; then 整改完成 and 销号.
IMPORTED = Scenario(
    COMMITTEE,
    report,
    [act(report_rectification()), act(review(ReviewDecision.APPROVE))],
    Stage.CLOSED,
    opened_by_update=True,
    policy=Policy(),
    imported=in_rectify,
)

# Every lifecycle path of tests/scenarios.py, then the paths only a clock, a second department or the API make.
SCENARIOS: dict[str, Scenario] = {
    **{name: path_scenario(name) for name in PATHS},
    "opened_by_update_with_start_closed": OPENED_BY_THE_API,
    "reported_with_the_policy_closed": replace(OPENED_BY_THE_API, policy=Policy()),
    "rejected_three_times_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            *(act(s) for s in STANDARD),
            *(act(s) for _ in range(3) for s in (review(ReviewDecision.REJECT), report_rectification())),
            act(review(ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
    ),
    # Every rung of an enterprise's ladder up to the automatic 挂牌督办, a late publication, a late plan
    # still accepted, then 摘牌 and its publication after 销号.
    "plan_late_every_rung_listed_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            lapse(DeadlineKind.PLAN, *PLAN_LADDER),
            lapse(DeadlineKind.LISTING_PUBLICATION, *PUBLICATION_LADDER),
            publish(PublicationOf.LISTING),
            plan_due_in(30),
            act(confirm_control()),
            act(report_rectification()),
            act(delist()),
            act(review(ReviewDecision.APPROVE)),
            lapse(DeadlineKind.DELISTING_PUBLICATION, *PUBLICATION_LADDER),
            publish(PublicationOf.DELISTING),
        ],
        Stage.CLOSED,
        skips_time=True,
    ),
    # A department's ladder tops out in 通报: a 立查立改 hazard whose review is late.
    "review_late_every_rung_then_closed": Scenario(
        INSPECTOR,
        lambda: report(Source.INSPECTION, on_spot=True),
        [lapse(DeadlineKind.REVIEW, *DEPARTMENT_LADDER), act(review(ReviewDecision.APPROVE))],
        Stage.CLOSED,
        skips_time=True,
    ),
    "tip_off_verify_late_then_verified_closed": Scenario(
        STREET,
        lambda: report(Source.TIP_OFF),
        [
            lapse(DeadlineKind.VERIFY, Rung.REMINDER, Rung.OVERDUE, Rung.NOTICE_LETTER),
            act(verify(True)),
            plan_due_in(30),
            lapse(DeadlineKind.INTERIM_CONTROL, Rung.OVERDUE, Rung.NOTICE_LETTER),
            act(confirm_control()),
            act(report_rectification()),
            act(review(ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
        skips_time=True,
    ),
    "extension_approved_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            plan_due_in(30),
            act(confirm_control()),
            request_extension(60),
            act(decide_extension(True)),
            act(report_rectification()),
            act(review(ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
    ),
    # The decision itself is late (a department's ladder on the extension), then refused; the rectification
    # deadline then passes and climbs to 约谈 before the work is reported.
    "extension_decided_late_rejected_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            plan_due_in(40),
            act(confirm_control()),
            request_extension(80),
            lapse(DeadlineKind.EXTENSION_DECISION, Rung.REMINDER, Rung.OVERDUE, Rung.NOTICE_LETTER),
            act(decide_extension(False)),
            lapse(DeadlineKind.RECTIFY, Rung.OVERDUE, Rung.NOTICE_LETTER, Rung.SUMMONS),
            act(report_rectification()),
            act(review(ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
        skips_time=True,
    ),
    "listed_by_hand_delisted_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            act(list_hazard()),
            publish(PublicationOf.LISTING),
            *(act(s) for s in STANDARD),
            act(delist()),
            publish(PublicationOf.DELISTING),
            act(review(ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
    ),
    "transferred_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            act(transfer()),
            *(act(s) for s in STANDARD),
            act(review_by(HOUSING_REVIEWER, ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
    ),
    # A calendar change reaches the running hazard as a signal; its deadlines are counted again.
    "calendar_recounted_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            act(STANDARD[0]),
            signal(RECOMPUTE_DEADLINES_SIGNAL),
            *(act(s) for s in STANDARD[1:]),
            act(review(ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
    ),
    "imported_in_rectify_then_closed": IMPORTED,
    "imported_in_rectify_counted_then_closed": replace(IMPORTED, counted=True),
    "suspension_added_while_rectifying_then_closed": Scenario(
        ENTERPRISE,
        report,
        [
            *(act(s) for s in STANDARD[:2]),
            act(confirm_control(InterimControlKind.SUSPENSION, INSPECTOR)),
            act(STANDARD[2]),
            act(review(ReviewDecision.APPROVE)),
        ],
        Stage.CLOSED,
    ),
}


async def report_hazard(client: Client, scenario: Scenario, task_queue: str, hazard_id: str) -> Handle:
    report = scenario.report()
    policy = None if scenario.policy is None else scenario.policy.for_hazard(report.industry)
    imported = None if scenario.imported is None else scenario.imported(hazard_id)
    input = ReportHazardInput(
        hazard_id=hazard_id,
        actor=scenario.reporter,
        report=report,
        imported=imported,
        policy=policy,
        version=WORKFLOW_VERSION,
    )
    if scenario.counted:
        # The recorder's and the tests' read models hold no calendar override: the calendar the importer would read.
        input.counted_deadline = counted_first_deadline(input, DeadlineCounter(), WorkCalendar())
        assert input.counted_deadline is not None
    if not scenario.opened_by_update:
        return await client.start_workflow(
            HazardWorkflow.run,
            input,
            id=workflow_id(hazard_id),
            task_queue=task_queue,
            search_attributes=input.search_attributes(),
        )
    opening = WithStartWorkflowOperation(
        HazardWorkflow.run,
        input,
        id=workflow_id(hazard_id),
        search_attributes=input.search_attributes(),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow(HazardWorkflow.opened, start_workflow_operation=opening)
    return await opening.workflow_handle()


async def play(env: WorkflowEnvironment, scenario: Scenario, task_queue: str, hazard_id: str) -> Handle:
    """Open the hazard and make every move; returns once the workflow has ended in the scenario's stage."""
    handle = await report_hazard(env.client, scenario, task_queue, hazard_id)
    run = Run(env, handle)
    for move in scenario.moves:
        await move(run)
    final = await handle.result()
    if final.stage is not scenario.final:
        raise AssertionError(f"{hazard_id} ended in {final.stage}, not {scenario.final}")
    return handle
