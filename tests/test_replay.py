"""Histories recorded from real runs must replay on today's workflow code: deployed hazards depend on it.

tests/histories/ keeps one directory level per deployed shape: the files at its top were recorded before
deadlines existed, tests/histories/<patch>/ (history_scenarios.PATCHED) with the patch asked through
`workflow.patched`, tests/histories/version-<n>/ (history_scenarios.CURRENT) opened with today's input version,
which takes the patches as given (tests/record_histories.py). Every file there replays here, whatever directory it
is in.
"""

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

# This module defines a workflow, so the sandbox re-imports it: its imports pass through, as in workflows/.
with workflow.unsafe.imports_passed_through():
    from contracts.hazard import WORKFLOW_NAME, WORKFLOW_VERSION, HazardState, ReportHazardInput
    from tests.figures import record
    from tests.history_scenarios import CURRENT, HISTORIES, PATCHED, SCENARIOS, play
    from tests.keys import CONVERTER
    from tests.scenarios import PATHS
    from workflows.hazard import DEADLINES_PATCH, LAPSED_EXTENSIONS_PATCH, HazardWorkflow

TODAYS_PATCHES = frozenset({DEADLINES_PATCH, LAPSED_EXTENSIONS_PATCH})
RECORDED = sorted(p.relative_to(HISTORIES).as_posix() for p in HISTORIES.rglob("*.json"))


def history(name: str) -> WorkflowHistory:
    """`name` is a file's path under tests/histories/; the recorder's workflow id is rebuilt from its stem."""
    return WorkflowHistory.from_json(f"hazard-REC-{Path(name).stem}", (HISTORIES / name).read_text())


def patches(recorded: WorkflowHistory) -> set[str]:
    """The `workflow.patched` ids the run took, from its patch markers."""
    ids = set()
    for event in recorded.events:
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            ids.add(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return ids


async def opened_with(recorded: WorkflowHistory) -> ReportHazardInput:
    """The input the run was opened with, decrypted as the worker reads it."""
    started = recorded.events[0].workflow_execution_started_event_attributes
    (input,) = await CONVERTER.decode(started.input.payloads, [ReportHazardInput])
    assert isinstance(input, ReportHazardInput)
    return input


async def test_every_scenario_has_a_history_opened_with_todays_version_and_no_patch_marker() -> None:
    current = sorted(p.relative_to(HISTORIES).as_posix() for p in CURRENT.glob("*.json"))
    assert {Path(name).stem for name in current} == set(SCENARIOS)
    for name in current:
        assert (await opened_with(history(name))).version == WORKFLOW_VERSION, name
        assert patches(history(name)) == set(), name


async def test_the_histories_that_asked_for_the_patches_are_kept() -> None:
    patched = sorted(p.relative_to(HISTORIES).as_posix() for p in PATCHED.glob("*.json"))
    assert {Path(name).stem for name in patched} <= set(SCENARIOS)
    assert len(patched) >= len(PATHS)
    # Each took the deadlines; those recorded since LAPSED_EXTENSIONS_PATCH took that one as well.
    for name in patched:
        assert (await opened_with(history(name))).version == 0, name
        taken = patches(history(name))
        assert DEADLINES_PATCH in taken, name
        assert taken <= TODAYS_PATCHES, (name, taken)


# Recorded before deadlines existed, one per lifecycle path of that time: such hazards may still be running.
FIRST_DEPLOY = frozenset(
    {
        "rectified_on_spot_closed",
        "review_rejected_then_closed",
        "revoked_in_interim_control",
        "revoked_in_plan",
        "revoked_in_rectify",
        "revoked_in_review",
        "revoked_in_verify",
        "self_report_closed",
        "tip_off_unfounded",
        "tip_off_verified_closed",
    }
)


def test_the_histories_of_the_first_deploy_are_kept_unpatched() -> None:
    first = [p.name for p in HISTORIES.glob("*.json")]
    assert {Path(name).stem for name in first} == FIRST_DEPLOY
    assert all(patches(history(name)) == set() for name in first)


async def every_history() -> AsyncIterator[WorkflowHistory]:
    for name in RECORDED:
        yield history(name)


@pytest.mark.parametrize("name", RECORDED)
async def test_history_replays(name: str) -> None:
    replayer = Replayer(workflows=[HazardWorkflow], data_converter=CONVERTER)
    result = await replayer.replay_workflow(history(name))
    assert result.replay_failure is None


async def test_all_recorded_histories_replay_with_no_nondeterminism() -> None:
    replayer = Replayer(workflows=[HazardWorkflow], data_converter=CONVERTER)
    results = await replayer.replay_workflows(every_history(), raise_on_replay_failure=False)
    failures = {run_id: str(err) for run_id, err in results.replay_failures.items()}
    events = sum(len(history(name).events) for name in RECORDED)
    record(3, "recorded histories replayed", len(RECORDED))
    record(3, "history events replayed", events)
    record(3, "non-determinism errors in replay", len(failures))
    assert len(RECORDED) >= len(SCENARIOS) + len(PATHS)
    assert failures == {}


@pytest.mark.parametrize("name", sorted(set(SCENARIOS) - set(PATHS)))
async def test_scenario_plays_on_todays_code(name: str, time_env: WorkflowEnvironment, time_worker: Worker) -> None:
    """Each scenario beyond the plain paths (tests/test_lifecycle.py plays those) still plays to its end, so it can
    be recorded again, and what it records now replays."""
    handle = await play(time_env, SCENARIOS[name], time_worker.task_queue, hazard_id=f"PLAY-{name}")
    replayer = Replayer(workflows=[HazardWorkflow], data_converter=CONVERTER)
    result = await replayer.replay_workflow(await handle.fetch_history())
    assert result.replay_failure is None


@workflow.defn(name=WORKFLOW_NAME)
class ReorderedHazardWorkflow(HazardWorkflow):
    """A deploy that adds a timer before the first projection, without `workflow.patched`."""

    @workflow.run
    async def run(self, input: ReportHazardInput) -> HazardState:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


@pytest.mark.parametrize(
    "name",
    ["self_report_closed.json", f"{PATCHED.name}/self_report_closed.json", f"{CURRENT.name}/self_report_closed.json"],
)
async def test_an_incompatible_change_fails_replay(name: str) -> None:
    replayer = Replayer(workflows=[ReorderedHazardWorkflow], data_converter=CONVERTER)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(history(name))
